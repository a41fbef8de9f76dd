/**
 * The pure diff of the desired stack against what the engine reports: which containers to create,
 * recreate (and why), start, reload in place, remove, or leave alone; which networks and volumes
 * to create.
 */
import { ASPECTS, COMPOSE_LABEL, MS_LABEL, type Aspect, type DesiredContainer, type DesiredStack } from './desired.ts';

/** What the engine reports about one container (a subset of `docker ps -a`). */
export interface ActualContainer {
  id: string;
  name: string;
  labels: Record<string, string>;
  /** running, exited, created, restarting, paused, dead */
  state: string;
  image: string;
  /** Networks the container is attached to (engine names). */
  networks?: string[];
}

export interface ActualStack {
  containers: ActualContainer[];
  networks: string[];
  volumes: string[];
}

export type ContainerAction =
  | { kind: 'create'; service: string; name: string; desired: DesiredContainer }
  | { kind: 'recreate'; service: string; name: string; desired: DesiredContainer; actual: ActualContainer; reasons: Aspect[] }
  | { kind: 'start'; service: string; name: string; desired: DesiredContainer; actual: ActualContainer; reason: string }
  /** Only rendered files the service reloads in place changed (nginx: `nginx -t`, graceful reload). */
  | { kind: 'reload'; service: string; name: string; desired: DesiredContainer; actual: ActualContainer; reason: string }
  | { kind: 'remove'; service: string; name: string; actual: ActualContainer; reason: string }
  | { kind: 'unchanged'; service: string; name: string; desired: DesiredContainer; actual: ActualContainer };

export interface Plan {
  project: string;
  networks: string[];
  volumes: string[];
  /** Container actions in dependency order (removals of scaled-down replicas last). */
  containers: ContainerAction[];
}

export const ASPECT_REASON: Record<Aspect, string> = {
  image: 'image changed',
  config: 'config or rendered files changed',
  env: 'environment changed',
  command: 'command changed',
  ports: 'ports changed',
  mounts: 'mounts changed',
  labels: 'labels changed',
  runtime: 'healthcheck, restart, limits or networks changed',
};

/** Containers this tool manages (not the lock/state helpers, not one-off runs, not the idle colour). */
export function isManaged(c: ActualContainer, project: string, activeColor: string): boolean {
  if (c.labels[COMPOSE_LABEL.project] !== project) return false;
  if (c.labels[MS_LABEL.internal] !== undefined) return false;
  if (c.labels[COMPOSE_LABEL.oneoff] === 'True') return false;
  const color = c.labels[MS_LABEL.color];
  if (color !== undefined && color !== activeColor) return false;
  return true;
}

/**
 * `reloaded`: per service, the digest of the files it last loaded (host state); a service that
 * reloads its files in place and has none recorded is reloaded once.
 */
export function planStack(desired: DesiredStack, actual: ActualStack, activeColor: string, reloaded: Record<string, string> = {}): Plan {
  const managed = actual.containers.filter((c) => isManaged(c, desired.project, activeColor));
  const byName = new Map(managed.map((c) => [c.name.replace(/^\//, ''), c]));
  const matched = new Set<string>();
  const actions: ContainerAction[] = [];
  const rank = new Map(desired.order.map((s, i) => [s, i]));
  const sorted = [...desired.containers].sort((a, b) => (rank.get(a.service)! - rank.get(b.service)!) || a.index - b.index);

  for (const d of sorted) {
    const a = byName.get(d.name);
    if (!a) {
      actions.push({ kind: 'create', service: d.service, name: d.name, desired: d });
      continue;
    }
    matched.add(d.name);
    if (a.labels[MS_LABEL.hash] !== d.hash) {
      const reasons = ASPECTS.filter((asp) => a.labels[`${MS_LABEL.aspectPrefix}${asp}`] !== d.aspects[asp]);
      actions.push({ kind: 'recreate', service: d.service, name: d.name, desired: d, actual: a, reasons: reasons.length > 0 ? reasons : ['labels'] });
    } else if (a.state !== 'running') {
      actions.push({ kind: 'start', service: d.service, name: d.name, desired: d, actual: a, reason: `was ${a.state}` });
    } else if (a.networks && d.gatedNetworks.some((n) => !a.networks!.includes(n.name))) {
      // Running but never joined the network nginx routes on (a deploy stopped before its gate).
      actions.push({ kind: 'start', service: d.service, name: d.name, desired: d, actual: a, reason: 'not on the edge network: health gate, then join' });
    } else if (d.reloadFiles !== undefined && reloaded[d.service] !== d.reloadFiles) {
      actions.push({ kind: 'reload', service: d.service, name: d.name, desired: d, actual: a, reason: 'rendered files changed: nginx -t, graceful reload' });
    } else {
      actions.push({ kind: 'unchanged', service: d.service, name: d.name, desired: d, actual: a });
    }
  }
  const removals: ContainerAction[] = [];
  for (const [name, a] of byName) {
    if (matched.has(name)) continue;
    const service = a.labels[COMPOSE_LABEL.service] ?? '?';
    const stillWanted = desired.containers.some((d) => d.service === service);
    removals.push({ kind: 'remove', service, name, actual: a, reason: stillWanted ? 'scaled down' : 'no longer in the config' });
  }
  removals.sort((x, y) => (x.name < y.name ? 1 : -1));
  const haveNets = new Set(actual.networks);
  const haveVols = new Set(actual.volumes);
  return {
    project: desired.project,
    networks: desired.networks.map((n) => n.name).filter((n) => !haveNets.has(n)),
    volumes: desired.volumes.map((v) => v.name).filter((v) => !haveVols.has(v)),
    containers: [...actions, ...removals],
  };
}

export function planChanges(plan: Plan): number {
  return plan.networks.length + plan.volumes.length + plan.containers.filter((a) => a.kind !== 'unchanged').length;
}

/** One line per action, for `plan` and `deploy --dry-run`. */
export function describeAction(a: ContainerAction): string {
  switch (a.kind) {
    case 'create':
      return `create    ${a.name}`;
    case 'recreate':
      return `recreate  ${a.name}  (${a.reasons.map((r) => ASPECT_REASON[r]).join(', ')})`;
    case 'start':
      return `start     ${a.name}  (${a.reason})`;
    case 'reload':
      return `reload    ${a.name}  (${a.reason})`;
    case 'remove':
      return `remove    ${a.name}  (${a.reason})`;
    case 'unchanged':
      return `unchanged ${a.name}`;
  }
}
