/**
 * The stack's everyday commands on a swarm: ps (tasks, on which node), status (nodes, tasks per
 * node, what cannot be scheduled), logs (through the manager, from every node), scale (a deploy of
 * the replica counts) and down (every service, network, config and secret of the stack, on every
 * node). I/O; the tables come from task-report.ts and nodes.ts.
 */
import type Docker from 'dockerode';
import { SERVICE } from '../stack/names.ts';
import { UsageError, UserError } from '../util/errors.ts';
import { acquireSwarmLock, AUDIT_LABEL, lockConfigName } from './cluster-state.ts';
import { deploySwarm, recordedColor, type SwarmDeployResult, type SwarmHandle } from './deploy.ts';
import { engineCall, listStackServices, nodeNames, readActual, requireManager } from './engine.ts';
import { nodeRows, unavailableNodes, type EngineNode, type NodeRow } from './nodes.ts';
import { SWARM_LABEL } from '../stack/names.ts';
import { tasksPerNode, taskProblems, unschedulable, type EngineTaskFull, type Unschedulable } from './task-report.ts';

export interface SwarmTaskRow {
  service: string;
  task: string;
  node: string;
  desired: string;
  state: string;
  image: string;
  since: string;
  error: string;
}

async function stackTasks(docker: Docker, project: string): Promise<{ tasks: EngineTaskFull[]; serviceName: (id: string) => string; names: Map<string, string> }> {
  const services = await listStackServices(docker, project);
  const byId = new Map(services.map((s) => [s.ID, s.Spec.Labels?.[SWARM_LABEL.service] ?? s.Spec.Name]));
  const tasks = services.length === 0 ? [] : ((await docker.listTasks({ filters: { label: [`${SWARM_LABEL.namespace}=${project}`] } })) as EngineTaskFull[]).filter((t) => byId.has(t.ServiceID ?? ''));
  return { tasks, serviceName: (id) => byId.get(id) ?? id.slice(0, 12), names: await nodeNames(docker) };
}

export async function psSwarm(h: SwarmHandle): Promise<{ project: string; target: 'swarm'; activeColor: string | null; tasks: SwarmTaskRow[] }> {
  await requireManager(h.docker, h.where, 'ps');
  const [actual, t] = await Promise.all([readActual(h.docker, h.project), stackTasks(h.docker, h.project)]);
  const rows = t.tasks
    .filter((x) => x.DesiredState === 'running' || ['running', 'starting', 'pending'].includes(x.Status?.State ?? ''))
    .map<SwarmTaskRow>((x) => ({
      service: t.serviceName(x.ServiceID ?? ''),
      task: `${t.serviceName(x.ServiceID ?? '')}.${x.Slot ?? x.NodeID?.slice(0, 6) ?? ''}`,
      node: x.NodeID ? (t.names.get(x.NodeID) ?? x.NodeID.slice(0, 12)) : '-',
      desired: x.DesiredState ?? '?',
      state: x.Status?.State ?? '?',
      image: (x.Spec?.ContainerSpec?.Image ?? '').split('@')[0]!,
      since: x.Status?.Timestamp ?? '',
      error: x.Status?.Err ?? '',
    }))
    .sort((a, b) => a.service.localeCompare(b.service) || a.task.localeCompare(b.task, undefined, { numeric: true }));
  return { project: h.project, target: 'swarm', activeColor: recordedColor(actual, h.project) ?? null, tasks: rows };
}

export interface SwarmStatus {
  project: string;
  target: 'swarm';
  activeColor: string | null;
  nodes: NodeRow[];
  unavailableNodes: Array<{ hostname: string; reason: string }>;
  tasksPerNode: Record<string, Record<string, number>>;
  services: Array<{ service: string; name: string; running: number; desired: number | 'global'; image: string; problems: string[] }>;
  unschedulable: Unschedulable[];
}

export async function statusSwarm(h: SwarmHandle): Promise<SwarmStatus> {
  await requireManager(h.docker, h.where, 'status');
  const [services, nodes, t, info] = await Promise.all([
    listStackServices(h.docker, h.project),
    h.docker.listNodes() as Promise<EngineNode[]>,
    stackTasks(h.docker, h.project),
    h.docker.info() as Promise<{ Swarm?: { NodeID?: string } }>,
  ]);
  const rows = nodeRows(nodes, t.tasks, info.Swarm?.NodeID);
  const nginx = services.find((s) => s.Spec.Labels?.[SWARM_LABEL.service] === SERVICE.nginx);
  return {
    project: h.project,
    target: 'swarm',
    activeColor: nginx?.Spec.Labels?.[SWARM_LABEL.activeColor] ?? null,
    nodes: rows,
    unavailableNodes: unavailableNodes(rows),
    tasksPerNode: tasksPerNode(t.tasks, t.names, t.serviceName),
    services: services
      .map((s) => {
        const mine = t.tasks.filter((x) => x.ServiceID === s.ID);
        return {
          service: s.Spec.Labels?.[SWARM_LABEL.service] ?? s.Spec.Name,
          name: s.Spec.Name,
          running: mine.filter((x) => x.DesiredState === 'running' && x.Status?.State === 'running').length,
          desired: 'Replicated' in s.Spec.Mode ? s.Spec.Mode.Replicated.Replicas : ('global' as const),
          image: s.Spec.TaskTemplate.ContainerSpec.Image.split('@')[0]!,
          problems: taskProblems(mine.filter((x) => x.DesiredState === 'running'), t.names).slice(0, 3),
        };
      })
      .sort((a, b) => a.service.localeCompare(b.service)),
    unschedulable: unschedulable(t.tasks, t.serviceName),
  };
}

