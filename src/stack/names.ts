/**
 * Names and ports shared by the rendered files and the deploy code: service names, internal ports,
 * Docker labels, and where config files are mounted inside containers. One place, so nginx,
 * Prometheus, Compose and the Docker adapter cannot disagree. Pure constants; a unit test checks
 * that no label literal appears anywhere else in src/.
 */
import type { Config } from '../config/schema.ts';

export const COLORS = ['blue', 'green'] as const;
export type Color = (typeof COLORS)[number];

export const SERVICE = {
  nginx: 'nginx',
  api: (color: Color) => `api-${color}` as const,
  worker: 'worker',
  postgres: 'postgres',
  redis: 'redis',
  prometheus: 'prometheus',
  grafana: 'grafana',
  loki: 'loki',
  promtail: 'promtail',
  certbot: 'certbot',
  dbBackup: 'db-backup',
  postgresExporter: 'postgres-exporter',
  redisExporter: 'redis-exporter',
  nginxExporter: 'nginx-exporter',
  nodeExporter: 'node-exporter',
} as const;

/** The labels Docker Compose itself sets: `docker compose ps` and friends see modelship's containers. */
export const COMPOSE_LABEL = {
  project: 'com.docker.compose.project',
  service: 'com.docker.compose.service',
  number: 'com.docker.compose.container-number',
  oneoff: 'com.docker.compose.oneoff',
  configHash: 'com.docker.compose.config-hash',
  network: 'com.docker.compose.network',
  volume: 'com.docker.compose.volume',
  version: 'com.docker.compose.version',
} as const;

/** modelship's own labels, on containers (and, for `image`/`version`/`commit`, on built images). */
export const MS_LABEL = {
  project: 'org.modelship.project',
  service: 'org.modelship.service',
  role: 'org.modelship.role',
  color: 'org.modelship.color',
  hash: 'org.modelship.hash',
  aspectPrefix: 'org.modelship.hash.',
  /** Containers of modelship's own machinery (lock, state, volume-files), never a service. */
  internal: 'org.modelship.internal',
  /** On images `modelship build` made (what `update` prunes when dangling). */
  image: 'org.modelship.image',
  version: 'org.modelship.version',
  commit: 'org.modelship.commit',
} as const;

/** Labels on the stack lock container: who holds it, doing what, since when. */
export const LOCK_LABEL = {
  holder: 'org.modelship.lock.holder',
  operation: 'org.modelship.lock.operation',
  since: 'org.modelship.lock.since',
  host: 'org.modelship.lock.host',
  pid: 'org.modelship.lock.pid',
} as const;

/** Labels on the swarm db helper container: which host and process made it (a stale one is removed). */
export const HELPER_LABEL = {
  host: 'org.modelship.helper.host',
  pid: 'org.modelship.helper.pid',
} as const;

/** Labels on the containers of a PITR restore into the stack's volume (a stale one is removed). */
export const PITR_RESTORE_LABEL = {
  marker: 'org.modelship.pitr-restore',
  stamp: 'org.modelship.pitr-restore.stamp',
  pid: 'org.modelship.pitr-restore.pid',
  host: 'org.modelship.pitr-restore.host',
} as const;

/** Labels of the stack's Swarm services, configs and secrets (`orchestrator: swarm`). */
export const SWARM_LABEL = {
  /** What `docker stack` uses too: `docker stack ps PROJECT` lists modelship's services. */
  namespace: 'com.docker.stack.namespace',
  project: MS_LABEL.project,
  service: MS_LABEL.service,
  role: MS_LABEL.role,
  color: MS_LABEL.color,
  aspectPrefix: MS_LABEL.aspectPrefix,
  /** On nginx: the colour its upstream routes to (the stack's recorded active colour). */
  activeColor: 'org.modelship.active-color',
  /** On nginx: the API image the active colour runs when a swap named another than the config's. */
  releaseImage: 'org.modelship.release-image',
  /** On configs and secrets: the logical name (file path or .env key) they hold a version of. */
  key: 'org.modelship.key',
  /** On the Swarm configs that are audit entries, and on the one that is the stack lock. */
  audit: 'org.modelship.audit',
  lock: 'org.modelship.lock',
} as const;

