/**
 * The building blocks every tier of the stack uses: networks, volumes, health checks, the
 * environment of modelship's own containers, and the defaults a service spec starts from. Pure.
 */
import type { Config } from '../config/schema.ts';
import { parseSize } from '../util/size.ts';
import { sha } from '../util/hash.ts';
import { INTERNAL_PORT, MOUNT, MS_LABEL, SERVICE } from './names.ts';
import type { HealthcheckSpec, MountSpec, ServiceSpec } from './spec.ts';

export const NETWORK = { frontend: 'frontend', backend: 'backend' } as const;
export const VOLUME = {
  pgdata: 'pgdata',
  redisdata: 'redisdata',
  promdata: 'promdata',
  grafanadata: 'grafanadata',
  lokidata: 'lokidata',
  letsencrypt: 'letsencrypt',
  acme: 'acme-webroot',
  models: 'models',
} as const;

/** The resolved config (rendered as app/modelship.config.yaml) as modelship's own containers see it. */
export const CONFIG_IN_CONTAINER = `${MOUNT.appDir}/modelship.config.yaml`;
export const LOCALHOST = '127.0.0.1';

/**
 * The config sections each of modelship's own roles reads at start: a change elsewhere in the
 * config does not restart it.
 */
export const ROLE_SECTIONS: Record<'api' | 'worker' | 'scheduler', readonly string[]> = {
  api: ['environment', 'debug', 'cors', 'api', 'limits', 'rateLimit.enabled', 'rateLimit.perMinute', 'rateLimit.burst', 'cache', 'compression', 'models', 'postgres.database', 'postgres.user', 'postgres.poolSize', 'secrets', 'logging.level'],
  worker: ['environment', 'debug', 'workers', 'api.batchChunkSize', 'limits', 'cache', 'models', 'postgres.database', 'postgres.user', 'postgres.poolSize', 'secrets', 'logging.level'],
  scheduler: ['backups', 'postgres.database', 'postgres.user', 'secrets', 'logging.level'],
};

export function configDigest(config: Config, role: keyof typeof ROLE_SECTIONS): string {
  const picked: Record<string, unknown> = {};
  for (const key of ROLE_SECTIONS[role]) {
    let v: unknown = config;
    for (const part of key.split('.')) v = (v as Record<string, unknown> | undefined)?.[part];
    picked[key] = v;
  }
  return sha(picked);
}

/** What a tier writes for one service; `service()` fills in the rest. */
export type ServiceInput = Omit<ServiceSpec, 'labels' | 'environment' | 'envFile' | 'ports' | 'mounts' | 'dependsOn' | 'profiles' | 'fixedName' | 'restart' | 'stopGracePeriodSeconds'> & Partial<ServiceSpec>;

/** A service spec with the defaults and modelship's labels (project, service, role). */
export function service(project: string, s: ServiceInput): ServiceSpec {
  return {
    environment: {},
    envFile: false,
    ports: [],
    mounts: [],
    dependsOn: [],
    profiles: [],
    fixedName: true,
    restart: 'unless-stopped',
    stopGracePeriodSeconds: 10,
    ...s,
    labels: { [MS_LABEL.project]: project, [MS_LABEL.service]: s.name, [MS_LABEL.role]: s.role, ...(s.labels ?? {}) },
  };
}

export function health(test: string[], opts: Partial<Omit<HealthcheckSpec, 'test'>> = {}): HealthcheckSpec {
  return { test, intervalSeconds: 10, timeoutSeconds: 5, retries: 5, startPeriodSeconds: 10, startIntervalSeconds: 1, ...opts };
}

/** A probe that needs no curl: the image's own Node fetches the URL. */
export function nodeHttpProbe(url: string): string[] {
  return ['CMD', 'node', '-e', `fetch(${JSON.stringify(url)},{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`];
}

/** Like nodeHttpProbe, and prints the body of a failed answer (the engine keeps it in the health log). */
export function nodeHttpProbeSaying(url: string): string[] {
  return ['CMD', 'node', '-e', `fetch(${JSON.stringify(url)},{signal:AbortSignal.timeout(4000)}).then(async r=>{if(!r.ok)console.log(await r.text());process.exit(r.ok?0:1)},e=>{console.log(String(e));process.exit(1)})`];
}

export function wgetProbe(url: string): string[] {
  return ['CMD', 'wget', '-q', '-O', '/dev/null', url];
}

/**
 * Runs the image's own entrypoint with `args`; when the image reads a secret under another name than
 * the configured `.env` key, a shell copies it across first (the value never enters a rendered file).
 */
export function withEnvAlias(target: string, source: string, imageEntrypoint: string, args: string[]): { entrypoint?: string[]; command?: string[] } {
  if (target === source) return args.length > 0 ? { command: args } : {};
  return { entrypoint: ['/bin/sh', '-c', `export ${target}="$${source}"; exec ${imageEntrypoint} "$@"`, imageEntrypoint], command: args };
}

export function bytesForDocker(size: string): string {
  return `${Math.floor(parseSize(size) / (1024 * 1024))}m`;
}

/** The non-secret environment of modelship's own containers (Compose and Kubernetes alike). */
export function appEnvironment(config: Config, role: string, configPath: string): Record<string, string> {
  return {
    MODELSHIP_CONFIG: configPath,
    MODELSHIP_ROLE: role,
    // The resolved config is machine-written: an older image (after a rollback) skips keys it
    // does not know instead of refusing to start.
    MODELSHIP_CONFIG_LENIENT: '1',
    NODE_ENV: config.environment === 'development' ? 'development' : 'production',
    DATABASE_HOST: SERVICE.postgres,
    DATABASE_PORT: String(INTERNAL_PORT.postgres),
    REDIS_HOST: SERVICE.redis,
    REDIS_PORT: String(INTERNAL_PORT.redis),
    LOG_LEVEL: config.logging.level,
    // hf:ORG/NAME models are downloaded once into the models volume, shared by both colours and the workers.
    HF_HUB_CACHE: `${config.models.cacheDir}/hub`,
  };
}

/** The environment of one of modelship's own roles, reading the rendered config. */
export const appEnv = (config: Config, role: string): Record<string, string> => appEnvironment(config, role, CONFIG_IN_CONTAINER);

/** The rendered app config, mounted into every modelship container. */
export const configMount = (): MountSpec => ({ type: 'bind', base: 'render', source: 'app', target: MOUNT.appDir, readOnly: true });

/** modelship's own services start once the database and the cache are healthy. */
export const dataDeps = (): ServiceSpec['dependsOn'] => [
  { service: SERVICE.postgres, condition: 'service_healthy' },
  { service: SERVICE.redis, condition: 'service_healthy' },
];
