/**
 * The desired stack (src/stack) → Docker Swarm objects: overlay networks, configs (the rendered
 * files), secrets (the `.env` values, as files) and one service per stack service, each with a hash
 * per aspect so the plan can say why a service is updated. Pure: the caller supplies the rendered
 * files, the `.env` values and the images' own entrypoint/cmd (secrets are exported from files by a
 * wrapper around them).
 */
import YAML from 'yaml';
import type { Config } from '../config/schema.ts';
import { MOUNT, SERVICE, SWARM_LABEL, type Color } from '../stack/names.ts';
import type { MountSpec, ServiceSpec, StackSpec } from '../stack/spec.ts';
import { sha } from '../util/hash.ts';
import path from 'node:path';


export const SWARM_ASPECTS = ['image', 'env', 'command', 'secrets', 'files', 'mounts', 'placement', 'ports', 'replicas', 'runtime', 'state'] as const;
export type SwarmAspect = (typeof SWARM_ASPECTS)[number];

/** Where each secret is mounted inside the task: /run/secrets/<.env key>. */
export const SECRETS_DIR = '/run/secrets';

export interface ImageDefaults {
  entrypoint?: string[] | null;
  cmd?: string[] | null;
}

export interface SwarmInput {
  config: Config;
  /** The rendered files (path relative to the render dir), e.g. from renderForDir. */
  files: ReadonlyArray<{ path: string; content: string }>;
  /** `.env` values: services that take secrets get them as Swarm secrets. */
  envValues: Record<string, string>;
  /** Contents of the secret files the stack mounts (MountSpec `secret`), by resolved host path: they become Swarm secrets. */
  secretFiles?: Record<string, string>;
  /** Colour nginx routes to. */
  activeColor: Color;
  /** Image of each colour (the idle colour keeps the one it last ran, for rollback). */
  colorImages?: Partial<Record<Color, string>>;
  /** Colours whose tasks nginx routes to (default: the active one; both for the moment of a swap). */
  liveColors?: Color[];
  /** Recorded on nginx: the active colour's image when it is not the config's (swap --image, rollback). */
  releaseImage?: string | undefined;
  /** Replicas per stack service name, over the config (scale; the idle colour is 0). */
  replicas?: Record<string, number>;
  /** Image ref → its own entrypoint and cmd (from the manager's image inspect). */
  imageDefaults: Record<string, ImageDefaults>;
  /** Image ref → image ID on the manager: a rebuilt tag is a changed image. */
  imageIds?: Record<string, string>;
  /** Directory of the config file: relative host paths in the config are resolved against it. */
  configDir: string;
  /** Profiles whose services run (the single-host deploy's: monitoring, tls, backup). */
  profiles: readonly string[];
}

export interface SwarmFile {
  /** Engine object name: `<project>_<slug>_<hash>` (a new version is a new name). */
  name: string;
  key: string;
  data: string;
  labels: Record<string, string>;
}

export interface SwarmNetwork {
  name: string;
  key: string;
  labels: Record<string, string>;
}

/** The subset of the Engine's ServiceSpec modelship writes. */
export interface EngineServiceSpec {
  Name: string;
  Labels: Record<string, string>;
  TaskTemplate: {
    ContainerSpec: {
      Image: string;
      Command?: string[];
      Args?: string[];
      Env: string[];
      Labels: Record<string, string>;
      Mounts: Array<{ Type: 'volume' | 'bind'; Source: string; Target: string; ReadOnly?: boolean; VolumeOptions?: { Labels: Record<string, string> } }>;
      Secrets: Array<{ SecretName: string; SecretID?: string; File: { Name: string; UID: string; GID: string; Mode: number } }>;
      Configs: Array<{ ConfigName: string; ConfigID?: string; File: { Name: string; UID: string; GID: string; Mode: number } }>;
      HealthCheck?: { Test: string[]; Interval: number; Timeout: number; Retries: number; StartPeriod: number; StartInterval?: number };
      StopSignal?: string;
      StopGracePeriod: number;
      User?: string;
      ReadOnly?: boolean;
    };
    Resources?: { Limits?: { MemoryBytes?: number } };
    RestartPolicy: { Condition: 'any' | 'on-failure' | 'none'; Delay: number; MaxAttempts: number };
    Placement: { Constraints: string[] };
    Networks: Array<{ Target: string; Aliases: string[] }>;
    LogDriver: { Name: string; Options: Record<string, string> };
  };
  Mode: { Replicated: { Replicas: number } } | { Global: Record<string, never> };
  UpdateConfig: SwarmUpdateConfig;
  RollbackConfig: SwarmUpdateConfig;
  EndpointSpec: { Mode: 'vip' | 'dnsrr'; Ports: Array<{ Protocol: 'tcp' | 'udp'; TargetPort: number; PublishedPort: number; PublishMode: 'ingress' | 'host' }> };
}

