/**
 * Result cache keyed by content hash + model + version + options. Redis when configured (shared by
 * replicas, TTL from config), else an in-process LRU. A cache failure is a miss, never an error.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export function cacheKey(parts: { task: string; model: string; version: string; options?: Record<string, unknown> | undefined; content: Uint8Array | string }): string {
  const h = createHash('sha256');
  h.update(typeof parts.content === 'string' ? Buffer.from(parts.content, 'utf8') : parts.content);
  const contentHash = h.digest('hex');
  const opts = parts.options ? stableJson(parts.options) : '{}';
  const optHash = createHash('sha256').update(opts).digest('hex').slice(0, 16);
  return `modelship:cache:${parts.task}:${parts.model}@${parts.version}:${optHash}:${contentHash}`;
}

/** JSON with sorted keys and undefined dropped, so equal options hash equally. */
export function stableJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableJson(x)}`).join(',')}}`;
}

export interface ResultCache {
  readonly kind: 'redis' | 'memory' | 'off';
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<void>;
}

export class MemoryCache implements ResultCache {
  readonly kind = 'memory' as const;
  readonly #map = new Map<string, { value: string; expires: number }>();
  readonly #ttlMs: number;
  readonly #max: number;
  constructor(ttlSeconds: number, maxEntries = 10_000) {
    this.#ttlMs = ttlSeconds * 1000;
    this.#max = maxEntries;
  }
  async get(key: string): Promise<unknown> {
    const e = this.#map.get(key);
    if (!e) return undefined;
    if (e.expires < Date.now()) {
      this.#map.delete(key);
      return undefined;
    }
    this.#map.delete(key); // refresh LRU order
    this.#map.set(key, e);
    return JSON.parse(e.value) as unknown;
  }
  async set(key: string, value: unknown): Promise<void> {
    this.#map.delete(key);
    this.#map.set(key, { value: JSON.stringify(value), expires: Date.now() + this.#ttlMs });
    while (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value!);
  }
}

export class RedisCache implements ResultCache {
  readonly kind = 'redis' as const;
  readonly #redis: Redis;
  readonly #ttl: number;
  readonly #prefix: string;
  constructor(redis: Redis, ttlSeconds: number, prefix = '') {
    this.#redis = redis;
    this.#ttl = ttlSeconds;
    this.#prefix = prefix;
  }
  async get(key: string): Promise<unknown> {
    if (this.#redis.status !== 'ready') return undefined;
    try {
      const v = await this.#redis.get(this.#prefix + key);
      return v === null ? undefined : (JSON.parse(v) as unknown);
    } catch {
      return undefined;
    }
  }
  async set(key: string, value: unknown): Promise<void> {
    if (this.#redis.status !== 'ready') return;
    try {
      await this.#redis.set(this.#prefix + key, JSON.stringify(value), 'EX', this.#ttl);
    } catch {
      // a cache write failure only costs a future miss
    }
  }
}

export const NO_CACHE: ResultCache = { kind: 'off', get: async () => undefined, set: async () => {} };

/** The cache the settings ask for: off, in Redis when there is one (shared by the replicas), else in memory. */
export function cacheFor(s: { enabled: boolean; ttlSeconds: number }, redis: Redis | undefined, prefix: string): ResultCache {
  if (!s.enabled) return NO_CACHE;
  return redis ? new RedisCache(redis, s.ttlSeconds, prefix) : new MemoryCache(s.ttlSeconds);
}
