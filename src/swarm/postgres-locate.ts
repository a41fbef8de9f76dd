/**
 * Where the stack's PostgreSQL runs on a swarm: its service (found by the stack's labels), the task
 * that runs now and on which node, and the overlay network a helper container on this manager can
 * join to reach it. Pure: takes what the engine's /services, /tasks, /nodes and /networks return,
 * gives the location or a UserError that says what is wrong and what to do.
 */
import type { EngineTask } from './task-report.ts';
import { UserError } from '../util/errors.ts';
import type { EngineNode } from './nodes.ts';

export interface EngineService {
  ID: string;
  Spec?: {
    Name?: string;
    Labels?: Record<string, string>;
    Mode?: { Replicated?: { Replicas?: number }; Global?: object };
    TaskTemplate?: {
      ContainerSpec?: { Image?: string };
      Networks?: Array<{ Target?: string; Aliases?: string[] }>;
      Placement?: { Constraints?: string[] };
    };
  };
}

export type EngineServiceTask = EngineTask;

export interface EngineNetwork {
  Id: string;
  Name: string;
  Driver?: string;
  Scope?: string;
  Attachable?: boolean;
}

export interface PostgresLocation {
  serviceId: string;
  serviceName: string;
  /** The service's image without a digest: the helper runs the same pg_dump/psql as the server. */
  image: string;
  task: { id: string; slot: number | undefined; nodeId: string; hostname: string; networks: Array<{ id: string; address: string }> };
}

const time = (t: { Status?: { Timestamp?: string }; CreatedAt?: string }): number => Date.parse(t.Status?.Timestamp ?? t.CreatedAt ?? '') || 0;

/** The stack's one postgres service among the swarm's services, by the stack's labels. */
export function pickPostgresService(services: readonly EngineService[], labels: Record<string, string>, project: string): EngineService {
  const mine = services.filter((s) => Object.entries(labels).every(([k, v]) => s.Spec?.Labels?.[k] === v));
  if (mine.length === 0) {
    throw new UserError(`no PostgreSQL service for stack "${project}" on this swarm`, {
      hint: 'deploy the stack first (`modelship deploy --target swarm`), check `project` in the config, or use --direct with DATABASE_URL / --database-url',
    });
  }
  if (mine.length > 1) {
    throw new UserError(`stack "${project}" has ${mine.length} PostgreSQL services on this swarm (${mine.map((s) => s.Spec?.Name ?? s.ID).join(', ')})`, {
      hint: 'remove the stray one (`docker service rm NAME`) so backups cannot pick the wrong database',
    });
  }
  return mine[0]!;
}

function hostnameOf(nodes: readonly EngineNode[], id: string | undefined): string {
  const n = nodes.find((x) => x.ID === id);
  return n?.Description?.Hostname ?? (id ? id.slice(0, 12) : '?');
}

