/**
 * `npm run bench:server`.
 *
 * Part 1 (always): overload goodput and memory of the real `modelship serve` (built CLI, default
 * workers and models, cache and rate limit off so every request is an inference), in its own
 * process; this process is only the load generator (autocannon). Per phase it prints throughput,
 * admitted latency and the server's RSS:
 *   capacity   — BENCH_CLIENTS_OK (default 8) clients, no refusals: the reference throughput;
 *   memory     — BENCH_REQUESTS (default 6000) requests, then RSS (target < 400 MB);
 *   retry storm — 64 clients that retry a refused 50 KB upload at once, gate 32: admitted
 *                 throughput ÷ capacity (target ≥ 0.90) and the admitted p99;
 *   oversized gate — requestTimeoutSeconds 1, maxConcurrentClassifications 500, 64 clients:
 *                 goodput (answers within the timeout) ÷ capacity.
 * Part 2 (BENCH_INPROC=1): in-process servers: cache-hit classification vs a bare fastify route,
 * and image classification at 1, 8, 32 clients with dynamic batching off and on.
 * BENCH_SECONDS (default 10) per timed run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import Fastify from 'fastify';
import { createEngine } from '../src/inference/engine.ts';
import { buildServer } from '../src/server/app.ts';
import { resolveSettings, type ServerSettings } from '../src/services/settings.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
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


// --- part 1: overload goodput and memory, server in its own process ----------------------------

const upload = await readFile(path.join(ROOT, 'test/fixtures/images/motorcycle.jpg')); // 51 KB
const MB = 1024 * 1024;
/** Which checkout's built CLI to serve (BENCH_SERVER_ROOT: compare another build side by side). */
const SERVER_ROOT = path.resolve(process.env.BENCH_SERVER_ROOT ?? ROOT);

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

interface Served {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** `modelship serve` from the built CLI with a config of `api` overrides; resolves once /health/ready is 200. */
async function serve(api: Record<string, number>): Promise<Served> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ms-bench-server-'));
  const cfg = path.join(dir, 'modelship.config.yaml');
  // BENCH_WORKERS pins api.workers (to compare with a build whose default differs)
  const all = { ...api, ...(process.env.BENCH_WORKERS ? { workers: Number(process.env.BENCH_WORKERS) } : {}) };
  const apiLines = Object.entries(all).map(([k, v]) => `  ${k}: ${v}`).join('\n');
  await writeFile(cfg, `tls:\n  mode: off\napi:\n${apiLines || '  port: 8000'}\nrateLimit:\n  enabled: false\ncache:\n  enabled: false\nlogging:\n  level: warn\n`);
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, MODELSHIP_DATA_DIR: path.join(dir, 'data'), LOG_LEVEL: 'warn' };
  delete env.MODELSHIP_INFERENCE_WORKERS;
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  const child: ChildProcess = spawn(process.execPath, [path.join(SERVER_ROOT, 'bin/modelship.js'), 'serve', '-c', cfg, '--port', String(port)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const end = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`modelship serve exited ${child.exitCode}: ${stderr}`);
    if (Date.now() > end) throw new Error(`modelship serve not ready in 120 s: ${stderr}`);
    const ok = await fetch(`${url}/health/ready`).then((r) => r.ok, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    pid: child.pid!,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

interface LoadRow {
  seconds: number;
  okPerSec: number;
  refusedPerSec: number;
  timeoutsPerSec: number;
  okP50: number;
  okP99: number;
  statuses: Record<string, number>;
  requests: number;
}

/** Drives `url` with `connections` clients that resend at once whatever the answer (a retry storm when refused). */
async function load(url: string, connections: number, opts: { seconds?: number; amount?: number }): Promise<LoadRow> {
  const okLatencies: number[] = [];
  const statuses: Record<string, number> = {};
  const t0 = performance.now();
  const instance = autocannon({
    url: `${url}/v1/classify/image`,
    method: 'POST',
    body: upload,
    headers: { 'content-type': 'image/jpeg' },
    connections,
    ...(opts.amount ? { amount: opts.amount } : { duration: opts.seconds ?? SECONDS }),
  });
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
    if (statusCode === 200) okLatencies.push(responseTime);
  });
  const res = await instance;
  if (res.errors + res.timeouts > 0) statuses['socket errors'] = res.errors + res.timeouts;
  const seconds = (performance.now() - t0) / 1000;
  okLatencies.sort((x, y) => x - y);
  const q = (p: number) => (okLatencies.length ? okLatencies[Math.min(okLatencies.length - 1, Math.floor(p * okLatencies.length))]! : NaN);
  const n = (s: string) => statuses[s] ?? 0;
  return { seconds, okPerSec: n('200') / seconds, refusedPerSec: n('503') / seconds, timeoutsPerSec: n('504') / seconds, okP50: q(0.5), okP99: q(0.99), statuses, requests: Object.entries(statuses).filter(([k]) => k !== 'socket errors').reduce((a, [, b]) => a + b, 0) };
}

