/**
 * What every request goes through, in order: `Expect: 100-continue` held back until the body is
 * wanted, CORS, request id + colour + drain accounting + key check, metrics, the rate limit, and
 * one error answer for everything thrown (with 404 and 405 + Allow for unknown routes).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import { ApiError } from '../services/errors.ts';
import type { ServerContext } from './context.ts';
import { toHttpError } from './errors.ts';
import { bearer } from './keys.ts';
import { retryAfterSeconds, tokenBucketStore } from './ratelimit.ts';
import { RouteIndex } from './route-index.ts';
import { V2_MODEL_READY_ROUTES } from './routes/v2.ts';
import { DRAIN_LIMIT_BYTES, unreadBodyPolicy } from './unread-body.ts';

const OPEN_PREFIXES = ['/health', '/v2/health', '/metrics'];

/** Probes: no key, no rate limit, not counted by the drain (a Kubernetes probe carries no key). */
export function isHealthRoute(url: string | undefined): boolean {
  return url !== undefined && (url === '/v2' || V2_MODEL_READY_ROUTES.includes(url) || OPEN_PREFIXES.some((p) => url === p || url.startsWith(`${p}/`)));
}

/** Raw requests that asked `Expect: 100-continue` and were told to go on. */
const continued = new WeakSet<object>();

function expectsContinue(req: { headers: Record<string, string | string[] | undefined> }): boolean {
  const e = req.headers.expect;
  return typeof e === 'string' && /100-continue/i.test(e);
}

/**
 * Expect: 100-continue: Node would answer 100 at once; the checks that can refuse the request
 * (size, auth, rate, capacity) run first, and the 100 goes out only when the body is wanted.
 */
export function continueWhenWanted(app: FastifyInstance): void {
  app.server.on('checkContinue', (req, res) => app.server.emit('request', req, res));
  app.addHook('preParsing', async (req, reply, payload) => {
    if (expectsContinue(req.raw) && !reply.raw.headersSent) {
      continued.add(req.raw);
      reply.raw.writeContinue();
    }
    return payload;
  });
}

/** One error answer for everything thrown; unknown routes get 404, a known path with the wrong method 405 + Allow. */
export function errorAnswers(app: FastifyInstance, debug: boolean): void {
  const routes = new RouteIndex();
  app.addHook('onRoute', (r) => {
    for (const m of Array.isArray(r.method) ? r.method : [r.method]) routes.add(m, r.url);
  });
  const sendError = (req: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply => {
    const { status, body, retryAfter } = toHttpError(err, debug);
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
}

/**
 * CORS first: it answers preflights (which never carry a key) before auth runs, and its headers
 * are on every answer, errors included, so a browser can read a 401 or a 429.
 */
export async function corsFirst(app: FastifyInstance, c: ServerContext['settings']['cors']): Promise<void> {
  if (c.origins.length === 0) return;
  await app.register(cors, { origin: c.origins.includes('*') ? true : c.origins, credentials: c.credentials, exposedHeaders: ['x-request-id', 'retry-after', 'x-modelship-color'] });
}

/** Request id and colour headers, drain accounting, the key check, and the HTTP metrics. */
export function requestHooks(app: FastifyInstance, ctx: ServerContext): void {
  const { settings: s, drain, auth, metrics } = ctx;
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
}

/** Token buckets per key (or per client address without one), in Redis when there is one; probes are exempt. */
export async function rateLimits(app: FastifyInstance, ctx: ServerContext, prefix: string): Promise<void> {
  const { settings: s, metrics } = ctx;
  if (!s.rateLimit.enabled) return;
  await app.register(rateLimit, {
    global: true,
    hook: 'preHandler',
    max: s.rateLimit.burst,
    timeWindow: 60_000,
    store: tokenBucketStore({ perMinute: s.rateLimit.perMinute, burst: s.rateLimit.burst, redis: ctx.redis, prefix: `${prefix}rl:` }),
    keyGenerator: (req) => (req.apiKeyId ? `key:${req.apiKeyId}` : `ip:${req.ip}`),
    skipOnError: true,
    allowList: (req) => isHealthRoute(req.routeOptions.url),
    errorResponseBuilder: (_req, c) => {
      metrics.rejected.inc({ reason: 'rate_limited' });
      return new ApiError(429, 'rate_limited', `rate limit exceeded (${s.rateLimit.perMinute}/min, burst ${s.rateLimit.burst}); retry in ${c.after}`, { retryAfter: retryAfterSeconds(c.ttl) });
    },
  });
}