/** The postgres task that runs now and its node, or why there is none. */
export function locatePostgresTask(service: EngineService, tasks: readonly EngineServiceTask[], nodes: readonly EngineNode[]): PostgresLocation {
  const name = service.Spec?.Name ?? service.ID;
  const image = (service.Spec?.TaskTemplate?.ContainerSpec?.Image ?? '').replace(/@sha256:[0-9a-f]{64}$/, '');
  const constraints = service.Spec?.TaskTemplate?.Placement?.Constraints ?? [];
  const pinned = constraints.length > 0 ? ` (placement: ${constraints.join(', ')})` : '';
  const own = tasks.filter((t) => !t.ServiceID || t.ServiceID === service.ID).sort((a, b) => time(b) - time(a));
  const nodeOf = (id: string | undefined): EngineNode | undefined => nodes.find((n) => n.ID === id);

  const running = own.filter((t) => t.DesiredState === 'running' && t.Status?.State === 'running');
  const live = running[0];
  if (live) {
    const node = nodeOf(live.NodeID);
    const host = hostnameOf(nodes, live.NodeID);
    if (node && node.Status?.State !== 'ready') {
      throw new UserError(`the PostgreSQL task of ${name} runs on node ${host}, which is ${node.Status?.State ?? 'not ready'}${node.Status?.Message ? ` (${node.Status.Message})` : ''}`, {
        hint: `start the Docker Engine on ${host} again (its database volume lives there); the swarm reschedules the task only where its constraints allow${pinned}`,
      });
    }
    const networks = (live.NetworksAttachments ?? []).flatMap((a) => {
      const address = a.Addresses?.[0]?.replace(/\/\d+$/, '');
      return a.Network?.ID && address ? [{ id: a.Network.ID, address }] : [];
    });
    return { serviceId: service.ID, serviceName: name, image, task: { id: live.ID, slot: live.Slot, nodeId: live.NodeID ?? '', hostname: host, networks } };
  }

  const replicas = service.Spec?.Mode?.Replicated?.Replicas;
  if (replicas === 0) {
    throw new UserError(`the PostgreSQL service ${name} is scaled to 0 replicas: nothing runs the database`, { hint: `scale it back: \`docker service scale ${name}=1\` (or \`modelship deploy\`)` });
  }
  // The node the database last ran on is down: that is the cause, whatever the replacement task says
  // (pinned to that node's label and volume, it usually cannot be scheduled elsewhere).
  const placed = own.find((t) => t.NodeID);
  const placedNode = placed ? nodeOf(placed.NodeID) : undefined;
  const waiting = own.find((t) => t.DesiredState === 'running' || t.DesiredState === 'ready');
  if (placed && placedNode && placedNode.Status?.State !== 'ready') {
    const host = hostnameOf(nodes, placed.NodeID);
    const instead = waiting && waiting !== placed && waiting.Status?.Err ? ` (its replacement: ${waiting.Status.Err})` : '';
    throw new UserError(`the PostgreSQL task of ${name} ran on node ${host}, which is ${placedNode.Status?.State ?? 'not ready'}; no task runs now${instead}`, {
      hint: `start the Docker Engine on ${host} again (its database volume lives there); the swarm reschedules the task only where its constraints allow${pinned}`,
    });
  }
  const wanted = waiting;
  if (wanted) {
    const err = wanted.Status?.Err ?? '';
    if (/no suitable node/i.test(err)) {
      throw new UserError(`the PostgreSQL task of ${name} cannot be scheduled: ${err}`, {
        hint: `no ready node satisfies the service's placement${pinned}: label a node for it (\`docker node update --label-add KEY=VALUE NODE\`) or bring its node back`,
      });
    }
    const where = wanted.NodeID ? ` on node ${hostnameOf(nodes, wanted.NodeID)}` : '';
    throw new UserError(`the PostgreSQL task of ${name} is not running yet (${wanted.Status?.State ?? 'unknown'}${where}${err ? `: ${err}` : ''})`, {
      hint: `wait until \`docker service ps ${name}\` shows it running, then run the command again`,
    });
  }
  const last = own[0];
  if (last?.NodeID) {
    const host = hostnameOf(nodes, last.NodeID);
    const err = last.Status?.Err ?? last.Status?.Message ?? '';
    throw new UserError(`no PostgreSQL task of ${name} is running (the last one, on ${host}, is ${last.Status?.State ?? 'gone'}${err ? `: ${err}` : ''})`, {
      hint: `\`docker service ps ${name} --no-trunc\` shows why; the swarm starts a new one unless the restart policy stopped it`,
    });
  }
  throw new UserError(`no PostgreSQL task of ${name} is running`, { hint: `\`docker service ps ${name} --no-trunc\` shows why` });
}

/**
 * The network a helper container on this manager joins to reach the service: an attachable overlay
 * the service is on (a plain container can join only those).
 */
export function pickHelperNetwork(service: EngineService, networks: readonly EngineNetwork[]): EngineNetwork {
  const name = service.Spec?.Name ?? service.ID;
  const attached = (service.Spec?.TaskTemplate?.Networks ?? []).map((n) => networks.find((x) => x.Id === n.Target || x.Name === n.Target)).filter((n): n is EngineNetwork => Boolean(n));
  const usable = attached.find((n) => n.Attachable === true && n.Driver === 'overlay');
  if (usable) return usable;
  if (attached.length === 0) {
    throw new UserError(`the PostgreSQL service ${name} is on no overlay network, so nothing outside its node can reach it`, {
      hint: 'deploy the stack with `modelship deploy --target swarm` (it puts postgres on the stack\'s attachable overlay network)',
    });
  }
  throw new UserError(`the PostgreSQL service ${name} is only on networks a container cannot join (${attached.map((n) => n.Name).join(', ')} — not attachable)`, {
    hint: 'modelship creates the stack\'s overlay networks attachable; a network made by hand needs `docker network create --driver overlay --attachable`',
  });
}

export interface HelperContainer {
  Id: string;
  Labels?: Record<string, string>;
}

/** Helper containers a dead run of this host left behind (kill -9 mid-backup). */
export function staleHelpers(containers: readonly HelperContainer[], o: { hostLabel: string; pidLabel: string; host: string; alive: (pid: number) => boolean }): string[] {
  return containers
    .filter((c) => {
      const pid = Number(c.Labels?.[o.pidLabel]);
      return c.Labels?.[o.hostLabel] === o.host && Number.isInteger(pid) && pid > 0 && pid !== process.pid && !o.alive(pid);
    })
    .map((c) => c.Id);
}
