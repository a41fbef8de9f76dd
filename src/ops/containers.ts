/**
 * Read and maintenance operations on a deployed stack: ps, logs, restart, down, audit.
 */
import type Docker from 'dockerode';
import { UserError } from '../util/errors.ts';
import { parseSince } from '../util/duration.ts';
import { COMPOSE_LABEL, MS_LABEL } from '../stack/names.ts';
import { engineUnreachable, followLogs, isServiceContainer, probe, serviceContainers as engineServiceContainers, stopAndRemove, waitReady } from '../docker/engine.ts';
import { HostStore, lockName, stateName, type AuditEntry, type HostState } from '../docker/host-state.ts';
import { readServedColor } from './edge/served.ts';
import { servingColor } from './intent.ts';
import { withStackLock } from './lock.ts';
import { effectiveConfig, hostStack, type StackHandle } from './stack.ts';
import type { ContainerRow } from './status-model.ts';

export interface PsRow extends ContainerRow {
  createdAt: string;
  ports: string[];
  /**
   * Who said `health`: the engine's own healthcheck, or modelship running that same check now
   * because the engine has not run it yet (its first run waits an interval after the start).
   */
  healthBy: 'engine' | 'probe' | null;
}

export interface PsReport {
  project: string;
  activeColor: string | null;
  colors: HostState['colors'];
  /** A swap or rollback recorded as in progress (or interrupted): the next command settles it. */
  switching?: { from: string; to: string; operation: string; since: string };
  containers: PsRow[];
}

async function listProject(docker: Docker, project: string): Promise<Docker.ContainerInfo[]> {
  try {
    return await docker.listContainers({ all: true, filters: { label: [`${COMPOSE_LABEL.project}=${project}`] } });
  } catch (err) {
    throw engineUnreachable(err);
  }
}

export function healthOf(status: string, state: string): string {
  const m = /\((healthy|unhealthy|health: starting)\)/.exec(status);
  if (m) return m[1] === 'health: starting' ? 'starting' : m[1]!;
  return state === 'running' ? 'running' : '-';
}

