/**
 * `modelship worker`: the queue consumer process, with /health and /metrics on --metrics-port.
 * SIGTERM: stop taking jobs, finish the ones in progress (BullMQ close), exit 0. A job cut off by
 * SIGKILL is re-delivered when its lock expires.
 */
import http from 'node:http';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { createEngine, type Engine } from '../inference/engine.ts';
import { createPool, createRedis } from '../services/connect.ts';
import { cacheFor } from '../services/cache.ts';
import { serviceFor } from '../services/inference.ts';
import { createMetrics, type Metrics } from '../services/metrics.ts';
import type { ServerSettings } from '../services/settings.ts';
import { createQueue, jobCounts, queuePrefix } from './queue.ts';
import { startWorker } from './worker.ts';
import { UserError } from '../util/errors.ts';

export interface WorkerRunOptions {
  settings: ServerSettings;
  env: NodeJS.ProcessEnv;
  metricsPort?: number | undefined;
  metricsHost?: string | undefined;
  concurrency?: number | undefined;
  log: (line: string) => void;
  signals?: boolean | undefined;
  engine?: Engine | undefined;
}

export async function runWorker(o: WorkerRunOptions): Promise<{ stop: () => Promise<void>; closed: Promise<void>; metricsUrl: string | undefined }> {
  const s = o.settings;
  if (!s.databaseUrl || !s.redisUrl) {
    throw new UserError(`modelship worker needs ${[!s.databaseUrl ? 'PostgreSQL' : '', !s.redisUrl ? 'Redis' : ''].filter(Boolean).join(' and ')}`, {
      hint: 'set DATABASE_URL and REDIS_URL (or DATABASE_HOST/REDIS_HOST and the config with its .env)',
    });
  }
  const pool = createPool(s.databaseUrl, Math.max(2, Math.min(s.poolSize, 10)));
  const redis = createRedis(s.redisUrl);
  const prefix = queuePrefix(o.env);
  const queue = createQueue({ redisUrl: s.redisUrl, prefix });
  const metrics = createMetrics({ pool, jobCounts: () => jobCounts(queue) }, { role: 'worker' });
  const engine = o.engine ?? (await createEngine({ workers: s.workers, batching: s.models.batching, workerTimeoutMs: s.models.workerTimeoutMs, threads: s.models.threads, limits: { maxPixels: s.limits.maxImagePixels } }));
  const cache = cacheFor(s.cache, redis, o.env.MODELSHIP_REDIS_PREFIX || 'modelship:');
  // The worker paces itself by chunk size, and a job may take longer than one request.
  const service = serviceFor(s, { engine, cache, metrics, maxConcurrent: 1_000_000, timeoutMs: s.requestTimeoutMs * 10 });
  engine.onBatch((size) => metrics.batchSize.observe(size));
  const lock = Number(o.env.MODELSHIP_JOB_LOCK_MS) || 30_000;
  const w = startWorker({
    redisUrl: s.redisUrl, prefix, concurrency: o.concurrency ?? s.worker.concurrency, pool, service, chunkSize: s.worker.chunkSize,
    lockDurationMs: lock, stalledIntervalMs: Number(o.env.MODELSHIP_JOB_STALLED_MS) || lock,
    onEvent: (e) => o.log(JSON.stringify({ level: e.type === 'completed' ? 'info' : 'warn', msg: `job ${e.type}`, jobId: e.jobId, ...(e.error ? { error: e.error } : {}) })),
  });

  let stopping = false;
  const health = o.metricsPort === undefined ? undefined : await startHealthServer({ port: o.metricsPort, host: o.metricsHost ?? '0.0.0.0', metrics, pool, redis, running: () => w.worker.isRunning(), stopping: () => stopping });
  const server = health?.server;
  const metricsUrl = health?.url;

  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  let stopPromise: Promise<void> | undefined;
  const stop = () => {
    if (stopPromise) return stopPromise;
    stopping = true;
    stopPromise = (async () => {
      o.log(JSON.stringify({ level: 'info', msg: 'stopping: finishing the jobs in progress' }));
      await w.stop();
      await queue.close().catch(() => {});
      redis.disconnect();
      await pool.end().catch(() => {});
      if (!o.engine) await engine.close().catch(() => {});
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      resolveClosed();
    })();
    return stopPromise;
  };
  if (o.signals) {
    process.on('SIGTERM', () => void stop());
    process.on('SIGINT', () => void stop());
    process.on('uncaughtException', (err) => o.log(JSON.stringify({ level: 'error', msg: 'uncaught exception (kept running)', error: String(err) })));
    process.on('unhandledRejection', (err) => o.log(JSON.stringify({ level: 'error', msg: 'unhandled rejection (kept running)', error: String(err) })));
  }
  o.log(JSON.stringify({ level: 'info', msg: 'worker started', concurrency: o.concurrency ?? s.worker.concurrency, backend: engine.backend.name, metrics: metricsUrl ?? null }));
  return { stop, closed, metricsUrl };
}

interface HealthServerDeps {
  port: number;
  host: string;
  metrics: Metrics;
  pool: Pool;
  redis: Redis;
  running: () => boolean;
  stopping: () => boolean;
}

/** The worker's /health, /health/ready, /health/live and /metrics (a plain node:http server: no API here). */
async function startHealthServer(d: HealthServerDeps): Promise<{ server: http.Server; url: string | undefined }> {
  const server = http.createServer((req, res) => {
    void (async () => {
      if (req.url === '/metrics' || req.url === '/health/metrics') {
        res.writeHead(200, { 'content-type': d.metrics.registry.contentType });
        res.end(await d.metrics.registry.metrics());
        return;
      }
      if (req.url === '/health' || req.url === '/health/ready' || req.url === '/health/live') {
        const db = await d.pool.query('SELECT 1').then(() => true, () => false);
        const rd = d.redis.status === 'ready';
        const stopping = d.stopping();
        const ok = (req.url === '/health/live' || (db && rd)) && !stopping;
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: ok ? 'ok' : stopping ? 'stopping' : 'degraded', role: 'worker', checks: { database: db, redis: rd, running: d.running() } }));
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"not found"}');
    })().catch(() => {
      res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(d.port, d.host, resolve));
  const a = server.address();
  return { server, url: a && typeof a === 'object' ? `http://127.0.0.1:${a.port}` : undefined };
}
