/**
 * Runs the rendered nginx.conf with Debian's nginx on 127.0.0.1, in front of a local API. What the
 * test copy changes (nothing else): container paths (upstream include, pid, logs, ACME webroot)
 * point into a temp directory, the listeners bind 127.0.0.1 on free ports, the upstream is
 * rendered with `renderUpstream(config, color, ['127.0.0.1:<api port>'])` (the stack's service
 * names exist only in its Docker network), and `user nginx;` becomes root when run as root (the
 * host has no nginx account; the temp directory is root's) or is dropped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderNginx, renderUpstream } from '../../src/render/nginx.ts';
import type { Config } from '../../src/config/schema.ts';
import { MOUNT } from '../../src/stack/names.ts';

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

export interface RunningNginx {
  port: number;
  conf: string;
  stop(): Promise<void>;
  errorLog(): string;
}

export async function runRenderedNginx(config: Config, apiPort: number): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-nginx-run-'));
  for (const sub of ['logs', 'webroot', 'modelship']) mkdirSync(join(dir, sub));
  const [port, statusPort] = [await freePort(), await freePort()];
  writeFileSync(join(dir, 'modelship', 'upstream.conf'), renderUpstream(config, config.api.activeColor, [`127.0.0.1:${apiPort}`]).content);
  const root = process.getuid?.() === 0;
  const conf = renderNginx(config)
    .find((f) => f.path === 'nginx/nginx.conf')!
    .content.replace(/^user nginx;$/m, root ? 'user root;' : '# user nginx; (test: no nginx account)')
    .replaceAll(MOUNT.nginxUpstream, join(dir, 'modelship', 'upstream.conf'))
    .replaceAll(MOUNT.acmeWebroot, join(dir, 'webroot'))
    .replaceAll('/var/run/nginx.pid', join(dir, 'nginx.pid'))
    .replaceAll('/var/log/nginx/', `${join(dir, 'logs')}/`)
    .replace(/listen 80 default_server;/, `listen 127.0.0.1:${port} default_server;`)
    .replace(/listen 8080;/, `listen 127.0.0.1:${statusPort};`);
  if (/listen 80\b|listen 443\b/.test(conf)) throw new Error('runRenderedNginx handles tls.mode off only');
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child: ChildProcess = spawn('nginx', ['-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const end = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (up) break;
    if (child.exitCode !== null || Date.now() > end) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`nginx did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    conf,
    errorLog: () => {
      try {
        return readFileSync(join(dir, 'logs', 'error.log'), 'utf8');
      } catch {
        return '';
      }
    },
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGQUIT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
