/**
 * Batch jobs end to end: POST /v1/jobs → BullMQ → `modelship worker` → results in PostgreSQL,
 * JSON and CSV results, a worker killed with SIGKILL mid-job (the job is re-delivered and
 * completes, nothing stored twice), graceful SIGTERM (the job in progress finishes), read-only DB.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { createEngine, type Engine } from '../../../src/inference/engine.ts';
import { buildServer, type Server } from '../../../src/server/app.ts';
import { createPool, createRedis, waitForRedis } from '../../../src/services/connect.ts';
import { createQueue, type QueueJobData } from '../../../src/queue/queue.ts';
import { cleanRedis, createTestDatabase, randomPrefix, REDIS_URL_TEST, testSettings } from '../../helpers/server.ts';

const FIX = path.resolve(import.meta.dirname, '../../fixtures/images');
const CLI = path.resolve(import.meta.dirname, '../../helpers/ms-cli.mjs');

let engine: Engine;
let db: { url: string; drop: () => Promise<void> };
let pool: Pool;
let redis: Redis;
let queue: Queue<QueueJobData>;
let srv: Server;
const prefix = randomPrefix();
let coffee: Buffer;
let chelsea: Buffer;
const children: ChildProcess[] = [];

function startWorker(extraEnv: Record<string, string> = {}): ChildProcess {
  const base = { ...process.env };
  delete base.MODELSHIP_CONFIG;
  const c = spawn(process.execPath, [CLI, 'worker'], {
    env: { ...base, DATABASE_URL: db.url, REDIS_URL: REDIS_URL_TEST, MODELSHIP_QUEUE_PREFIX: prefix, MODELSHIP_REDIS_PREFIX: `${prefix}:`, MODELSHIP_INFERENCE_WORKERS: '1', MODELSHIP_JOB_CHUNK_SIZE: '2', MODELSHIP_JOB_LOCK_MS: '2000', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  c.stderr!.on('data', (d) => (log += d));
  c.on('exit', (code) => {
    if (code !== 0 && code !== null && process.env.DEBUG_TEST) console.error(log);
  });
  children.push(c);
  return c;
}

function multipart(files: { name: string; data: Buffer }[]): { payload: Buffer; headers: Record<string, string> } {
  const parts: Buffer[] = [];
  for (const f of files) parts.push(Buffer.from(`--B0undary\r\nContent-Disposition: form-data; name="file"; filename="${f.name}"\r\nContent-Type: image/jpeg\r\n\r\n`), f.data, Buffer.from('\r\n'));
  parts.push(Buffer.from('--B0undary--\r\n'));
  return { payload: Buffer.concat(parts), headers: { 'content-type': 'multipart/form-data; boundary=B0undary' } };
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const getJob = async (id: string) => (await srv.app.inject({ url: `/v1/jobs/${id}` })).json();

before(async () => {
  [engine, db, coffee, chelsea] = await Promise.all([createEngine({ workers: 1 }), createTestDatabase(), readFile(path.join(FIX, 'coffee.jpg')), readFile(path.join(FIX, 'chelsea.jpg'))]);
  pool = createPool(db.url, 5);
  redis = createRedis(REDIS_URL_TEST);
  await waitForRedis(redis, 3000);
  queue = createQueue({ redisUrl: REDIS_URL_TEST, prefix });
  srv = await buildServer({ settings: testSettings({ databaseUrl: db.url, redisUrl: REDIS_URL_TEST }), engine, pool, redis, queue, logger: false, redisPrefix: `${prefix}:` });
  await srv.service.warmUp({ image: coffee });
});

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await srv?.app.close();
  await queue?.close();
  redis?.disconnect();
  await pool?.end();
  await cleanRedis(REDIS_URL_TEST, prefix);
  await db?.drop();
  await engine?.close();
});

test('job round trip: texts and images through a worker, JSON and CSV results', async () => {
  const w = startWorker();
  const t = await srv.app.inject({ method: 'POST', url: '/v1/jobs', payload: { texts: ['I love it', 'I hate it', 'meh'] } });
  assert.equal(t.statusCode, 202, t.body);
  assert.equal(t.headers.location, `/v1/jobs/${t.json().id}`);
  const mp = multipart([{ name: 'coffee.jpg', data: coffee }, { name: 'broken.jpg', data: Buffer.from('not an image') }, { name: 'chelsea.jpg', data: chelsea }]);
  const i = await srv.app.inject({ method: 'POST', url: '/v1/jobs', headers: mp.headers, payload: mp.payload });
  assert.equal(i.statusCode, 202, i.body);
  assert.equal(i.json().total, 3);
  const tj = await waitFor('text job', async () => { const j = await getJob(t.json().id); return j.state === 'completed' && j; });
  assert.equal(tj.completed, 3);
  assert.equal(tj.progress, 1);
  assert.equal(tj.results[0].result.predictions[0].label, 'positive');
  const ij = await waitFor('image job', async () => { const j = await getJob(i.json().id); return j.state === 'completed' && j; });
  assert.deepEqual([ij.completed, ij.failed], [2, 1]);
  assert.equal(ij.results[1].code, 'unsupported_image');
  const csv = await srv.app.inject({ url: `/v1/jobs/${i.json().id}/results?format=csv` });
  assert.equal(csv.statusCode, 200);
  assert.match(csv.headers['content-type'] as string, /^text\/csv/);
  assert.match(csv.body, /^index,name,rank,label,score,error\r\n0,coffee\.jpg,1,/);
  assert.match(csv.body, /\r\n1,broken\.jpg,,,,/);
  const json = await srv.app.inject({ url: `/v1/jobs/${i.json().id}/results?format=json` });
  assert.equal(json.json().results.length, 3);
  assert.equal((await srv.app.inject({ url: '/v1/jobs/00000000-0000-0000-0000-000000000000' })).statusCode, 404);
  assert.equal((await srv.app.inject({ url: '/v1/jobs/not-a-uuid' })).statusCode, 404);
  assert.equal((await srv.app.inject({ url: `/v1/jobs/${i.json().id}/results?format=xml` })).statusCode, 400);
  // graceful stop: SIGTERM while idle → exit 0
  w.kill('SIGTERM');
  const code = await new Promise((r) => w.on('exit', r));
  assert.equal(code, 0);
});

test('a worker killed with SIGKILL mid-job: the job is picked up again and completes, nothing stored twice', async () => {
  const files = Array.from({ length: 16 }, (_, k) => ({ name: `img-${k}.jpg`, data: Buffer.concat([k % 2 ? coffee : chelsea, Buffer.from([k])]) }));
  const mp = multipart(files);
  const first = startWorker();
  const r = await srv.app.inject({ method: 'POST', url: '/v1/jobs', headers: mp.headers, payload: mp.payload });
  assert.equal(r.statusCode, 202, r.body);
  const id = r.json().id as string;
  await waitFor('first results', async () => { const j = await getJob(id); return j.completed >= 2 && j.state === 'running'; });
  first.kill('SIGKILL');
  await new Promise((res) => first.on('exit', res));
  const doneBefore = (await getJob(id)).completed;
  assert.ok(doneBefore < 16, 'killed before the end');
  const second = startWorker();
  const j = await waitFor('job completion after the kill', async () => { const x = await getJob(id); return x.state === 'completed' && x; }, 90_000);
  assert.equal(j.completed, 16);
  assert.ok(j.attempts >= 2, `attempts ${j.attempts}`);
  const rows = await pool.query<{ n: string; d: string }>('SELECT count(*) AS n, count(DISTINCT input_index) AS d FROM job_results WHERE job_id = $1', [id]);
  assert.deepEqual(rows.rows[0], { n: '16', d: '16' });
  // SIGTERM while a job runs: the job in progress finishes, then exit 0
  const r2 = await srv.app.inject({ method: 'POST', url: '/v1/jobs', headers: mp.headers, payload: mp.payload });
  const id2 = r2.json().id as string;
  await waitFor('second job running', async () => { const x = await getJob(id2); return x.completed >= 2 && x; });
  second.kill('SIGTERM');
  const code = await new Promise((res) => second.on('exit', res));
  assert.equal(code, 0);
  const j2 = await getJob(id2);
  assert.equal(j2.state, 'completed', `after SIGTERM: ${j2.state} ${j2.completed}/16`);
  assert.equal(j2.completed, 16);
});

test('a read-only database: job creation answers 503 with Retry-After, classification still works', async () => {
  const roPool = createPool(`${db.url}?options=-c%20default_transaction_read_only%3Don`, 2);
  const ro = await buildServer({ settings: testSettings({ databaseUrl: db.url, redisUrl: REDIS_URL_TEST }), engine, pool: roPool, redis, queue, logger: false, redisPrefix: `${prefix}:` });
  try {
    const r = await ro.app.inject({ method: 'POST', url: '/v1/jobs', payload: { texts: ['x'] } });
    assert.equal(r.statusCode, 503, r.body);
    assert.equal(r.json().code, 'read_only');
    assert.ok(r.headers['retry-after']);
    const c = await ro.app.inject({ method: 'POST', url: '/v1/classify/text', payload: { text: 'still fine' } });
    assert.equal(c.statusCode, 200);
  } finally {
    await ro.app.close();
    await roPool.end();
  }
});