/** `scale api=N worker=M` on a swarm: `api` is the active colour; the tasks spread over the nodes. */
export async function scaleSwarm(h: SwarmHandle, assignments: readonly string[], opts: { timeoutSeconds: number; force: boolean; onStep?: (l: string) => void }): Promise<{ replicas: Record<string, number>; deploy: SwarmDeployResult }> {
  await requireManager(h.docker, h.where, 'scale');
  const actual = await readActual(h.docker, h.project);
  if (!actual.services.some((s) => s.labels[SWARM_LABEL.service] === SERVICE.nginx)) {
    throw new UserError(`scale: stack ${h.project} is not deployed on this swarm`, { hint: 'run `modelship deploy` first' });
  }
  const active = recordedColor(actual, h.project) ?? h.loaded.config.api.activeColor;
  const replicas: Record<string, number> = {};
  for (const a of assignments) {
    const m = /^([a-z0-9-]+)=(\d+)$/.exec(a);
    if (!m) throw new UsageError(`${a}: expected SERVICE=N, e.g. worker=3 or api=2`);
    const name = m[1] === 'api' ? SERVICE.api(active) : m[1]!;
    const n = Number(m[2]);
    if (name !== SERVICE.worker && name !== SERVICE.api(active)) {
      throw new UsageError(`${m[1]} cannot be scaled on the swarm`, `scalable: api (the active colour, ${active}) and worker; nginx: swarm.edge.replicas in the config`);
    }
    if (n > 64) throw new UsageError(`${a}: at most 64 replicas`);
    if (name !== SERVICE.worker && n < 1) throw new UsageError(`${a}: the active API colour needs at least one task (stop the stack with \`modelship down\`)`);
    replicas[name] = n;
  }
  const r = await deploySwarm(h, { dryRun: false, timeoutSeconds: opts.timeoutSeconds, force: opts.force, replicas, only: Object.keys(replicas), operation: `scale ${assignments.join(' ')}`, ...(opts.onStep ? { onStep: opts.onStep } : {}) });
  return { replicas, deploy: r };
}

export async function logsSwarm(h: SwarmHandle, service: string | undefined, opts: { follow: boolean; tail?: number | undefined; since?: number | undefined; write: (line: string) => void }): Promise<void> {
  await requireManager(h.docker, h.where, 'logs');
  const services = await listStackServices(h.docker, h.project);
  const chosen = service ? services.filter((s) => s.Spec.Labels?.[SWARM_LABEL.service] === service || s.Spec.Name === service) : services;
  if (service && chosen.length === 0) throw new UsageError(`no service "${service}" in stack ${h.project} on this swarm`, `services: ${services.map((s) => s.Spec.Labels?.[SWARM_LABEL.service] ?? s.Spec.Name).sort().join(', ')}`);
  await Promise.all(
    chosen.map(async (s) => {
      const name = s.Spec.Labels?.[SWARM_LABEL.service] ?? s.Spec.Name;
      const raw = (await h.docker.getService(s.ID).logs({ stdout: true, stderr: true, follow: opts.follow, timestamps: false, details: false, ...(opts.tail !== undefined ? { tail: opts.tail } : {}), ...(opts.since ? { since: opts.since } : {}) })) as unknown;
      const emit = (buf: Buffer): void => {
        // Multiplexed frames: 8-byte header (stream, size), then the payload.
        let i = 0;
        let text = '';
        while (i + 8 <= buf.length && (buf[i] === 1 || buf[i] === 2) && buf[i + 1] === 0) {
          const size = buf.readUInt32BE(i + 4);
          text += buf.subarray(i + 8, i + 8 + size).toString('utf8');
          i += 8 + size;
        }
        if (i === 0) text = buf.toString('utf8');
        for (const l of text.split('\n')) if (l.length > 0) opts.write(`${name} | ${l}`);
      };
      if (Buffer.isBuffer(raw)) emit(raw);
      else if (raw && typeof (raw as NodeJS.ReadableStream).on === 'function') {
        await new Promise<void>((resolve, reject) => {
          (raw as NodeJS.ReadableStream).on('data', (b: Buffer) => emit(b));
          (raw as NodeJS.ReadableStream).on('end', () => resolve());
          (raw as NodeJS.ReadableStream).on('error', reject);
        });
      }
    }),
  );
}