export async function ps(h: StackHandle): Promise<PsReport> {
  const [list, peek] = await Promise.all([listProject(h.docker, h.project), HostStore.peek(h.docker, h.project)]);
  // The colour that serves: never one whose containers all stopped while the other runs (an
  // interrupted swap), and a stopped container is never shown as active.
  const runningColors = new Set(list.filter((c) => c.State === 'running' && c.Labels[MS_LABEL.internal] === undefined && c.Labels[MS_LABEL.color]).map((c) => c.Labels[MS_LABEL.color]!));
  const served = peek.state.switching ? (await readServedColor(h, effectiveConfig(h.loaded.config, peek.state)))[0] : null;
  const active = servingColor(peek.state, runningColors, served);
  const rows = list
    .filter((c) => isServiceContainer(c.Labels))
    .map((c): PsRow => {
      const color = c.Labels[MS_LABEL.color] ?? null;
      const startedText = /^Up /.test(c.Status) ? c.Status.replace(/^Up\s+/, '').replace(/\s*\(.*\)$/, '') : '-';
      return {
        service: c.Labels[COMPOSE_LABEL.service] ?? '?',
        container: (c.Names[0] ?? c.Id).replace(/^\//, ''),
        color,
        active: color !== null && color === active && c.State === 'running',
        state: c.State,
        health: healthOf(c.Status, c.State),
        image: c.Image,
        createdAt: new Date(c.Created * 1000).toISOString(),
        uptime: c.State === 'running' ? startedText : '-',
        ports: (c.Ports ?? []).filter((p) => p.PublicPort).map((p) => `${p.IP ?? ''}:${p.PublicPort}->${p.PrivatePort}`),
        healthBy: /\((healthy|unhealthy|health: starting)\)/.test(c.Status) ? 'engine' : null,
      };
    })
    .sort((a, b) => (a.service === b.service ? (a.container < b.container ? -1 : 1) : a.service < b.service ? -1 : 1));
  await Promise.all(rows.filter((r) => r.health === 'starting').map((r) => confirmStarting(h.docker, r)));
  return {
    project: h.project,
    activeColor: active,
    colors: peek.state.colors,
    ...(peek.state.switching ? { switching: { from: peek.state.switching.from, to: peek.state.switching.to, operation: peek.state.switching.operation, since: peek.state.switching.startedAt } } : {}),
    containers: rows,
  };
}

/**
 * A container whose engine health is still "starting" may well be ready: the engine runs its first
 * check only an interval after the start (on engines before API 1.44, which have no start
 * interval), while deploy's gate already ran the same check and passed. Run the container's own
 * test once, as the gate does, so ps and deploy agree. A failing test leaves "starting" (failures
 * inside the start period do not count).
 */
async function confirmStarting(docker: Docker, r: PsRow): Promise<void> {
  try {
    const check = (await docker.getContainer(r.container).inspect()).Config.Healthcheck;
    const test = check?.Test;
    if (!test || test[0] === 'NONE') return;
    // The check's own timeout, as the engine and deploy's gate allow it: a Node probe on a loaded
    // host takes seconds to start, and a shorter cut-off here made ps say "starting" after a
    // deploy whose gate had passed.
    const timeoutMs = check.Timeout ? Math.round(check.Timeout / 1e6) : 5000;
    if ((await probe(docker, r.container, test, timeoutMs)).ok) {
      r.health = 'healthy';
      r.healthBy = 'probe';
    }
  } catch {
    // gone or stopping meanwhile: the engine's word stands
  }
}

export async function serviceContainers(h: StackHandle, service: string, running = false): Promise<Docker.ContainerInfo[]> {
  try {
    return await engineServiceContainers(h.docker, h.project, service, { running });
  } catch (err) {
    throw engineUnreachable(err);
  }
}

export async function logs(
  h: StackHandle,
  opts: { service?: string; follow: boolean; since?: string; grep?: string; tail?: number },
  onLine: (container: string, line: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  const list = (await listProject(h.docker, h.project)).filter(
    (c) => c.Labels[MS_LABEL.internal] === undefined && (!opts.service || c.Labels[COMPOSE_LABEL.service] === opts.service),
  );
  if (list.length === 0) {
    throw new UserError(opts.service ? `no container of service "${opts.service}" in stack "${h.project}"` : `stack "${h.project}" has no containers`, {
      hint: 'see `modelship ps` for the services that run',
    });
  }
  let re: RegExp | undefined;
  if (opts.grep) {
    try {
      re = new RegExp(opts.grep);
    } catch {
      throw new UserError(`--grep ${opts.grep}: not a valid regular expression`, { exitCode: 2 });
    }
  }
  const since = opts.since ? parseSince(opts.since) : undefined;
  await Promise.all(
    list.map((c) =>
      followLogs(
        h.docker,
        c.Id,
        { follow: opts.follow, ...(since !== undefined ? { since } : {}), ...(opts.tail !== undefined ? { tail: opts.tail } : {}) },
        (line) => {
          if (!re || re.test(line)) onLine((c.Names[0] ?? c.Id).replace(/^\//, ''), line);
        },
        signal,
      ),
    ),
  );
}

export async function restart(h: StackHandle, service: string, opts: { timeoutSeconds: number; force: boolean }): Promise<string[]> {
  const list = await serviceContainers(h, service);
  if (list.length === 0) throw new UserError(`no container of service "${service}" in stack "${h.project}"`, { hint: 'see `modelship ps`' });
  const host = await hostStack(h);
  const spec = host.spec.services.find((s) => s.name === service);
  return withStackLock(
    h,
    { operation: `restart ${service}`, image: host.config.images.api, force: opts.force },
    async () => {
      const names: string[] = [];
      // One at a time, so a scaled service keeps serving while it restarts.
      for (const c of list) {
        await h.docker.getContainer(c.Id).restart({ t: spec?.stopGracePeriodSeconds ?? 10 });
        await waitReady(h.docker, c.Id, { timeoutMs: opts.timeoutSeconds * 1000, test: spec?.healthcheck?.test });
        names.push((c.Names[0] ?? c.Id).replace(/^\//, ''));
      }
      return names;
    },
    (names) => names.join(', '),
  );
}

export interface DownReport {
  containers: string[];
  networks: string[];
  volumes: string[];
}

/** Front to back: nginx first (no new requests), then the app tier, the data last. */
function downTier(c: Docker.ContainerInfo): number {
  const role = c.Labels[MS_LABEL.role];
  return role === 'edge' ? 0 : role === 'database' || role === 'cache' ? 2 : 1;
}

async function removeAll(h: StackHandle, volumes: boolean): Promise<DownReport> {
  const docker = h.docker;
  const report: DownReport = { containers: [], networks: [], volumes: [] };
  const spec = (await hostStack(h)).spec;
  const victims = (await listProject(docker, h.project)).filter((c) => {
    const name = (c.Names[0] ?? c.Id).replace(/^\//, '');
    return name !== lockName(h.project) && (volumes || name !== stateName(h.project));
  });
  for (const t of [0, 1, 2]) {
    await Promise.all(
      victims.filter((c) => downTier(c) === t).map(async (c) => {
        const grace = spec.services.find((s) => s.name === c.Labels[COMPOSE_LABEL.service])?.stopGracePeriodSeconds ?? 10;
        await stopAndRemove(docker, c.Id, grace);
        report.containers.push((c.Names[0] ?? c.Id).replace(/^\//, ''));
      }),
    );
  }
  report.containers.sort();
  const nets = await docker.listNetworks({ filters: { label: [`${COMPOSE_LABEL.project}=${h.project}`] } });
  for (const n of nets) {
    await docker.getNetwork(n.Id).remove().catch(() => undefined);
    report.networks.push(n.Name);
  }
  if (volumes) {
    const vols = (await docker.listVolumes({ filters: { label: [`${COMPOSE_LABEL.project}=${h.project}`] } })).Volumes ?? [];
    for (const v of vols) {
      await docker.getVolume(v.Name).remove();
      report.volumes.push(v.Name);
    }
  }
  return report;
}

export async function down(h: StackHandle, opts: { volumes: boolean; force: boolean }): Promise<DownReport> {
  const image = (await hostStack(h)).config.images.api;
  return withStackLock(
    h,
    // `--volumes` deletes the volume the audit log lives in: no lines then.
    { operation: opts.volumes ? 'down --volumes' : 'down', image, force: opts.force, noAudit: opts.volumes, unlessImageMissing: true },
    () => removeAll(h, opts.volumes),
    (r) => `${r.containers.length} container(s) removed`,
  );
}

export async function audit(h: StackHandle): Promise<AuditEntry[]> {
  try {
    return (await HostStore.peek(h.docker, h.project)).audit;
  } catch (err) {
    throw engineUnreachable(err);
  }
}