export interface SwarmUpdateConfig {
  Parallelism: number;
  Delay: number;
  FailureAction: 'rollback' | 'pause' | 'continue';
  Monitor: number;
  MaxFailureRatio: number;
  Order: 'start-first' | 'stop-first';
}

export interface SwarmService {
  /** Engine service name: `<project>_<service>`. */
  name: string;
  /** The stack's service name (`api-blue`, `postgres`…): its DNS alias on the overlays. */
  service: string;
  spec: EngineServiceSpec;
  aspects: Record<SwarmAspect, string>;
  /** Node label (value true) the service needs, if pinned. */
  needsLabel?: string;
  /** Number of tasks it should run (global: one per eligible node; reported as -1). */
  replicas: number;
}

export interface SwarmStack {
  project: string;
  networks: SwarmNetwork[];
  configs: SwarmFile[];
  secrets: SwarmFile[];
  services: SwarmService[];
  /** Service names in start order: data first, nginx last. */
  order: string[];
}

const NS = 1_000_000_000;

/** On a swarm the scheduled backups go to this volume on the PostgreSQL node (not a host directory). */
export const BACKUPS_VOLUME = 'backups';

export function swarmName(project: string, key: string): string {
  return `${project}_${key}`;
}

/** `nginx/upstream.conf` → `nginx-upstream.conf`, cut so the whole object name fits the engine's 64. */
function versionedName(project: string, key: string, data: string): string {
  const slug = key.toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^-+|-+$/g, '');
  const h = sha(data).slice(0, 10);
  const room = 64 - project.length - h.length - 2;
  return `${project}_${slug.slice(Math.max(0, slug.length - room))}_${h}`.replace(/_-/, '_');
}

function memoryBytes(limit: string | undefined): number | undefined {
  const m = limit ? /^(\d+)([kmg])$/.exec(limit) : null;
  return m ? Number(m[1]) * 1024 ** { k: 1, m: 2, g: 3 }[m[2] as 'k' | 'm' | 'g'] : undefined;
}

/**
 * The name nginx routes to on a swarm: a network alias on the frontend network that the live
 * colour's service carries. Swarm's DNS answers it with the addresses of that service's running
 * (so healthy) tasks; nginx re-resolves it every few seconds. A swap moves the alias, never nginx.
 */
export const LIVE_ALIAS = 'api-live';

