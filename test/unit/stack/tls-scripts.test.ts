import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { certbotLoop, nginxWithCertReload } from '../../../src/stack/build.ts';
import { placeholderCertificate } from '../../../src/ops/tls-bootstrap.ts';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { configFrom } from '../../helpers/config.ts';

const config = configFrom('project: shop\ndomains: [shop.example.com, www.example.com]\ntls: {mode: letsencrypt, email: ops@example.com, staging: true}\n');

test('the certbot loop and the nginx reload watcher are valid POSIX shell', () => {
  for (const script of [certbotLoop(config), nginxWithCertReload()]) {
    const r = spawnSync('sh', ['-n', '-c', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  }
});

test('the certbot loop issues for every domain through the webroot, then switches nginx\'s symlink', () => {
  const s = certbotLoop(config);
  assert.match(s, /certbot certonly --webroot -w \/var\/www\/certbot --cert-name shop\.example\.com -d shop\.example\.com -d www\.example\.com/);
  assert.match(s, /--email ops@example\.com --agree-tos/);
  assert.match(s, /--keep-until-expiring --staging/);
  assert.match(s, /ln -sfn \.\.\/live\/shop\.example\.com \/etc\/letsencrypt\/current\/shop\.example\.com/);
  assert.doesNotMatch(s, /\bmv\b|rm -rf/, 'the placeholder nginx may be reading is never moved away');
  assert.match(s, /--deploy-hook 'touch \/etc\/letsencrypt\/\.modelship-reload'/);
});

test('the placeholder certificate names every domain, with a matching key, for a short time', async () => {
  const { cert, key } = await placeholderCertificate(config.domains, 30);
  const x = new X509Certificate(cert);
  assert.match(x.subject, /CN=shop\.example\.com/);
  assert.match(x.subjectAltName ?? '', /DNS:shop\.example\.com, DNS:www\.example\.com/);
  assert.ok(x.checkPrivateKey(createPrivateKey(key)));
  const days = (Date.parse(x.validTo) - Date.now()) / 86_400_000;
  assert.ok(days > 29 && days < 31, String(days));
});
