/**
 * The steps a deploy runs under the lock, in dependency order: networks and volumes, the TLS
 * placeholder, then per service (migrations before the API) create / recreate / start / reload,
 * each gated on its health check, and the removals of scaled-down replicas last.
 */
import type { ServiceSpec } from '../stack/spec.ts';
import { SERVICE, type Color } from '../stack/names.ts';
import {
  ContainerFailed,
  containersOf,
  createAndStart,
  createNetwork,
  createVolume,
  joinGatedNetworks,
  serviceContainers,
  stopAndRemove,
  tailLogs,
  waitReady,
} from '../docker/engine.ts';
import { describeAction, type ContainerAction, type Plan } from '../docker/plan.ts';
import { failureReport } from './failure-report.ts';
import { runMigrations } from './migrations.ts';
import type { Step } from './progress.ts';
import { databaseLogSince } from './rotate-password.ts';
import type { StackHandle, StackView } from './stack.ts';
import { ensureCertificate } from './tls-bootstrap.ts';
import { frontAddresses, reloadNginx, switchUpstream } from './upstream.ts';

type Note = (m: string) => void;

/** What the steps of one deploy share: the view, the plan, and which services passed their gate. */
interface DeployRun {
  h: StackHandle;
  view: StackView;
  plan: Plan;
  timeoutSeconds: number;
  services: Map<string, ServiceSpec>;
  healthy: Set<string>;
  ids: Map<string, string>;
  apiService: string;
}

function networksStep(r: DeployRun): Step[] {
  const { plan, view } = r;
  if (plan.networks.length + plan.volumes.length === 0) return [];
  return [
    {
      title: 'Networks and volumes',
      run: async () => {
        for (const name of plan.networks) await createNetwork(r.h.docker, view.desired.networks.find((n) => n.name === name)!);
        for (const name of plan.volumes) await createVolume(r.h.docker, view.desired.volumes.find((v) => v.name === name)!);
        return `${plan.networks.length} network(s), ${plan.volumes.length} volume(s) created`;
      },
    },
  ];
}

function certificateStep(r: DeployRun): Step[] {
  const config = r.view.config;
  const nginxPlan = r.plan.containers.find((a) => a.service === SERVICE.nginx);
  if (config.tls.mode !== 'letsencrypt' || !nginxPlan || nginxPlan.kind === 'unchanged' || nginxPlan.kind === 'remove') return [];
  return [
    {
      title: "TLS certificate (Let's Encrypt)",
      run: async () => {
        const c = await ensureCertificate(r.h.docker, config, config.images.nginx);
        return c === 'present' ? 'present' : 'self-signed placeholder until certbot issues the real one';
      },
    },
  ];
}

/** Waits for a container's health; on failure keeps it for inspection and says why it failed. */
async function gate(r: DeployRun, service: ServiceSpec, containerId: string, containerName: string, note: Note): Promise<void> {
  const docker = r.h.docker;
  const since = Date.now();
  try {
    await waitReady(docker, containerId, {
      timeoutMs: r.timeoutSeconds * 1000,
      test: service.healthcheck?.test,
      onProbe: (p) => note(p.ok ? 'healthy' : `waiting: ${p.output.split('\n').pop() ?? ''}`.slice(0, 120)),
    });
  } catch (err) {
    const logs = await tailLogs(docker, containerId, 50);
    // Keep the failed container for inspection, but stop it flapping under its restart policy.
    await docker.getContainer(containerId).update({ RestartPolicy: { Name: 'no' } }).catch(() => undefined);
    await docker.getContainer(containerId).stop({ t: 5 }).catch(() => undefined);
    const databaseLog = service.name === SERVICE.postgres ? '' : await databaseLogSince(docker, r.h.project, since);
    throw failureReport(service.name, containerName, err, logs, err instanceof ContainerFailed ? err.probeOutput : '', { secrets: r.view.config.secrets, databaseLog });
  }
}

/** Dependencies that were not touched still have to be healthy before a dependent starts. */
async function ensureDeps(r: DeployRun, s: ServiceSpec, note: Note): Promise<void> {
  for (const dep of s.dependsOn) {
    if (r.healthy.has(dep.service) || dep.condition !== 'service_healthy') continue;
    const depSpec = r.services.get(dep.service);
    const [running] = containersOf(r.view.actual.containers, dep.service, true);
    const id = r.ids.get(dep.service) ?? running?.id;
    if (!depSpec || !id) continue;
    note(`waiting for ${dep.service}`);
    await gate(r, depSpec, id, running?.name ?? dep.service, note);
    r.healthy.add(dep.service);
  }
}

function migrationsStep(r: DeployRun, s: ServiceSpec): Step {
  const api = r.view.desired.containers.find((c) => c.service === r.apiService)!;
  return {
    title: 'Database migrations',
    run: async (note) => {
      await ensureDeps(r, s, note);
      return runMigrations(r.h.docker, r.h, api, r.timeoutSeconds);
    },
  };
}

