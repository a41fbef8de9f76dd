/**
 * The manager's API for the swarm deploy: read what the stack runs (services, configs, secrets,
 * networks, tasks), create and update services, and wait until a service has converged (every
 * task of its current spec running, which on Swarm means healthy when the image has a health
 * check). I/O only; the decisions are in plan.ts, the messages in task-report.ts.
 */
import type Docker from 'dockerode';
import { UserError } from '../util/errors.ts';
import { engineFailure, swarmError } from './errors.ts';
import type { ActualSwarm } from './plan.ts';
import { type EngineServiceSpec, type SwarmFile, type SwarmNetwork, type SwarmStack } from './spec.ts';
import { SWARM_LABEL } from '../stack/names.ts';
import { imageMissing, taskProblems, type EngineTaskFull } from './task-report.ts';

/** Throws the operator's error when the engine is not a reachable swarm manager. */
export async function requireManager(docker: Docker, where: string, doing: string): Promise<{ nodeId: string }> {
  let info: { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean; NodeID?: string } };
  try {
    info = (await docker.info()) as typeof info;
  } catch (err) {
    const { message } = engineFailure(err);
    throw new UserError(`${doing}: cannot reach ${where}: ${message}`, { hint: 'is Docker running, and DOCKER_HOST right?', cause: err });
  }
  const s = info.Swarm;
  if (s?.LocalNodeState !== 'active') {
    throw new UserError(`${doing}: ${where} is not part of a swarm (orchestrator: swarm)`, {
      hint: 'create one with `modelship swarm init` on the first server, join the others with the command `modelship swarm join-token worker` prints; or set `orchestrator: single-host`',
    });
  }
  if (!s.ControlAvailable) {
    throw new UserError(`${doing}: ${where} is a swarm worker, not a manager`, {
      hint: 'point DOCKER_HOST (or --host) at a manager node (`docker node ls` there lists the managers), or promote this node: `docker node promote NODE` on a manager',
    });
  }
  return { nodeId: s.NodeID ?? '' };
}

/** Runs one engine call; swarm conditions become the operator's errors. */
export async function engineCall<T>(where: string, doing: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UserError) throw err;
    const known = swarmError(err, where, doing);
    if (known) throw known;
    throw new UserError(`${doing}: ${where} refused: ${engineFailure(err).message}`, { cause: err });
  }
}

interface ListedService {
  ID: string;
  Version?: { Index?: number };
  Spec: EngineServiceSpec;
  UpdateStatus?: { State?: string; Message?: string };
}

export async function listStackServices(docker: Docker, project: string): Promise<ListedService[]> {
  return (await docker.listServices({ filters: { label: [`${SWARM_LABEL.namespace}=${project}`] } })) as unknown as ListedService[];
}

export async function readActual(docker: Docker, project: string): Promise<ActualSwarm> {
  const label = { label: [`${SWARM_LABEL.namespace}=${project}`, SWARM_LABEL.key] };
  const [services, configs, secrets, networks] = await Promise.all([
    listStackServices(docker, project),
    docker.listConfigs({ filters: label }) as Promise<Array<{ ID: string; Spec: { Name: string } }>>,
    docker.listSecrets({ filters: label }) as Promise<Array<{ ID: string; Spec: { Name: string } }>>,
    docker.listNetworks({ filters: { label: [`${SWARM_LABEL.namespace}=${project}`], driver: ['overlay'] } }),
  ]);
  return {
    services: services.map((s) => ({
      id: s.ID,
      name: s.Spec.Name,
      version: s.Version?.Index ?? 0,
      labels: s.Spec.Labels ?? {},
      ...('Replicated' in s.Spec.Mode ? { replicas: s.Spec.Mode.Replicated.Replicas } : {}),
      image: s.Spec.TaskTemplate.ContainerSpec.Image,
    })),
    configs: configs.map((c) => ({ id: c.ID, name: c.Spec.Name })),
    secrets: secrets.map((c) => ({ id: c.ID, name: c.Spec.Name })),
    networks: networks.map((n) => ({ id: n.Id, name: n.Name })),
  };
}

export async function createNetworks(docker: Docker, nets: SwarmNetwork[]): Promise<void> {
  for (const n of nets) {
    // Attachable: one-off containers (migrations, pg_dump on the database's node) can join it.
    await docker.createNetwork({ Name: n.name, Driver: 'overlay', Attachable: true, CheckDuplicate: true, Labels: n.labels }).catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 409) throw err;
    });
  }
}

export async function createFiles(docker: Docker, kind: 'config' | 'secret', files: SwarmFile[], names: readonly string[]): Promise<void> {
  const wanted = new Set(names);
  for (const f of files) {
    if (!wanted.has(f.name)) continue;
    const body = { Name: f.name, Labels: f.labels, Data: Buffer.from(f.data, 'utf8').toString('base64') };
    const p = kind === 'config' ? docker.createConfig(body) : docker.createSecret(body);
    await p.catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 409) throw err;
    });
  }
}

