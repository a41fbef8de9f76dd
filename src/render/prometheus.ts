/**
 * Prometheus: `prometheus/prometheus.yml` (what to scrape) and `prometheus/alerts.yml` (the alert
 * rules, thresholds from `monitoring.alerts`). Both directories are mounted at MOUNT.prometheusDir,
 * so `rule_files` names alerts.yml relative to prometheus.yml. Pure: Config → text.
 */
import { stringify } from 'yaml';
import type { Config } from '../config/schema.ts';
import { parseSize } from '../util/size.ts';
import { METRIC } from '../stack/metrics.ts';
import { COLORS, INTERNAL_PORT, METRICS_PATH, SERVICE } from '../stack/names.ts';
import type { RenderedFile } from './types.ts';

const HEADER = '# Rendered by `modelship render` from modelship.config.yaml. Do not edit: change the config and render again.\n';

/** Job names, shared by the scrape configs, the alert expressions and the dashboard. */
export const JOB = {
  prometheus: 'prometheus',
  api: 'api',
  worker: 'worker',
  scheduler: 'scheduler',
  postgres: 'postgres',
  redis: 'redis',
  nginx: 'nginx',
  node: 'node',
} as const;

/** YAML with no line folding (PromQL stays on one line) and stable output. */
export function toYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0, indent: 2 });
}

export function renderPrometheus(config: Config): RenderedFile[] {
  return [
    { path: 'prometheus/prometheus.yml', content: HEADER + toYaml(prometheusConfig(config)) },
    { path: 'prometheus/alerts.yml', content: HEADER + toYaml(alertRules(config)) },
  ];
}

interface ScrapeConfig {
  job_name: string;
  metrics_path?: string;
  static_configs?: Array<{ targets: string[]; labels?: Record<string, string> }>;
  dns_sd_configs?: Array<{ names: string[]; type: 'A'; port: number; refresh_interval: string }>;
  relabel_configs?: Array<{ target_label: string; replacement: string }>;
}

function prometheusConfig(config: Config): Record<string, unknown> {
  const m = config.monitoring;
  const target = (host: string, port: number): string => `${host}:${port}`;
  const scrape: ScrapeConfig[] = [
    { job_name: JOB.prometheus, static_configs: [{ targets: [target('localhost', INTERNAL_PORT.prometheus)] }] },
    // One job per colour, both named "api": Docker's DNS answers for the containers that run, so
    // the idle colour, kept stopped for rollback, is no target at all (never a target that is down),
    // and api.replicas > 1 gives one target per container.
    ...COLORS.map(
      (color): ScrapeConfig => ({
        job_name: `${JOB.api}-${color}`,
        metrics_path: METRICS_PATH.api,
        dns_sd_configs: [{ names: [SERVICE.api(color)], type: 'A', port: config.api.port, refresh_interval: '5s' }],
        relabel_configs: [
          { target_label: 'job', replacement: JOB.api },
          { target_label: 'color', replacement: color },
        ],
      }),
    ),
    {
      job_name: JOB.worker,
      metrics_path: METRICS_PATH.worker,
      // N replicas behind one name: Docker's DNS returns one A record per replica.
      dns_sd_configs: [{ names: [SERVICE.worker], type: 'A', port: INTERNAL_PORT.workerMetrics, refresh_interval: '30s' }],
    },
    { job_name: JOB.scheduler, metrics_path: METRICS_PATH.scheduler, static_configs: [{ targets: [target(SERVICE.dbBackup, INTERNAL_PORT.schedulerMetrics)] }] },
  ];
  const ex = m.exporters;
  if (ex.postgres) scrape.push({ job_name: JOB.postgres, static_configs: [{ targets: [target(SERVICE.postgresExporter, INTERNAL_PORT.postgresExporter)] }] });
  if (ex.redis) scrape.push({ job_name: JOB.redis, static_configs: [{ targets: [target(SERVICE.redisExporter, INTERNAL_PORT.redisExporter)] }] });
  if (ex.nginx) scrape.push({ job_name: JOB.nginx, static_configs: [{ targets: [target(SERVICE.nginxExporter, INTERNAL_PORT.nginxExporter)] }] });
  if (ex.node) scrape.push({ job_name: JOB.node, static_configs: [{ targets: [target(SERVICE.nodeExporter, INTERNAL_PORT.nodeExporter)] }] });

  return {
    global: {
      scrape_interval: m.prometheus.scrapeInterval,
      evaluation_interval: m.prometheus.evaluationInterval,
      external_labels: { project: config.project, environment: config.environment },
    },
    rule_files: ['alerts.yml'],
    scrape_configs: scrape,
  };
}

interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: 'critical' | 'warning' };
  annotations: { summary: string; description: string };
}