/** nginx/upstream.conf on a swarm: the live alias instead of a colour, so a swap leaves nginx's files alone. */
export function swarmUpstream(text: string): string {
  return text
    .replace(/^# modelship active color: (blue|green)$/m, '# modelship on swarm: the live colour carries the alias api-live')
    .replace(/default api-(blue|green)(:\d+)?;/g, (_m, _c: string, port: string | undefined) => `default ${LIVE_ALIAS}${port ?? ''};`);
}

/**
 * Prometheus on Swarm: a service name resolves to its virtual IP (one target); `tasks.<name>`
 * resolves to every task on every node, so each replica is scraped.
 */
export function swarmPrometheus(text: string): string {
  const doc = YAML.parse(text) as { scrape_configs?: Array<{ dns_sd_configs?: Array<{ names?: string[] }> }> };
  for (const job of doc.scrape_configs ?? []) {
    for (const sd of job.dns_sd_configs ?? []) sd.names = (sd.names ?? []).map((n) => (n.startsWith('tasks.') ? n : `tasks.${n}`));
  }
  return YAML.stringify(doc);
}

/**
 * The images read secrets from environment variables; Swarm hands them over as files. A shell
 * exports each file under /run/secrets as the variable of its name, then execs the image's own
 * command: the values never appear in the service spec.
 */
const EXPORT_SECRETS = `for f in ${SECRETS_DIR}/*; do [ -f "$f" ] && export "$(basename "$f")=$(cat "$f")"; done`;

/** A health check runs in a process of its own: a shell check gets the secrets exported the same way. */
export function healthWithSecrets(test: string[]): string[] {
  return test[0] === 'CMD-SHELL' ? ['CMD-SHELL', `${EXPORT_SECRETS}; ${test.slice(1).join(' ')}`] : test;
}

export function withSecretFiles(argv: string[]): { Command: string[]; Args: string[] } {
  const script = `${EXPORT_SECRETS}; exec "$@"`;
  return { Command: ['/bin/sh', '-c', script, 'modelship-secrets'], Args: argv };
}

function constraint(label: string): string {
  return `node.labels.${label}==true`;
}

/** Which node label each stateful service is pinned by (its volume lives on that node). */
export function pinLabel(config: Config, service: string): string | undefined {
  const l = config.swarm.labels;
  switch (service) {
    case SERVICE.postgres:
    case SERVICE.dbBackup:
    case SERVICE.postgresExporter:
      return service === SERVICE.postgresExporter ? undefined : l.postgres;
    case SERVICE.redis:
      return l.redis;
    case SERVICE.prometheus:
    case SERVICE.grafana:
    case SERVICE.loki:
      return l.monitoring;
    case SERVICE.nginx:
      return config.swarm.edge.publish === 'host' ? config.swarm.edge.label : undefined;
    default:
      return undefined;
  }
}

function enabled(s: ServiceSpec, profiles: readonly string[]): boolean {
  if (s.labels[SWARM_LABEL.color] !== undefined) return true;
  return s.profiles.every((p) => profiles.includes(p));
}

/** What every service of one stack shares while it is turned into Swarm services. */
interface BuildContext {
  stack: StackSpec;
  input: SwarmInput;
  config: SwarmInput['config'];
  p: string;
  files: Map<string, string>;
  live: Set<string>;
  configFor: (key: string, data: string) => SwarmFile;
  secretFor: (key: string) => SwarmFile;
  /** A secret made from a file's contents (an SSH key), keyed by the path it is mounted at. */
  fileSecretFor: (target: string, data: string) => SwarmFile;
}

export function buildSwarmStack(stack: StackSpec, input: SwarmInput): SwarmStack {
  const { config } = input;
  const p = stack.project;
  const base = (key: string): Record<string, string> => ({ [SWARM_LABEL.namespace]: p, [SWARM_LABEL.project]: p, [SWARM_LABEL.key]: key });

  const networks: SwarmNetwork[] = stack.networks.map((n) => ({ name: swarmName(p, n.name), key: n.name, labels: { [SWARM_LABEL.namespace]: p, [SWARM_LABEL.project]: p } }));

  // Rendered files, swarm flavour (Prometheus discovers tasks).
  const flavour = (f: { path: string; content: string }): string => (f.path === 'prometheus/prometheus.yml' ? swarmPrometheus(f.content) : f.path === 'nginx/upstream.conf' ? swarmUpstream(f.content) : f.content);
  const files = new Map(input.files.map((f) => [f.path, flavour(f)]));
  const live = new Set(input.liveColors ?? [input.activeColor]);
  const configs = new Map<string, SwarmFile>();
  const secrets = new Map<string, SwarmFile>();
  const configFor = (key: string, data: string): SwarmFile => {
    const c = configs.get(key) ?? { name: versionedName(p, key, data), key, data, labels: base(key) };
    configs.set(key, c);
    return c;
  };
  const secretFor = (key: string): SwarmFile => {
    const data = input.envValues[key]!;
    const s = secrets.get(key) ?? { name: versionedName(p, key.toLowerCase(), data), key, data, labels: base(key) };
    secrets.set(key, s);
    return s;
  };
  const fileSecretFor = (target: string, data: string): SwarmFile => {
    const key = `file:${target}`;
    const s = secrets.get(key) ?? { name: versionedName(p, path.posix.basename(target), data), key, data, labels: base(path.posix.basename(target)) };
    secrets.set(key, s);
    return s;
  };
  const ctx: BuildContext = { stack, input, config, p, files, live, configFor, secretFor, fileSecretFor };
  const services = stack.services.filter((s) => enabled(s, input.profiles)).map((s) => swarmService(s, ctx));

  const rank = (s: SwarmService): number => {
    const role = s.spec.Labels[SWARM_LABEL.role];
    if (role === 'database' || role === 'cache') return 0;
    if (role === 'api') return 1;
    if (role === 'edge') return 3;
    return 2;
  };
  const order = [...services].sort((a, b) => rank(a) - rank(b)).map((s) => s.service);
  return { project: p, networks, configs: [...configs.values()], secrets: [...secrets.values()], services, order };
}

type ContainerSpecOf = EngineServiceSpec['TaskTemplate']['ContainerSpec'];

/**
 * Mounts: named volumes stay volumes (local to the node the service is pinned to); rendered
 * directories become configs, one per file; host paths stay binds (they must exist on the node).
 */
function swarmMounts(s: ServiceSpec, ctx: BuildContext): { mounts: ContainerSpecOf['Mounts']; cfgRefs: ContainerSpecOf['Configs']; fileSecrets: ContainerSpecOf['Secrets'] } {
  const { p, files } = ctx;
  const mounts: ContainerSpecOf['Mounts'] = [];
  const cfgRefs: ContainerSpecOf['Configs'] = [];
  const fileSecrets: ContainerSpecOf['Secrets'] = [];
  for (const m of s.mounts) {
    if (m.type === 'bind' && m.secret) {
      // A host file would have to exist on whichever node runs the task: it travels as a secret,
      // readable by root only (the scheduler reads it before dropping to uid 1000).
      const host = bindPath(m, ctx.input.configDir);
      const data = ctx.input.secretFiles?.[host];
      if (data === undefined) throw new Error(`swarm spec: no contents given for the secret file ${host} (${s.name} mounts it at ${m.target})`);
      fileSecrets.push({ SecretName: ctx.fileSecretFor(m.target, data).name, File: { Name: m.target, UID: '0', GID: '0', Mode: 0o400 } });
    } else if (m.type === 'volume') {
      mounts.push({ Type: 'volume', Source: swarmName(p, m.source), Target: m.target, ...(m.readOnly ? { ReadOnly: true } : {}), VolumeOptions: { Labels: { [SWARM_LABEL.namespace]: p, [SWARM_LABEL.project]: p } } });
    } else if (m.base === 'render') {
      for (const [file, data] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
        if (file !== m.source && !file.startsWith(`${m.source}/`)) continue;
        const c = ctx.configFor(file, data);
        const target = file === m.source ? m.target : path.posix.join(m.target, file.slice(m.source.length + 1));
        cfgRefs.push({ ConfigName: c.name, File: { Name: target, UID: '0', GID: '0', Mode: file.endsWith('.sh') ? 0o555 : 0o444 } });
      }
    } else if (m.target === MOUNT.backups) {
      // The backup directory lives where the database does: a volume on the PostgreSQL node.
      mounts.push({ Type: 'volume', Source: swarmName(p, BACKUPS_VOLUME), Target: m.target, VolumeOptions: { Labels: { [SWARM_LABEL.namespace]: p, [SWARM_LABEL.project]: p } } });
    } else {
      mounts.push({ Type: 'bind', Source: bindPath(m, ctx.input.configDir), Target: m.target, ...(m.readOnly ? { ReadOnly: true } : {}) });
    }
  }
  return { mounts, cfgRefs, fileSecrets };
}

/** One hash per aspect, so the plan can say exactly why a service is updated. */
function swarmAspects(spec: EngineServiceSpec, image: string, input: SwarmInput, labels: Record<string, string>): Record<SwarmAspect, string> {
  const ct = spec.TaskTemplate.ContainerSpec;
  return {
    image: sha({ image, id: input.imageIds?.[image] ?? '' }),
    env: sha(ct.Env),
    command: sha({ c: ct.Command ?? null, a: ct.Args ?? null }),
    secrets: sha(ct.Secrets.map((x) => x.SecretName)),
    files: sha(ct.Configs.map((x) => [x.ConfigName, x.File.Name])),
    mounts: sha(ct.Mounts),
    placement: sha(spec.TaskTemplate.Placement),
    ports: sha(spec.EndpointSpec),
    replicas: sha(spec.Mode),
    // Service-level labels only (the recorded colour and release on nginx): updated without new tasks.
    state: sha({ c: spec.Labels[SWARM_LABEL.activeColor] ?? '', r: spec.Labels[SWARM_LABEL.releaseImage] ?? '' }),
    runtime: sha({ h: ct.HealthCheck ?? null, sig: ct.StopSignal ?? null, g: ct.StopGracePeriod, u: ct.User ?? null, ro: ct.ReadOnly ?? false, r: spec.TaskTemplate.Resources ?? null, rp: spec.TaskTemplate.RestartPolicy, n: spec.TaskTemplate.Networks, l: spec.TaskTemplate.LogDriver, up: spec.UpdateConfig, lb: { ...labels, [SWARM_LABEL.activeColor]: '', [SWARM_LABEL.releaseImage]: '' } }),
  };
}

function swarmReplicas(s: ServiceSpec, color: Color | undefined, input: SwarmInput): number {
  if (color) return color === input.activeColor ? (input.replicas?.[s.name] ?? s.replicas ?? 1) : (input.replicas?.[s.name] ?? 0);
  return s.name === SERVICE.nginx ? input.config.swarm.edge.replicas : (input.replicas?.[s.name] ?? s.replicas ?? 1);
}

function swarmService(s: ServiceSpec, ctx: BuildContext): SwarmService {
  const { stack, input, config, p, live } = ctx;
  const color = s.labels[SWARM_LABEL.color] as Color | undefined;
  const image = color ? (input.colorImages?.[color] ?? s.image) : s.image;
  const { mounts, cfgRefs, fileSecrets } = swarmMounts(s, ctx);

  const secretKeys = s.envFile ? Object.keys(input.envValues).filter((k) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k)).sort() : [];
  const envRefs = secretKeys.map((k) => ({ SecretName: ctx.secretFor(k).name, File: { Name: k, UID: '0', GID: '0', Mode: 0o444 } }));
  const secretRefs = [...envRefs, ...fileSecrets];

  const defaults = input.imageDefaults[image] ?? {};
  const argv = [...(s.entrypoint ?? defaults.entrypoint ?? []), ...(s.command ?? defaults.cmd ?? [])];
  const command: { Command?: string[]; Args?: string[] } = envRefs.length > 0 && argv.length > 0 ? withSecretFiles(argv) : { ...(s.entrypoint ? { Command: s.entrypoint } : {}), ...(s.command ? { Args: s.command } : {}) };

  const env = Object.entries(s.environment).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`);
  const label = pinLabel(config, s.name);
  const hostEdge = s.name === SERVICE.nginx && config.swarm.edge.publish === 'host';
  const replicas = swarmReplicas(s, color, input);
  // Two tasks cannot share one node-local data volume: stateful services stop first.
  const stateful = s.mounts.some((m) => m.type === 'volume' && !m.readOnly) && !color && s.name !== SERVICE.worker;
  const update: SwarmUpdateConfig = {
    Parallelism: 1,
    Delay: 0,
    FailureAction: 'rollback',
    Monitor: config.swarm.updateMonitorSeconds * NS,
    MaxFailureRatio: 0,
    Order: stateful || hostEdge ? 'stop-first' : 'start-first',
  };
  const h = s.healthcheck ? { ...s.healthcheck, test: envRefs.length > 0 ? healthWithSecrets(s.healthcheck.test) : s.healthcheck.test } : undefined;
  const labels = { ...s.labels, [SWARM_LABEL.namespace]: p, ...(s.name === SERVICE.nginx ? { [SWARM_LABEL.activeColor]: input.activeColor, ...(input.releaseImage ? { [SWARM_LABEL.releaseImage]: input.releaseImage } : {}) } : {}) };
  const ports = s.name === SERVICE.nginx
    ? s.ports.map((pt) => ({ Protocol: pt.protocol ?? 'tcp', TargetPort: pt.container, PublishedPort: pt.host, PublishMode: hostEdge ? 'host' : 'ingress' }) as const)
    : [];
  const spec: EngineServiceSpec = {
    Name: swarmName(p, s.name),
    Labels: labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: image,
        ...command,
        Env: env,
        Labels: { ...s.labels, [SWARM_LABEL.namespace]: p },
        Mounts: mounts,
        Secrets: secretRefs,
        Configs: cfgRefs,
        ...(h ? { HealthCheck: { Test: h.test, Interval: h.intervalSeconds * NS, Timeout: h.timeoutSeconds * NS, Retries: h.retries, StartPeriod: h.startPeriodSeconds * NS, ...(h.startIntervalSeconds ? { StartInterval: h.startIntervalSeconds * NS } : {}) } } : {}),
        ...(s.stopSignal ? { StopSignal: s.stopSignal } : {}),
        StopGracePeriod: s.stopGracePeriodSeconds * NS,
        ...(s.user ? { User: s.user } : {}),
        ...(s.readOnlyRootfs ? { ReadOnly: true } : {}),
      },
      ...(memoryBytes(s.memoryLimit) ? { Resources: { Limits: { MemoryBytes: memoryBytes(s.memoryLimit)! } } } : {}),
      RestartPolicy: { Condition: s.restart === 'no' ? 'none' : s.restart === 'on-failure' ? 'on-failure' : 'any', Delay: 5 * NS, MaxAttempts: 0 },
      Placement: { Constraints: label ? [constraint(label)] : [] },
      Networks: s.networks.map((n) => ({ Target: swarmName(p, n), Aliases: color && live.has(color) && (s.gatedNetworks ?? []).includes(n) ? [s.name, LIVE_ALIAS] : [s.name] })),
      LogDriver: { Name: stack.logging.driver, Options: { ...stack.logging.options } },
    },
    Mode: hostEdge ? { Global: {} } : { Replicated: { Replicas: replicas } },
    UpdateConfig: update,
    RollbackConfig: { ...update, FailureAction: 'pause' },
    // The routing mesh needs a virtual IP; everything else is resolved to its tasks' addresses
    // (dnsrr): nginx and the apps balance themselves, and no kernel IPVS is needed.
    EndpointSpec: { Mode: s.name === SERVICE.nginx && !hostEdge ? 'vip' : 'dnsrr', Ports: ports },
  };
  const aspects = swarmAspects(spec, image, input, labels);
  for (const a of SWARM_ASPECTS) spec.Labels[`${SWARM_LABEL.aspectPrefix}${a}`] = aspects[a];
  return { name: spec.Name, service: s.name, spec, aspects, ...(label ? { needsLabel: label } : {}), replicas: hostEdge ? -1 : replicas };
}

function bindPath(m: Extract<MountSpec, { type: 'bind' }>, configDir: string): string {
  if (m.base === 'absolute' || path.isAbsolute(m.source)) return m.source;
  return path.resolve(configDir, m.source);
}
