/**
 * What the manager's task list says, as an operator reads it: nodes lacking an image, tasks that
 * cannot be scheduled (and why), tasks per node. Pure: takes /tasks and node names.
 */

/** A task as the engine's /tasks lists it: the fields modelship reads (here and in postgres-locate.ts). */
export interface EngineTask {
  ID: string;
  ServiceID?: string;
  NodeID?: string;
  Slot?: number;
  DesiredState?: string;
  CreatedAt?: string;
  UpdatedAt?: string;
  Spec?: { ContainerSpec?: { Image?: string } };
  Status?: { State?: string; Message?: string; Err?: string; Timestamp?: string; ContainerStatus?: { ContainerID?: string } };
  NetworksAttachments?: Array<{ Network?: { ID?: string }; Addresses?: string[] }>;
}

export type EngineTaskFull = EngineTask;

const IMAGE_ERR = /no such image|pull access denied|manifest unknown|repository does not exist|not found: manifest|failed to resolve reference|image .* not found/i;

/** Nodes where a task of `image` failed because the node does not have it (sorted hostnames). */
export function imageMissing(tasks: readonly EngineTaskFull[], image: string, names: ReadonlyMap<string, string>): string[] {
  const nodes = new Set<string>();
  for (const t of tasks) {
    const err = t.Status?.Err ?? '';
    if (!IMAGE_ERR.test(err)) continue;
    if ((t.Spec?.ContainerSpec?.Image ?? image).split('@')[0] !== image.split('@')[0]) continue;
    if (t.NodeID) nodes.add(names.get(t.NodeID) ?? t.NodeID.slice(0, 12));
  }
  return [...nodes].sort();
}

/** Why tasks are not running, newest first, deduplicated: "msw-n2: No such image…", "pending: no suitable node…". */
export function taskProblems(tasks: readonly EngineTaskFull[], names: ReadonlyMap<string, string>): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  const sorted = [...tasks].sort((a, b) => (b.UpdatedAt ?? '').localeCompare(a.UpdatedAt ?? ''));
  for (const t of sorted) {
    const err = t.Status?.Err;
    if (!err) continue;
    const where = t.NodeID ? (names.get(t.NodeID) ?? t.NodeID.slice(0, 12)) : t.Status?.State ?? 'unassigned';
    const line = `${where}: ${err}`;
    if (seen.has(line)) continue;
    seen.add(line);
    out.push(line);
  }
  return out;
}

export interface Unschedulable {
  service: string;
  slot: number | undefined;
  reason: string;
}

/** Tasks the scheduler wants running but cannot place (constraints no ready node meets, resources). */
export function unschedulable(tasks: readonly EngineTaskFull[], serviceName: (id: string) => string): Unschedulable[] {
  return tasks
    .filter((t) => t.DesiredState === 'running' && t.Status?.State === 'pending')
    .map((t) => ({ service: serviceName(t.ServiceID ?? ''), slot: t.Slot, reason: t.Status?.Err ?? t.Status?.Message ?? 'pending' }))
    .sort((a, b) => a.service.localeCompare(b.service) || (a.slot ?? 0) - (b.slot ?? 0));
}

/** Running tasks per node hostname, per service: {msw-n2: {api-blue: 1, worker: 1}}. */
export function tasksPerNode(tasks: readonly EngineTaskFull[], names: ReadonlyMap<string, string>, serviceName: (id: string) => string): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const t of tasks) {
    if (t.DesiredState !== 'running' || t.Status?.State !== 'running' || !t.NodeID) continue;
    const node = names.get(t.NodeID) ?? t.NodeID.slice(0, 12);
    const svc = serviceName(t.ServiceID ?? '');
    out[node] ??= {};
    out[node][svc] = (out[node][svc] ?? 0) + 1;
  }
  return out;
}