export interface SwarmDownReport {
  services: string[];
  networks: string[];
  configs: string[];
  secrets: string[];
  /** Named volumes stay on the nodes that ran the data services unless `--volumes`. */
  volumesKept: string[];
}

/**
 * Removes the stack from the swarm: services front to back (nginx first, the data last), then,
 * once every task's container is gone on every node, the overlay networks, configs, secrets and
 * the audit log. Volumes are node-local: with `--volumes` the manager's are removed, and the
 * report names the rest.
 */
export async function downSwarm(h: SwarmHandle, opts: { force: boolean; timeoutSeconds: number; onStep?: (l: string) => void }): Promise<SwarmDownReport> {
  const docker = h.docker;
  await requireManager(docker, h.where, 'down');
  const lock = await engineCall(h.where, 'down', () => acquireSwarmLock(docker, h.project, 'down', { force: opts.force }));
  const report: SwarmDownReport = { services: [], networks: [], configs: [], secrets: [], volumesKept: [] };
  try {
    const services = await listStackServices(docker, h.project);
    const tier = (role: string | undefined): number => (role === 'edge' ? 0 : role === 'database' || role === 'cache' ? 2 : 1);
    for (const t of [0, 1, 2]) {
      const batch = services.filter((s) => tier(s.Spec.Labels?.[SWARM_LABEL.role]) === t);
      for (const s of batch) {
        opts.onStep?.(`remove ${s.Spec.Name}`);
        await docker.getService(s.ID).remove().catch((err: { statusCode?: number }) => {
          if (err.statusCode !== 404) throw err;
        });
        report.services.push(s.Spec.Name);
      }
      // Wait for the tier's tasks to be gone before the next (the data outlives its clients).
      await waitTasksGone(docker, h.project, new Set(batch.map((s) => s.ID)), opts.timeoutSeconds * 1000);
    }
    for (const n of await docker.listNetworks({ filters: { label: [`${SWARM_LABEL.namespace}=${h.project}`] } })) {
      await removeRetrying(() => docker.getNetwork(n.Id).remove(), opts.timeoutSeconds * 1000);
      report.networks.push(n.Name);
    }
    const label = { label: [`${SWARM_LABEL.namespace}=${h.project}`] };
    for (const c of (await docker.listConfigs({ filters: label })) as Array<{ ID: string; Spec: { Name: string; Labels?: Record<string, string> } }>) {
      if (c.Spec.Name === lockConfigName(h.project)) continue;
      await docker.getConfig(c.ID).remove().catch(() => undefined);
      if (!c.Spec.Labels?.[AUDIT_LABEL]) report.configs.push(c.Spec.Name);
    }
    for (const c of (await docker.listSecrets({ filters: label })) as Array<{ ID: string; Spec: { Name: string } }>) {
      await docker.getSecret(c.ID).remove().catch(() => undefined);
      report.secrets.push(c.Spec.Name);
    }
    report.services.sort();
    report.networks.sort();
    report.configs.sort();
    report.secrets.sort();
    return report;
  } finally {
    await lock.release();
  }
}

async function waitTasksGone(docker: Docker, project: string, ids: ReadonlySet<string>, timeoutMs: number): Promise<void> {
  if (ids.size === 0) return;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // A removed service's tasks leave the store once their node has removed their containers:
    // none left means nothing of them on any node.
    const tasks = ((await docker.listTasks({ filters: { label: [`${SWARM_LABEL.namespace}=${project}`] } })) as EngineTaskFull[]).filter((t) => ids.has(t.ServiceID ?? ''));
    if (tasks.length === 0) return;
    if (Date.now() > deadline) {
      const names = await nodeNames(docker);
      const where = [...new Set(tasks.map((t) => (t.NodeID ? (names.get(t.NodeID) ?? t.NodeID.slice(0, 12)) : '?')))].sort().join(', ');
      throw new UserError(`down: ${tasks.length} task(s) of stack ${project} still stopping on ${where} after ${Math.round(timeoutMs / 1000)} s`, { hint: 'a node may be unreachable (`modelship swarm nodes`); run `modelship down` again once it is back, or remove the containers there: `docker ps -a --filter label=com.docker.stack.namespace=PROJECT`' });
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Overlay networks are freed a moment after their last task's container is gone on every node. */
async function removeRetrying(fn: () => Promise<unknown>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fn();
      return;
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode;
      if (code === 404) return;
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
