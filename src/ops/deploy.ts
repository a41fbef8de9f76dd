/**
 * `modelship deploy`: render, check images, take the stack lock, create what is missing, recreate
 * what changed, gate every service on its dependencies' health, run migrations, record the result
 * on the host. Fails closed: on a failure what was healthy keeps running, and the report names the
 * service with its last log lines and health output.
 */
import { UserError } from '../util/errors.ts';
import { SERVICE, type Color } from '../stack/names.ts';
import { containersOf, pullImage } from '../docker/engine.ts';
import type { HostStore } from '../docker/host-state.ts';
import { describeAction, planChanges, type ContainerAction, type Plan } from '../docker/plan.ts';
import { checkIdentityFile } from '../config/identity-file.ts';
import { buildSteps } from './deploy-steps.ts';
import { healEdge } from './edge/heal.ts';
import { withStackLock } from './lock.ts';
import { runSteps } from './progress.ts';
import { passwordSteps } from './rotate-password.ts';
import { renderStackFiles, viewStack, type StackHandle, type StackView } from './stack.ts';
import { swapOrRollback, type SwapOptions } from './swap.ts';

export interface DeployOptions {
  dryRun: boolean;
  timeoutSeconds: number;
  force: boolean;
  json: boolean;
  color: boolean;
  /** Override replica counts (used by `scale`). */
  replicas?: Record<string, number>;
  /** Only touch these services (used by `scale`); others are left as they are. */
  only?: string[];
  /** The operation name recorded in the lock and the audit log. */
  operation?: string;
  /**
   * Asked before a running nginx is recreated (the edge drops connections while the new one
   * starts: its ports cannot be held by two containers). Without it, deploy goes ahead.
   */
  confirm?: (question: string) => Promise<boolean>;
}

export interface DeployResult {
  project: string;
  changed: boolean;
  /** E.g. that the API was released blue/green, or that the edge was healed. */
  note?: string;
  /** Set when the plan recreates a running nginx: the edge blinks. */
  edgeBlink?: string;
  dryRun: boolean;
  activeColor: string;
  actions: Array<{ kind: ContainerAction['kind']; service: string; container: string; detail: string }>;
  networks: string[];
  volumes: string[];
  durationMs: number;
}

export function summarizePlan(plan: Plan): DeployResult['actions'] {
  return plan.containers.map((a) => ({
    kind: a.kind,
    service: a.service,
    container: a.name,
    detail: describeAction(a).replace(/^\S+\s+\S+\s*/, '').replace(/^\(|\)$/g, ''),
  }));
}

/** Images the desired containers need that the engine does not have: try to pull, then fail. */
export async function ensureImages(h: StackHandle, view: StackView, note: (m: string) => void): Promise<string[]> {
  const needed = [...new Set(view.desired.containers.map((c) => c.create.Image))];
  const missing = needed.filter((ref) => !view.images[ref]);
  const failures: string[] = [];
  for (const ref of missing) {
    note(`pulling ${ref}`);
    const r = await pullImage(h.docker, ref);
    if (!r.ok) failures.push(`${ref}: not present and could not be pulled (${r.reason})`);
  }
  if (failures.length > 0) {
    const apiMissing = missing.includes(h.loaded.config.images.api);
    throw new UserError(`${failures.length} image${failures.length === 1 ? ' is' : 's are'} missing; nothing was changed:\n  ${failures.join('\n  ')}`, {
      hint: apiMissing
        ? 'build the API image with `modelship build`, load the others with `docker load`, or point images.* in the config at images this engine has'
        : 'load them with `docker load` or point images.* in the config at images this engine has',
    });
  }
  return missing;
}

/** Why a plan recreates a running nginx (the edge drops connections meanwhile), or null. */
export function edgeBlink(plan: Plan): string | null {
  const a = plan.containers.find((x) => x.service === SERVICE.nginx && x.kind === 'recreate');
  if (!a || a.kind !== 'recreate' || a.actual.state !== 'running') return null;
  return `nginx is recreated (${a.reasons.join(', ')} changed): the edge drops connections for the few seconds its new container takes to start`;
}

type Replicas = { replicas?: Record<string, number> };

/**
 * A swap or rollback was killed: finish it (nginx serves the new colour) or withdraw it, never
 * silently revert it. Returns the view to go on with.
 */
async function settleInterruptedSwitch(h: StackHandle, view: StackView, swapOpts: SwapOptions, overrides: Replicas, notes: string[]): Promise<StackView> {
  if (!view.state.switching) return view;
  const r = await swapOrRollback(h, 'swap', { ...swapOpts, image: undefined, resumeOnly: true });
  if (r.resumed) notes.push(r.resumed);
  const settled = await viewStack(h, overrides);
  await renderStackFiles(h, { ...settled.state, activeColor: settled.activeColor });
  return viewStack(h, overrides);
}

/**
 * A changed API is released the blue/green way (the idle colour with the new spec, gated,
 * switched, the old one drained) instead of being recreated in place, also when nginx changes in
 * the same deploy: deploy never takes the API down. Only a first deploy, or one without a running
 * nginx, recreates in place. Returns the plan to apply and the recreate the swap takes over.
 */
