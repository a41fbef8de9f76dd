/**
 * `modelship scale SERVICE=N…`: which services may be scaled, and to what. The parsing is pure;
 * applying it is a deploy scoped to those services.
 */
import type { ServiceSpec } from '../stack/spec.ts';
import { UsageError } from '../util/errors.ts';
import { deploy, type DeployResult } from './deploy.ts';
import { hostStack, type StackHandle } from './stack.ts';

export const MAX_REPLICAS = 64;

/** `worker=3 api=2` → `{worker: 3, 'api-blue': 2}`; `api` means the active colour. */
export function parseScaleAssignments(assignments: readonly string[], services: readonly ServiceSpec[], activeColor: string): Record<string, number> {
  const replicas: Record<string, number> = {};
  for (const a of assignments) {
    const m = /^([a-z0-9-]+)=(\d+)$/.exec(a);
    if (!m) throw new UsageError(`${a}: expected SERVICE=N, e.g. worker=3 or api=2`);
    const name = m[1] === 'api' ? `api-${activeColor}` : m[1]!;
    const spec = services.find((s) => s.name === name);
    if (!spec) throw new UsageError(`no service "${m[1]}" in this stack`, `services: ${services.map((s) => s.name).join(', ')}`);
    if (spec.fixedName) throw new UsageError(`${name} runs as one container and cannot be scaled`, `scalable: api (the active colour, ${activeColor}), worker`);
    const isApi = /^api-/.test(name);
    if (isApi && name !== `api-${activeColor}`) throw new UsageError(`${name} is the idle colour; scale the active one (api-${activeColor}, or just api)`);
    const n = Number(m[2]);
    if (n > MAX_REPLICAS) throw new UsageError(`${a}: at most ${MAX_REPLICAS} replicas`);
    if (isApi && n < 1) throw new UsageError(`${a}: the active API colour needs at least one container (stop the stack with \`modelship down\`)`);
    replicas[name] = n;
  }
  return replicas;
}

export async function scale(
  h: StackHandle,
  assignments: readonly string[],
  opts: { timeoutSeconds: number; force: boolean; json: boolean; color: boolean },
): Promise<{ replicas: Record<string, number>; deploy: DeployResult }> {
  const host = await hostStack(h);
  const replicas = parseScaleAssignments(assignments, host.spec.services, host.activeColor);
  const r = await deploy(h, { dryRun: false, ...opts, replicas, only: Object.keys(replicas), operation: `scale ${assignments.join(' ')}` });
  return { replicas, deploy: r };
}
