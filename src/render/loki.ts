/**
 * Logs: `loki/loki.yml` (single binary, filesystem storage under /loki, retention from
 * `monitoring.loki.retention`) and `promtail/promtail.yml` (reads this project's containers through
 * the Docker socket and ships them to Loki). Rendered only when `monitoring.loki.enabled`.
 * Pure: Config → text.
 */
import type { Config } from '../config/schema.ts';
import { COMPOSE_LABEL, discoveredLabel, INTERNAL_PORT, SERVICE } from '../stack/names.ts';
import { toYaml } from './prometheus.ts';
import type { RenderedFile } from './types.ts';

const HEADER = '# Rendered by `modelship render` from modelship.config.yaml. Do not edit: change the config and render again.\n';

/** Loki's data directory inside its container (a named volume). */
export const LOKI_DATA = '/loki';
/** The Docker socket as promtail sees it (bind-mounted read-only). */
export const DOCKER_SOCKET = '/var/run/docker.sock';
/** Where promtail records how far it has read; keep it on a volume to avoid re-shipping logs after a restart. */
export const PROMTAIL_POSITIONS = '/tmp/promtail/positions.yaml';

export function renderLoki(config: Config): RenderedFile[] {
  if (!config.monitoring.loki.enabled) return [];
  return [
    { path: 'loki/loki.yml', content: HEADER + toYaml(lokiConfig(config)) },
    { path: 'promtail/promtail.yml', content: HEADER + toYaml(promtailConfig(config)) },
  ];
}

function lokiConfig(config: Config): Record<string, unknown> {
  const retention = config.monitoring.loki.retention;
  return {
    auth_enabled: false,
    server: { http_listen_port: INTERNAL_PORT.loki, grpc_listen_port: 9096, log_level: 'warn' },
    common: {
      instance_addr: '127.0.0.1',
      path_prefix: LOKI_DATA,
      storage: { filesystem: { chunks_directory: `${LOKI_DATA}/chunks`, rules_directory: `${LOKI_DATA}/rules` } },
      replication_factor: 1,
      ring: { kvstore: { store: 'inmemory' } },
    },
    schema_config: {
      configs: [
        { from: '2024-01-01', store: 'tsdb', object_store: 'filesystem', schema: 'v13', index: { prefix: 'index_', period: '24h' } },
      ],
    },
    limits_config: {
      retention_period: retention,
      reject_old_samples: true,
      reject_old_samples_max_age: retention,
    },
    compactor: {
      working_directory: `${LOKI_DATA}/compactor`,
      compaction_interval: '10m',
      retention_enabled: true,
      retention_delete_delay: '2h',
      delete_request_store: 'filesystem',
    },
    analytics: { reporting_enabled: false },
  };
}

function promtailConfig(config: Config): Record<string, unknown> {
  const project = config.project;
  return {
    server: { http_listen_port: 9080, grpc_listen_port: 0, log_level: 'warn' },
    positions: { filename: PROMTAIL_POSITIONS },
    clients: [{ url: `http://${SERVICE.loki}:${INTERNAL_PORT.loki}/loki/api/v1/push` }],
    scrape_configs: [
      {
        job_name: 'containers',
        docker_sd_configs: [
          {
            host: `unix://${DOCKER_SOCKET}`,
            refresh_interval: '10s',
            // Ask Docker only for this project's containers...
            filters: [{ name: 'label', values: [`${COMPOSE_LABEL.project}=${project}`] }],
          },
        ],
        relabel_configs: [
          // ...and keep only those, should the filter ever be ignored.
          { source_labels: [discoveredLabel(COMPOSE_LABEL.project)], regex: escapeRegex(project), action: 'keep' },
          { source_labels: [discoveredLabel(COMPOSE_LABEL.project)], target_label: 'project' },
          { source_labels: [discoveredLabel(COMPOSE_LABEL.service)], target_label: 'service' },
          { source_labels: ['__meta_docker_container_name'], regex: '/(.*)', target_label: 'container' },
          { source_labels: ['__meta_docker_container_log_stream'], target_label: 'stream' },
        ],
      },
    ],
  };
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
