/**
 * StackSpec → `docker-compose.production.yml`. Pure and deterministic: keys in a fixed order, no
 * timestamps, no secret values (secrets reach containers through `env_file` only).
 */
import path from 'node:path';
import { stringify } from 'yaml';
import type { MountSpec, ServiceSpec, StackSpec } from '../stack/spec.ts';
import type { RenderedFile } from './types.ts';

export const COMPOSE_FILE = 'docker-compose.production.yml';

export interface ComposePaths {
  /** The config file's directory, relative to the output directory (e.g. `..`). */
  configDir: string;
  /** The `.env` file, relative to the output directory (e.g. `../.env`). */
  envFile: string;
}

/** Compose interpolates `$`: literal dollars in commands and env must be doubled. */
function esc(s: string): string {
  return s.replace(/\$/g, '$$$$');
}

function mountSource(m: MountSpec, paths: ComposePaths): string {
  if (m.type === 'volume') return m.source;
  if (m.base === 'absolute' || path.posix.isAbsolute(m.source)) return m.source;
  const rel = m.base === 'render' ? m.source : path.posix.join(paths.configDir, m.source);
  return rel.startsWith('.') ? rel : `./${rel}`;
}

function serviceToCompose(s: ServiceSpec, stack: StackSpec, paths: ComposePaths): Record<string, unknown> {
  const out: Record<string, unknown> = { image: s.image };
  if (s.fixedName) out.container_name = `${stack.project}-${s.name}`;
  if (s.profiles.length > 0) out.profiles = s.profiles;
  if (s.entrypoint) out.entrypoint = s.entrypoint.map(esc);
  if (s.command && (s.command.length > 0 || s.entrypoint)) out.command = s.command.map(esc);
  if (s.user) out.user = s.user;
  if (s.envFile) out.env_file = [paths.envFile];
  const envKeys = Object.keys(s.environment).sort();
  if (envKeys.length > 0) out.environment = Object.fromEntries(envKeys.map((k) => [k, esc(s.environment[k]!)]));
  if (s.ports.length > 0) {
    out.ports = s.ports.map((p) => {
      const ip = p.hostIp.includes(':') ? `[${p.hostIp}]` : p.hostIp;
      return `${ip}:${p.host}:${p.container}${p.protocol === 'udp' ? '/udp' : ''}`;
    });
  }
  if (s.mounts.length > 0) {
    out.volumes = s.mounts.map((m) => `${mountSource(m, paths)}:${m.target}${m.readOnly ? ':ro' : ''}`);
  }
  out.networks = [...s.networks];
  if (s.dependsOn.length > 0) out.depends_on = Object.fromEntries(s.dependsOn.map((d) => [d.service, { condition: d.condition }]));
  if (s.healthcheck) {
    const h = s.healthcheck;
    out.healthcheck = {
      test: h.test.map(esc),
      interval: `${h.intervalSeconds}s`,
      timeout: `${h.timeoutSeconds}s`,
      retries: h.retries,
      start_period: `${h.startPeriodSeconds}s`,
      // start_interval (the Engine's StartInterval) is left out: Compose before 2.20 and the
      // Compose Specification schema as published reject it. deploy sets it through the API.
    };
  }
  out.restart = s.restart;
  out.stop_grace_period = `${s.stopGracePeriodSeconds}s`;
  if (s.stopSignal) out.stop_signal = s.stopSignal;
  if (s.memoryLimit) out.mem_limit = s.memoryLimit;
  if (s.replicas !== undefined) out.scale = s.replicas;
  out.labels = Object.fromEntries(Object.keys(s.labels).sort().map((k) => [k, s.labels[k]!]));
  out.logging = { driver: stack.logging.driver, options: { ...stack.logging.options } };
  return out;
}

export function renderCompose(stack: StackSpec, paths: ComposePaths): RenderedFile {
  const doc = {
    services: Object.fromEntries(stack.services.map((s) => [s.name, serviceToCompose(s, stack, paths)])),
    networks: Object.fromEntries(stack.networks.map((n) => [n.name, { name: `${stack.project}_${n.name}`, internal: n.internal }])),
    volumes: Object.fromEntries(stack.volumes.map((v) => [v.name, { name: `${stack.project}_${v.name}` }])),
  };
  const header = [
    `# Rendered by modelship from its config: do not edit; change the config and run \`modelship render\`.`,
    `# Compose project: ${stack.project}  (docker-compose -p ${stack.project} -f ${COMPOSE_FILE} ...)`,
    '# Profiles: standby (the idle API colour), monitoring (grafana, loki, promtail), tls (certbot), backup (db-backup).',
    '',
  ].join('\n');
  return { path: COMPOSE_FILE, content: header + stringify(doc, { lineWidth: 0, aliasDuplicateObjects: false, version: '1.1' }) };
}
