/**
 * Everything the API server and the queue worker need, resolved from the config (or its defaults
 * when there is no config file) and the process environment. Pure: the caller reads files and env.
 */
import { parseSize } from '../util/size.ts';
import { ConfigSchema, type Config } from '../config/schema.ts';

export interface ServerSettings {
  host: string;
  port: number;
  color: string | undefined;
  /** Inference worker threads (api.workers); undefined: one per core. */
  workers: number | undefined;
  /** Peers whose X-Forwarded-For is believed: loopback, api.trustedProxies and MODELSHIP_TRUSTED_PROXIES (the stack's nginx). */
  trustedProxies: string[];
  maxConcurrent: number;
  requestTimeoutMs: number;
  limits: {
    maxFileSize: number;
    maxFiles: number;
    maxRequestSize: number;
    maxTexts: number;
    maxTextLength: number;
    maxImagePixels: number;
    /** Largest JSON body accepted by the synchronous routes. */
    maxJsonSize: number;
  };
  rateLimit: { enabled: boolean; perMinute: number; burst: number };
  cache: { enabled: boolean; ttlSeconds: number };
  compression: { enabled: boolean; minBytes: number };
  cors: { origins: string[]; credentials: boolean };
  /** `threads`: the ONNX Runtime thread policy by model name (models.threads), overriding the manifests'. */
  models: { image: string; text: string; detection: string; batching: { maxBatchSize: number; maxQueueDelayMs: number }; workerTimeoutMs: number; threads: Record<string, 'pool' | 'intra-op' | number> };
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  poolSize: number;
  /** Static API keys (MODELSHIP_API_KEYS), accepted besides the keys in PostgreSQL. */
  staticKeys: string[];
  /** Whether requests need a key: on when a database holds keys or static keys exist, unless MODELSHIP_AUTH=off. */
  authRequired: boolean;
  /** Whether /health/metrics needs a key too (MODELSHIP_METRICS_AUTH=1). */
  metricsAuth: boolean;
  debug: boolean;
  logLevel: string;
  /** Job queue: concurrency of `modelship worker` and chunking. */
  worker: { concurrency: number; chunkSize: number };
  /** Drain on SIGTERM: wait this long without new requests (max drainMaxMs) before closing the listener. */
  drainQuietMs: number;
  drainMaxMs: number;
  /** How long a validated API key is trusted before PostgreSQL is asked again. */
  keyCacheMs: number;
}

/** The config the server uses when there is no config file: schema defaults (TLS is nginx's business). */
export function defaultConfig(): Config {
  return ConfigSchema.parse({ tls: { mode: 'off' } });
}

export interface ResolveInput {
  config: Config | undefined;
  /** Values from the config's .env (secrets). */
  dotenv?: Record<string, string> | undefined;
  env: NodeJS.ProcessEnv;
  flags?: { host?: string | undefined; port?: number | undefined } | undefined;
}

function envValue(key: string, dotenv: Record<string, string> | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const v = env[key] ?? dotenv?.[key];
  return v === undefined || v === '' ? undefined : v;
}

export function databaseUrl(config: Config | undefined, dotenv: Record<string, string> | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const direct = envValue('DATABASE_URL', dotenv, env);
  if (direct) return direct;
  const host = envValue('DATABASE_HOST', dotenv, env);
  if (!host) return undefined;
  const c = config ?? defaultConfig();
  const port = envValue('DATABASE_PORT', dotenv, env) ?? '5432';
  const pw = envValue(c.secrets.postgresPassword, dotenv, env);
  const auth = pw ? `${encodeURIComponent(c.postgres.user)}:${encodeURIComponent(pw)}` : encodeURIComponent(c.postgres.user);
  return `postgres://${auth}@${host}:${port}/${c.postgres.database}`;
}

