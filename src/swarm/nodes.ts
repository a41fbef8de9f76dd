/**
 * The swarm's nodes as a table: role, state, address, labels and how many of the stack's tasks
 * each runs. Pure: takes what the engine's /nodes and /tasks return.
 */
import { columns } from '../util/table.ts';

export interface EngineNode {
  ID: string;
  Spec?: { Role?: string; Availability?: string; Labels?: Record<string, string> };
  Description?: { Hostname?: string; Engine?: { EngineVersion?: string }; Platform?: { Architecture?: string; OS?: string } };
  Status?: { State?: string; Addr?: string; Message?: string };
  ManagerStatus?: { Leader?: boolean; Reachability?: string; Addr?: string };
}

export interface EngineTask {
  NodeID?: string;
  DesiredState?: string;
  Status?: { State?: string };
}

export interface NodeRow {
  id: string;
  hostname: string;
  role: 'manager' | 'worker';
  /** leader / reachable / unreachable for managers, "" for workers. */
  manager: string;
  availability: string;
  state: string;
  address: string;
  engine: string;
  labels: Record<string, string>;
  /** Tasks the node runs now (desired and actual state "running"). */
  runningTasks: number;
  /** The node the command talked to. */
  self: boolean;
}

export function nodeRows(nodes: readonly EngineNode[], tasks: readonly EngineTask[], selfId?: string): NodeRow[] {
  const running = new Map<string, number>();
  for (const t of tasks) {
    if (t.NodeID && t.DesiredState === 'running' && t.Status?.State === 'running') running.set(t.NodeID, (running.get(t.NodeID) ?? 0) + 1);
  }
  const rows = nodes.map<NodeRow>((n) => ({
    id: n.ID,
    hostname: n.Description?.Hostname ?? '?',
    role: n.Spec?.Role === 'manager' ? 'manager' : 'worker',
    manager: n.ManagerStatus ? (n.ManagerStatus.Leader ? 'leader' : (n.ManagerStatus.Reachability ?? '')) : '',
    availability: n.Spec?.Availability ?? '?',
    state: n.Status?.State ?? '?',
    address: n.Status?.Addr ?? '',
    engine: n.Description?.Engine?.EngineVersion ?? '',
    labels: { ...(n.Spec?.Labels ?? {}) },
    runningTasks: running.get(n.ID) ?? 0,
    self: n.ID === selfId,
  }));
  // Managers first (leader on top), then by hostname: the order an operator scans.
  const rank = (r: NodeRow): number => (r.manager === 'leader' ? 0 : r.role === 'manager' ? 1 : 2);
  return rows.sort((a, b) => rank(a) - rank(b) || a.hostname.localeCompare(b.hostname) || a.id.localeCompare(b.id));
}

/** Plain-text table, one node a line; labels as k=v, comma separated. */
export function nodeTable(rows: readonly NodeRow[]): string[] {
  const header = ['HOSTNAME', 'ID', 'ROLE', 'STATE', 'AVAILABILITY', 'ADDRESS', 'TASKS', 'LABELS'];
  const body = rows.map((r) => [
    `${r.hostname}${r.self ? ' *' : ''}`,
    r.id.slice(0, 12),
    r.manager ? `manager (${r.manager})` : r.role,
    r.state,
    r.availability,
    r.address,
    String(r.runningTasks),
    Object.entries(r.labels)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => (v === '' ? k : `${k}=${v}`))
      .join(',') || '-',
  ]);
  return columns([header, ...body]);
}

/** Nodes that cannot take tasks now, with why: what `status` and `deploy` warn about. */
export function unavailableNodes(rows: readonly NodeRow[]): Array<{ hostname: string; reason: string }> {
  return rows
    .filter((r) => r.state !== 'ready' || r.availability !== 'active')
    .map((r) => ({ hostname: r.hostname, reason: r.state !== 'ready' ? `state ${r.state}` : `availability ${r.availability}` }));
}