/** Fills in the engine IDs of the configs and secrets a spec names. */
export async function resolveRefs(docker: Docker, project: string, spec: EngineServiceSpec): Promise<EngineServiceSpec> {
  const label = { label: [`${SWARM_LABEL.namespace}=${project}`] };
  const [configs, secrets] = await Promise.all([
    docker.listConfigs({ filters: label }) as Promise<Array<{ ID: string; Spec: { Name: string } }>>,
    docker.listSecrets({ filters: label }) as Promise<Array<{ ID: string; Spec: { Name: string } }>>,
  ]);
  const cid = new Map(configs.map((c) => [c.Spec.Name, c.ID]));
  const sid = new Map(secrets.map((c) => [c.Spec.Name, c.ID]));
  const ct = spec.TaskTemplate.ContainerSpec;
  return {
    ...spec,
    TaskTemplate: {
      ...spec.TaskTemplate,
      ContainerSpec: {
        ...ct,
        Configs: ct.Configs.map((c) => ({ ...c, ConfigID: cid.get(c.ConfigName) ?? '' })),
        Secrets: ct.Secrets.map((c) => ({ ...c, SecretID: sid.get(c.SecretName) ?? '' })),
      },
    },
  };
}

export async function createService(docker: Docker, project: string, spec: EngineServiceSpec): Promise<string> {
  const full = await resolveRefs(docker, project, spec);
  const r = (await docker.createService(full as unknown as Docker.ServiceSpec)) as { id?: string; ID?: string };
  return r.id ?? r.ID ?? '';
}

export async function updateService(docker: Docker, project: string, id: string, spec: EngineServiceSpec): Promise<void> {
  const svc = docker.getService(id);
  const cur = (await svc.inspect()) as { Version: { Index: number } };
  const full = await resolveRefs(docker, project, spec);
  await svc.update({ _query: { version: cur.Version.Index }, _body: full } as unknown as Record<string, unknown>);
}

export async function serviceTasks(docker: Docker, serviceId: string): Promise<EngineTaskFull[]> {
  return (await docker.listTasks({ filters: { service: [serviceId] } })) as EngineTaskFull[];
}

export async function nodeNames(docker: Docker): Promise<Map<string, string>> {
  const nodes = (await docker.listNodes()) as Array<{ ID: string; Description?: { Hostname?: string } }>;
  return new Map(nodes.map((n) => [n.ID, n.Description?.Hostname ?? n.ID.slice(0, 12)]));
}

export interface ConvergeOptions {
  timeoutMs: number;
  onNote?: (m: string) => void;
  /** Replicas the service must run (0: every task gone). */
  replicas: number;
  /** The spec's image: a task missing it is named with its node. */
  image: string;
}

/**
 * Waits until the service runs `replicas` tasks of its current spec, all running (on Swarm a task
 * with a health check is only "running" once healthy), and no update is in progress. Fails with
 * what went wrong: an update the engine rolled back, an image missing on nodes, tasks that cannot
 * be scheduled.
 */
export async function waitConverged(docker: Docker, serviceId: string, serviceName: string, opts: ConvergeOptions): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let last = '';
  for (;;) {
    const svc = (await docker.getService(serviceId).inspect()) as ListedService & { Spec: EngineServiceSpec };
    const tasks = await serviceTasks(docker, serviceId);
    const names = await nodeNames(docker);
    const missing = imageMissing(tasks, opts.image, names);
    if (missing.length > 0) {
      throw new UserError(`${serviceName}: image ${opts.image} is not on node(s) ${missing.join(', ')}, and no registry serves it`, {
        hint: `load it on each of them: \`docker save ${opts.image} | ssh NODE docker load\` (or push it to a registry every node can pull from), then deploy again`,
      });
    }
    const st = svc.UpdateStatus?.State;
    if (st === 'rollback_completed' || st === 'rollback_paused' || st === 'paused' || st === 'rollback_started') {
      const why = taskProblems(tasks, names).slice(0, 3).join('; ');
      throw new UserError(`${serviceName}: the update failed and Swarm ${st.startsWith('rollback') ? 'rolled it back to the previous spec' : 'paused it'}: ${svc.UpdateStatus?.Message ?? ''}${why ? ` (${why})` : ''}`, {
        hint: `see \`modelship logs ${serviceName.replace(/^[^_]+_/, '')}\` and \`docker service ps ${serviceName} --no-trunc\`; the old tasks keep serving`,
      });
    }
    const current = tasks.filter((t) => t.DesiredState === 'running');
    const running = current.filter((t) => t.Status?.State === 'running');
    const settling = tasks.some((t) => t.DesiredState !== 'running' && ['running', 'starting', 'preparing', 'assigned', 'accepted', 'pending', 'new', 'ready'].includes(t.Status?.State ?? ''));
    const updating = st === 'updating';
    const image = svc.Spec.TaskTemplate.ContainerSpec.Image;
    const ofSpec = running.filter((t) => (t.Spec?.ContainerSpec?.Image ?? image) === image);
    const want = opts.replicas < 0 ? Math.max(1, current.length) : opts.replicas;
    if (!updating && ofSpec.length === want && running.length === current.length && current.length === want && !settling) return;
    const note = `${ofSpec.length}/${want} task(s) running${updating ? ', update in progress' : ''}${settling ? ', old tasks stopping' : ''}`;
    if (note !== last) opts.onNote?.(note);
    last = note;
    if (Date.now() > deadline) {
      const why = taskProblems(tasks, names).slice(0, 4).join('; ');
      throw new UserError(`${serviceName}: not converged after ${Math.round(opts.timeoutMs / 1000)} s: ${note}${why ? ` (${why})` : ''}`, {
        hint: `\`modelship status\` shows nodes and unschedulable tasks; \`modelship logs ${serviceName.replace(/^[^_]+_/, '')}\` the service's output`,
      });
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The stack's services, name → id. */
export async function serviceIds(docker: Docker, stack: SwarmStack): Promise<Map<string, string>> {
  const list = await listStackServices(docker, stack.project);
  return new Map(list.map((s) => [s.Spec.Name, s.ID]));
}
