/**
 * The HTTP API (fastify): classification, detection, batch jobs, models, the Open Inference
 * Protocol (KServe V2) routes, health and metrics. `buildServer` wires already-connected parts
 * (engine, PostgreSQL pool, Redis client, queue) so tests and `modelship serve` share it.
 */
import { randomUUID } from 'node:crypto';
import { statfs } from 'node:fs/promises';
import os from 'node:os';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import compress from '@fastify/compress';
import cors from '@fastify/cors';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import type { Engine } from '../inference/engine.ts';
import { BUNDLED_MODELS_DIR } from '../inference/registry.ts';
import type { DetectionResult, ClassificationResult } from '../inference/types.ts';
import { enqueue, jobCounts, type QueueJobData } from '../queue/queue.ts';
import { getJob, getResults, insertInput, insertJob, markFailed, setTotal, type JobTask } from '../services/job-store.ts';
import { VERSION } from '../version.ts';
import { MemoryCache, NO_CACHE, RedisCache, type ResultCache } from '../services/cache.ts';
import { resultsCsv } from './csv.ts';
import { ApiError } from '../services/errors.ts';
import { toHttpError } from './errors.ts';
import { InferenceService, ENGINE_TASK, type ApiTask, type InferResult } from '../services/inference.ts';
import { bearer, KeyAuthenticator } from './keys.ts';
import { createMetrics, type Metrics } from '../services/metrics.ts';
import { decodeUtf8, parseQueryOptions, parseTexts, safeFileName, type QueryOptions } from './params.ts';
import { retryAfterSeconds, tokenBucketStore } from './ratelimit.ts';
import type { ServerSettings } from '../services/settings.ts';
import { DRAIN_LIMIT_BYTES, unreadBodyPolicy } from './unread-body.ts';
import { ProxyTrust } from './proxy-trust.ts';
import { RouteIndex } from './route-index.ts';
import { registerV2, V2_MODEL_READY_ROUTES } from './v2/routes.ts';

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

export interface DrainState {
  draining: boolean;
  /** Requests (not health probes) being handled now. */
  inflight: number;
  lastRequestAt: number;
}

export interface Server {
  app: FastifyInstance;
  service: InferenceService;
  metrics: Metrics;
  auth: KeyAuthenticator;
  drain: DrainState;
  /** Readiness as /health/ready reports it. */
  ready(): Promise<{ ready: boolean; checks: Record<string, Check> }>;
}

interface Check {
  ok: boolean;
  latencyMs?: number;
  error?: string;
  detail?: unknown;
}

const OPEN_PREFIXES = ['/health', '/v2/health', '/metrics'];

/** Probes: no key, no rate limit, not counted by the drain (a Kubernetes probe carries no key). */
function isHealthRoute(url: string | undefined): boolean {
  return url !== undefined && (url === '/v2' || V2_MODEL_READY_ROUTES.includes(url) || OPEN_PREFIXES.some((p) => url === p || url.startsWith(`${p}/`)));
}

/** Raw requests that asked `Expect: 100-continue` and were told to go on. */
const continued = new WeakSet<object>();

function expectsContinue(req: { headers: Record<string, string | string[] | undefined> }): boolean {
  const e = req.headers.expect;
  return typeof e === 'string' && /100-continue/i.test(e);
}

const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