function show(name: string, r: LoadRow, rss: number): void {
  const st = Object.entries(r.statuses).map(([k, v]) => `${k}×${v}`).join(' ');
  console.log(`${name.padEnd(30)} ${r.okPerSec.toFixed(1).padStart(6)} ok/s  ${r.refusedPerSec.toFixed(1).padStart(7)} 503/s  ${r.timeoutsPerSec.toFixed(1).padStart(5)} 504/s  ok p50 ${Math.round(r.okP50)} ms  ok p99 ${Math.round(r.okP99)} ms  [${st}]  RSS ${(rss / MB).toFixed(0)} MB`);
}

console.log(`bench:server on ${os.cpus()[0]?.model ?? 'cpu'} × ${os.availableParallelism()}, Node ${process.version}, ${SECONDS}s per timed run; load generator: this process, server: \`modelship serve\` (pid below)\n`);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 6000);
const CLIENTS_OK = Number(process.env.BENCH_CLIENTS_OK ?? 8);
const rssTarget = 400 * MB;

const a = await serve({});
console.log(`server A (defaults: gate 32, timeout 60 s, workers = cores), pid ${a.pid}, RSS after warm-up ${(rssOf(a.pid) / MB).toFixed(0)} MB`);
await load(a.url, CLIENTS_OK, { seconds: 3 }); // warm the JIT and the pool
const cap = await load(a.url, CLIENTS_OK, {});
show(`capacity (${CLIENTS_OK} clients)`, cap, rssOf(a.pid));
const mem = await load(a.url, CLIENTS_OK, { amount: REQUESTS });
const rssMem = rssOf(a.pid);
show(`memory (${mem.requests} requests)`, mem, rssMem);
const storm = await load(a.url, 64, {});
const rssStorm = rssOf(a.pid);
show('retry storm (64 clients)', storm, rssStorm);
await a.stop();

const b = await serve({ requestTimeoutSeconds: 1, maxConcurrentClassifications: 500 });
await load(b.url, CLIENTS_OK, { seconds: 3 });
const over = await load(b.url, 64, {});
const rssOver = rssOf(b.pid);
show('oversized gate (64 clients)', over, rssOver);
await b.stop();

const ratio = (x: number) => (x / cap.okPerSec).toFixed(2);
console.log('');
console.log(`→ retry storm: admitted ${storm.okPerSec.toFixed(1)} req/s = ${ratio(storm.okPerSec)} × capacity (target ≥ 0.90) ${storm.okPerSec >= 0.9 * cap.okPerSec ? 'MET' : 'NOT MET'}; admitted p99 ${Math.round(storm.okP99)} ms; ${storm.refusedPerSec.toFixed(0)} refusals/s`);
console.log(`→ oversized gate (timeout 1 s, gate 500): goodput ${over.okPerSec.toFixed(1)} req/s = ${ratio(over.okPerSec)} × capacity; ${over.timeoutsPerSec.toFixed(1)} timeouts/s; admitted p99 ${Math.round(over.okP99)} ms`);
console.log(`→ RSS: ${(rssMem / MB).toFixed(0)} MB after ${mem.requests} requests, ${(rssStorm / MB).toFixed(0)} MB after the storm, ${(rssOver / MB).toFixed(0)} MB after the oversized-gate run (target < 400 MB) ${Math.max(rssMem, rssStorm, rssOver) < rssTarget ? 'MET' : 'NOT MET'}`);

if (process.env.BENCH_INPROC === '1') {
  console.log('\n--- in-process servers ---\n');
  await inProcess();
}

async function inProcess(): Promise<void> {
  const workers = Math.max(1, os.availableParallelism());

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
}
