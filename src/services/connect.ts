/** Connections shared by the server, the worker and `modelship keys`: PostgreSQL pool, Redis client, settings from the config. */
import { access } from 'node:fs/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig, type LoadedConfig } from '../config/load.ts';
import { resolveSettings, type ServerSettings } from './settings.ts';

export function createPool(url: string, size: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: size, connectionTimeoutMillis: 3000, idleTimeoutMillis: 30_000, application_name: 'modelship' });
  pool.on('error', () => {}); // an idle client lost its server: the next query reconnects
  return pool;
}

/** The shared client for cache, rate limit and readiness: fails fast instead of queueing while Redis is away. */
export function createRedis(url: string): Redis {
  const r = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  r.on('error', () => {}); // reconnects by itself; readiness reports it
  return r;
}

export async function waitForRedis(r: Redis, timeoutMs: number): Promise<boolean> {
  if (r.status === 'ready') return true;
  return new Promise((resolve) => {
    const t = setTimeout(() => done(false), timeoutMs);
    const done = (v: boolean) => {
      clearTimeout(t);
      r.off('ready', onReady);
      resolve(v);
    };
    const onReady = () => done(true);
    r.on('ready', onReady);
  });
}

/**
 * Loads the config if there is one. A missing file is fine when the user did not name it
 * (--config / MODELSHIP_CONFIG): then the server runs on defaults ("running without the stack").
 */
export async function loadOptionalConfig(file: string, envFile: string | undefined, explicit: boolean): Promise<LoadedConfig | undefined> {
  if (!explicit) {
    try {
      await access(file);
    } catch {
      return undefined;
    }
  }
  return loadConfig(file, envFile);
}

export async function settingsFor(opts: { configFile: string; envFile?: string | undefined; explicit: boolean; env: NodeJS.ProcessEnv; host?: string | undefined; port?: number | undefined }): Promise<{ settings: ServerSettings; loaded: LoadedConfig | undefined }> {
  const loaded = await loadOptionalConfig(opts.configFile, opts.envFile, opts.explicit);
  const settings = resolveSettings({ config: loaded?.config, dotenv: loaded?.env, env: opts.env, flags: { host: opts.host, port: opts.port } });
  return { settings, loaded };
}
