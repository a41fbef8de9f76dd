/**
 * StackSpec → the exact containers, networks and volumes the Docker Engine should have, with the
 * create options and a hash per aspect (image, env, command, ports, mounts, labels, runtime) so the
 * plan can say precisely why a container must be recreated. Pure: the caller supplies paths, the
 * `.env` values and the image IDs the tags currently point to.
 */
import path from 'node:path';
import { sha } from '../util/hash.ts';
import { parseSizeOr } from '../util/size.ts';
export { canonical, sha } from '../util/hash.ts';
import type { MountSpec, ServiceSpec, StackSpec } from '../stack/spec.ts';

// The labels live with the other names; re-exported for the adapters that already import them here.
export { COMPOSE_LABEL, MS_LABEL } from '../stack/names.ts';
import { COMPOSE_LABEL, MS_LABEL } from '../stack/names.ts';

/** Rendered file that blue/green switches rewrite (never a reason to recreate nginx). */
export const UPSTREAM_FILE = 'nginx/upstream.conf';

export const ASPECTS = ['image', 'config', 'env', 'command', 'ports', 'mounts', 'labels', 'runtime'] as const;
export type Aspect = (typeof ASPECTS)[number];

export interface DesiredContext {
  /** Absolute directory holding the rendered files (nginx.conf, prometheus/, …). */
  renderDir: string;
  /** Absolute directory of the config file. */
  configDir: string;
  /** Values from `.env`, passed to services that take secrets. */
  envFileValues: Record<string, string>;
  /** Image reference → image ID, as the engine reports now (missing = not present). */
  imageIds: Record<string, string>;
  /** Which API colour runs; the other colour's containers are left alone. */
  activeColor: string;
  /** Replica overrides (e.g. from `modelship scale`). */
  replicas?: Record<string, number>;
  /** Services to include (default: every service whose profiles are all enabled). */
  profiles: string[];
  /** The rendered files, so a container is recreated when a file it mounts changes. */
  renderedFiles?: ReadonlyArray<{ path: string; content: string }>;
}

export interface CreateSpec {
  name: string;
  Image: string;
  Entrypoint?: string[];
  Cmd?: string[];
  Env: string[];
  Labels: Record<string, string>;
  ExposedPorts: Record<string, Record<string, never>>;
  Healthcheck?: { Test: string[]; Interval: number; Timeout: number; Retries: number; StartPeriod: number; StartInterval?: number };
  StopSignal?: string;
  User?: string;
  StopTimeout: number;
  HostConfig: {
    Binds: string[];
    PortBindings: Record<string, Array<{ HostIp: string; HostPort: string }>>;
    RestartPolicy: { Name: string };
    LogConfig: { Type: string; Config: Record<string, string> };
    Memory?: number;
    NetworkMode: string;
    Init?: boolean;
  };
  NetworkingConfig: { EndpointsConfig: Record<string, { Aliases: string[] }> };
}

export interface DesiredContainer {
  name: string;
  service: string;
  index: number;
  spec: ServiceSpec;
  create: CreateSpec;
  /** Extra networks to connect after create (the engine attaches one network at create). */
  extraNetworks: Array<{ name: string; aliases: string[] }>;
  /** Networks joined only after the health gate passed (see ServiceSpec.gatedNetworks). */
  gatedNetworks: Array<{ name: string; aliases: string[] }>;
  /** Digest of the rendered files a ServiceSpec.reloadsFiles service reloads in place. */
  reloadFiles?: string;
  hash: string;
  aspects: Record<Aspect, string>;
}

export interface DesiredStack {
  project: string;
  containers: DesiredContainer[];
  networks: Array<{ name: string; key: string; internal: boolean; labels: Record<string, string> }>;
  volumes: Array<{ name: string; key: string; labels: Record<string, string> }>;
  /** Service order that respects depends_on (dependencies first). */
  order: string[];
  services: ServiceSpec[];
}

const NS = 1_000_000_000;

export function containerName(project: string, s: ServiceSpec, index: number): string {
  return s.fixedName ? `${project}-${s.name}` : `${project}-${s.name}-${index}`;
}

export function networkName(project: string, key: string): string {
  return `${project}_${key}`;
}

export function volumeName(project: string, key: string): string {
  return `${project}_${key}`;
}

