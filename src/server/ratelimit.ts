/**
 * Per-key/IP rate limit as a token bucket: `burst` tokens, refilled at `perMinute`/min. The math
 * is pure (`takeToken`); the same step runs as a Lua script in Redis so every replica shares one
 * bucket per client. Plugged into @fastify/rate-limit as a custom store: `current` is the number
 * of tokens used (burst + 1 when refused), `ttl` the milliseconds until the next token.
 */
import type { Redis } from 'ioredis';

export interface Bucket {
  tokens: number;
  /** Time (ms) of the last update. */
  at: number;
}

export interface TakeResult {
  allowed: boolean;
  bucket: Bucket;
  /** Tokens used, as @fastify/rate-limit's `current` (> burst when refused). */
  current: number;
  /** Milliseconds until one more token is available (0 when one is). */
  retryMs: number;
}

export function takeToken(prev: Bucket | undefined, now: number, perMinute: number, burst: number): TakeResult {
  const rate = perMinute / 60_000;
  const start = prev ? Math.min(burst, prev.tokens + Math.max(0, now - prev.at) * rate) : burst;
  if (start >= 1) {
    const tokens = start - 1;
    return { allowed: true, bucket: { tokens, at: now }, current: Math.min(burst, Math.ceil(burst - tokens)), retryMs: tokens >= 1 ? 0 : Math.ceil((1 - tokens) / rate) };
  }
  return { allowed: false, bucket: { tokens: start, at: now }, current: burst + 1, retryMs: Math.max(1, Math.ceil((1 - start) / rate)) };
}

/** Seconds for Retry-After: whole seconds, at least 1. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

const LUA = `
local key = KEYS[1]
local perMinute = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = perMinute / 60000
local tokens = burst
local v = redis.call('HMGET', key, 'tokens', 'at')
if v[1] then
  tokens = math.min(burst, tonumber(v[1]) + math.max(0, now - tonumber(v[2])) * rate)
end
local allowed = 0
local current
local retry
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
  current = math.min(burst, math.ceil(burst - tokens))
  if tokens >= 1 then retry = 0 else retry = math.ceil((1 - tokens) / rate) end
else
  current = burst + 1
  retry = math.max(1, math.ceil((1 - tokens) / rate))
end
redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', key, math.ceil(burst / rate) + 1000)
return {current, retry}
`;

type Callback = (err: Error | null, res?: { current: number; ttl: number }) => void;

export interface TokenBucketOptions {
  perMinute: number;
  burst: number;
  redis?: Redis | undefined;
  prefix?: string;
}

type RedisWithScript = Redis & { modelshipTokenBucket?: (key: string, perMinute: number, burst: number) => Promise<[number, number]> };

/** Builds a store class for @fastify/rate-limit (`store` option; it is constructed by the plugin). */
interface Store {
  incr(key: string, cb: Callback): void;
  child(): Store;
}

export function tokenBucketStore(opts: TokenBucketOptions): new () => Store {
  const local = new Map<string, Bucket>();
  const prefix = opts.prefix ?? 'modelship:rl:';
  const redis = opts.redis as RedisWithScript | undefined;
  if (redis && !redis.modelshipTokenBucket) redis.defineCommand('modelshipTokenBucket', { numberOfKeys: 1, lua: LUA });
  return class TokenBucketStore {
    incr(key: string, cb: Callback): void {
      if (redis && redis.status === 'ready') {
        redis.modelshipTokenBucket!(prefix + key, opts.perMinute, opts.burst).then(
          ([current, retry]) => cb(null, { current: Number(current), ttl: Number(retry) }),
          (err: Error) => cb(err),
        );
        return;
      }
      // No Redis (or it is down): a per-process bucket keeps the limit meaningful.
      const r = takeToken(local.get(key), Date.now(), opts.perMinute, opts.burst);
      local.set(key, r.bucket);
      if (local.size > 100_000) local.delete(local.keys().next().value!);
      cb(null, { current: r.current, ttl: r.retryMs });
    }
    child(): Store {
      return this;
    }
  };
}
