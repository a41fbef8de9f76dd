/**
 * `npm run bench:server`: autocannon against in-process servers on this machine.
 *   1. cache-hit image classification vs a bare fastify route (same process, same run): ratio;
 *   2. image classification (cache off) at 1, 8, 32 concurrent clients, dynamic batching off and on.
 * BENCH_SECONDS (default 8) per run. p95 is autocannon's p97.5 bucket's neighbour: we report p50,
 * p97.5 (as "p97.5") and p99 exactly as autocannon measures them, plus p90.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import Fastify from 'fastify';
import { createEngine } from '../src/inference/engine.ts';
import { buildServer } from '../src/server/app.ts';
import { resolveSettings, type ServerSettings } from '../src/server/settings.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const image = await readFile(path.join(ROOT, 'test/fixtures/images/coffee.jpg'));

function settings(over: Partial<ServerSettings>): ServerSettings {
  const s = resolveSettings({ config: undefined, env: {} });
  return { ...s, logLevel: 'warn', rateLimit: { ...s.rateLimit, enabled: false }, compression: { enabled: false, minBytes: 1024 }, ...over };
}

interface Row {
  name: string;
  conns: number;
  rps: number;
  p50: number;
  p90: number;
  p97_5: number;
  p99: number;
  errors: number;
}

async function run(name: string, url: string, conns: number, opts: { method?: string; body?: Buffer; headers?: Record<string, string> } = {}): Promise<Row> {
  const r = await autocannon({ url, connections: conns, duration: SECONDS, method: opts.method ?? 'GET', ...(opts.body ? { body: opts.body } : {}), ...(opts.headers ? { headers: opts.headers } : {}) });
  const row = { name, conns, rps: r.requests.average, p50: r.latency.p50, p90: r.latency.p90, p97_5: r.latency.p97_5, p99: r.latency.p99, errors: r.errors + r.timeouts + r.non2xx };
  console.log(`${name.padEnd(34)} c=${String(conns).padStart(2)}  ${row.rps.toFixed(1).padStart(8)} req/s  p50 ${row.p50} ms  p90 ${row.p90} ms  p97.5 ${row.p97_5} ms  p99 ${row.p99} ms  errors ${row.errors}`);
  return row;
}

const workers = Math.max(1, os.availableParallelism());
console.log(`bench:server on ${os.cpus()[0]?.model ?? 'cpu'} × ${os.availableParallelism()}, Node ${process.version}, ${SECONDS}s per run\n`);

// 1. cache hit vs bare route -------------------------------------------------------------------
const engineA = await createEngine({ workers });
console.log(`engine backend: ${engineA.backend.name}, ${engineA.workers} inference worker thread(s)\n`);
const a = await buildServer({ settings: settings({}), engine: engineA, logger: false });
await a.service.warmUp({ image });
await a.app.listen({ host: '127.0.0.1', port: 0 });
const aUrl = `http://127.0.0.1:${(a.app.server.address() as { port: number }).port}`;
const bare = Fastify({ logger: false });
bare.get('/bare', async () => ({ ok: true }));
await bare.listen({ host: '127.0.0.1', port: 0 });
const bareUrl = `http://127.0.0.1:${(bare.server.address() as { port: number }).port}/bare`;
const imgReq = { method: 'POST', body: image, headers: { 'content-type': 'image/jpeg' } };
await fetch(`${aUrl}/v1/classify/image`, { method: 'POST', body: image, headers: { 'content-type': 'image/jpeg' } }); // fill the cache
const bareRow = await run('bare fastify route', bareUrl, 32);
const hitRow = await run('cache-hit /v1/classify/image', `${aUrl}/v1/classify/image`, 32, imgReq);
console.log(`→ cache-hit classification runs at ${((hitRow.rps / bareRow.rps) * 100).toFixed(1)}% of a bare route's throughput (ratio ${(hitRow.rps / bareRow.rps).toFixed(3)}), p99 ${hitRow.p99} vs ${bareRow.p99} ms\n`);
await a.app.close();
await bare.close();

// 2. inference throughput, batching off vs on ---------------------------------------------------
const results: Record<string, Row[]> = {};
for (const batching of [{ maxBatchSize: 1, maxQueueDelayMs: 0 }, { maxBatchSize: 8, maxQueueDelayMs: 5 }]) {
  const label = batching.maxBatchSize === 1 ? 'batching off' : `batching on (max ${batching.maxBatchSize}, ${batching.maxQueueDelayMs} ms)`;
  const engine = batching.maxBatchSize === 1 ? engineA : await createEngine({ workers, batching });
  const srv = await buildServer({ settings: settings({ cache: { enabled: false, ttlSeconds: 1 }, maxConcurrent: 64, models: { ...settings({}).models, batching } }), engine, logger: false });
  await srv.service.warmUp({ image });
  await srv.app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(srv.app.server.address() as { port: number }).port}/v1/classify/image`;
  results[label] = [];
  for (const c of [1, 8, 32]) results[label].push(await run(`classify (cache off), ${label}`, url, c, imgReq));
  await srv.app.close();
  if (engine !== engineA) await engine.close();
  console.log('');
}
const [off, on] = Object.values(results) as [Row[], Row[]];
for (let i = 0; i < off.length; i++) {
  console.log(`c=${off[i]!.conns}: batching on/off throughput ratio ${(on[i]!.rps / off[i]!.rps).toFixed(2)}, p97.5 ${on[i]!.p97_5} vs ${off[i]!.p97_5} ms`);
}
await engineA.close();