function bindSource(m: Extract<MountSpec, { type: 'bind' }>, ctx: DesiredContext): string {
  if (m.base === 'absolute' || path.isAbsolute(m.source)) return m.source;
  return path.resolve(m.base === 'render' ? ctx.renderDir : ctx.configDir, m.source);
}

/** Whether a service runs under the enabled profiles. The idle colour is never "desired" here. */
export function serviceEnabled(s: ServiceSpec, ctx: DesiredContext): boolean {
  const color = s.labels[MS_LABEL.color];
  if (color !== undefined) return color === ctx.activeColor;
  return s.profiles.every((p) => ctx.profiles.includes(p));
}

export function topoOrder(services: ServiceSpec[]): string[] {
  const byName = new Map(services.map((s) => [s.name, s]));
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, trail: string[]): void => {
    const st = state.get(name);
    if (st === 'done') return;
    if (st === 'visiting') throw new Error(`dependency cycle: ${[...trail, name].join(' → ')}`);
    state.set(name, 'visiting');
    for (const d of byName.get(name)?.dependsOn ?? []) if (byName.has(d.service)) visit(d.service, [...trail, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const s of services) visit(s.name, []);
  return order;
}

export function desiredStack(stack: StackSpec, ctx: DesiredContext): DesiredStack {
  const p = stack.project;
  // The idle colour is not desired, but depends_on on the active colour still has to resolve.
  const services = stack.services.filter((s) => serviceEnabled(s, ctx)).map((s) => ({
    ...s,
    dependsOn: s.dependsOn.map((d) => (/^api-(blue|green)$/.test(d.service) ? { ...d, service: `api-${ctx.activeColor}` } : d)),
  }));
  const containers: DesiredContainer[] = [];
  for (const s of services) {
    const count = s.fixedName ? 1 : (ctx.replicas?.[s.name] ?? s.replicas ?? 1);
    for (let i = 1; i <= count; i++) containers.push(desiredContainer(p, s, i, ctx, stack));
  }
  const networks = stack.networks.map((n) => ({
    name: networkName(p, n.name),
    key: n.name,
    internal: n.internal,
    labels: { [COMPOSE_LABEL.project]: p, [COMPOSE_LABEL.network]: n.name, [MS_LABEL.project]: p },
  }));
  const volumes = stack.volumes.map((v) => ({
    name: volumeName(p, v.name),
    key: v.name,
    labels: { [COMPOSE_LABEL.project]: p, [COMPOSE_LABEL.volume]: v.name, [MS_LABEL.project]: p },
  }));
  return { project: p, containers, networks, volumes, order: topoOrder(services), services };
}

function portBindings(s: ServiceSpec): Pick<CreateSpec, 'ExposedPorts'> & Pick<CreateSpec['HostConfig'], 'PortBindings'> {
  const PortBindings: CreateSpec['HostConfig']['PortBindings'] = {};
  const ExposedPorts: CreateSpec['ExposedPorts'] = {};
  for (const port of s.ports) {
    const key = `${port.container}/${port.protocol ?? 'tcp'}`;
    ExposedPorts[key] = {};
    (PortBindings[key] ??= []).push({ HostIp: port.hostIp, HostPort: String(port.host) });
  }
  return { ExposedPorts, PortBindings };
}

/**
 * The files a service reads: rendered files under its bind mounts (the resolved app config is
 * covered by the service's own config digest, so unrelated settings do not restart it).
 */
function mountedFiles(s: ServiceSpec, ctx: DesiredContext): Record<string, string> {
  const files: Record<string, string> = {};
  for (const m of s.mounts) {
    if (m.type !== 'bind' || m.base !== 'render' || m.source === 'app') continue;
    for (const f of ctx.renderedFiles ?? []) {
      // The upstream file is switched by swap/rollback with a graceful nginx reload, not a restart.
      if (f.path === UPSTREAM_FILE) continue;
      if (f.path === m.source || f.path.startsWith(`${m.source}/`)) files[f.path] = sha(f.content);
    }
  }
  return files;
}

/** One hash per aspect, so the plan can say exactly why a container is recreated. */
function aspectHashes(s: ServiceSpec, ctx: DesiredContext, stack: StackSpec, parts: { Env: string[]; binds: string[]; files: Record<string, string> }): Record<Aspect, string> {
  const runtime = {
    healthcheck: s.healthcheck ?? null,
    restart: s.restart,
    stopSignal: s.stopSignal ?? null,
    stopGrace: s.stopGracePeriodSeconds,
    memory: s.memoryLimit ?? null,
    networks: s.networks,
    ...(s.gatedNetworks ? { gatedNetworks: s.gatedNetworks } : {}),
    logging: stack.logging,
    // Only when set, so services without a user keep their hashes.
    ...(s.user ? { user: s.user } : {}),
  };
  return {
    image: sha({ image: s.image, id: ctx.imageIds[s.image] ?? 'missing' }),
    config: sha({ digest: s.configDigest ?? null, files: s.reloadsFiles ? {} : parts.files }),
    env: sha(parts.Env),
    command: sha({ entrypoint: s.entrypoint ?? null, command: s.command ?? null }),
    ports: sha(s.ports),
    mounts: sha(parts.binds),
    labels: sha({ ...s.labels }),
    runtime: sha(runtime),
  };
}

function healthcheckCreate(h: NonNullable<ServiceSpec['healthcheck']>): NonNullable<CreateSpec['Healthcheck']> {
  return {
    Test: h.test,
    Interval: h.intervalSeconds * NS,
    Timeout: h.timeoutSeconds * NS,
    Retries: h.retries,
    StartPeriod: h.startPeriodSeconds * NS,
    ...(h.startIntervalSeconds ? { StartInterval: h.startIntervalSeconds * NS } : {}),
  };
}

function desiredContainer(project: string, s: ServiceSpec, index: number, ctx: DesiredContext, stack: StackSpec): DesiredContainer {
  const env: Record<string, string> = {};
  if (s.envFile) Object.assign(env, ctx.envFileValues);
  Object.assign(env, s.environment);
  const Env = Object.keys(env).sort().map((k) => `${k}=${env[k]}`);
  const binds = s.mounts.map((m) => {
    const src = m.type === 'volume' ? volumeName(project, m.source) : bindSource(m, ctx);
    return `${src}:${m.target}${m.readOnly ? ':ro' : ''}`;
  });
  const { ExposedPorts, PortBindings } = portBindings(s);
  const files = mountedFiles(s, ctx);
  const aspects = aspectHashes(s, ctx, stack, { Env, binds, files });
  const hash = sha(aspects);
  const name = containerName(project, s, index);
  const gated = new Set(s.gatedNetworks ?? []);
  const [firstNet, ...otherNets] = s.networks.filter((n) => !gated.has(n)).map((n) => networkName(project, n));
  const aliases = [s.name];
  const Labels: Record<string, string> = {
    ...s.labels,
    [COMPOSE_LABEL.project]: project,
    [COMPOSE_LABEL.service]: s.name,
    [COMPOSE_LABEL.number]: String(index),
    [COMPOSE_LABEL.oneoff]: 'False',
    [COMPOSE_LABEL.configHash]: hash,
    [MS_LABEL.hash]: hash,
    ...Object.fromEntries(ASPECTS.map((a) => [`${MS_LABEL.aspectPrefix}${a}`, aspects[a]])),
  };
  const memory = parseSizeOr(s.memoryLimit);
  const create: CreateSpec = {
    name,
    Image: s.image,
    ...(s.entrypoint ? { Entrypoint: s.entrypoint } : {}),
    ...(s.command && (s.command.length > 0 || s.entrypoint) ? { Cmd: s.command } : {}),
    Env,
    Labels,
    ExposedPorts,
    ...(s.healthcheck ? { Healthcheck: healthcheckCreate(s.healthcheck) } : {}),
    ...(s.stopSignal ? { StopSignal: s.stopSignal } : {}),
    ...(s.user ? { User: s.user } : {}),
    StopTimeout: s.stopGracePeriodSeconds,
    HostConfig: {
      Binds: binds,
      PortBindings,
      RestartPolicy: { Name: s.restart },
      LogConfig: { Type: stack.logging.driver, Config: { ...stack.logging.options } },
      ...(memory ? { Memory: memory } : {}),
      NetworkMode: firstNet ?? 'none',
    },
    NetworkingConfig: { EndpointsConfig: firstNet ? { [firstNet]: { Aliases: aliases } } : {} },
  };
  return {
    name,
    service: s.name,
    index,
    spec: s,
    create,
    extraNetworks: otherNets.map((n) => ({ name: n, aliases })),
    gatedNetworks: s.networks.filter((n) => gated.has(n)).map((n) => ({ name: networkName(project, n), aliases })),
    ...(s.reloadsFiles ? { reloadFiles: sha(files) } : {}),
    hash,
    aspects,
  };
}
