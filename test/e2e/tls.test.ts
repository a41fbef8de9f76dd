/**
 * The first Let's Encrypt deploy: nginx cannot start without a certificate, and the ACME challenge
 * needs nginx. Deploy writes a self-signed placeholder, nginx serves HTTPS with it and the ACME
 * webroot over HTTP, and certbot (Debian's, which cannot reach Let's Encrypt from here) runs beside.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { withVolume, writeArchiveFiles } from '../../src/docker/volume-files.ts';
import { cleanup, docker, e2eSkip, ms, projectContainers, STANDIN, stackDir } from './helpers.ts';

const CERTBOT = 'modelship-standin/certbot:2';
let skip = await e2eSkip();
if (!skip) {
  try {
    await docker.getImage(CERTBOT).inspect();
  } catch {
    skip = `SKIPPED: image ${CERTBOT} missing (scripts/images.sh builds it)`;
  }
}
const DOMAIN = 'shop.example.com';
const s = await stackDir('tls', '', { environment: 'staging', domains: `[${DOMAIN}]`, tls: '{mode: letsencrypt, email: ops@example.com}' });
const httpsPort = s.httpPort - 80 + 43;

function get(mod: typeof http | typeof https, port: number, path: string): Promise<{ status: number; body: string; cn?: string }> {
  return new Promise((resolve, reject) => {
    const req = mod.request({ host: '127.0.0.1', port, path, headers: { host: DOMAIN }, servername: DOMAIN, rejectUnauthorized: false } as https.RequestOptions, (res) => {
      // Read the peer certificate now: the socket is gone once the body has ended.
      const sock = res.socket as TLSSocket | null;
      const cn = sock && typeof sock.getPeerCertificate === 'function' ? sock.getPeerCertificate().subject?.CN : undefined;
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ...(cn ? { cn: String(cn) } : {}) }));
    });
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  if (skip) return;
  await cleanup(s);
  s.write('', { certbot: CERTBOT });
});
after(async () => {
  if (!skip) await cleanup(s);
});

test('first deploy with Let\'s Encrypt: a placeholder certificate lets nginx start', { skip, timeout: 600_000 }, async () => {
  const v = await ms(s, ['config', 'validate']);
  assert.equal(v.exitCode, 0, v.all);
  const r = await ms(s, ['deploy', '--timeout', '180s']);
  assert.equal(r.exitCode, 0, r.all);
  assert.match(r.stderr, /self-signed placeholder until certbot issues the real one/);
  const services = (await projectContainers(s.project, false)).map((c) => c.Labels['com.docker.compose.service']);
  assert.ok(services.includes('nginx') && services.includes('certbot'), services.join(','));

  const secure = await get(https, httpsPort, '/health');
  assert.equal(secure.status, 200, secure.body);
  assert.equal(secure.cn, DOMAIN, 'the placeholder names the domain');
  const plain = await get(http, s.httpPort, '/health');
  assert.ok([301, 308].includes(plain.status), `HTTP redirects to HTTPS (got ${plain.status})`);
});

test('the ACME http-01 challenge is served over plain HTTP from the shared webroot', { skip }, async () => {
  const token = `tok-${Date.now()}`;
  await withVolume(docker, `${s.project}_acme-webroot`, '/var/www/certbot', STANDIN.nginx, (c) =>
    writeArchiveFiles(c, '/var/www/certbot', [{ name: `.well-known/acme-challenge/${token}`, content: `${token}.thumbprint` }]),
  );
  const r = await get(http, s.httpPort, `/.well-known/acme-challenge/${token}`);
  assert.equal(r.status, 200);
  assert.equal(r.body.trim(), `${token}.thumbprint`);
});

test('a redeploy that recreates nginx keeps the certificate it finds', { skip, timeout: 600_000 }, async () => {
  s.write('rateLimit: {nginx: {ratePerSecond: 20}}', { certbot: CERTBOT });
  const r = await ms(s, ['deploy']);
  assert.equal(r.exitCode, 0, r.all);
  assert.match(r.stderr, /TLS certificate \(Let's Encrypt\): (present|self-signed placeholder)/);
  const secure = await get(https, httpsPort, '/health');
  assert.equal(secure.status, 200);
});
