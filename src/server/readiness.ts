/**
 * Readiness (/health/ready, /v2/health/ready, Server.ready) and the timed component checks of
 * /health/detailed. Ready = the default models are loaded and warm, PostgreSQL and Redis (when
 * configured) answer, and the server is not draining.
 */
import { withTimeout } from '../util/timeout.ts';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import type { InferenceService } from '../services/inference.ts';

export interface Check {
  ok: boolean;
  latencyMs?: number;
  error?: string;
  detail?: unknown;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, Check>;
}

const round1 = (ms: number) => Math.round(ms * 10) / 10;

/** Milliseconds on a monotonic clock (tests pass their own). */
export type Clock = () => number;

/** Runs `fn` with a timeout; the latency is measured around the call itself. */
export async function timed<T>(fn: () => Promise<T>, timeoutMs = 1000, now: Clock = () => performance.now()): Promise<Check & { value?: T }> {
  const t0 = now();
  try {
    const value = await withTimeout(fn(), timeoutMs, `no answer within ${timeoutMs} ms`);
    return { ok: true, latencyMs: round1(now() - t0), value };
  } catch (err) {
    return { ok: false, latencyMs: round1(now() - t0), error: (err as Error).message };
  }
}

/**
 * The job queue's component of /health/detailed: its counts, and how long Redis took to give
 * them (measured around the call: it used to be taken before it, so it always said about 0).
 */
export async function jobsCheck(counts: (() => Promise<Record<string, number>>) | undefined, now?: Clock): Promise<Check & { counts?: Record<string, number> }> {
  if (!counts) return { ok: true, detail: 'no queue configured' };
  const r = await timed(counts, 1000, now);
  if (!r.ok) return { ok: false, error: r.error! };
  return { ok: true, latencyMs: Math.round(r.latencyMs!), counts: r.value! };
}

export interface ReadinessDeps {
  service: InferenceService;
  pool: Pool | undefined;
  redis: Redis | undefined;
  isDraining: () => boolean;
}

/** Readiness, computed at most every 250 ms (probes come often) unless a model's state changed or a drain began. */
export function createReadiness(d: ReadinessDeps): () => Promise<Readiness> {
  let last: { at: number; models: number; value: Readiness } | undefined;
  return async () => {
    const { service, pool, redis } = d;
    if (last && Date.now() - last.at < 250 && last.models === service.models.version && !d.isDraining()) return last.value;
    const modelsVersion = service.models.version;
    const checks: Record<string, Check> = {};
    // A model that fails to load does not take the replica out of rotation (the others keep
    // serving); it is named here, in /health/detailed, in modelship_model_ready and by
    // `modelship status`, and its own /v2 ready probe says false.
    const broken = service.models.broken();
    const brokenDetail = Object.keys(broken).length > 0 ? { detail: { broken } } : {};
    checks.models = service.warm ? { ok: true, ...brokenDetail } : { ok: false, error: service.warmError ?? 'models are loading and warming up', ...brokenDetail };
    const [db, rd] = await Promise.all([
      pool ? timed(() => pool.query('SELECT 1')) : Promise.resolve(undefined),
      redis ? (redis.status === 'ready' ? timed(() => redis.ping()) : Promise.resolve<Check>({ ok: false, error: `redis connection is ${redis.status}` })) : Promise.resolve(undefined),
    ]);
    if (db) checks.database = withoutValue(db);
    if (rd) checks.redis = withoutValue(rd);
    if (d.isDraining()) checks.draining = { ok: false, error: 'the server is shutting down' };
    const value = { ready: Object.values(checks).every((c) => c.ok), checks };
    last = { at: Date.now(), models: modelsVersion, value };
    return value;
  };
}

function withoutValue(c: Check & { value?: unknown }): Check {
  const { value: _value, ...check } = c;
  return check;
}
