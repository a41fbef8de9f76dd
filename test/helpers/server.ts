/** Helpers for the server integration tests: a throwaway database (migrated), a Redis prefix, settings. */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { migrate } from '../../src/db/migrate.ts';
import { resolveSettings, type ServerSettings } from '../../src/services/settings.ts';

export const DATABASE_URL_TEST = process.env.DATABASE_URL_TEST ?? 'postgres://postgres:postgres@127.0.0.1:5432/postgres';
export const REDIS_URL_TEST = process.env.REDIS_URL_TEST ?? 'redis://127.0.0.1:6379';

export function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** Creates a random database, applies migrations/ with the project's runner, returns its URL and a drop(). */
export async function createTestDatabase(baseUrl = DATABASE_URL_TEST): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `ms_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = withDatabase(baseUrl, name);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await migrate({
    query: async <T extends object>(sql: string, params?: unknown[]) => (await c.query(sql, params)).rows as T[],
    exec: async (sql: string) => {
      await c.query(sql);
    },
    end: () => c.end(),
  });
  await c.end();
  return {
    url,
    drop: async () => {
      const a = new pg.Client({ connectionString: baseUrl });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
      await a.end();
    },
  };
}

export function randomPrefix(): string {
  return `mstest-${randomBytes(5).toString('hex')}`;
}

/** Deletes every Redis key under a prefix. */
export async function cleanRedis(url: string, prefix: string): Promise<void> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

export function testSettings(over: Partial<ServerSettings> & { env?: NodeJS.ProcessEnv } = {}): ServerSettings {
  const { env, ...rest } = over;
  const s = resolveSettings({ config: undefined, env: env ?? {} });
  return { ...s, logLevel: 'warn', keyCacheMs: 0, rateLimit: { enabled: false, perMinute: 60, burst: 100 }, ...rest };
}
