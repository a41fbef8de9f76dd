/**
 * Config → desired stack. Pure: the same config always yields the same spec, in the same order.
 */
import type { Config } from '../config/schema.ts';
import { parseSize } from '../util/size.ts';
import { COLORS, INTERNAL_PORT, MOUNT, SERVICE, type Color } from './names.ts';
import type { HealthcheckSpec, MountSpec, ServiceSpec, StackSpec } from './spec.ts';
import { sha } from '../util/hash.ts';
import { PG_HBA_IN_CONTAINER, PG_HBA_RENDERED, pitrServerArgs } from '../render/postgres.ts';

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
const LOCALHOST = '127.0.0.1';

export interface StackContext {
  /** Base name of the config file (mounted into modelship's own containers). */
  configFileName: string;
}

function health(test: string[], opts: Partial<Omit<HealthcheckSpec, 'test'>> = {}): HealthcheckSpec {
  return { test, intervalSeconds: 10, timeoutSeconds: 5, retries: 5, startPeriodSeconds: 10, startIntervalSeconds: 1, ...opts };
}

/** A probe that needs no curl: the image's own Node fetches the URL. */
function nodeHttpProbe(url: string): string[] {
  return ['CMD', 'node', '-e', `fetch(${JSON.stringify(url)},{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`];
}

/** Like nodeHttpProbe, and prints the body of a failed answer (the engine keeps it in the health log). */
function nodeHttpProbeSaying(url: string): string[] {
  return ['CMD', 'node', '-e', `fetch(${JSON.stringify(url)},{signal:AbortSignal.timeout(4000)}).then(async r=>{if(!r.ok)console.log(await r.text());process.exit(r.ok?0:1)},e=>{console.log(String(e));process.exit(1)})`];
}

function wgetProbe(url: string): string[] {
  return ['CMD', 'wget', '-q', '-O', '/dev/null', url];
}

/**
 * Runs the image's own entrypoint with `args`; when the image reads a secret under another name than
 * the configured `.env` key, a shell copies it across first (the value never enters a rendered file).
 */
function withEnvAlias(target: string, source: string, imageEntrypoint: string, args: string[]): { entrypoint?: string[]; command?: string[] } {
  if (target === source) return args.length > 0 ? { command: args } : {};
  return { entrypoint: ['/bin/sh', '-c', `export ${target}="$${source}"; exec ${imageEntrypoint} "$@"`, imageEntrypoint], command: args };
}

