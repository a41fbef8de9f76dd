/**
 * `modelship serve` with the three default models stays under 400 MB of peak RSS (issue 14) once
 * every model has run: a memory bound, read from the kernel (/proc/PID/status VmHWM), not a timing.
 * The server runs as the image runs it (MALLOC_ARENA_MAX=2, which bin/modelship.js sets too), on
 * its own port, with no database or Redis.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const FIX = path.resolve(import.meta.dirname, '../../fixtures/images');
const CLI = path.resolve(import.meta.dirname, '../../helpers/ms-cli.mjs');
const LIMIT_MB = 400;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    }).on('error', reject);
  });
}

test(`serve with the default models: peak RSS under ${LIMIT_MB} MB after every model has run`, { skip: existsSync('/proc/self/status') ? false : 'needs /proc (Linux)' }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ms-serve-rss-'));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, MALLOC_ARENA_MAX: '2', MODELSHIP_DATA_DIR: path.join(dir, 'data'), LOG_LEVEL: 'warn' };
  for (const k of ['DATABASE_URL', 'REDIS_URL', 'MODELSHIP_CONFIG', 'MODELSHIP_API_KEYS', 'MODELSHIP_BACKEND', 'MODELSHIP_ONNX_THREADS', 'MODELSHIP_INFERENCE_WORKERS']) delete env[k];
  const child = spawn(process.execPath, [CLI, 'serve', '--port', String(port)], { env, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const base = `http://127.0.0.1:${port}`;
  try {
    const deadline = Date.now() + 120_000;
    while (!(await fetch(`${base}/health/ready`).then((r) => r.status === 200, () => false))) {
      assert.equal(child.exitCode, null, `serve exited: ${log.slice(-800)}`);
      assert.ok(Date.now() < deadline, `serve not ready within 120 s: ${log.slice(-800)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const photos = await Promise.all(['chelsea.jpg', 'astronaut.jpg', 'coffee.jpg', 'motorcycle.jpg'].map((f) => readFile(path.join(FIX, f))));
    const backends = new Set<string>();
    for (let i = 0; i < 8; i++) {
      // distinct inputs each time (the result cache must not answer instead of the models)
      const img = Buffer.concat([photos[i % photos.length]!, Buffer.from([i])]);
      for (const route of ['/v1/classify/image', '/v1/detect']) {
        const form = new FormData();
        form.append('file', new Blob([img], { type: 'image/jpeg' }), `p${i}.jpg`);
        const r = await fetch(`${base}${route}`, { method: 'POST', body: form });
        assert.equal(r.status, 200, `${route}: ${await r.clone().text()}`);
        backends.add(`${route}:${((await r.json()) as { backend: string }).backend}`);
      }
      const t = await fetch(`${base}/v1/classify/text`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `A calm and pleasant morning, number ${i}.` }) });
      assert.equal(t.status, 200, await t.clone().text());
      backends.add(`text:${((await t.json()) as { backend: string }).backend}`);
    }
    assert.deepEqual([...backends].sort(), ['/v1/classify/image:onnx-cpu', '/v1/detect:onnx-cpu', 'text:lexicon']);
    const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
    const hwmMb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
    t.diagnostic(`peak RSS (VmHWM) ${hwmMb.toFixed(0)} MB`);
    assert.ok(hwmMb > 50, `VmHWM read as ${hwmMb} MB`);
    assert.ok(hwmMb < LIMIT_MB, `peak RSS ${hwmMb.toFixed(0)} MB, over ${LIMIT_MB} MB (see the README's performance section for where it goes)`);
  } finally {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  }
});
