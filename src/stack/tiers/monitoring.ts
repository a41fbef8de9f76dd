/** The monitoring tier: Prometheus, the exporters it scrapes, Grafana, Loki and promtail. Pure. */
import type { Config } from '../../config/schema.ts';
import { INTERNAL_PORT, MOUNT, NGINX_STATUS_PATH, SERVICE } from '../names.ts';
import { health, LOCALHOST, NETWORK, VOLUME, wgetProbe, withEnvAlias, type ServiceInput } from '../parts.ts';

type ExporterKey = keyof Config['monitoring']['exporters'];

/** One row per exporter: the config switch that enables it, and its service (role `exporter`). */
const EXPORTERS: ReadonlyArray<{ key: ExporterKey; spec: (config: Config) => Omit<ServiceInput, 'role'> }> = [
  {
    key: 'postgres',
    spec: (config) => ({
      name: SERVICE.postgresExporter,
      image: config.images.postgresExporter,
      ...withEnvAlias('DATA_SOURCE_PASS', config.secrets.postgresPassword, '/bin/postgres_exporter', []),
      environment: {
        DATA_SOURCE_URI: `${SERVICE.postgres}:${INTERNAL_PORT.postgres}/${config.postgres.database}?sslmode=disable`,
        DATA_SOURCE_USER: config.postgres.user,
      },
      envFile: true,
      networks: [NETWORK.backend],
      dependsOn: [{ service: SERVICE.postgres, condition: 'service_healthy' }],
    }),
  },
  {
    key: 'redis',
    spec: (config) => ({
      name: SERVICE.redisExporter,
      image: config.images.redisExporter,
      ...withEnvAlias('REDIS_PASSWORD', config.secrets.redisPassword, '/redis_exporter', []),
      environment: { REDIS_ADDR: `redis://${SERVICE.redis}:${INTERNAL_PORT.redis}` },
      envFile: true,
      networks: [NETWORK.backend],
      dependsOn: [{ service: SERVICE.redis, condition: 'service_healthy' }],
    }),
  },
  {
    key: 'nginx',
    spec: (config) => ({
      name: SERVICE.nginxExporter,
      image: config.images.nginxExporter,
      command: [`--nginx.scrape-uri=http://${SERVICE.nginx}:${INTERNAL_PORT.nginxStatus}${NGINX_STATUS_PATH}`],
      networks: [NETWORK.frontend, NETWORK.backend],
      dependsOn: [{ service: SERVICE.nginx, condition: 'service_started' }],
    }),
  },
  {
    key: 'node',
    spec: (config) => ({
      name: SERVICE.nodeExporter,
      image: config.images.nodeExporter,
      command: ['--path.rootfs=/host', '--path.procfs=/host/proc', '--path.sysfs=/host/sys'],
      mounts: [{ type: 'bind', base: 'absolute', source: '/', target: '/host', readOnly: true }],
      networks: [NETWORK.backend],
    }),
  },
];

function exporter({ name, ...rest }: Omit<ServiceInput, 'role'>): ServiceInput {
  return { name, role: 'exporter', ...rest };
}

function prometheus(config: Config): ServiceInput {
  const m = config.monitoring;
  return {
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
  };
}

function grafana(config: Config): ServiceInput {
  return {
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
    ports: [{ hostIp: LOCALHOST, host: config.monitoring.grafana.port, container: INTERNAL_PORT.grafana }],
    mounts: [
      { type: 'bind', base: 'render', source: 'grafana/provisioning', target: MOUNT.grafanaProvisioning, readOnly: true },
      { type: 'bind', base: 'render', source: 'grafana/dashboards', target: MOUNT.grafanaDashboards, readOnly: true },
      { type: 'volume', source: VOLUME.grafanadata, target: '/var/lib/grafana' },
    ],
    networks: [NETWORK.backend],
    dependsOn: [{ service: SERVICE.prometheus, condition: 'service_healthy' }],
    healthcheck: health(wgetProbe(`http://127.0.0.1:${INTERNAL_PORT.grafana}/api/health`), { startPeriodSeconds: 30 }),
    profiles: ['monitoring'],
  };
}

function logs(config: Config): ServiceInput[] {
  return [
    {
      name: SERVICE.loki,
      role: 'monitoring',
      image: config.images.loki,
      command: [`-config.file=${MOUNT.lokiConf}`],
      ports: [{ hostIp: LOCALHOST, host: config.monitoring.loki.port, container: INTERNAL_PORT.loki }],
      mounts: [
        { type: 'bind', base: 'render', source: 'loki', target: MOUNT.lokiDir, readOnly: true },
        { type: 'volume', source: VOLUME.lokidata, target: '/loki' },
      ],
      networks: [NETWORK.backend],
      healthcheck: health(wgetProbe(`http://127.0.0.1:${INTERNAL_PORT.loki}/ready`), { startPeriodSeconds: 30 }),
      profiles: ['monitoring'],
    },
    {
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
    },
  ];
}

export function monitoringTier(config: Config): ServiceInput[] {
  const m = config.monitoring;
  return [
    prometheus(config),
    ...EXPORTERS.filter((e) => m.exporters[e.key]).map((e) => exporter(e.spec(config))),
    ...(m.grafana.enabled ? [grafana(config)] : []),
    ...(m.loki.enabled ? logs(config) : []),
  ];
}