async function timed(fn: () => Promise<unknown>, timeoutMs = 1000): Promise<Check> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true, latencyMs: Math.round((performance.now() - t0) * 10) / 10 };
  } catch (err) {
    return { ok: false, latencyMs: Math.round((performance.now() - t0) * 10) / 10, error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

export async function buildServer(deps: ServerDeps): Promise<Server> {
  const s = deps.settings;
  const { pool, redis, queue } = deps;
  const prefix = deps.redisPrefix ?? 'modelship:';
  const metrics = createMetrics({ pool, jobCounts: queue ? () => jobCounts(queue) : undefined }, s.color ? { color: s.color } : {});
  const cache: ResultCache = !s.cache.enabled ? NO_CACHE : redis ? new RedisCache(redis, s.cache.ttlSeconds, prefix) : new MemoryCache(s.cache.ttlSeconds);
  const service = new InferenceService({
    engine: deps.engine,
    cache,
    metrics,
    maxConcurrent: s.maxConcurrent,
    timeoutMs: s.requestTimeoutMs,
    defaults: { image: s.models.image, text: s.models.text, detect: s.models.detection },
  });
  // Every model execution's batch size, as the batcher formed it (TF.js runtimes).
  const stopBatchMetrics = deps.engine.onBatch((size) => metrics.batchSize.observe(size));
  const auth = new KeyAuthenticator({ staticKeys: s.staticKeys, pool, cacheMs: s.keyCacheMs });
  const drain: DrainState = { draining: false, inflight: 0, lastRequestAt: 0 };
  const proxies = new ProxyTrust(s.trustedProxies);
  void proxies.start();

  const app = Fastify({
    logger: deps.logger === undefined ? { level: s.logLevel } : deps.logger,
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
  app.decorateRequest('apiKeyId', null);

  // Expect: 100-continue: Node would answer 100 at once; the checks that can refuse the request
  // (size, auth, rate, capacity) run first, and the 100 goes out only when the body is wanted.
  app.server.on('checkContinue', (req, res) => app.server.emit('request', req, res));
  app.addHook('preParsing', async (req, reply, payload) => {
    if (expectsContinue(req.raw) && !reply.raw.headersSent) {
      continued.add(req.raw);
      reply.raw.writeContinue();
    }
    return payload;
  });

  // Routes by method, for 405 + Allow on a known path with the wrong method.
  const routes = new RouteIndex();
  app.addHook('onRoute', (r) => {
    for (const m of Array.isArray(r.method) ? r.method : [r.method]) routes.add(m, r.url);
  });

  // --- errors ---------------------------------------------------------------------------------
  const sendError = (req: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply => {
    const { status, body, retryAfter } = toHttpError(err, s.debug);
    if (status >= 500 && status !== 503 && status !== 504) req.log.error({ err }, 'request failed');
    else req.log.info({ status, code: body.code }, body.error);
    if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
    if (status === 413) reply.header('connection', 'close'); // the rest of the body is not read
    else if (!req.raw.complete) {
      // Refused before its body was read: drain a small one (cheap; the connection stays usable),
      // close after a large one, and after one the client holds back (no 100 Continue was sent).
      const policy = expectsContinue(req.raw) && continued.has(req.raw) ? unreadBodyPolicy({ ...req.headers, expect: undefined }, DRAIN_LIMIT_BYTES) : unreadBodyPolicy(req.headers, DRAIN_LIMIT_BYTES);
      if (policy === 'close') reply.header('connection', 'close');
    }
    return reply.code(status).send({ ...body, requestId: req.id });
  };
  app.setErrorHandler((err, req, reply) => sendError(req, reply, err));
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    const allowed = routes.allowed(path);
    if (allowed.length > 0 && !allowed.includes(req.method)) {
      reply.header('allow', allowed.join(', '));
      return sendError(req, reply, new ApiError(405, 'method_not_allowed', `${req.method} is not allowed on ${path}; use ${allowed.join(' or ')}`));
    }
    return sendError(req, reply, new ApiError(404, 'not_found', `no route ${req.method} ${path}`));
  });

  // --- CORS first: it answers preflights (which never carry a key) before auth runs, and its
  // headers are on every answer, errors included, so a browser can read a 401 or a 429.
  if (s.cors.origins.length > 0) {
    await app.register(cors, { origin: s.cors.origins.includes('*') ? true : s.cors.origins, credentials: s.cors.credentials, exposedHeaders: ['x-request-id', 'retry-after', 'x-modelship-color'] });
  }

  // --- hooks: request id, colour, drain, auth, metrics -----------------------------------------
  app.addHook('onClose', async () => {
    stopBatchMetrics();
    proxies.stop();
  });
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    if (s.color) reply.header('x-modelship-color', s.color);
    const url = req.routeOptions.url;
    if (!isHealthRoute(url)) {
      drain.inflight++;
      drain.lastRequestAt = Date.now();
      // 'close' comes once per response, whether it was written or the client hung up first
      // (onResponse does not run then, and the drain would wait for a request that is gone).
      reply.raw.once('close', () => {
        drain.inflight = Math.max(0, drain.inflight - 1);
      });
    }
    if (drain.draining) reply.header('connection', 'close');
    if (!s.authRequired || url === undefined) return;
    const metricsRoute = url === '/health/metrics' || url === '/metrics';
    if (isHealthRoute(url) && !(metricsRoute && s.metricsAuth)) return;
    const r = await auth.check(bearer(req.headers.authorization));
    if (!r.ok) {
      if (r.status === 401) reply.header('www-authenticate', 'Bearer');
      throw new ApiError(r.status, r.status === 403 ? 'key_revoked' : r.status === 401 ? 'unauthorized' : 'auth_unavailable', r.reason, r.status === 503 ? { retryAfter: 5 } : {});
    }
    req.apiKeyId = r.keyId;
  });
  app.addHook('onResponse', async (req, reply) => {
    const url = req.routeOptions.url;
    const labels = { method: req.method, route: url ?? 'unmatched', status: String(reply.statusCode) };
    metrics.httpRequests.inc(labels);
    metrics.httpDuration.observe(labels, reply.elapsedTime / 1000);
  });

  // --- plugins --------------------------------------------------------------------------------
  if (s.compression.enabled) await app.register(compress, { threshold: s.compression.minBytes, global: true });
  if (s.rateLimit.enabled) {
    await app.register(rateLimit, {
      global: true,
      hook: 'preHandler',
      max: s.rateLimit.burst,
      timeWindow: 60_000,
      store: tokenBucketStore({ perMinute: s.rateLimit.perMinute, burst: s.rateLimit.burst, redis, prefix: `${prefix}rl:` }),
      keyGenerator: (req) => (req.apiKeyId ? `key:${req.apiKeyId}` : `ip:${req.ip}`),
      skipOnError: true,
      allowList: (req) => isHealthRoute(req.routeOptions.url),
      errorResponseBuilder: (_req, ctx) => {
        metrics.rejected.inc({ reason: 'rate_limited' });
        return new ApiError(429, 'rate_limited', `rate limit exceeded (${s.rateLimit.perMinute}/min, burst ${s.rateLimit.burst}); retry in ${ctx.after}`, { retryAfter: retryAfterSeconds(ctx.ttl) });
      },
    });
  }
  await app.register(multipart, {
    throwFileSizeLimit: true,
    limits: { fileSize: s.limits.maxFileSize, files: s.limits.maxFiles, fields: 20, fieldSize: 64 * 1024, parts: s.limits.maxFiles + 20, headerPairs: 100 },
  });

  // --- body parsers -----------------------------------------------------------------------------
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      const text = decodeUtf8(body as Buffer);
      if (text.trim() === '') return done(new ApiError(400, 'bad_json', 'empty JSON body'), undefined);
      done(null, JSON.parse(text));
    } catch (err) {
      done(err instanceof ApiError ? err : new ApiError(400, 'bad_json', `invalid JSON: ${(err as Error).message}`), undefined);
    }
  });
  const rawImage = { parseAs: 'buffer' as const, bodyLimit: s.limits.maxFileSize };
  app.addContentTypeParser('application/octet-stream', rawImage, (_req, body, done) => done(null, body));
  app.addContentTypeParser(/^image\/[a-z0-9.+-]+$/i, rawImage, (_req, body, done) => done(null, body));
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('text/plain', { parseAs: 'buffer', bodyLimit: Math.min(s.limits.maxJsonSize, s.limits.maxTextLength * 4 + 1024) }, (_req, body, done) => {
    try {
      done(null, { text: decodeUtf8(body as Buffer) });
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  // Refuse an announced oversize upload before reading a byte of it.
  const checkLength = async (req: FastifyRequest): Promise<void> => {
    const len = Number(req.headers['content-length'] ?? 0);
    if (len > s.limits.maxRequestSize) {
      throw new ApiError(413, 'request_too_large', `the request is ${len} bytes; the limit is ${s.limits.maxRequestSize} bytes`);
    }
  };

  // --- helpers ----------------------------------------------------------------------------------
  interface Upload {
    name: string | null;
    data: Uint8Array;
  }

  /** Reads uploaded files one at a time (busboy stops at the file/count limits; we stop at the total). */
  async function eachUpload(req: FastifyRequest, onFile: (u: Upload, index: number) => Promise<void>): Promise<number> {
    if (!req.isMultipart()) {
      const body = req.body;
      if (Buffer.isBuffer(body)) {
        await onFile({ name: null, data: body }, 0);
        return 1;
      }
      throw new ApiError(415, 'unsupported_media_type', 'send images as multipart/form-data (one or more file fields) or one image as the raw body with Content-Type image/*');
    }
    let total = 0;
    let n = 0;
    for await (const part of req.parts()) {
      if (part.type !== 'file') continue;
      const data = await part.toBuffer();
      total += data.length;
      if (total > s.limits.maxRequestSize) throw new ApiError(413, 'request_too_large', `the uploaded files exceed ${s.limits.maxRequestSize} bytes in total`);
      await onFile({ name: safeFileName(part.filename), data }, n++);
    }
    return n;
  }

  async function collectUploads(req: FastifyRequest): Promise<Upload[]> {
    const files: Upload[] = [];
    await eachUpload(req, async (u) => {
      files.push(u);
    });
    if (files.length === 0) throw new ApiError(400, 'no_files', 'no file in the request: send at least one file field');
    return files;
  }

  function present(task: ApiTask, results: (InferResult | { error: ApiError })[], names: (string | null)[], t0: number) {
    const errors = results.filter((r): r is { error: ApiError } => 'error' in r);
    if (errors.length === results.length) throw errors[0]!.error; // nothing succeeded: the request fails with the first reason
    const ok = results.find((r): r is InferResult => !('error' in r))!;
    return {
      model: ok.model,
      version: ok.version,
      backend: ok.backend,
      results: results.map((r, index) => {
        const name = names[index] ?? undefined;
        if ('error' in r) return { index, ...(name ? { file: name } : {}), error: r.error.message, code: r.error.code };
        const base = { index, ...(name ? { file: name } : {}), cached: r.cached, ...(r.notes ? { notes: r.notes } : {}), timings: { inferenceMs: r.durationMs } };
        if (task === 'detect') {
          const d = r as DetectionResult & { cached: boolean };
          return { ...base, width: d.width, height: d.height, detections: d.detections };
        }
        return { ...base, predictions: (r as ClassificationResult).predictions };
      }),
      timings: { totalMs: Math.round((performance.now() - t0) * 10) / 10 },
    };
  }

  const requireJobs = (): { pool: Pool; queue: Queue<QueueJobData> } => {
    if (!pool || !queue) {
      throw new ApiError(503, 'jobs_unavailable', 'batch jobs need PostgreSQL and Redis, and this server has no ' + [!pool ? 'DATABASE_URL' : '', !queue ? 'REDIS_URL' : ''].filter(Boolean).join(' or '), {
        hint: 'set DATABASE_URL and REDIS_URL (or DATABASE_HOST/REDIS_HOST), run `modelship db migrate`, and start `modelship worker`',
      });
    }
    return { pool, queue };
  };

  // --- classification routes ----------------------------------------------------------------------
  /**
   * Aborts when the client hangs up before its answer is written (a browser tab closed, a proxy
   * timed out): its inputs still waiting in the engine's queue are then dropped instead of run.
   */
  const clientGone = (reply: FastifyReply): AbortSignal => {
    const ac = new AbortController();
    const gone = () => {
      if (reply.raw.writableFinished || ac.signal.aborted) return;
      metrics.rejected.inc({ reason: 'client_closed' });
      ac.abort(new ApiError(499, 'client_closed', 'the client closed the connection before the answer was ready'));
    };
    // it may have hung up already, while its upload was being read
    if (reply.raw.closed || reply.raw.destroyed) gone();
    else reply.raw.once('close', gone);
    return ac.signal;
  };

  /**
   * Refuses before the body is read (413 announced too large, 503 no capacity): a retry storm of
   * uploads the server cannot take costs it almost nothing.
   */
  const beforeBody = (task: ApiTask) => async (req: FastifyRequest): Promise<void> => {
    await checkLength(req);
    const q = req.query as Record<string, unknown>;
    service.admit(service.modelName(task, typeof q.model === 'string' && q.model !== '' ? q.model : undefined), 1);
  };

  const imageRoute = (task: 'image' | 'detect') => async (req: FastifyRequest, reply: FastifyReply) => {
    const t0 = performance.now();
    const opts = parseQueryOptions(req.query as Record<string, unknown>);
    await service.engine.model(service.modelName(task, opts.model), ENGINE_TASK[task]);
    const files = await collectUploads(req);
    const results = await service.run(task, files.map((f) => f.data), { ...opts, signal: clientGone(reply) });
    return present(task, results, files.map((f) => f.name), t0);
  };
  app.post('/v1/classify/image', { onRequest: beforeBody('image') }, imageRoute('image'));
  app.post('/v1/detect', { onRequest: beforeBody('detect') }, imageRoute('detect'));
  const textMedia = async (req: FastifyRequest): Promise<void> => {
    const media = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (media !== '' && media !== 'application/json' && media !== 'text/plain') {
      throw new ApiError(415, 'unsupported_media_type', `text classification takes application/json ({"text": "..."} or {"texts": [...]}) or text/plain; got ${media}`);
    }
  };
  app.post('/v1/classify/text', { onRequest: [textMedia, beforeBody('text')] }, async (req, reply) => {
    const t0 = performance.now();
    const opts = parseQueryOptions(req.query as Record<string, unknown>);
    const body = req.body as Record<string, unknown> | undefined;
    const texts = parseTexts(body, s.limits);
    const bodyModel = body && typeof body.model === 'string' ? body.model : undefined;
    const results = await service.run('text', texts, { ...opts, model: opts.model ?? parseQueryOptions({ model: bodyModel }).model, signal: clientGone(reply) });
    return present('text', results, [], t0);
  });

  // --- jobs ---------------------------------------------------------------------------------------
  app.post('/v1/jobs', { onRequest: checkLength }, async (req, reply) => {
    const { pool: db, queue: q } = requireJobs();
    const opts: QueryOptions = parseQueryOptions(req.query as Record<string, unknown>);
    const body = req.isMultipart() ? undefined : (req.body as Record<string, unknown> | undefined);
    const task: JobTask = opts.task ?? (req.isMultipart() || Buffer.isBuffer(body) ? 'image' : 'text');
    if (task === 'text' && (req.isMultipart() || Buffer.isBuffer(body))) throw new ApiError(400, 'bad_request', 'task=text takes a JSON body {"texts": [...]}');
    const model = service.modelName(task, opts.model ?? (body && !Buffer.isBuffer(body) && typeof body.model === 'string' ? parseQueryOptions({ model: body.model }).model : undefined));
    await service.engine.model(model, ENGINE_TASK[task]);
    const id = randomUUID();
    const options = { topK: opts.topK, threshold: opts.threshold, maxDetections: opts.maxDetections };
    const client = await db.connect();
    let total: number;
    try {
      await client.query('BEGIN');
      await insertJob(client, { id, task, model, options: JSON.parse(JSON.stringify(options)) as Record<string, unknown>, total: 0, apiKeyId: req.apiKeyId });
      if (task === 'text') {
        const texts = parseTexts(body, s.limits);
        for (const [i, text] of texts.entries()) await insertInput(client, id, i, { name: null, text });
        total = texts.length;
      } else {
        total = await eachUpload(req, (u, i) => insertInput(client, id, i, { name: u.name, content: u.data }));
        if (total === 0) throw new ApiError(400, 'no_files', 'no file in the request: send at least one file field');
      }
      await setTotal(client, id, total);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
    try {
      await enqueue(q, id);
    } catch (err) {
      await markFailed(db, id, `could not queue the job: ${(err as Error).message}`).catch(() => {});
      throw new ApiError(503, 'queue_unavailable', 'the job queue (Redis) is unreachable; the job was not started', { retryAfter: 5 });
    }
    reply.code(202).header('location', `/v1/jobs/${id}`);
    return { id, state: 'queued', task, model, total, links: { self: `/v1/jobs/${id}`, results: `/v1/jobs/${id}/results` } };
  });

  const loadJob = async (req: FastifyRequest) => {
    const { pool: db } = requireJobs();
    const id = (req.params as { id: string }).id;
    const job = await getJob(db, id);
    if (!job || (job.apiKeyId !== null && req.apiKeyId !== null && job.apiKeyId !== req.apiKeyId)) throw new ApiError(404, 'job_not_found', `no job ${id}`);
    return { db, job };
  };

  app.get('/v1/jobs/:id', async (req) => {
    const { db, job } = await loadJob(req);
    const results = await getResults(db, job.id, 1000);
    return {
      id: job.id, state: job.state, task: job.task, model: job.model, total: job.total, completed: job.completed, failed: job.failed,
      progress: job.total === 0 ? 1 : Math.round(((job.completed + job.failed) / job.total) * 1000) / 1000,
      attempts: job.attempts, error: job.error, createdAt: job.createdAt, startedAt: job.startedAt, finishedAt: job.finishedAt,
      results, ...(job.total > 1000 ? { resultsTruncated: true } : {}),
      links: { results: `/v1/jobs/${job.id}/results` },
    };
  });

  app.get('/v1/jobs/:id/results', async (req, reply) => {
    const { db, job } = await loadJob(req);
    const format = (req.query as { format?: string }).format ?? 'json';
    if (format !== 'json' && format !== 'csv') throw new ApiError(400, 'bad_parameter', 'format must be json or csv');
    const results = await getResults(db, job.id);
    if (format === 'csv') {
      reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="job-${job.id}.csv"`);
      return resultsCsv(job.task, results);
    }
    return { id: job.id, state: job.state, task: job.task, model: job.model, total: job.total, results };
  });

  // --- models ---------------------------------------------------------------------------------
  app.get('/v1/models', async () => {
    const info = await service.engine.info();
    // the config names defaults by spec (`hf:ORG/NAME` too); the list shows resolved names
    const defaults = new Set([s.models.image, s.models.text, s.models.detection].map((spec) => service.engine.resolvedName(spec)));
    return { backend: info.backend.name, device: info.backend.device, models: info.models.map((m) => ({ ...m, default: defaults.has(m.name) })) };
  });

  // --- Open Inference Protocol (KServe V2) ------------------------------------------------------
  await registerV2(app, {
    service,
    settings: s,
    isDraining: () => drain.draining,
    serverReady: async () => (await readiness()).ready,
    checkLength,
    clientGone,
  });

  // --- health ---------------------------------------------------------------------------------
  const started = Date.now();
  let lastReady: { at: number; models: number; value: { ready: boolean; checks: Record<string, Check> } } | undefined;
  async function readiness(): Promise<{ ready: boolean; checks: Record<string, Check> }> {
    if (lastReady && Date.now() - lastReady.at < 250 && lastReady.models === service.models.version && !drain.draining) return lastReady.value;
    const modelsVersion = service.models.version;
    const checks: Record<string, Check> = {};
    // Ready = the default models are loaded and warm. A model that fails to load does not take the
    // replica out of rotation (the others keep serving); it is named here, in /health/detailed,
    // in modelship_model_ready and by `modelship status`, and its own /v2 ready probe says false.
    const broken = service.models.broken();
    const brokenDetail = Object.keys(broken).length > 0 ? { detail: { broken } } : {};
    checks.models = service.warm ? { ok: true, ...brokenDetail } : { ok: false, error: service.warmError ?? 'models are loading and warming up', ...brokenDetail };
    const [db, rd] = await Promise.all([
      pool ? timed(() => pool.query('SELECT 1')) : Promise.resolve(undefined),
      redis ? (redis.status === 'ready' ? timed(() => redis.ping()) : Promise.resolve<Check>({ ok: false, error: `redis connection is ${redis.status}` })) : Promise.resolve(undefined),
    ]);
    if (db) checks.database = db;
    if (rd) checks.redis = rd;
    if (drain.draining) checks.draining = { ok: false, error: 'the server is shutting down' };
    const value = { ready: Object.values(checks).every((c) => c.ok), checks };
    lastReady = { at: Date.now(), models: modelsVersion, value };
    return value;
  }

  const healthBase = () => ({ color: s.color ?? null, version: VERSION });
  app.get('/health', { config: { rateLimit: false } }, async () => ({ status: drain.draining ? 'draining' : 'ok', ...healthBase(), uptimeSeconds: Math.round((Date.now() - started) / 1000) }));
  app.get('/health/live', { config: { rateLimit: false } }, async () => ({ status: 'alive', ...healthBase() }));
  app.get('/health/ready', { config: { rateLimit: false } }, async (_req, reply) => {
    const r = await readiness();
    reply.code(r.ready ? 200 : 503);
    if (!r.ready) reply.header('retry-after', '5');
    return { status: r.ready ? 'ready' : drain.draining ? 'draining' : 'not_ready', ...healthBase(), checks: r.checks };
  });
  app.get('/health/detailed', { config: { rateLimit: false } }, async (_req, reply) => {
    const r = await readiness();
    const info = await service.engine.info();
    let jobs: Check & { counts?: Record<string, number> } = { ok: true, detail: 'no queue configured' };
    if (queue) {
      const t0 = performance.now();
      try {
        jobs = { ok: true, latencyMs: Math.round(performance.now() - t0), counts: await Promise.race([jobCounts(queue), new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no answer within 1000 ms')), 1000).unref())]) };
      } catch (err) {
        jobs = { ok: false, error: (err as Error).message };
      }
    }
    let disk: Record<string, number> | { error: string };
    try {
      const st = await statfs(BUNDLED_MODELS_DIR);
      disk = { path: 0, freeBytes: st.bavail * st.bsize, totalBytes: st.blocks * st.bsize };
      delete (disk as Record<string, number>).path;
    } catch (err) {
      disk = { error: (err as Error).message };
    }
    const mem = process.memoryUsage();
    reply.code(r.ready ? 200 : 503);
    return {
      status: r.ready ? 'ready' : drain.draining ? 'draining' : 'not_ready',
      ...healthBase(),
      uptimeSeconds: Math.round((Date.now() - started) / 1000),
      components: { ...r.checks, jobs },
      backend: info.backend,
      workers: info.workers,
      decoder: info.decoder,
      batching: info.batching,
      models: info.models.map((m) => {
        const st = service.models.get(m.name);
        return { ...m, state: st.state, ...(st.error ? { error: st.error } : {}) };
      }),
      admission: { perInputMs: service.times.snapshot() },
      defaults: { image: s.models.image, text: s.models.text, detection: s.models.detection },
      queue: { inference: { inflight: service.gate.inflight, max: service.gate.max }, jobs: 'counts' in jobs ? jobs.counts : null },
      cache: { kind: cache.kind },
      auth: { required: s.authRequired },
      memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, externalBytes: mem.external, systemFreeBytes: os.freemem(), systemTotalBytes: os.totalmem() },
      disk,
    };
  });
  const metricsHandler = async (_req: FastifyRequest, reply: FastifyReply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  };
  app.get('/health/metrics', { config: { rateLimit: false } }, metricsHandler);
  app.get('/metrics', { config: { rateLimit: false } }, metricsHandler);

  return { app, service, metrics, auth, drain, ready: readiness };
}
