/**
 * `modelship deploy` with `orchestrator: swarm` (or `--target swarm`): the same desired stack as
 * the single-host path, applied as Swarm services through a manager. Plan, then apply: networks,
 * configs and secrets first, then the services in order (data, API, workers, nginx), each waited
 * for until every task of its new spec runs healthy; updates are start-first with automatic
 * rollback (the engine's). A no-op deploy changes nothing.
 */
import { checkIdentityFile } from '../config/identity-file.ts';
import { migrate, type MigrateResult } from '../db/migrate.ts';
import { stackPostgresTarget } from './postgres-target.ts';
import path from 'node:path';
import type Docker from 'dockerode';
import type { LoadedConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { connectDocker } from '../docker/client.ts';
import { renderForDir } from '../render/for-dir.ts';
import { buildStack } from '../stack/build.ts';
import { COLORS, SERVICE, type Color } from '../stack/names.ts';
import type { StackSpec } from '../stack/spec.ts';
import { UserError } from '../util/errors.ts';
import { engineName } from './cluster.ts';
import { acquireSwarmLock, auditSwarm, type SwarmLock } from './cluster-state.ts';
import { createFiles, createNetworks, createService, engineCall, readActual, requireManager, updateService, waitConverged } from './engine.ts';
import { describeSwarmAction, planSwarm, swarmPlanChanges, type ActualSwarm, type ServiceAction, type SwarmPlan } from './plan.ts';
import { buildSwarmStack, swarmName, type ImageDefaults, type SwarmStack } from './spec.ts';
import { SWARM_LABEL } from '../stack/names.ts';
import { missingLabels } from './placement.ts';

export interface SwarmHandle {
  loaded: LoadedConfig;
  docker: Docker;
  project: string;
  /** The manager, as the operator named it (for messages). */
  where: string;
  spec: StackSpec;
  /** The environment the engine was reached with (DOCKER_HOST…): database commands reach the same manager. */
  env?: NodeJS.ProcessEnv;
}

export function openSwarm(loaded: LoadedConfig, env: NodeJS.ProcessEnv, host?: string): SwarmHandle {
  const e = host ? { ...env, DOCKER_HOST: host } : env;
  return { loaded, docker: connectDocker(e), project: loaded.config.project, where: engineName(e), spec: buildStack(loaded.config), env: e };
}

/** Whether a command runs against a swarm: the config says so, or `--target swarm`. */
export function isSwarm(config: Config, target?: string): boolean {
  return (target ?? config.orchestrator) === 'swarm';
}

export interface SwarmView {
  activeColor: Color;
  stack: SwarmStack;
  actual: ActualSwarm;
  plan: SwarmPlan;
}

async function imageInfo(docker: Docker, images: readonly string[]): Promise<{ defaults: Record<string, ImageDefaults>; ids: Record<string, string>; missing: string[] }> {
  const defaults: Record<string, ImageDefaults> = {};
  const ids: Record<string, string> = {};
  const missing: string[] = [];
  for (const img of [...new Set(images)]) {
    try {
      const i = (await docker.getImage(img).inspect()) as { Id: string; Config?: { Entrypoint?: string[] | null; Cmd?: string[] | null } };
      defaults[img] = { entrypoint: i.Config?.Entrypoint ?? null, cmd: i.Config?.Cmd ?? null };
      ids[img] = i.Id;
    } catch {
      missing.push(img);
    }
  }
  return { defaults, ids, missing };
}

/** The colour nginx routes to, as the cluster records it (the nginx service's label). */
export function recordedColor(actual: ActualSwarm, project: string): Color | undefined {
  const nginx = actual.services.find((s) => s.name === swarmName(project, SERVICE.nginx));
  const c = nginx?.labels[SWARM_LABEL.activeColor];
  return c === 'blue' || c === 'green' ? c : undefined;
}

/** The active colour's pinned release (swap --image, rollback), as the cluster records it. */
export function recordedRelease(actual: ActualSwarm, project: string): string | undefined {
  return actual.services.find((s) => s.name === swarmName(project, SERVICE.nginx))?.labels[SWARM_LABEL.releaseImage] || undefined;
}

export interface ViewOverrides {
  releaseImage?: string | null;
  liveColors?: Color[];
  activeColor?: Color;
  colorImages?: Partial<Record<Color, string>>;
  replicas?: Record<string, number>;
}

/** Reads the cluster and computes the plan. Writes nothing. */
export async function viewSwarm(h: SwarmHandle, o: ViewOverrides = {}): Promise<SwarmView> {
  const actual = await engineCall(h.where, 'deploy', () => readActual(h.docker, h.project));
  const activeColor = o.activeColor ?? recordedColor(actual, h.project) ?? h.loaded.config.api.activeColor;
  const config: Config = { ...h.loaded.config, api: { ...h.loaded.config.api, activeColor } };
  const spec = buildStack(config);
  // The active colour runs the config's release; the idle one keeps what it last ran (rollback).
  const release = o.releaseImage === null ? undefined : (o.releaseImage ?? recordedRelease(actual, h.project));
  const colorImages: Partial<Record<Color, string>> = {};
  for (const c of COLORS) {
    const a = actual.services.find((s) => s.name === swarmName(h.project, SERVICE.api(c)));
    colorImages[c] = c === activeColor ? (release ?? config.images.api) : (a?.image.split('@')[0] ?? config.images.api);
  }
  Object.assign(colorImages, o.colorImages ?? {});
  const info = await imageInfo(h.docker, [...spec.services.map((s) => s.image), ...Object.values(colorImages)]);
  if (info.missing.length > 0) {
    throw new UserError(`deploy: image(s) ${info.missing.join(', ')} not on the manager (${h.where})`, {
      hint: `no registry is used: build or load each image on every node that may run it, e.g. \`docker save ${info.missing[0]} | ssh NODE docker load\` for each node (\`modelship swarm nodes\` lists them)`,
    });
  }
  // Rendered from the config as written: on a swarm no file names the active colour (nginx routes
  // to the live alias), so a swap changes no file and restarts no task.
  const files = renderForDir(h.loaded, path.join(h.loaded.dir, 'compose'));
  // The SFTP key travels as a secret (mode 0400): checked and read here, never put in a spec.
  const key = await checkIdentityFile(h.loaded);
  const stack = buildSwarmStack(spec, {
    config,
    files,
    envValues: h.loaded.env,
    ...(key ? { secretFiles: { [key.file]: key.bytes.toString('utf8') } } : {}),
    activeColor,
    colorImages,
    releaseImage: colorImages[activeColor] !== config.images.api ? colorImages[activeColor] : undefined,
    ...(o.liveColors ? { liveColors: o.liveColors } : {}),
    replicas: o.replicas ?? {},
    imageDefaults: info.defaults,
    imageIds: info.ids,
    configDir: h.loaded.dir,
    profiles: ['monitoring', 'tls', 'backup'],
  });
  return { activeColor, stack, actual, plan: planSwarm(stack, actual) };
}

export interface SwarmDeployOptions {
  dryRun: boolean;
  timeoutSeconds: number;
  force: boolean;
  onStep?: (line: string) => void;
  /** Only these stack services (scale). */
  only?: string[];
  replicas?: Record<string, number>;
  operation?: string;
}

export interface SwarmDeployResult {
  project: string;
  target: 'swarm';
  changed: boolean;
  dryRun: boolean;
  activeColor: Color;
  actions: Array<{ kind: ServiceAction['kind']; service: string; name: string; detail: string }>;
  networks: string[];
  configs: string[];
  secrets: string[];
  durationMs: number;
}

function summary(plan: SwarmPlan): SwarmDeployResult['actions'] {
  return plan.services.map((a) => ({ kind: a.kind, service: a.service, name: a.name, detail: describeSwarmAction(a).replace(/^\w+\s+\S+?:?\s+/, '').replace(/^\w+\s+\S+$/, '') }));
}

/** Every stack service that needs a node label has at least one ready, active node carrying it. */
export async function checkPlacement(h: SwarmHandle, stack: SwarmStack): Promise<void> {
  const nodes = (await h.docker.listNodes()) as Parameters<typeof missingLabels>[1];
  const problems = missingLabels(stack.services, nodes);
  if (problems.length > 0) {
    const first = problems[0]!;
    throw new UserError(`deploy: ${problems.map((p) => `${p.service} needs a node labelled ${p.label}=true${p.reason ? ` (${p.reason})` : ''}`).join('; ')}`, {
      hint: `label the node that should keep its data: \`docker node update --label-add ${first.label}=true NODE\` on a manager (\`modelship swarm nodes\` lists the nodes and their labels)`,
    });
  }
}

export async function applyActions(h: SwarmHandle, view: SwarmView, actions: readonly ServiceAction[], opts: { timeoutSeconds: number; onStep?: (l: string) => void; before?: (a: ServiceAction) => Promise<void> }): Promise<void> {
  const docker = h.docker;
  for (const a of actions) {
    if (a.kind === 'unchanged' || a.kind === 'remove') continue;
    await opts.before?.(a);
    opts.onStep?.(describeSwarmAction(a));
    // The networks, configs and secrets this spec names exist first (creating is idempotent).
    const ct = a.desired.spec.TaskTemplate.ContainerSpec;
    const nets = new Set(a.desired.spec.TaskTemplate.Networks.map((n) => n.Target));
    await engineCall(h.where, `prepare ${a.name}`, async () => {
      await createNetworks(docker, view.stack.networks.filter((n) => nets.has(n.name) && view.plan.networks.includes(n.name)));
      await createFiles(docker, 'config', view.stack.configs, ct.Configs.map((c) => c.ConfigName).filter((n) => view.plan.configs.includes(n)));
      await createFiles(docker, 'secret', view.stack.secrets, ct.Secrets.map((c) => c.SecretName).filter((n) => view.plan.secrets.includes(n)));
    });
    let id: string;
    if (a.kind === 'create') id = await engineCall(h.where, `create ${a.name}`, () => createService(docker, h.project, a.desired.spec));
    else {
      id = a.actual.id;
      await engineCall(h.where, `update ${a.name}`, () => updateService(docker, h.project, id, a.desired.spec));
    }
    await waitConverged(docker, id, a.name, {
      timeoutMs: opts.timeoutSeconds * 1000,
      replicas: a.desired.replicas,
      image: a.desired.spec.TaskTemplate.ContainerSpec.Image,
      onNote: (m) => opts.onStep?.(`  ${a.service}: ${m}`),
    });
  }
}

/** Configs and secrets of earlier versions, once no service refers to them. */
export async function removeStale(h: SwarmHandle): Promise<void> {
  const actual = await readActual(h.docker, h.project);
  const used = new Set<string>();
  const services = (await h.docker.listServices({ filters: { label: [`${SWARM_LABEL.namespace}=${h.project}`] } })) as Array<{ Spec: { TaskTemplate: { ContainerSpec: { Configs?: Array<{ ConfigName: string }>; Secrets?: Array<{ SecretName: string }> } } } }>;
  for (const s of services) {
    for (const c of s.Spec.TaskTemplate.ContainerSpec.Configs ?? []) used.add(c.ConfigName);
    for (const c of s.Spec.TaskTemplate.ContainerSpec.Secrets ?? []) used.add(c.SecretName);
  }
  // A task still stopping holds its files a moment longer: "in use" is retried by the next deploy.
  for (const c of actual.configs) if (!used.has(c.name)) await h.docker.getConfig(c.id).remove().catch(() => undefined);
  for (const c of actual.secrets) if (!used.has(c.name)) await h.docker.getSecret(c.id).remove().catch(() => undefined);
}

export async function withSwarmLock<T>(h: SwarmHandle, operation: string, force: boolean, fn: (lock: SwarmLock) => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const lock = await engineCall(h.where, operation, () => acquireSwarmLock(h.docker, h.project, operation, { force })).catch(async (err: unknown) => {
    await auditSwarm(h.docker, h.project, { command: operation, result: 'refused', detail: err instanceof Error ? err.message : String(err) }).catch(() => undefined);
    throw err;
  });
  try {
    await auditSwarm(h.docker, h.project, { command: operation, result: 'started', ...(lock.brokeStale ? { detail: `broke the stale lock of ${lock.brokeStale}` } : {}) });
    const r = await fn(lock);
    const detail = typeof r === 'object' && r && 'note' in r ? String((r as { note?: string }).note ?? '') : '';
    await auditSwarm(h.docker, h.project, { command: operation, result: 'ok', ...(detail ? { detail } : {}), durationMs: Math.round(performance.now() - t0) });
    return r;
  } catch (err) {
    await auditSwarm(h.docker, h.project, { command: operation, result: 'failed', detail: err instanceof Error ? err.message.split('\n')[0]! : String(err), durationMs: Math.round(performance.now() - t0) }).catch(() => undefined);
    throw err;
  } finally {
    await lock.release();
  }
}

/** `modelship db migrate` against the stack's PostgreSQL task, through the manager (swarm-db's helper container). */
async function migrateSwarm(h: SwarmHandle): Promise<MigrateResult> {
  const c = h.loaded.config;
  const env = h.env ?? process.env;
  const password = h.loaded.env[c.secrets.postgresPassword] ?? env[c.secrets.postgresPassword];
  const target = await stackPostgresTarget({ project: h.project, database: c.postgres.database, user: c.postgres.user, password, env, orchestrator: 'swarm' });
  try {
    const s = await target.connect({ database: c.postgres.database, appName: 'modelship migrate' });
    try {
      return await migrate(s);
    } finally {
      await s.end();
    }
  } finally {
    await target.close();
  }
}

export async function deploySwarm(h: SwarmHandle, opts: SwarmDeployOptions): Promise<SwarmDeployResult & { note?: string }> {
  const t0 = performance.now();
  await requireManager(h.docker, h.where, opts.operation ?? 'deploy');
  let view = await viewSwarm(h, opts.replicas ? { replicas: opts.replicas } : {});
  const scoped = (p: SwarmPlan): SwarmPlan => (opts.only ? { ...p, services: p.services.filter((a) => opts.only!.includes(a.service)) } : p);
  let plan = scoped(view.plan);
  const result = (changed: boolean): SwarmDeployResult => ({
    project: h.project,
    target: 'swarm',
    changed,
    dryRun: opts.dryRun,
    activeColor: view.activeColor,
    actions: summary(plan),
    networks: plan.networks,
    configs: plan.configs,
    secrets: plan.secrets,
    durationMs: Math.round(performance.now() - t0),
  });
  if (opts.dryRun || swarmPlanChanges(plan) === 0) return result(false);
  await checkPlacement(h, view.stack);
  const operation = opts.operation ?? 'deploy';
  return withSwarmLock(h, operation, opts.force, async () => {
    // Re-read under the lock: another operator may have changed the stack meanwhile.
    view = await viewSwarm(h, opts.replicas ? { replicas: opts.replicas } : {});
    plan = scoped(view.plan);
    const docker = h.docker;
    await engineCall(h.where, 'create networks', () => createNetworks(docker, view.stack.networks.filter((n) => plan.networks.includes(n.name))));
    await engineCall(h.where, 'create configs', () => createFiles(docker, 'config', view.stack.configs, plan.configs));
    await engineCall(h.where, 'create secrets', () => createFiles(docker, 'secret', view.stack.secrets, plan.secrets));
    // As on one host: the migrations run before the API's new tasks start (after the database's).
    let migrated = false;
    const before = async (a: ServiceAction): Promise<void> => {
      if (migrated || a.kind === 'remove' || !a.service.startsWith('api-') || a.desired.replicas === 0) return;
      opts.onStep?.('Database migrations (against the PostgreSQL task, wherever it runs)');
      const r = await migrateSwarm(h);
      opts.onStep?.(`  ${r.applied.length ? `applied ${r.applied.join(', ')}` : 'none pending'}`);
      migrated = true;
    };
    await applyActions(h, view, plan.services, { ...opts, before });
    for (const a of plan.services) {
      if (a.kind !== 'remove') continue;
      opts.onStep?.(describeSwarmAction(a));
      await h.docker.getService(a.actual.id).remove().catch(() => undefined);
    }
    await removeStale(h);
    const changes = plan.services.filter((a) => a.kind !== 'unchanged').map(describeSwarmAction);
    return { ...result(true), note: changes.join('; ') };
  });
}