export function redisUrl(config: Config | undefined, dotenv: Record<string, string> | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const direct = envValue('REDIS_URL', dotenv, env);
  if (direct) return direct;
  const host = envValue('REDIS_HOST', dotenv, env);
  if (!host) return undefined;
  const c = config ?? defaultConfig();
  const port = envValue('REDIS_PORT', dotenv, env) ?? '6379';
  const pw = envValue(c.secrets.redisPassword, dotenv, env);
  return `redis://${pw ? `:${encodeURIComponent(pw)}@` : ''}${host}:${port}`;
}

export function parseKeyList(text: string | undefined): string[] {
  if (!text) return [];
  return [...new Set(text.split(',').map((s) => s.trim()).filter((s) => s.length > 0))];
}

function intEnv(env: NodeJS.ProcessEnv, key: string, fallback: number): number {
  const v = env[key];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

export function resolveSettings(input: ResolveInput): ServerSettings {
  const { env, dotenv } = input;
  const c = input.config ?? defaultConfig();
  const dbUrl = databaseUrl(input.config, dotenv, env);
  const staticKeys = parseKeyList(env.MODELSHIP_API_KEYS);
  const authOff = /^(off|0|false|no)$/i.test(env.MODELSHIP_AUTH ?? '');
  const authRequired = !authOff && (dbUrl !== undefined || staticKeys.length > 0);
  const maxRequestSize = parseSize(c.limits.maxRequestSize);
  // Without auth the server never listens beyond this machine unless told to (--host).
  const defaultHost = authRequired ? '0.0.0.0' : '127.0.0.1';
  return {
    host: input.flags?.host ?? env.MODELSHIP_HOST ?? defaultHost,
    port: input.flags?.port ?? c.api.port,
    color: env.MODELSHIP_COLOR || undefined,
    workers: intEnv(env, 'MODELSHIP_INFERENCE_WORKERS', c.api.workers ?? 0) || undefined,
    trustedProxies: [...new Set(['loopback', ...c.api.trustedProxies, ...parseKeyList(env.MODELSHIP_TRUSTED_PROXIES)])],
    maxConcurrent: c.api.maxConcurrentClassifications,
    requestTimeoutMs: c.api.requestTimeoutSeconds * 1000,
    limits: {
      maxFileSize: parseSize(c.limits.maxFileSize),
      maxFiles: c.limits.maxFiles,
      maxRequestSize,
      maxTexts: c.limits.maxTexts,
      maxTextLength: c.limits.maxTextLength,
      maxImagePixels: c.limits.maxImagePixels,
      maxJsonSize: Math.min(maxRequestSize, 64 * 1024 * 1024),
    },
    rateLimit: { enabled: c.rateLimit.enabled, perMinute: c.rateLimit.perMinute, burst: c.rateLimit.burst },
    cache: { enabled: c.cache.enabled, ttlSeconds: c.cache.ttlSeconds },
    compression: { enabled: c.compression.enabled, minBytes: c.compression.minBytes },
    cors: { origins: c.cors.origins, credentials: c.cors.credentials },
    models: { image: c.models.image, text: c.models.text, detection: c.models.detection, batching: { ...c.models.batching }, workerTimeoutMs: c.models.workerTimeoutSeconds * 1000, threads: { ...c.models.threads } },
    databaseUrl: dbUrl,
    redisUrl: redisUrl(input.config, dotenv, env),
    poolSize: c.postgres.poolSize,
    staticKeys,
    authRequired,
    metricsAuth: /^(1|true|yes|on)$/i.test(env.MODELSHIP_METRICS_AUTH ?? ''),
    debug: c.debug,
    logLevel: env.LOG_LEVEL || c.logging.level,
    worker: { concurrency: c.workers.concurrency, chunkSize: intEnv(env, 'MODELSHIP_JOB_CHUNK_SIZE', c.api.batchChunkSize) || c.api.batchChunkSize },
    drainQuietMs: intEnv(env, 'MODELSHIP_DRAIN_QUIET_MS', 1000),
    drainMaxMs: intEnv(env, 'MODELSHIP_DRAIN_MAX_MS', 15000),
    keyCacheMs: intEnv(env, 'MODELSHIP_KEY_CACHE_MS', 5000),
  };
}