export function splitBlueGreen(view: StackView, plan: Plan, scoped: boolean): { applied: Plan; blueGreen: Extract<ContainerAction, { kind: 'recreate' }> | null } {
  const apiService = SERVICE.api(view.activeColor as Color);
  const nginxRunning = containersOf(view.actual.containers, SERVICE.nginx, true).length > 0;
  const recreates = plan.containers.filter((a): a is Extract<ContainerAction, { kind: 'recreate' }> => a.service === apiService && a.kind === 'recreate');
  if (!nginxRunning || recreates.length === 0 || scoped) return { applied: plan, blueGreen: null };
  return { applied: { ...plan, containers: plan.containers.filter((a) => !(a.service === apiService && a.kind === 'recreate')) }, blueGreen: recreates[0]! };
}

/** What the host records after a deploy: the active colour, its image, what nginx loaded. */
async function recordDeploy(store: HostStore, view: StackView, only: string[] | undefined): Promise<void> {
  const nginxFiles = view.desired.containers.find((c) => c.service === SERVICE.nginx)?.reloadFiles;
  await store.update((s) => {
    const api = view.desired.containers.find((c) => c.service === SERVICE.api(view.activeColor as Color));
    s.activeColor = view.activeColor;
    if (api) {
      const prev = s.colors[view.activeColor];
      s.colors[view.activeColor] = { image: api.create.Image, since: prev?.image === api.create.Image && prev.since ? prev.since : new Date().toISOString() };
    }
    if (nginxFiles !== undefined && (!only || only.includes(SERVICE.nginx))) s.reloaded = { ...(s.reloaded ?? {}), [SERVICE.nginx]: nginxFiles };
    s.lastDeploy = new Date().toISOString();
  });
}

/** Under the stack lock: re-read, settle, run the steps, release blue/green, heal the edge, record. */
async function deployLocked(h: StackHandle, opts: DeployOptions, store: HostStore, scope: (p: Plan) => Plan, stage: { now: string }): Promise<{ view: StackView; plan: Plan; notes: string[] }> {
  const overrides: Replicas = opts.replicas ? { replicas: opts.replicas } : {};
  const swapOpts: SwapOptions = { healthTimeoutSeconds: opts.timeoutSeconds, drainTimeoutSeconds: 30, force: false, json: opts.json, color: opts.color };
  const notes: string[] = [];
  // Re-read under the lock: another operator may have changed the stack meanwhile.
  const view = await settleInterruptedSwitch(h, await viewStack(h, overrides), swapOpts, overrides, notes);
  const plan = scope(view.plan);
  const { applied, blueGreen } = splitBlueGreen(view, plan, Boolean(opts.only));
  stage.now = 'some services may have been changed';
  await runSteps([...passwordSteps(h, view), ...buildSteps(h, view, applied, opts.timeoutSeconds)], { json: opts.json, color: opts.color });
  if (blueGreen) {
    const r = await swapOrRollback(h, 'swap', { ...swapOpts, image: view.state.releaseImage });
    view.activeColor = r.to;
    notes.push(`API released blue/green (${blueGreen.reasons.join(', ')} changed): ${r.from} → ${r.to}`);
  }
  // The path a client takes: nginx must answer /health from the active colour.
  const healed = await healEdge(h, { ...view, activeColor: view.activeColor }, { dryRun: false });
  if (healed) notes.push(healed);
  await recordDeploy(store, view, opts.only);
  return { view, plan, notes };
}

export async function deploy(h: StackHandle, opts: DeployOptions): Promise<DeployResult> {
  const t0 = performance.now();
  // Files the containers mount that deploy cannot render: checked before anything is written.
  await checkIdentityFile(h.loaded);
  let view = await viewStack(h, opts.replicas ? { replicas: opts.replicas } : {});
  if (!opts.dryRun) await renderStackFiles(h, { ...view.state, activeColor: view.activeColor });
  const scope = (p: Plan): Plan => (opts.only ? { ...p, containers: p.containers.filter((a) => opts.only!.includes(a.service)) } : p);
  let plan = scope(view.plan);
  const blink = edgeBlink(plan);
  const result = (changed: boolean, note?: string): DeployResult => ({
    project: h.project,
    changed,
    ...(note ? { note } : {}),
    ...(blink ? { edgeBlink: blink } : {}),
    dryRun: opts.dryRun,
    activeColor: view.activeColor,
    actions: summarizePlan(plan),
    networks: plan.networks,
    volumes: plan.volumes,
    durationMs: Math.round(performance.now() - t0),
  });
  if (opts.dryRun) return result(false);
  // Nothing to change on the engine: the edge still has to serve the active colour.
  const edgeDrift = planChanges(plan) === 0 && !opts.only ? await healEdge(h, view, { dryRun: true }) : null;
  if (planChanges(plan) === 0 && !view.state.switching && !edgeDrift) return result(false);
  if (blink && opts.confirm && !(await opts.confirm(`${blink}. Go ahead?`))) throw new UserError('nothing was changed', { hint: blink });

  await ensureImages(h, view, () => undefined);
  const stage = { now: 'nothing was changed yet' };
  const done = await withStackLock(
    h,
    { operation: opts.operation ?? 'deploy', image: view.config.images.api, force: opts.force, leftState: () => stage.now },
    ({ store }) => deployLocked(h, opts, store, scope, stage),
    (d) => ({ detail: [...d.notes, ...d.plan.containers.filter((a) => a.kind !== 'unchanged').map(describeAction)].join('; '), durationMs: Math.round(performance.now() - t0) }),
  );
  view = done.view;
  plan = done.plan;
  return result(true, done.notes.join('; ') || undefined);
}
