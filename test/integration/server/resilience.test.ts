/**
 * Shared rate limit across two instances, Redis restarted while serving, PostgreSQL down, and the
 * drain on SIGTERM of a real `modelship serve` process. Own redis-server and PostgreSQL cluster on
 * other ports: the shared services are never touched.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createEngine, type Engine } from '../../../src/inference/engine.ts';
import { buildServer } from '../../../src/server/app.ts';
import { createPool, createRedis, waitForRedis } from '../../../src/services/connect.ts';
import { createKey } from '../../../src/server/keys.ts';
import { cleanRedis, createTestDatabase, randomPrefix, REDIS_URL_TEST, testSettings } from '../../helpers/server.ts';

const FIX = path.resolve(import.meta.dirname, '../../fixtures/images');
const CLI = path.resolve(import.meta.dirname, '../../helpers/ms-cli.mjs');
let engine: Engine;
let coffee: Buffer;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!(await fn())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  [engine, coffee] = await Promise.all([createEngine({ workers: 1 }), readFile(path.join(FIX, 'coffee.jpg'))]);
});
after(() => engine?.close());

test('rate limit is shared by two instances through Redis: 429 with Retry-After', async () => {
  const prefix = randomPrefix();
  const redis = createRedis(REDIS_URL_TEST);
  await waitForRedis(redis, 3000);
  const settings = testSettings({ rateLimit: { enabled: true, perMinute: 60, burst: 5 }, staticKeys: ['k-shared-1234567890'], authRequired: true });
  const a = await buildServer({ settings, engine, redis, logger: false, redisPrefix: `${prefix}:` });
  const b = await buildServer({ settings, engine, redis, logger: false, redisPrefix: `${prefix}:` });
  try {
    const req = (s: typeof a) => s.app.inject({ method: 'POST', url: '/v1/classify/text', headers: { authorization: 'Bearer k-shared-1234567890' }, payload: { text: 'hello' } });
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) codes.push((await req(i % 2 ? b : a)).statusCode);
    assert.deepEqual(codes.slice(0, 5), [200, 200, 200, 200, 200]);
    const limited = await req(b);
    assert.equal(limited.statusCode, 429, `codes ${codes.join()}`);
    assert.ok(Number(limited.headers['retry-after']) >= 1);
    assert.equal(limited.json().code, 'rate_limited');
    assert.equal((await a.app.inject({ url: '/health/live' })).statusCode, 200, 'health is never rate limited');
  } finally {
    await a.app.close();
    await b.app.close();
    redis.disconnect();
    await cleanRedis(REDIS_URL_TEST, prefix);
  }
});

test('Redis restarted while serving: readiness flips to 503, classification keeps answering, readiness recovers', async () => {
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ms-redis-'));
  const startRedis = () => spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  let rs = startRedis();
  const url = `redis://127.0.0.1:${port}`;
  const redis = createRedis(url);
  try {
    assert.ok(await waitForRedis(redis, 5000));
    const srv = await buildServer({ settings: testSettings({ redisUrl: url }), engine, redis, logger: false });
    await srv.service.warmUp({ image: coffee });
    assert.equal((await srv.app.inject({ url: '/health/ready' })).statusCode, 200);
    rs.kill('SIGKILL');
    await waitFor('readiness 503', async () => (await srv.app.inject({ url: '/health/ready' })).statusCode === 503);
    const c = await srv.app.inject({ method: 'POST', url: '/v1/classify/image', headers: { 'content-type': 'image/jpeg' }, payload: coffee });
    assert.equal(c.statusCode, 200, c.body);
    rs = startRedis();
    await waitFor('readiness back to 200', async () => (await srv.app.inject({ url: '/health/ready' })).statusCode === 200);
    await srv.app.close();
  } finally {
    redis.disconnect();
    rs.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});

test('PostgreSQL down: readiness 503, classification with a known key still answers', async (t) => {
  let pgBin: string;
  try {
    pgBin = path.dirname(execFileSync('which', ['pg_ctl']).toString().trim());
  } catch {
    t.skip('pg_ctl not installed');
    return;
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ms-pg-'));
  const port = await freePort();
  // initdb refuses to run as root: run the throwaway cluster as the postgres user then.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) execFileSync('chown', ['postgres', dir]);
  const run = (tool: string, args: string[]) => (asRoot ? execFileSync('runuser', ['-u', 'postgres', '--', path.join(pgBin, tool), ...args], { stdio: 'ignore' }) : execFileSync(path.join(pgBin, tool), args, { stdio: 'ignore' }));
  const pgCtl = (...args: string[]) => run('pg_ctl', args);
  try {
    run('initdb', ['-D', `${dir}/data`, '-U', 'postgres', '--auth=trust', '-E', 'UTF8']);
    pgCtl('-D', `${dir}/data`, '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, '-w', 'start', '-l', `${dir}/log`);
    const db = await createTestDatabase(`postgres://postgres@127.0.0.1:${port}/postgres`);
    const pool = createPool(db.url, 3);
    const { key } = await createKey(pool, 'pg-down');
    const srv = await buildServer({ settings: testSettings({ databaseUrl: db.url, authRequired: true }), engine, pool, logger: false });
    await srv.service.warmUp({ image: coffee });
    const classify = () => srv.app.inject({ method: 'POST', url: '/v1/classify/text', headers: { authorization: `Bearer ${key}` }, payload: { text: 'works' } });
    assert.equal((await classify()).statusCode, 200);
    assert.equal((await srv.app.inject({ url: '/health/ready' })).statusCode, 200);
    pgCtl('-D', `${dir}/data`, '-m', 'immediate', '-w', 'stop');
    await waitFor('readiness 503', async () => (await srv.app.inject({ url: '/health/ready' })).statusCode === 503);
    const ready = await srv.app.inject({ url: '/health/ready' });
    assert.equal(ready.json().checks.database.ok, false);
    assert.equal((await classify()).statusCode, 200);
    assert.equal((await srv.app.inject({ method: 'POST', url: '/v1/classify/text', headers: { authorization: 'Bearer ms_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' }, payload: { text: 'x' } })).statusCode, 503);
    await srv.app.close();
    await pool.end().catch(() => {});
  } finally {
    try {
      pgCtl('-D', `${dir}/data`, '-m', 'immediate', 'stop');
    } catch {
      // already stopped
    }
    await rm(dir, { recursive: true, force: true });
  }
});

test('SIGTERM drains a real `modelship serve`: ready 503 at once, in-flight requests finish, then refused, exit 0', async () => {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, MODELSHIP_DRAIN_QUIET_MS: '500', MODELSHIP_INFERENCE_WORKERS: '1', MODELSHIP_COLOR: 'green', LOG_LEVEL: 'warn' };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  delete env.MODELSHIP_CONFIG;
  delete env.MODELSHIP_API_KEYS;
  const child: ChildProcess = spawn(process.execPath, [CLI, 'serve', '--port', String(port)], { env, cwd: os.tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor('server ready', async () => fetch(`${base}/health/ready`).then((r) => r.status === 200, () => false), 60_000);
    const ready = await fetch(`${base}/health/ready`);
    assert.equal(ready.headers.get('x-modelship-color'), 'green');
    assert.equal(((await ready.json()) as { color: string }).color, 'green');
    // a slow request in flight: several images through one worker thread
    const form = new FormData();
    for (let i = 0; i < 6; i++) form.append('file', new Blob([Buffer.concat([coffee, Buffer.from([i])])], { type: 'image/jpeg' }), `c${i}.jpg`);
    const inflight = fetch(`${base}/v1/detect`, { method: 'POST', body: form });
    await new Promise((r) => setTimeout(r, 150));
    child.kill('SIGTERM');
    await waitFor('ready 503', async () => fetch(`${base}/health/ready`).then((r) => r.status === 503, () => false), 2000);
    const res = await inflight;
    assert.equal(res.status, 200, 'the request in flight finished');
    assert.equal(((await res.json()) as { results: unknown[] }).results.length, 6);
    assert.equal(await exited, 0, log);
    await assert.rejects(fetch(`${base}/health`), 'new connections are refused');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