type Applied = Exclude<ContainerAction, { kind: 'remove' | 'unchanged' }>;

/** The container the action leaves running, not yet gated (reload: none, nginx reloaded in place). */
async function applyAction(r: DeployRun, s: ServiceSpec, a: Applied, note: Note): Promise<string> {
  const docker = r.h.docker;
  if (a.kind === 'start') {
    await docker.getContainer(a.actual.id).start().catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 304) throw err;
    });
    return a.actual.id;
  }
  if (a.kind === 'recreate') {
    note('stopping the old container');
    await stopAndRemove(docker, a.actual.id, s.stopGracePeriodSeconds);
  }
  note('starting');
  try {
    return await createAndStart(docker, a.desired);
  } catch (err) {
    throw failureReport(s.name, a.name, err, '', '');
  }
}

function containerStep(r: DeployRun, s: ServiceSpec, a: Applied): Step {
  return {
    title: `${s.name}: ${describeAction(a).split(/\s+/)[0]} ${a.name}`,
    run: async (note) => {
      await ensureDeps(r, s, note);
      if (a.kind === 'reload') {
        const done = await reloadNginx(r.h.docker, a.actual.id);
        r.healthy.add(s.name);
        return `${a.reason.split(':')[0]}: ${done}`;
      }
      const id = await applyAction(r, s, a, note);
      r.ids.set(s.name, id);
      await gate(r, s, id, a.name, note);
      // Gated: only now does it carry the name nginx routes to.
      await joinGatedNetworks(r.h.docker, a.desired, id);
      r.healthy.add(s.name);
      return a.kind === 'recreate' ? `healthy (${a.reasons.join(', ')} changed)` : 'healthy';
    },
  };
}

function serviceSteps(r: DeployRun): Step[] {
  const steps: Step[] = [];
  const apiTouched = r.plan.containers.some((a) => a.service === r.apiService && a.kind !== 'unchanged');
  for (const name of r.view.desired.order) {
    const s = r.services.get(name)!;
    if (name === r.apiService && apiTouched) steps.push(migrationsStep(r, s));
    for (const a of r.plan.containers) {
      if (a.service === name && a.kind !== 'unchanged' && a.kind !== 'remove') steps.push(containerStep(r, s, a));
    }
  }
  return steps;
}

/**
 * An API replica on its way out still has its name in nginx's DNS cache for a moment: nginx is
 * pinned to the replicas that stay (their addresses, `nginx -t`, graceful reload) until it is gone,
 * then routes by name again. Returns whether it pinned.
 */
async function pinToStayingReplicas(r: DeployRun, leaving: ReadonlySet<string>, note: Note): Promise<boolean> {
  if (leaving.size === 0) return false;
  const { h, view } = r;
  const stay = (await serviceContainers(h.docker, h.project, r.apiService, { running: true })).map((c) => c.Id).filter((id) => !leaving.has(id));
  const addrs = await frontAddresses(h.docker, h.project, stay, view.config.api.port);
  if (addrs.length === 0) return false;
  note(`nginx pinned to ${addrs.join(', ')}`);
  await switchUpstream(h.docker, { project: h.project, renderDir: h.renderDir, config: view.config, color: view.activeColor as Color, pinned: addrs });
  // The reload is asynchronous: the old nginx workers hand over first.
  await new Promise((res) => setTimeout(res, 1500));
  return true;
}

/**
 * nginx routes by name (Docker's DNS): created, recreated and removed API containers need no
 * reload. The upstream file was rendered for the active colour before the steps ran.
 */
function removalsStep(r: DeployRun): Step[] {
  const removals = r.plan.containers.filter((a): a is Extract<ContainerAction, { kind: 'remove' }> => a.kind === 'remove');
  if (removals.length === 0) return [];
  const { h, view } = r;
  return [
    {
      title: `Remove ${removals.length} container(s)`,
      run: async (note) => {
        const pinned = await pinToStayingReplicas(r, new Set(removals.filter((a) => a.service === r.apiService).map((a) => a.actual.id)), note);
        try {
          for (const a of removals) await stopAndRemove(h.docker, a.actual.id, r.services.get(a.service)?.stopGracePeriodSeconds ?? 10);
        } finally {
          if (pinned) await switchUpstream(h.docker, { project: h.project, renderDir: h.renderDir, config: view.config, color: view.activeColor as Color });
        }
        return removals.map((a) => a.name).join(', ');
      },
    },
  ];
}

export function buildSteps(h: StackHandle, view: StackView, plan: Plan, timeoutSeconds: number): Step[] {
  const r: DeployRun = {
    h,
    view,
    plan,
    timeoutSeconds,
    services: new Map(view.desired.services.map((s) => [s.name, s])),
    healthy: new Set(),
    ids: new Map(),
    apiService: SERVICE.api(view.activeColor as Color),
  };
  return [...networksStep(r), ...certificateStep(r), ...serviceSteps(r), ...removalsStep(r)];
}
