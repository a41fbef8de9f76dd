/**
 * `modelship serve`: start everything, warm up, listen, and drain on SIGTERM/SIGINT:
 * /health/ready answers 503 at once, the listener keeps accepting while the load balancer still
 * sends (until no request arrived for drainQuietMs, at most drainMaxMs), then it closes: new
 * connections are refused, idle keep-alive connections close, requests in flight finish, exit 0.
 */
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import type { Queue } from 'bullmq';
import { createEngine, type Engine } from '../inference/engine.ts';
import { createQueue, queuePrefix, type QueueJobData } from '../queue/queue.ts';
import { buildServer, type Server } from './app.ts';
import { createPool, createRedis, waitForRedis } from '../services/connect.ts';
import { warmupImage } from '../services/sample.ts';
import type { ServerSettings } from '../services/settings.ts';

export interface RunningServer {
  server: Server;
  url: string;
  /** Drains and closes everything; resolves when done. */
  shutdown(reason?: string): Promise<void>;
  closed: Promise<void>;
}

export interface StartOptions {
  settings: ServerSettings;
  env: NodeJS.ProcessEnv;
  warn: (line: string) => void;
  /** Install SIGTERM/SIGINT and crash handlers (the CLI does; tests do not). */
  signals?: boolean | undefined;
  logger?: boolean | Record<string, unknown> | undefined;
  engine?: Engine | undefined;
}

export async function startServer(o: StartOptions): Promise<RunningServer> {
  const s = o.settings;
  if (!s.authRequired) o.warn('authentication is OFF: no API keys are configured (set MODELSHIP_API_KEYS, or run with a database and `modelship keys create`)');
  if (!s.authRequired && s.host !== '127.0.0.1' && s.host !== 'localhost' && s.host !== '::1') o.warn(`listening on ${s.host} without authentication: anyone who can reach this port can use the API`);
  if (!s.databaseUrl || !s.redisUrl) o.warn(`running without ${[!s.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : '', !s.redisUrl ? 'Redis (REDIS_URL)' : ''].filter(Boolean).join(' and ')}: classification works with an in-process cache; /v1/jobs answers 503`);

  const engine = o.engine ?? (await createEngine({ workers: s.workers, batching: s.models.batching, workerTimeoutMs: s.models.workerTimeoutMs, threads: s.models.threads, limits: { maxPixels: s.limits.maxImagePixels }, preload: [s.models.image, s.models.text] }));
  let pool: Pool | undefined;
  let redis: Redis | undefined;
  let queue: Queue<QueueJobData> | undefined;
  if (s.databaseUrl) pool = createPool(s.databaseUrl, s.poolSize);
  if (s.redisUrl) {
    redis = createRedis(s.redisUrl);
    if (!(await waitForRedis(redis, 3000))) o.warn('Redis is not reachable yet: readiness stays 503 until it is');
    if (pool) queue = createQueue({ redisUrl: s.redisUrl, prefix: queuePrefix(o.env) });
  }
  const server = await buildServer({ settings: s, engine, pool, redis, queue, logger: o.logger, redisPrefix: o.env.MODELSHIP_REDIS_PREFIX || undefined });
  const { app, drain } = server;
  const warm = server.service.warmUp({ image: warmupImage() }).catch((err: Error) => app.log.error({ err }, 'model warm-up failed'));
  await app.listen({ host: s.host, port: s.port });
  const addr = app.server.address();
  const url = typeof addr === 'object' && addr ? `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}` : String(addr);

  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  let shutting: Promise<void> | undefined;
  const shutdown = (reason = 'shutdown'): Promise<void> => {
    if (shutting) return shutting;
    shutting = (async () => {
      drain.draining = true;
      app.log.info({ reason }, 'draining: /health/ready now answers 503');
      const t0 = Date.now();
      // Keep serving while the load balancer still sends; close once it has gone quiet.
      while (Date.now() - t0 < s.drainMaxMs) {
        const quietFor = Date.now() - Math.max(drain.lastRequestAt, t0);
        if (quietFor >= s.drainQuietMs && drain.inflight === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await app.close(); // stops accepting, closes idle connections, waits for requests in flight
      await queue?.close().catch(() => {});
      redis?.disconnect();
      await pool?.end().catch(() => {});
      if (!o.engine) await engine.close().catch(() => {});
      app.log.info({ drainedMs: Date.now() - t0 }, 'stopped');
      resolveClosed();
    })();
    return shutting;
  };

  if (o.signals) {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        app.log.warn({ signal: sig }, 'second signal: exiting now');
        process.exit(1);
      }
      void shutdown(sig);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    // One failing request never takes the process down: log and keep serving.
    process.on('uncaughtException', (err) => app.log.error({ err }, 'uncaught exception (kept running)'));
    process.on('unhandledRejection', (err) => app.log.error({ err }, 'unhandled rejection (kept running)'));
  }
  // Warm-up ends after the handlers are in place: a SIGTERM while models load drains (exit 0)
  // instead of killing the process with the default handler.
  await warm;
  return { server, url, shutdown, closed };
}
