/**
 * `modelship worker`: the queue consumer process, with /health and /metrics on --metrics-port.
 * SIGTERM: stop taking jobs, finish the ones in progress (BullMQ close), exit 0. A job cut off by
 * SIGKILL is re-delivered when its lock expires.
 */
import http from 'node:http';
import { createEngine, type Engine } from '../inference/engine.ts';
import { createPool, createRedis } from '../server/connect.ts';
import { RedisCache, NO_CACHE } from '../server/cache.ts';
import { InferenceService } from '../server/inference.ts';
import { createMetrics } from '../server/metrics.ts';
import type { ServerSettings } from '../server/settings.ts';
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
  const cache = !s.cache.enabled ? NO_CACHE : new RedisCache(redis, s.cache.ttlSeconds, o.env.MODELSHIP_REDIS_PREFIX || 'modelship:');
  const service = new InferenceService({
    engine, cache, metrics, maxConcurrent: 1_000_000, timeoutMs: s.requestTimeoutMs * 10,
    defaults: { image: s.models.image, text: s.models.text, detect: s.models.detection },
  });
  engine.onBatch((size) => metrics.batchSize.observe(size));
  const lock = Number(o.env.MODELSHIP_JOB_LOCK_MS) || 30_000;
  const w = startWorker({
    redisUrl: s.redisUrl, prefix, concurrency: o.concurrency ?? s.worker.concurrency, pool, service, chunkSize: s.worker.chunkSize,
    lockDurationMs: lock, stalledIntervalMs: Number(o.env.MODELSHIP_JOB_STALLED_MS) || lock,
    onEvent: (e) => o.log(JSON.stringify({ level: e.type === 'completed' ? 'info' : 'warn', msg: `job ${e.type}`, jobId: e.jobId, ...(e.error ? { error: e.error } : {}) })),
  });

  let server: http.Server | undefined;
  let metricsUrl: string | undefined;
  let stopping = false;
  if (o.metricsPort !== undefined) {
    server = http.createServer((req, res) => {
      void (async () => {
        if (req.url === '/metrics' || req.url === '/health/metrics') {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(await metrics.registry.metrics());
          return;
        }
        if (req.url === '/health' || req.url === '/health/ready' || req.url === '/health/live') {
          const db = await pool.query('SELECT 1').then(() => true, () => false);
          const rd = redis.status === 'ready';
          const ok = (req.url === '/health/live' || (db && rd)) && !stopping;
          res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ status: ok ? 'ok' : stopping ? 'stopping' : 'degraded', role: 'worker', checks: { database: db, redis: rd, running: w.worker.isRunning() } }));
          return;
        }
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"error":"not found"}');
      })().catch(() => {
        res.writeHead(500);
        res.end();
      });
    });
    await new Promise<void>((resolve) => server!.listen(o.metricsPort, o.metricsHost ?? '0.0.0.0', resolve));
    const a = server.address();
    if (a && typeof a === 'object') metricsUrl = `http://127.0.0.1:${a.port}`;
  }

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