function bytesForDocker(size: string): string {
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

export function buildStack(config: Config, _ctx: StackContext): StackSpec {
  const p = config.project;
  const services: ServiceSpec[] = [];
  const baseLabels = (service: string, role: string): Record<string, string> => ({
    'org.modelship.project': p,
    'org.modelship.service': service,
    'org.modelship.role': role,
  });
  const svc = (s: Omit<ServiceSpec, 'labels' | 'environment' | 'envFile' | 'ports' | 'mounts' | 'dependsOn' | 'profiles' | 'fixedName' | 'restart' | 'stopGracePeriodSeconds'> & Partial<ServiceSpec>): void => {
    services.push({
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
      labels: { ...baseLabels(s.name, s.role), ...(s.labels ?? {}) },
    });
  };

  const configMount: MountSpec = { type: 'bind', base: 'render', source: 'app', target: MOUNT.appDir, readOnly: true };
  const appEnv = (role: string): Record<string, string> => appEnvironment(config, role, CONFIG_IN_CONTAINER);
  const dataDeps: ServiceSpec['dependsOn'] = [
    { service: SERVICE.postgres, condition: 'service_healthy' },
    { service: SERVICE.redis, condition: 'service_healthy' },
  ];

  // --- edge --------------------------------------------------------------------------------
  const certMounts: MountSpec[] = [];
  if (config.tls.mode === 'letsencrypt') {
    certMounts.push({ type: 'volume', source: VOLUME.letsencrypt, target: MOUNT.letsencrypt, readOnly: true });
  } else if (config.tls.mode === 'custom') {
    certMounts.push(
      { type: 'bind', base: 'config', source: config.tls.certFile!, target: `${MOUNT.nginxCerts}/fullchain.pem`, readOnly: true },
      { type: 'bind', base: 'config', source: config.tls.keyFile!, target: `${MOUNT.nginxCerts}/privkey.pem`, readOnly: true },
    );
  }
  const active = config.api.activeColor;
  svc({
    name: SERVICE.nginx,
    role: 'edge',
    image: config.images.nginx,
    ...(config.tls.mode === 'letsencrypt'
      ? { entrypoint: ['/bin/sh', '-c', nginxWithCertReload()], command: [] }
      : { command: ['nginx', '-c', MOUNT.nginxConf, '-g', 'daemon off;'] }),
    ports: [
      { hostIp: config.ports.bind, host: config.ports.http, container: 80 },
      ...(config.tls.mode === 'off' ? [] : [{ hostIp: config.ports.bind, host: config.ports.https, container: 443 }]),
    ],
    mounts: [
      { type: 'bind', base: 'render', source: 'nginx', target: MOUNT.nginxDir, readOnly: true },
      { type: 'volume', source: VOLUME.acme, target: MOUNT.acmeWebroot, readOnly: true },
      ...certMounts,
    ],
    networks: [NETWORK.frontend],
    dependsOn: [{ service: SERVICE.api(active), condition: 'service_healthy' }],
    healthcheck: health(['CMD-SHELL', 'test -s /var/run/nginx.pid && kill -0 "$(cat /var/run/nginx.pid)"'], { intervalSeconds: 10, retries: 3 }),
    stopSignal: 'SIGQUIT',
    stopGracePeriodSeconds: 30,
    reloadsFiles: true,
  });

  // --- API, both colours -------------------------------------------------------------------
  for (const color of COLORS) {
    svc({
      name: SERVICE.api(color),
      role: 'api',
      image: config.images.api,
      command: ['modelship', 'serve', '--host', '0.0.0.0', '--port', String(config.api.port)],
      // The API believes X-Forwarded-For from the stack's nginx (found by its name on the network).
      environment: { ...appEnv('api'), MODELSHIP_COLOR: color, MODELSHIP_TRUSTED_PROXIES: SERVICE.nginx },
      configDigest: configDigest(config, 'api'),
      envFile: true,
      mounts: [configMount, { type: 'volume', source: VOLUME.models, target: config.models.cacheDir }],
      networks: [NETWORK.frontend, NETWORK.backend],
      gatedNetworks: [NETWORK.frontend],
      dependsOn: dataDeps,
      healthcheck: health(nodeHttpProbe(`http://127.0.0.1:${config.api.port}/health/ready`), { startPeriodSeconds: 60, intervalSeconds: 5, retries: 6 }),
      profiles: color === active ? [] : ['standby'],
      replicas: config.api.replicas,
      fixedName: false,
      stopGracePeriodSeconds: Math.max(30, config.api.requestTimeoutSeconds + 5),
      memoryLimit: bytesForDocker(config.api.memoryLimit),
      labels: { 'org.modelship.color': color },
    });
  }

  // --- queue workers -----------------------------------------------------------------------
  svc({
    name: SERVICE.worker,
    role: 'worker',
    image: config.images.api,
    command: ['modelship', 'worker', '--metrics-port', String(INTERNAL_PORT.workerMetrics)],
    environment: appEnv('worker'),
    configDigest: configDigest(config, 'worker'),
    envFile: true,
    mounts: [configMount, { type: 'volume', source: VOLUME.models, target: config.models.cacheDir }],
    networks: [NETWORK.backend],
    dependsOn: dataDeps,
    healthcheck: health(nodeHttpProbe(`http://127.0.0.1:${INTERNAL_PORT.workerMetrics}/health`), { startPeriodSeconds: 60 }),
    replicas: config.workers.replicas,
    fixedName: false,
    stopGracePeriodSeconds: config.workers.stopGracePeriodSeconds,
    memoryLimit: bytesForDocker(config.api.memoryLimit),
  });

  // --- data ----------------------------------------------------------------------------------
  const t = config.postgres.tuning;
  const pgArgs = [
    'postgres',
    '-c', `shared_buffers=${t.sharedBuffers}`,
    '-c', `effective_cache_size=${t.effectiveCacheSize}`,
    '-c', `maintenance_work_mem=${t.maintenanceWorkMem}`,
    '-c', `checkpoint_completion_target=${t.checkpointCompletionTarget}`,
    '-c', `wal_buffers=${t.walBuffers}`,
    '-c', `default_statistics_target=${t.defaultStatisticsTarget}`,
    '-c', `random_page_cost=${t.randomPageCost}`,
    '-c', `max_connections=${t.maxConnections}`,
    ...(config.postgres.extensions.includes('pg_stat_statements')
      ? ['-c', 'shared_preload_libraries=pg_stat_statements', '-c', 'pg_stat_statements.track=all']
      : []),
    ...pitrServerArgs(config),
  ];
  svc({
    name: SERVICE.postgres,
    role: 'database',
    image: config.images.postgres,
    ...withEnvAlias('POSTGRES_PASSWORD', config.secrets.postgresPassword, 'docker-entrypoint.sh', pgArgs),
    environment: {
      POSTGRES_DB: config.postgres.database,
      POSTGRES_USER: config.postgres.user,
      PGDATA: '/var/lib/postgresql/data/pgdata',
    },
    envFile: true,
    ports: config.postgres.publish ? [{ hostIp: LOCALHOST, host: config.postgres.port, container: INTERNAL_PORT.postgres }] : [],
    mounts: [
      { type: 'volume', source: VOLUME.pgdata, target: '/var/lib/postgresql/data' },
      { type: 'bind', base: 'render', source: 'postgres/init', target: MOUNT.postgresInit, readOnly: true },
      ...(config.backups.pitr.enabled ? [{ type: 'bind' as const, base: 'render' as const, source: PG_HBA_RENDERED, target: PG_HBA_IN_CONTAINER, readOnly: true }] : []),
    ],
    networks: [NETWORK.backend],
    healthcheck: health(['CMD', 'pg_isready', '-h', '127.0.0.1', '-U', config.postgres.user, '-d', config.postgres.database], { startPeriodSeconds: 30, intervalSeconds: 5 }),
    stopSignal: 'SIGINT',
    stopGracePeriodSeconds: 60,
  });

  const rk = config.secrets.redisPassword;
  const redisArgs = [
    '--maxmemory', config.redis.maxmemory,
    '--maxmemory-policy', config.redis.policy,
    ...(config.redis.persistence === 'aof' ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no']),
    ...(config.redis.persistence === 'none' ? ['--save', ''] : []),
  ];
  svc({
    name: SERVICE.redis,
    role: 'cache',
    image: config.images.redis,
    entrypoint: ['/bin/sh', '-c', `exec redis-server "$@" --requirepass "$${rk}"`, 'redis-server'],
    command: redisArgs,
    envFile: true,
    ports: config.redis.publish ? [{ hostIp: LOCALHOST, host: config.redis.port, container: INTERNAL_PORT.redis }] : [],
    mounts: [{ type: 'volume', source: VOLUME.redisdata, target: '/data' }],
    networks: [NETWORK.backend],
    healthcheck: health(['CMD-SHELL', `REDISCLI_AUTH="$${rk}" redis-cli ping | grep -q PONG`], { intervalSeconds: 5 }),
  });

  // --- monitoring ----------------------------------------------------------------------------
  const m = config.monitoring;
  svc({
    name: SERVICE.prometheus,
    role: 'monitoring',
    image: config.images.prometheus,
    command: [
      `--config.file=${MOUNT.prometheusDir}/prometheus.yml`,
      '--storage.tsdb.path=/prometheus',
      `--storage.tsdb.retention.time=${m.prometheus.retention}`,
      '--web.enable-lifecycle',
    ],
    ports: [{ hostIp: LOCALHOST, host: m.prometheus.port, container: INTERNAL_PORT.prometheus }],
    mounts: [
      { type: 'bind', base: 'render', source: 'prometheus', target: MOUNT.prometheusDir, readOnly: true },
      { type: 'volume', source: VOLUME.promdata, target: '/prometheus' },
    ],
    networks: [NETWORK.backend],
    healthcheck: health(wgetProbe(`http://127.0.0.1:${INTERNAL_PORT.prometheus}/-/healthy`)),
  });
  if (m.exporters.postgres) {
    svc({
      name: SERVICE.postgresExporter,
      role: 'exporter',
      image: config.images.postgresExporter,
      ...withEnvAlias('DATA_SOURCE_PASS', config.secrets.postgresPassword, '/bin/postgres_exporter', []),
      environment: {
        DATA_SOURCE_URI: `${SERVICE.postgres}:${INTERNAL_PORT.postgres}/${config.postgres.database}?sslmode=disable`,
        DATA_SOURCE_USER: config.postgres.user,
      },
      envFile: true,
      networks: [NETWORK.backend],
      dependsOn: [{ service: SERVICE.postgres, condition: 'service_healthy' }],
    });
  }
  if (m.exporters.redis) {
    svc({
      name: SERVICE.redisExporter,
      role: 'exporter',
      image: config.images.redisExporter,
      ...withEnvAlias('REDIS_PASSWORD', rk, '/redis_exporter', []),
      environment: { REDIS_ADDR: `redis://${SERVICE.redis}:${INTERNAL_PORT.redis}` },
      envFile: true,
      networks: [NETWORK.backend],
      dependsOn: [{ service: SERVICE.redis, condition: 'service_healthy' }],
    });
  }
  if (m.exporters.nginx) {
    svc({
      name: SERVICE.nginxExporter,
      role: 'exporter',
      image: config.images.nginxExporter,
      command: [`--nginx.scrape-uri=http://${SERVICE.nginx}:${INTERNAL_PORT.nginxStatus}/stub_status`],
      networks: [NETWORK.frontend, NETWORK.backend],
      dependsOn: [{ service: SERVICE.nginx, condition: 'service_started' }],
    });
  }
  if (m.exporters.node) {
    svc({
      name: SERVICE.nodeExporter,
      role: 'exporter',
      image: config.images.nodeExporter,
      command: ['--path.rootfs=/host', '--path.procfs=/host/proc', '--path.sysfs=/host/sys'],
      mounts: [{ type: 'bind', base: 'absolute', source: '/', target: '/host', readOnly: true }],
      networks: [NETWORK.backend],
    });
  }
  if (m.grafana.enabled) {
    svc({
      name: SERVICE.grafana,
      role: 'monitoring',
      image: config.images.grafana,
      ...withEnvAlias('GF_SECURITY_ADMIN_PASSWORD', config.secrets.grafanaAdminPassword, '/run.sh', []),
      environment: {
        GF_SECURITY_ADMIN_USER: 'admin',
        GF_USERS_ALLOW_SIGN_UP: 'false',
        GF_AUTH_ANONYMOUS_ENABLED: 'false',
        GF_ANALYTICS_REPORTING_ENABLED: 'false',
        GF_ANALYTICS_CHECK_FOR_UPDATES: 'false',
        ...(config.domains[0] ? { GF_SERVER_DOMAIN: config.domains[0] } : {}),
      },
      envFile: true,
      ports: [{ hostIp: LOCALHOST, host: m.grafana.port, container: INTERNAL_PORT.grafana }],
      mounts: [
        { type: 'bind', base: 'render', source: 'grafana/provisioning', target: MOUNT.grafanaProvisioning, readOnly: true },
        { type: 'bind', base: 'render', source: 'grafana/dashboards', target: MOUNT.grafanaDashboards, readOnly: true },
        { type: 'volume', source: VOLUME.grafanadata, target: '/var/lib/grafana' },
      ],
      networks: [NETWORK.backend],
      dependsOn: [{ service: SERVICE.prometheus, condition: 'service_healthy' }],
      healthcheck: health(wgetProbe(`http://127.0.0.1:${INTERNAL_PORT.grafana}/api/health`), { startPeriodSeconds: 30 }),
      profiles: ['monitoring'],
    });
  }
  if (m.loki.enabled) {
    svc({
      name: SERVICE.loki,
      role: 'monitoring',
      image: config.images.loki,
      command: [`-config.file=${MOUNT.lokiConf}`],
      ports: [{ hostIp: LOCALHOST, host: m.loki.port, container: INTERNAL_PORT.loki }],
      mounts: [
        { type: 'bind', base: 'render', source: 'loki', target: MOUNT.lokiDir, readOnly: true },
        { type: 'volume', source: VOLUME.lokidata, target: '/loki' },
      ],
      networks: [NETWORK.backend],
      healthcheck: health(wgetProbe(`http://127.0.0.1:${INTERNAL_PORT.loki}/ready`), { startPeriodSeconds: 30 }),
      profiles: ['monitoring'],
    });
    svc({
      name: SERVICE.promtail,
      role: 'monitoring',
      image: config.images.promtail,
      command: [`-config.file=${MOUNT.promtailConf}`],
      mounts: [
        { type: 'bind', base: 'render', source: 'promtail', target: MOUNT.promtailDir, readOnly: true },
        { type: 'bind', base: 'absolute', source: '/var/run/docker.sock', target: '/var/run/docker.sock', readOnly: true },
      ],
      networks: [NETWORK.backend],
      dependsOn: [{ service: SERVICE.loki, condition: 'service_started' }],
      profiles: ['monitoring'],
    });
  }

  // --- TLS: first certificate and renewals ---------------------------------------------------
  if (config.tls.mode === 'letsencrypt') {
    svc({
      name: SERVICE.certbot,
      role: 'tls',
      image: config.images.certbot,
      entrypoint: ['/bin/sh', '-c', certbotLoop(config)],
      mounts: [
        { type: 'volume', source: VOLUME.letsencrypt, target: MOUNT.letsencrypt },
        { type: 'volume', source: VOLUME.acme, target: MOUNT.acmeWebroot },
      ],
      networks: [NETWORK.frontend],
      dependsOn: [{ service: SERVICE.nginx, condition: 'service_healthy' }],
      profiles: ['tls'],
    });
  }

  // --- scheduled backups -------------------------------------------------------------------------
  svc({
    name: SERVICE.dbBackup,
    role: 'backup',
    image: config.images.api,
    // Starts as root only to make the bind-mounted backup directory writable (the engine creates a
    // missing one root-owned 0755), then runs as the image's node user (uid 1000).
    user: '0',
    command: ['modelship', 'schedule', '--direct', '--dir', MOUNT.backups, '--metrics-port', String(INTERNAL_PORT.schedulerMetrics), '--run-as', 'node'],
    environment: appEnv('scheduler'),
    configDigest: configDigest(config, 'scheduler'),
    envFile: true,
    mounts: [configMount, { type: 'bind', base: 'config', source: config.backups.dir, target: MOUNT.backups }],
    networks: [NETWORK.backend],
    dependsOn: [{ service: SERVICE.postgres, condition: 'service_healthy' }],
    healthcheck: health(nodeHttpProbeSaying(`http://127.0.0.1:${INTERNAL_PORT.schedulerMetrics}/health`), { startPeriodSeconds: 30 }),
    profiles: ['backup'],
    stopGracePeriodSeconds: 300,
  });

  const usedVolumes = new Set<string>();
  for (const s of services) for (const mt of s.mounts) if (mt.type === 'volume') usedVolumes.add(mt.source);
  return {
    project: p,
    services,
    networks: [
      { name: NETWORK.frontend, internal: false },
      { name: NETWORK.backend, internal: false },
    ],
    volumes: Object.values(VOLUME).filter((v) => usedVolumes.has(v)).map((name) => ({ name })),
    logging: { driver: 'json-file', options: { 'max-size': config.logging.maxSize, 'max-file': String(config.logging.maxFile) } },
  };
}

/** Marker certbot touches after a new certificate; nginx's watcher reloads when it is newer. */
export const CERT_RELOAD_MARK = `${MOUNT.letsencrypt}/.modelship-reload`;

/**
 * nginx in the foreground, plus a watcher that reloads it gracefully within a minute of certbot
 * issuing or renewing a certificate (certbot cannot signal another container).
 */
export function nginxWithCertReload(): string {
  const stamp = '/tmp/.modelship-reloaded';
  return [
    `(while :; do sleep 60; if [ -e ${CERT_RELOAD_MARK} ] && [ ${CERT_RELOAD_MARK} -nt ${stamp} ]; then touch ${stamp}; nginx -c ${MOUNT.nginxConf} -s reload; fi; done) &`,
    `exec nginx -c ${MOUNT.nginxConf} -g 'daemon off;'`,
  ].join(' ');
}

/**
 * The certbot service: issue the certificate through the webroot, then renew when due. nginx reads
 * `current/<name>`, a symlink deploy pointed at a self-signed placeholder; once Let's Encrypt has
 * issued, it is switched to `live/<name>` and nginx reloads. The placeholder is never moved, so
 * nginx can restart or reload at any moment. Retries every 5 minutes until the first certificate
 * exists, then checks twice a day.
 */
export function certbotLoop(config: Config): string {
  const name = config.domains[0]!;
  const le = MOUNT.letsencrypt;
  const args = [
    'certonly', '--webroot', '-w', MOUNT.acmeWebroot, '--cert-name', name,
    ...config.domains.flatMap((d) => ['-d', d]),
    '--email', config.tls.email ?? '', '--agree-tos', '--no-eff-email', '--non-interactive', '--keep-until-expiring',
    ...(config.tls.staging ? ['--staging'] : []),
    '--deploy-hook', `'touch ${CERT_RELOAD_MARK}'`,
  ].join(' ');
  return [
    'trap exit TERM;',
    'while :; do',
    `  if certbot ${args} && [ -e ${le}/live/${name}/fullchain.pem ] && [ "$(readlink ${le}/current/${name})" != "../live/${name}" ]; then`,
    `    mkdir -p ${le}/current && ln -sfn ../live/${name} ${le}/current/${name} && touch ${CERT_RELOAD_MARK};`,
    '  fi;',
    `  if [ "$(readlink ${le}/current/${name})" = "../live/${name}" ]; then pause=43200; else pause=300; fi;`,
    '  sleep $pause & wait $!;',
    'done',
  ].join(' ');
}

export function activeApiService(config: Config): string {
  return SERVICE.api(config.api.activeColor as Color);
}
