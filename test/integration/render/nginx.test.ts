/**
 * `nginx -t` (Debian's nginx) on the rendered nginx.conf + upstream.conf, in all three TLS modes.
 *
 * What the test copy changes, and why (nothing else is touched):
 * - absolute paths that exist only inside the nginx container (the upstream include, certificates,
 *   ACME webroot, pid file, logs) are rewritten into a temp directory;
 * - the certificates are a throwaway self-signed pair made with `openssl req -x509`;
 * - `user nginx;` is dropped: the host has no `nginx` account (the official image does);
 * The upstream file is the production one as rendered: it names `api-<colour>:<port>` through a
 * variable, which nginx resolves at request time (Docker's DNS), not when it loads the config, so
 * `nginx -t` passes outside the stack's network too. The `resolver 127.0.0.11` line is kept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderNginx, renderUpstream } from '../../../src/render/nginx.ts';
import { certificatePaths, MOUNT, COLORS } from '../../../src/stack/names.ts';
import type { Config } from '../../../src/config/schema.ts';
import { TLS_MODES } from '../../helpers/render-config.ts';
import { run, skipUnless } from '../../helpers/tools.ts';

const skip = skipUnless('nginx', 'openssl');

function selfSigned(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'fullchain.pem');
  const key = join(dir, 'privkey.pem');
  const r = run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', key, '-out', cert]);
  assert.equal(r.status, 0, r.stderr);
  return { cert, key };
}

function nginxTest(config: Config, color: (typeof COLORS)[number], pinned?: string[]): { status: number | null; output: string; conf: string } {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-nginx-'));
  try {
    for (const sub of ['logs', 'certs', 'webroot', 'modelship']) mkdirSync(join(dir, sub));
    const files = renderNginx(config);
    let conf = files.find((f) => f.path === 'nginx/nginx.conf')!.content;
    const upstream = renderUpstream(config, color, pinned).content;
    writeFileSync(join(dir, 'modelship', 'upstream.conf'), upstream);

    const real = certificatePaths(config);
    if (real) {
      const pair = selfSigned(join(dir, 'certs'));
      conf = conf.replaceAll(real.cert, pair.cert).replaceAll(real.key, pair.key);
    }
    conf = conf
      .replace(/^user nginx;$/m, '# user nginx; (test: no nginx account on this host)')
      .replaceAll(MOUNT.nginxUpstream, join(dir, 'modelship', 'upstream.conf'))
      .replaceAll(MOUNT.acmeWebroot, join(dir, 'webroot'))
      .replaceAll('/var/run/nginx.pid', join(dir, 'nginx.pid'))
      .replaceAll('/var/log/nginx/', `${join(dir, 'logs')}/`);
    assert.doesNotMatch(conf, /\/etc\/letsencrypt|\/etc\/nginx\/certs|\/var\/log\/nginx/, 'every container path was rewritten');
    writeFileSync(join(dir, 'nginx.conf'), conf);
    const r = run('nginx', ['-t', '-p', `${dir}/`, '-c', join(dir, 'nginx.conf')]);
    return { status: r.status, output: r.stdout + r.stderr, conf };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const [mode, make] of Object.entries(TLS_MODES)) {
  test(`nginx -t accepts the rendered nginx.conf (tls.mode ${mode})`, { skip }, () => {
    const config = make();
    for (const color of COLORS) {
      const r = nginxTest(config, color);
      assert.equal(r.status, 0, `nginx -t failed:\n${r.output}`);
      assert.match(r.output, /test is successful/);
      assert.doesNotMatch(r.output, /\[warn\]|\[emerg\]/, `nginx -t warned:\n${r.output}`);
      assert.match(r.conf, /resolver 127\.0\.0\.11 valid=2s/);
      const p = nginxTest(config, color, ['127.0.0.1:65500', '127.0.0.1:65501']);
      assert.equal(p.status, 0, `nginx -t failed on the pinned upstream:\n${p.output}`);
    }
  });
}

test('nginx -t fails on a broken config (the check is real)', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-nginx-'));
  try {
    writeFileSync(join(dir, 'nginx.conf'), 'events {}\nhttp { server { listen 80; bogus_directive on; } }\n');
    const r = run('nginx', ['-t', '-p', `${dir}/`, '-c', join(dir, 'nginx.conf')]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /unknown directive "bogus_directive"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the production upstream names the active colour service on api.port', () => {
  for (const color of COLORS) {
    const config = TLS_MODES.letsencrypt();
    const text = renderUpstream(config, color).content;
    assert.match(text, new RegExp(`default api-${color}:${config.api.port};`));
    assert.doesNotMatch(text, new RegExp(`api-${color === 'blue' ? 'green' : 'blue'}`));
  }
});