function rule(alert: string, expr: string, forDuration: string, severity: 'critical' | 'warning', summary: string, description: string): Rule {
  return { alert, expr, for: forDuration, labels: { severity }, annotations: { summary, description } };
}

/** A number as PromQL prints it (no exponent, no trailing noise from float maths). */
function num(n: number): string {
  return String(Number(n.toFixed(6)));
}

// Long because: a table of alert rules, one entry each (expression, duration, severity, text).
function alertRules(config: Config): Record<string, unknown> {
  const a = config.monitoring.alerts;
  const ex = config.monitoring.exporters;
  const api = `job="${JOB.api}"`;

  const service: Rule[] = [
    rule(
      'APIDown',
      `sum(up{${api}}) == 0 or absent(up{${api}})`,
      '1m',
      'critical',
      'No API colour is answering',
      'Prometheus cannot scrape api-blue or api-green (or neither runs): the public API is down.',
    ),
    rule(
      'HighErrorRate',
      `sum(rate(${METRIC.httpRequests}{${api},status=~"5.."}[5m])) / sum(rate(${METRIC.httpRequests}{${api}}[5m])) * 100 > ${num(a.errorRatePercent)}`,
      '5m',
      'critical',
      'API 5xx responses above ' + num(a.errorRatePercent) + '%',
      '{{ printf "%.1f" $value }}% of API responses were 5xx over the last 5 minutes (threshold ' + num(a.errorRatePercent) + '%).',
    ),
    rule(
      'HighResponseTime',
      `histogram_quantile(0.95, sum by (le) (rate(${METRIC.httpDuration}_bucket{${api}}[5m]))) > ${num(a.p95LatencySeconds)}`,
      '5m',
      'warning',
      'API p95 latency above ' + num(a.p95LatencySeconds) + 's',
      'p95 request latency is {{ printf "%.2f" $value }}s over the last 5 minutes (threshold ' + num(a.p95LatencySeconds) + 's).',
    ),
    rule(
      'QueueBacklog',
      `max(${METRIC.jobs}{state="waiting"}) > ${a.queueLength}`,
      '10m',
      'warning',
      'More than ' + a.queueLength + ' jobs waiting',
      '{{ $value }} jobs have been waiting in the queue for 10 minutes: add workers (`modelship scale worker N`).',
    ),
  ];
  if (config.workers.replicas > 0) {
    service.push(
      rule(
        'WorkersDown',
        `sum(up{job="${JOB.worker}"}) == 0 or absent(up{job="${JOB.worker}"})`,
        '5m',
        'critical',
        'No queue worker is running',
        'No queue worker answers on its metrics port: batch jobs are not being processed.',
      ),
    );
  }

  const data: Rule[] = [];
  if (ex.postgres) {
    data.push(
      rule(
        'DatabaseDown',
        `pg_up == 0 or up{job="${JOB.postgres}"} == 0`,
        '1m',
        'critical',
        'PostgreSQL is down',
        'The PostgreSQL exporter cannot reach the database (or the exporter itself is down).',
      ),
      rule(
        'DatabaseConnectionsHigh',
        `sum(pg_stat_activity_count) / max(pg_settings_max_connections) * 100 > ${num(a.connectionsPercent)}`,
        '5m',
        'warning',
        'PostgreSQL connections above ' + num(a.connectionsPercent) + '% of max_connections',
        '{{ printf "%.0f" $value }}% of max_connections are in use.',
      ),
    );
  }
  if (ex.redis) {
    data.push(rule('RedisDown', `redis_up == 0 or up{job="${JOB.redis}"} == 0`, '1m', 'critical', 'Redis is down', 'The Redis exporter cannot reach Redis (or the exporter itself is down): cache and queue are unavailable.'));
  }
  if (ex.nginx) {
    data.push(rule('NginxDown', `nginx_up == 0 or up{job="${JOB.nginx}"} == 0`, '1m', 'critical', 'nginx is down', 'The nginx exporter cannot read stub_status (or the exporter itself is down).'));
  }
  const maxAge = a.backupMaxAgeHours * 3600;
  data.push(
    rule(
      'BackupTooOld',
      `(time() - max(${METRIC.backupLastSuccess})) > ${num(maxAge)} or absent(${METRIC.backupLastSuccess})`,
      '15m',
      'critical',
      'No successful backup in ' + num(a.backupMaxAgeHours) + 'h',
      'The last successful PostgreSQL backup is older than ' + num(a.backupMaxAgeHours) + 'h, or the backup scheduler (db-backup, profile `backup`) reports none.',
    ),
  );

  data.push(...pitrRules(config), ...remoteRules(config));

  const host: Rule[] = [];
  if (ex.node) {
    const fs = 'fstype!~"tmpfs|overlay|squashfs|ramfs|nsfs|autofs"';
    host.push(
      rule(
        'DiskSpaceLow',
        `(1 - node_filesystem_avail_bytes{${fs}} / node_filesystem_size_bytes{${fs}}) * 100 > ${num(a.diskUsedPercent)}`,
        '5m',
        'warning',
        'Disk above ' + num(a.diskUsedPercent) + '% used',
        '{{ $labels.mountpoint }} is {{ printf "%.0f" $value }}% full (threshold ' + num(a.diskUsedPercent) + '%).',
      ),
      rule(
        'HighMemoryUsage',
        `(1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes) * 100 > ${num(a.memoryUsedPercent)}`,
        '5m',
        'warning',
        'Memory above ' + num(a.memoryUsedPercent) + '% used',
        'Host memory is {{ printf "%.0f" $value }}% used (threshold ' + num(a.memoryUsedPercent) + '%).',
      ),
    );
  }

  const groups = [
    { name: 'modelship.service', rules: service },
    { name: 'modelship.data', rules: data },
    { name: 'modelship.host', rules: host },
  ].filter((g) => g.rules.length > 0);
  return { groups };
}

