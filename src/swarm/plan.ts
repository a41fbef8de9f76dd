/**
 * Desired swarm stack vs what the cluster runs → the plan, with a reason per changed aspect
 * ("update: image changed"). Pure: takes the services, configs, secrets and networks the manager
 * lists.
 */
import { SWARM_ASPECTS, type SwarmAspect, type SwarmService, type SwarmStack } from './spec.ts';
import { SWARM_LABEL } from '../stack/names.ts';

export interface ActualService {
  id: string;
  name: string;
  version: number;
  labels: Record<string, string>;
  /** Replicated count (undefined for global services). */
  replicas?: number;
  image: string;
}

export interface ActualSwarm {
  services: ActualService[];
  configs: Array<{ id: string; name: string }>;
  secrets: Array<{ id: string; name: string }>;
  networks: Array<{ id: string; name: string }>;
}

export type ServiceAction =
  | { kind: 'create'; service: string; name: string; desired: SwarmService }
  | { kind: 'update'; service: string; name: string; desired: SwarmService; actual: ActualService; reasons: SwarmAspect[] }
  | { kind: 'unchanged'; service: string; name: string; desired: SwarmService; actual: ActualService }
  | { kind: 'remove'; service: string; name: string; actual: ActualService };

export interface SwarmPlan {
  networks: string[];
  configs: string[];
  secrets: string[];
  services: ServiceAction[];
  /** Config and secret versions no desired service uses any more (removed after the updates). */
  staleConfigs: string[];
  staleSecrets: string[];
}

export function changedAspects(desired: SwarmService, actual: ActualService): SwarmAspect[] {
  return SWARM_ASPECTS.filter((a) => actual.labels[`${SWARM_LABEL.aspectPrefix}${a}`] !== desired.aspects[a]);
}

export function planSwarm(desired: SwarmStack, actual: ActualSwarm): SwarmPlan {
  const byName = new Map(actual.services.map((s) => [s.name, s]));
  const services: ServiceAction[] = [];
  for (const service of desired.order) {
    const d = desired.services.find((s) => s.service === service)!;
    const a = byName.get(d.name);
    if (!a) services.push({ kind: 'create', service, name: d.name, desired: d });
    else {
      const reasons = changedAspects(d, a);
      services.push(reasons.length > 0 ? { kind: 'update', service, name: d.name, desired: d, actual: a, reasons } : { kind: 'unchanged', service, name: d.name, desired: d, actual: a });
    }
  }
  const wanted = new Set(desired.services.map((s) => s.name));
  for (const a of actual.services) {
    if (!wanted.has(a.name)) services.push({ kind: 'remove', service: a.labels[SWARM_LABEL.service] ?? a.name, name: a.name, actual: a });
  }
  const haveConfigs = new Set(actual.configs.map((c) => c.name));
  const haveSecrets = new Set(actual.secrets.map((c) => c.name));
  const haveNets = new Set(actual.networks.map((n) => n.name));
  const usedConfigs = new Set(desired.configs.map((c) => c.name));
  const usedSecrets = new Set(desired.secrets.map((c) => c.name));
  return {
    networks: desired.networks.map((n) => n.name).filter((n) => !haveNets.has(n)),
    configs: desired.configs.map((c) => c.name).filter((n) => !haveConfigs.has(n)),
    secrets: desired.secrets.map((c) => c.name).filter((n) => !haveSecrets.has(n)),
    services,
    staleConfigs: actual.configs.map((c) => c.name).filter((n) => !usedConfigs.has(n)).sort(),
    staleSecrets: actual.secrets.map((c) => c.name).filter((n) => !usedSecrets.has(n)).sort(),
  };
}

export function swarmPlanChanges(p: SwarmPlan): number {
  return p.networks.length + p.configs.length + p.secrets.length + p.services.filter((a) => a.kind !== 'unchanged').length;
}

/** One line per action, as `plan`/`deploy --dry-run` print it. */
export function describeSwarmAction(a: ServiceAction): string {
  switch (a.kind) {
    case 'create':
      return `create    ${a.name} (${a.desired.replicas < 0 ? 'global' : `${a.desired.replicas} replica(s)`}${a.desired.needsLabel ? `, on nodes labelled ${a.desired.needsLabel}=true` : ''})`;
    case 'update':
      return `update    ${a.name}: ${a.reasons.map((r) => (r === 'replicas' ? `replicas ${a.actual.replicas ?? 'global'} → ${a.desired.replicas < 0 ? 'global' : a.desired.replicas}` : `${r} changed`)).join(', ')}`;
    case 'unchanged':
      return `unchanged ${a.name}`;
    case 'remove':
      return `remove    ${a.name} (no longer in the config)`;
  }
}