/** A label as Prometheus' and promtail's Docker service discovery name it (`__meta_docker_container_label_…`). */
export function discoveredLabel(label: string): string {
  return `__meta_docker_container_label_${label.replace(/[^a-zA-Z0-9_]/g, '_')}`;
}

/** Ports inside the stack's networks (never published unless said so). */
export const INTERNAL_PORT = {
  workerMetrics: 9464,
  schedulerMetrics: 9465,
  nginxStatus: 8080,
  /** nginx listens on these inside its container; Compose maps config.ports.http/https to them. */
  nginxHttp: 80,
  nginxHttps: 443,
  postgres: 5432,
  redis: 6379,
  prometheus: 9090,
  grafana: 3000,
  loki: 3100,
  postgresExporter: 9187,
  redisExporter: 9121,
  nginxExporter: 9113,
  nodeExporter: 9100,
} as const;

/** Path of nginx's stub_status page on INTERNAL_PORT.nginxStatus (for the nginx exporter's scrape URI). */
export const NGINX_STATUS_PATH = '/stub_status';

/** Where each modelship process serves Prometheus metrics (API on config.api.port, the others on their INTERNAL_PORT). */
export const METRICS_PATH = {
  api: '/health/metrics',
  worker: '/metrics',
  scheduler: '/metrics',
} as const;

/** Name of the nginx upstream that points at the active API colour (nginx/upstream.conf). */
export const NGINX_UPSTREAM = 'modelship_api';

/**
 * Where rendered files are mounted inside containers. Directories, never single files: a file bind
 * mount pins the inode, so an atomic re-render (write + rename) would stay invisible inside.
 */
export const MOUNT = {
  nginxDir: '/etc/nginx/modelship',
  nginxConf: '/etc/nginx/modelship/nginx.conf',
  nginxUpstream: '/etc/nginx/modelship/upstream.conf',
  nginxCerts: '/etc/nginx/certs',
  letsencrypt: '/etc/letsencrypt',
  acmeWebroot: '/var/www/certbot',
  prometheusDir: '/etc/prometheus',
  grafanaProvisioning: '/etc/grafana/provisioning',
  grafanaDashboards: '/var/lib/grafana/dashboards',
  lokiDir: '/etc/loki',
  lokiConf: '/etc/loki/loki.yml',
  promtailDir: '/etc/promtail',
  promtailConf: '/etc/promtail/promtail.yml',
  appDir: '/etc/modelship',
  postgresInit: '/docker-entrypoint-initdb.d',
  backups: '/var/backups/modelship',
  /**
   * The SFTP remote's SSH key in db-backup (a read-only bind, or a swarm secret of mode 0400). Not
   * under /run/secrets: on a swarm every file there is exported as an environment variable.
   */
  remoteIdentity: '/run/modelship-keys/sftp-identity',
} as const;

/** Set on db-backup when it has the key: the in-container path that stands in for the config's host path. */
export const REMOTE_IDENTITY_ENV = 'MODELSHIP_REMOTE_IDENTITY_FILE';

/** The host path of the SSH key the stack mounts (relative to the config's directory), or null without an SFTP remote. */
export function stackIdentityFile(config: Config): string | null {
  const r = config.backups.remote;
  return r.url?.startsWith('sftp://') && r.identityFile ? r.identityFile : null;
}

/** Certificate paths as nginx sees them, for the configured TLS mode. */
export function certificatePaths(config: Config): { cert: string; key: string } | null {
  if (config.tls.mode === 'off') return null;
  if (config.tls.mode === 'custom') return { cert: `${MOUNT.nginxCerts}/fullchain.pem`, key: `${MOUNT.nginxCerts}/privkey.pem` };
  const name = config.domains[0]!;
  // `current/<name>` is a symlink to the placeholder until certbot has issued, then to `live/<name>`:
  // nginx always finds a certificate, even while certbot works.
  return { cert: `${MOUNT.letsencrypt}/current/${name}/fullchain.pem`, key: `${MOUNT.letsencrypt}/current/${name}/privkey.pem` };
}