/** Off-site copy alerts (backups.remote.url): copies waiting too long, or the remote refusing them. */
function remoteRules(config: Config): Rule[] {
  const r = config.backups.remote;
  if (!r.url) return [];
  return [
    rule('RemoteBackupLagging', `max(${METRIC.remoteLagSeconds}) > ${num(r.lagAlertSeconds)}`, '5m', 'warning', 'Off-site backup copies more than ' + num(r.lagAlertSeconds) + 's behind', 'The oldest backup file not yet on the remote has waited {{ printf "%.0f" $value }}s: a lost server now loses what is only on its disk. Check the db-backup logs (event "off-site copy failed").'),
    rule('RemoteBackupFailing', `max(${METRIC.remoteUp}) == 0`, '15m', 'warning', 'Off-site backup copies are failing', 'The remote refused or could not be reached for the last copies: they stay queued. The db-backup logs say why (credentials, network, bucket).'),
  ];
}

/** Point-in-time recovery alerts (backups.pitr.enabled): the archive trails, the slot fills or is lost, base backups or rehearsals are old. */
function pitrRules(config: Config): Rule[] {
  const p = config.backups.pitr;
  if (!p.enabled) return [];
  const weekly = 8 * 86400;
  return [
    rule('WalReceiverDown', `max(${METRIC.pitrReceiverUp}) == 0 or absent(${METRIC.pitrReceiverUp})`, '2m', 'critical', 'WAL archiving has stopped', 'pg_receivewal in db-backup is not streaming: changes since it stopped exist only on the database disk.'),
    rule('WalArchiveLagging', `max(${METRIC.pitrLagSeconds}) > ${num(p.lagAlertSeconds)}`, '2m', 'warning', 'WAL archive more than ' + num(p.lagAlertSeconds) + 's behind', 'The WAL archive trails the server by {{ printf "%.0f" $value }}s: a disaster now would lose that much.'),
    rule('ReplicationSlotFilling', `max(${METRIC.pitrSlotRetainedBytes}) > ${num(Math.floor(parseSize(p.maxSlotLag) * 0.5))}`, '5m', 'warning', 'Replication slot holds over half of backups.pitr.maxSlotLag', 'The server keeps {{ $value | humanize1024 }}B of WAL for the archive; at ' + p.maxSlotLag + ' the slot is invalidated and the archive breaks.'),
    rule('ReplicationSlotLost', `max(${METRIC.pitrSlotLost}) == 1`, '0m', 'critical', 'The WAL archive\'s replication slot was invalidated', 'The archive fell more than ' + p.maxSlotLag + ' behind and the server dropped its WAL: take a base backup now (`modelship backup base`).'),
    rule('BaseBackupTooOld', `(time() - max(${METRIC.pitrLastBase})) > ${num(weekly)} or absent(${METRIC.pitrLastBase})`, '15m', 'warning', 'No verified base backup in 8 days', 'Restores replay WAL from the newest base backup; an old one makes recovery slow. Check the base job in db-backup logs.'),
    rule('RestoreRehearsalTooOld', `(time() - max(${METRIC.pitrLastRehearsal})) > ${num(p.rehearsalMaxAgeDays * 86400)} or absent(${METRIC.pitrLastRehearsal})`, '1h', 'warning', 'No restore rehearsal in ' + num(p.rehearsalMaxAgeDays) + ' days', 'Run `modelship restore --to-latest --verify-only` (or let the verify job do it).'),
  ];
}
