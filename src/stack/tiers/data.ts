/** The data tier: PostgreSQL, Redis, and the scheduled backups of the database. Pure. */
import type { Config } from '../../config/schema.ts';
import { PG_HBA_IN_CONTAINER, PG_HBA_RENDERED, pitrServerArgs } from '../../render/postgres.ts';
import { INTERNAL_PORT, MOUNT, REMOTE_IDENTITY_ENV, SERVICE, stackIdentityFile } from '../names.ts';
import { appEnv, configDigest, configMount, health, LOCALHOST, NETWORK, nodeHttpProbeSaying, VOLUME, withEnvAlias, type ServiceInput } from '../parts.ts';

function postgresArgs(config: Config): string[] {
  const t = config.postgres.tuning;
  return [
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
}

function postgres(config: Config): ServiceInput {
  return {
    name: SERVICE.postgres,
    role: 'database',
    image: config.images.postgres,
    ...withEnvAlias('POSTGRES_PASSWORD', config.secrets.postgresPassword, 'docker-entrypoint.sh', postgresArgs(config)),
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
  };
}

function redis(config: Config): ServiceInput {
  const rk = config.secrets.redisPassword;
  const redisArgs = [
    '--maxmemory', config.redis.maxmemory,
    '--maxmemory-policy', config.redis.policy,
    ...(config.redis.persistence === 'aof' ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no']),
    ...(config.redis.persistence === 'none' ? ['--save', ''] : []),
  ];
  return {
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
  };
}

export function dataTier(config: Config): ServiceInput[] {
  return [postgres(config), redis(config)];
}

/** `modelship schedule` in the API image: backups on the configured schedule. */
export function backupTier(config: Config): ServiceInput[] {
  // The SFTP remote's key: mounted read-only, read by the scheduler while still root (see identity.ts).
  const key = stackIdentityFile(config);
  return [
    {
      name: SERVICE.dbBackup,
      role: 'backup',
      image: config.images.api,
      // Starts as root only to make the bind-mounted backup directory writable (the engine creates a
      // missing one root-owned 0755), then runs as the image's node user (uid 1000).
      user: '0',
      command: ['modelship', 'schedule', '--direct', '--dir', MOUNT.backups, '--metrics-port', String(INTERNAL_PORT.schedulerMetrics), '--run-as', 'node'],
      environment: { ...appEnv(config, 'scheduler'), ...(key ? { [REMOTE_IDENTITY_ENV]: MOUNT.remoteIdentity } : {}) },
      configDigest: configDigest(config, 'scheduler'),
      envFile: true,
      mounts: [
        configMount(),
        { type: 'bind', base: 'config', source: config.backups.dir, target: MOUNT.backups },
        ...(key ? [{ type: 'bind' as const, base: 'config' as const, source: key, target: MOUNT.remoteIdentity, readOnly: true, secret: true }] : []),
      ],
      networks: [NETWORK.backend],
      dependsOn: [{ service: SERVICE.postgres, condition: 'service_healthy' }],
      healthcheck: health(nodeHttpProbeSaying(`http://127.0.0.1:${INTERNAL_PORT.schedulerMetrics}/health`), { startPeriodSeconds: 30 }),
      profiles: ['backup'],
      stopGracePeriodSeconds: 300,
    },
  ];
}
