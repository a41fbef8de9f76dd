/**
 * The HTTP API (fastify): `buildServer` wires already-connected parts (engine, PostgreSQL pool,
 * Redis client, queue) into the services and registers the request hooks (hooks.ts), the body
 * parsers (body.ts) and one plugin per route group (routes/: classify, jobs, models, the Open
 * Inference Protocol, health), so tests and `modelship serve` share it.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import compress from '@fastify/compress';
import multipart from '@fastify/multipart';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import type { Engine } from '../inference/engine.ts';
import { jobCounts, type QueueJobData } from '../queue/queue.ts';
import { cacheFor } from '../services/cache.ts';
import { serviceFor, type InferenceService } from '../services/inference.ts';
import { createMetrics, type Metrics } from '../services/metrics.ts';
import type { ServerSettings } from '../services/settings.ts';
import { bodyParsers } from './body.ts';
import type { DrainState, ServerContext } from './context.ts';
import { continueWhenWanted, corsFirst, errorAnswers, rateLimits, requestHooks } from './hooks.ts';
import { KeyAuthenticator } from './keys.ts';
import { ProxyTrust } from './proxy-trust.ts';
import { createReadiness, type Readiness } from './readiness.ts';
import { classifyRoutes } from './routes/classify.ts';
import { healthRoutes } from './routes/health.ts';
import { jobRoutes } from './routes/jobs.ts';
import { modelRoutes } from './routes/models.ts';
import { v2Routes } from './routes/v2.ts';
import { validatorCompiler } from './schema.ts';

export type { DrainState } from './context.ts';

declare module 'fastify' {
  interface FastifyRequest {
    apiKeyId: string | null;
  }
}

export interface ServerDeps {
  settings: ServerSettings;
  engine: Engine;
  pool?: Pool | undefined;
  redis?: Redis | undefined;
  queue?: Queue<QueueJobData> | undefined;
  /** pino options or false; default: JSON logs at settings.logLevel on stderr. */
  logger?: boolean | Record<string, unknown> | undefined;
  /** Key prefix in Redis for the cache and rate limit (tests isolate themselves with it). */
  redisPrefix?: string | undefined;
}

export interface Server {
  app: FastifyInstance;
  service: InferenceService;
  metrics: Metrics;
  auth: KeyAuthenticator;
  drain: DrainState;
  /** Readiness as /health/ready reports it. */
  ready(): Promise<Readiness>;
}

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

function createApp(s: ServerSettings, logger: ServerDeps['logger'], proxies: ProxyTrust): FastifyInstance {
  return Fastify({
    logger: logger === undefined ? { level: s.logLevel } : logger,
    requestIdHeader: false,
    genReqId: (req) => {
      const h = req.headers['x-request-id'];
      return typeof h === 'string' && REQUEST_ID_RE.test(h) ? h : randomUUID();
    },
    bodyLimit: s.limits.maxJsonSize,
    requestTimeout: s.requestTimeoutMs + 5000,
    connectionTimeout: 0,
    routerOptions: { maxParamLength: 200 },
    // A header section over 16 KB is refused by Node with 431 before any route runs.
    http: { maxHeaderSize: 16 * 1024 },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // The client address (rate limit key, logs) is taken from X-Forwarded-For only past hops in
    // api.trustedProxies: a client cannot choose its own address by sending the header.
    trustProxy: (address: string) => proxies.trusts(address),
  });
}

/** The services and state the route plugins share. */
function createContext(deps: ServerDeps, prefix: string): ServerContext {
  const s = deps.settings;
  const { pool, redis, queue } = deps;
  const metrics = createMetrics({ pool, jobCounts: queue ? () => jobCounts(queue) : undefined }, s.color ? { color: s.color } : {});
  const cache = cacheFor(s.cache, redis, prefix);
  const service = serviceFor(s, { engine: deps.engine, cache, metrics });
  const drain: DrainState = { draining: false, inflight: 0, lastRequestAt: 0 };
  const auth = new KeyAuthenticator({ staticKeys: s.staticKeys, pool, cacheMs: s.keyCacheMs });
  const readiness = createReadiness({ service, pool, redis, isDraining: () => drain.draining });
  return { settings: s, service, cache, metrics, auth, drain, pool, redis, queue, readiness, started: Date.now() };
}

export async function buildServer(deps: ServerDeps): Promise<Server> {
  const s = deps.settings;
  const prefix = deps.redisPrefix ?? 'modelship:';
  const ctx = createContext(deps, prefix);
  // Every model execution's batch size, as the batcher formed it (TF.js runtimes).
  const stopBatchMetrics = deps.engine.onBatch((size) => ctx.metrics.batchSize.observe(size));
  const proxies = new ProxyTrust(s.trustedProxies);
  void proxies.start();

  const app = createApp(s, deps.logger, proxies);
  app.decorateRequest('apiKeyId', null);
  app.setValidatorCompiler(validatorCompiler);
  continueWhenWanted(app);
  errorAnswers(app, s.debug);
  await corsFirst(app, s.cors);
  app.addHook('onClose', async () => {
    stopBatchMetrics();
    proxies.stop();
  });
  requestHooks(app, ctx);
  if (s.compression.enabled) await app.register(compress, { threshold: s.compression.minBytes, global: true });
  await rateLimits(app, ctx, prefix);
  await app.register(multipart, {
    throwFileSizeLimit: true,
    limits: { fileSize: s.limits.maxFileSize, files: s.limits.maxFiles, fields: 20, fieldSize: 64 * 1024, parts: s.limits.maxFiles + 20, headerPairs: 100 },
  });
  bodyParsers(app, s.limits);

  for (const routes of [classifyRoutes, jobRoutes, modelRoutes, v2Routes, healthRoutes]) await app.register(routes, ctx);
  return { app, service: ctx.service, metrics: ctx.metrics, auth: ctx.auth, drain: ctx.drain, ready: ctx.readiness };
}
