/**
 * Blue/green releases with no failed request (`swap`), and going back (`rollback`):
 * lock → audit "started" → reconcile an interrupted switch → image check → start the idle colour
 * (migrations first; the colour's previous release is renamed aside, not deleted) → gate on
 * /health/ready → join the front network (only gated containers carry the name nginx routes to) →
 * record the intent → rewrite upstream.conf, `nginx -t`, graceful reload, check the edge serves the
 * new colour → record → drain and stop the old colour (kept for rollback) → roll the queue workers.
 * Anything failing before the switch removes the new colour, puts the previous release back and
 * leaves the old one serving; a process killed after the reload leaves the intent, and the next
 * swap, rollback or deploy finishes it from what nginx really serves.
 */
import { UserError } from '../util/errors.ts';
import { COLORS, MS_LABEL, SERVICE, type Color } from '../stack/names.ts';
import type { DesiredContainer } from '../docker/desired.ts';
import { containersOf, createAndStart, imageIds, joinGatedNetworks, pullImage, stopAndRemove, waitReady } from '../docker/engine.ts';
import type { HostState, HostStore, SwitchIntent } from '../docker/host-state.ts';
import type { ActualContainer } from '../docker/plan.ts';
import { judgeEdge } from './edge/check.ts';
import { probeEdge } from './edge/probe.ts';
import { readServedColor } from './edge/served.ts';
import { notReadyReport } from './failure-report.ts';
import { decideIntent, type IntentDecision } from './intent.ts';
import { withStackLock, type LockedRun } from './lock.ts';
import { runMigrations } from './migrations.ts';
import { switchUpstream } from './upstream.ts';
import { runSteps, type Step } from './progress.ts';
import { desiredFor, effectiveConfig, hostStack, renderStackFiles, viewStack, type StackHandle, type StackView } from './stack.ts';

export interface SwapOptions {
  /** New API image (swap only); default: images.api from the config. */
  image?: string | undefined;
  healthTimeoutSeconds: number;
  drainTimeoutSeconds: number;
  force: boolean;
  json: boolean;
  color: boolean;
  /** Only settle an interrupted swap or rollback (deploy under its lock); start nothing new. */
  resumeOnly?: boolean;
}

export interface SwapResult {
  operation: 'swap' | 'rollback';
  from: Color;
  to: Color;
  image: string;
  previousImage: string | null;
  workersRolled: number;
  /** Set when this run finished a swap or rollback an earlier, interrupted process had switched. */
  resumed?: string;
  /** Set when a lock left by a process that is gone was broken. */
  brokeStaleLock?: string;
  timingsMs: { imageCheck: number; start: number; healthGate: number; switch: number; drain: number; workers: number; total: number };
}

function other(c: Color): Color {
  return c === 'blue' ? 'green' : 'blue';
}

/** Suffix of a colour's previous release while a swap into that colour runs (put back on failure). */
export const KEPT_SUFFIX = '-previous';

const live = (c: { name: string }): boolean => !c.name.endsWith(KEPT_SUFFIX);

/** The desired API containers for a colour with a given image (same spec deploy would create). */
function desiredApi(h: StackHandle, view: StackView, color: Color, image: string): { apis: DesiredContainer[]; workers: DesiredContainer[] } {
  const config = { ...view.config, api: { ...view.config.api, activeColor: color }, images: { ...view.config.images, api: image } };
  const desired = desiredFor(h, config, { images: view.images, activeColor: color });
  const apis = desired.containers.filter((c) => c.service === SERVICE.api(color));
  if (apis.length === 0) throw new UserError(`no ${SERVICE.api(color)} service in the stack`);
  return { apis, workers: desired.containers.filter((c) => c.service === SERVICE.worker) };
}

/** Colours with at least one running API container. */
export function runningColors(view: StackView): Set<string> {
  return new Set(COLORS.filter((c) => containersOf(view.actual.containers, SERVICE.api(c), true).some(live)));
}

/** Records a switch that reached nginx: the new colour is active, the old one the rollback target. */
function recordSwitch(s: HostState, intent: SwitchIntent, configImage: string): void {
  const now = new Date().toISOString();
  s.previousColor = intent.from;
  s.activeColor = intent.to;
  if (intent.previousImage) s.colors[intent.from] = { image: intent.previousImage, since: s.colors[intent.from]?.since ?? now };
  s.colors[intent.to] = { image: intent.image, since: now };
  if (intent.operation === 'swap') {
    if (intent.releaseImage) s.releaseImage = intent.releaseImage;
    else delete s.releaseImage;
  } else if (intent.image !== configImage) s.releaseImage = intent.image;
  else delete s.releaseImage;
  delete s.switching;
}

/** After the reload: a request through nginx must reach the new colour (new connections only). */
async function checkEdgeServes(h: StackHandle, config: StackView['config'], to: Color): Promise<string> {
  let last = '';
  for (let i = 0; i < 6; i++) {
    const v = judgeEdge(await probeEdge(h.docker, h.project, config), to);
    if (v.ok) return v.summary;
    last = v.summary;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new UserError(`after the reload nginx does not serve ${to}: ${last}`);
}

type Timings = SwapResult['timingsMs'];

/** Where a swap or rollback stands; what the steps share. */
interface SwapRun {
  h: StackHandle;
  mode: 'swap' | 'rollback';
  opts: SwapOptions;
  store: HostStore;
  view: StackView;
  from: Color;
  to: Color;
  image: string;
  previousImage: string | null;
  /** The running containers of the old colour. */
  current: ActualContainer[];
  intent: SwitchIntent;
  /** Set when this run finishes a switch an interrupted process had made. */
  resume?: SwitchIntent;
  newIds: string[];
  /** The colour's previous release, renamed aside while the new one starts (swap only). */
  setAside: Array<{ id: string; name: string }>;
  workersRolled: number;
  /** nginx serves `to` (from here on a failure no longer takes the new colour away). */
  switched: boolean;
  timings: Timings;
}

/** Runs `fn` and records how long it took under `key`. */
async function timed<T>(r: SwapRun, key: keyof Timings, fn: () => Promise<T>): Promise<T> {
  const t = performance.now();
  const out = await fn();
  r.timings[key] = Math.round(performance.now() - t);
  return out;
}

/** An earlier swap or rollback that was killed: what nginx serves decides (finish, discard, revert). */
async function settleInterrupted(h: StackHandle, store: HostStore, view: StackView): Promise<{ decision: IntentDecision; view: StackView; resume?: SwitchIntent }> {
  const decision = decideIntent(view.state, runningColors(view), ...(await readServedColor(h, view.config)));
  if (decision.kind === 'revert') {
    const back = decision.intent.from as Color;
    await switchUpstream(h.docker, { project: h.project, renderDir: h.renderDir, config: effectiveConfig(h.loaded.config, { ...view.state, activeColor: back }), color: back });
  }
  if (decision.kind === 'discard' || decision.kind === 'revert') {
    await store.update((st) => void delete st.switching);
    return { decision, view: await viewStack(h) };
  }
  if (decision.kind === 'finish') {
    await store.update((st) => recordSwitch(st, decision.intent, h.loaded.config.images.api));
    return { decision, view: await viewStack(h), resume: decision.intent };
  }
  return { decision, view };
}

type Target = Pick<SwapRun, 'from' | 'to' | 'image' | 'previousImage' | 'current'>;

/** From which colour to which, with what image; refuses when there is nothing to swap or roll back. */
function chooseTarget(h: StackHandle, view: StackView, mode: 'swap' | 'rollback', opts: SwapOptions, resume?: SwitchIntent): Target {
  if (resume) {
    const from = resume.from as Color;
    return { from, to: resume.to as Color, image: resume.image, previousImage: resume.previousImage, current: containersOf(view.actual.containers, SERVICE.api(from), true) };
  }
  const from = view.activeColor as Color;
  if (!COLORS.includes(from)) throw new UserError(`unknown active colour "${view.activeColor}" recorded on the host`);
  const current = containersOf(view.actual.containers, SERVICE.api(from), true);
  if (current.length === 0) {
    throw new UserError(`the active colour ${from} is not running`, { hint: 'run `modelship deploy` first; swap releases a new version of a running stack' });
  }
  if (containersOf(view.actual.containers, SERVICE.nginx, true).length === 0) throw new UserError('nginx is not running', { hint: 'run `modelship deploy` first' });
  const previousImage = view.state.colors[from]?.image ?? current[0]!.image;
  if (mode === 'swap') return { from, to: other(from), image: opts.image ?? h.loaded.config.images.api, previousImage, current };
  const to = (view.state.previousColor as Color | undefined) ?? other(from);
  const target = containersOf(view.actual.containers, SERVICE.api(to));
  if (target.length === 0) throw new UserError(`nothing to roll back to: no ${SERVICE.api(to)} container is kept on the host`, { hint: 'rollback returns to the colour a swap replaced; it needs one swap first' });
  return { from, to, image: view.state.colors[to]?.image ?? target[0]!.image, previousImage, current };
}

/** The new image is on the engine (pulled if need be) before anything changes. */
async function checkImage(r: SwapRun): Promise<string> {
  const docker = r.h.docker;
  const have = await imageIds(docker, [r.image]);
  if (!have[r.image]) {
    const p = await pullImage(docker, r.image);
    if (!p.ok) throw new UserError(`image ${r.image} is not present and could not be pulled (${p.reason}); nothing was changed`, { hint: 'build it with `modelship build --tag …` or load it with `docker load`' });
  }
  r.view.images[r.image] = (await imageIds(docker, [r.image]))[r.image]!;
  return 'present';
}

/**
 * The colour's previous release stays on the host under another name until the new one serves: a
 * failed swap puts it back, so `rollback` still has it.
 */
async function setPreviousAside(r: SwapRun, existing: ActualContainer[], note: (m: string) => void): Promise<void> {
  const docker = r.h.docker;
  const kept = existing.filter((c) => !live(c));
  for (const c of existing.filter(live)) {
    if (kept.length > 0) {
      note(`removing ${c.name} (left by an interrupted swap)`);
      await stopAndRemove(docker, c.id, 10);
      continue;
    }
    note(`setting the previous ${c.name} aside`);
    if (c.state === 'running') await docker.getContainer(c.id).stop({ t: 10 }).catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 304) throw err;
    });
    await docker.getContainer(c.id).rename({ name: `${c.name}${KEPT_SUFFIX}` });
    r.setAside.push({ id: c.id, name: c.name });
  }
}

/** start_new_version: rollback wakes the kept colour; swap migrates, then starts the new release. */
async function startNewVersion(r: SwapRun, note: (m: string) => void): Promise<string> {
  const docker = r.h.docker;
  const { apis } = desiredApi(r.h, r.view, r.to, r.image);
  const existing = containersOf(r.view.actual.containers, SERVICE.api(r.to));
  const waking = existing.filter(live);
  if (r.mode === 'rollback' && waking.length > 0) {
    for (const c of waking) if (c.state !== 'running') await docker.getContainer(c.id).start();
    r.newIds = waking.map((c) => c.id);
  } else {
    await setPreviousAside(r, existing, note);
    note('migrations');
    await runMigrations(docker, r.h, apis[0]!, r.opts.healthTimeoutSeconds);
    for (const api of apis) {
      note(`starting ${api.name}`);
      r.newIds.push(await createAndStart(docker, api));
    }
  }
  return `${r.image} × ${r.newIds.length}`;
}

/** Each new container passes /health/ready, then joins the network nginx routes on. */
async function healthGate(r: SwapRun, note: (m: string) => void): Promise<string> {
  const docker = r.h.docker;
  const api = desiredApi(r.h, r.view, r.to, r.image).apis[0]!;
  await Promise.all(
    r.newIds.map(async (id) => {
      try {
        await waitReady(docker, id, {
          timeoutMs: r.opts.healthTimeoutSeconds * 1000,
          intervalMs: 1000,
          test: api.spec.healthcheck?.test,
          onProbe: (p) => note(p.ok ? 'ready' : (p.output.split('\n').pop() ?? '').slice(0, 120)),
        });
      } catch (err) {
        await notReadyReport(docker, SERVICE.api(r.to), id, err);
      }
      // Gated: from now on it carries the name nginx routes to.
      await joinGatedNetworks(docker, api, id);
    }),
  );
  return `${r.newIds.length} ready`;
}

/** release_barrier: intent recorded, nginx pointed at the new colour and checked, switch recorded. */
async function switchNginx(r: SwapRun): Promise<string> {
  const { h, store, intent } = r;
  // The intent goes first: a process killed after the reload leaves it for the next run.
  await store.update((st) => void (st.switching = intent));
  const upstream = (color: Color): Promise<{ target: string; detail: string }> =>
    switchUpstream(h.docker, { project: h.project, renderDir: h.renderDir, config: effectiveConfig(h.loaded.config, { ...r.view.state, activeColor: color }), color });
  const done = await upstream(r.to);
  r.switched = true;
  let checked: string;
  try {
    checked = await checkEdgeServes(h, effectiveConfig(h.loaded.config, { ...r.view.state, activeColor: r.to }), r.to);
  } catch (err) {
    // Back to what served before; the new colour goes away with the failure below.
    await upstream(r.from);
    r.switched = false;
    throw err;
  }
  await store.update((st) => recordSwitch(st, intent, h.loaded.config.images.api));
  return `${done.target}: nginx -t ok, reloaded; ${checked}`;
}

/**
 * stop_old_version: SIGTERM, after which each server turns unready, finishes what it holds and
 * exits; the engine waits up to the drain timeout before SIGKILL. The containers are kept.
 */
async function stopOldVersion(r: SwapRun): Promise<string> {
  const docker = r.h.docker;
  const codes = await Promise.all(
    r.current.map(async (c) => {
      await docker.getContainer(c.id).stop({ t: r.opts.drainTimeoutSeconds }).catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 304) throw err;
      });
      return (await docker.getContainer(c.id).inspect()).State.ExitCode;
    }),
  );
  // The release the new one replaced is no longer needed: the old colour is the rollback target.
  const replaced = [...r.setAside.map((c) => c.id), ...containersOf(r.view.actual.containers, SERVICE.api(r.to)).filter((c) => !live(c)).map((c) => c.id)];
  for (const id of new Set(replaced)) await stopAndRemove(docker, id, 5);
  return codes.length === 0 ? 'already stopped' : `stopped (exit ${codes.join(', ')})`;
}

/** The queue workers run the new image too, one at a time (each finishes its job first). */
async function rollWorkers(r: SwapRun, note: (m: string) => void): Promise<string> {
  const docker = r.h.docker;
  const { workers } = desiredApi(r.h, r.view, r.to, r.image);
  const actualWorkers = containersOf(r.view.actual.containers, SERVICE.worker);
  for (const w of workers) {
    const old = actualWorkers.find((a) => a.name === w.name);
    if (old && old.labels[MS_LABEL.hash] === w.hash && old.state === 'running') continue;
    note(`${w.name}: finishing its job`);
    if (old) await stopAndRemove(docker, old.id, w.spec.stopGracePeriodSeconds);
    const id = await createAndStart(docker, w);
    await waitReady(docker, id, { timeoutMs: r.opts.healthTimeoutSeconds * 1000, test: w.spec.healthcheck?.test });
    r.workersRolled++;
  }
  return r.workersRolled === 0 ? 'already on this image' : `${r.workersRolled} rolled`;
}

/**
 * Before the switch: the new colour goes away (swap) or back to sleep (rollback), the previous
 * release comes back under its name, and the intent is withdrawn.
 */
async function undoBeforeSwitch(r: SwapRun): Promise<void> {
  const docker = r.h.docker;
  for (const id of r.newIds) {
    if (r.mode === 'swap') await stopAndRemove(docker, id, 5).catch(() => undefined);
    else await docker.getContainer(id).stop({ t: 5 }).catch(() => undefined);
  }
  for (const c of r.setAside) await docker.getContainer(c.id).rename({ name: c.name }).catch(() => undefined);
  await r.store.update((st) => void delete st.switching).catch(() => undefined);
}

function swapSteps(r: SwapRun): Step[] {
  const skip = r.resume ? `done by the interrupted ${r.resume.operation}` : false;
  const api = (c: Color): string => SERVICE.api(c);
  return [
    { title: `Check image ${r.image}`, skip, run: () => timed(r, 'imageCheck', () => checkImage(r)) },
    { title: `Start ${api(r.to)}`, skip, run: (note) => timed(r, 'start', () => startNewVersion(r, note)) },
    { title: `Health gate: ${api(r.to)} /health/ready`, skip, run: (note) => timed(r, 'healthGate', () => healthGate(r, note)) },
    { title: `Switch nginx to ${r.to}`, skip, run: () => timed(r, 'switch', () => switchNginx(r)) },
    { title: `Drain and stop ${api(r.from)} (kept for rollback)`, run: () => timed(r, 'drain', () => stopOldVersion(r)) },
    { title: 'Roll queue workers one by one', run: (note) => timed(r, 'workers', () => rollWorkers(r, note)) },
  ];
}

/** Where a failure leaves the stack, for the error when the engine goes away. */
interface Progress {
  from?: Color;
  to?: Color;
  switched: boolean;
}

function leftState(p: Progress): string {
  return p.switched && p.to ? `nginx already serves ${p.to}` : p.from ? `nothing was switched: ${p.from} still serves` : 'nothing was changed';
}

/** Under the stack lock: settle an interrupted switch, choose the target, run the steps, record. */
async function swapLocked(h: StackHandle, mode: 'swap' | 'rollback', opts: SwapOptions, locked: LockedRun, progress: Progress, t0: number): Promise<{ result: SwapResult; detail?: string }> {
  const { store, lock } = locked;
  const timings: Timings = { imageCheck: 0, start: 0, healthGate: 0, switch: 0, drain: 0, workers: 0, total: 0 };
  const settled = await settleInterrupted(h, store, await viewStack(h));
  const { decision, resume, view } = settled;
  if (resume) progress.switched = true;
  if (opts.resumeOnly && !resume) {
    const c = (view.activeColor as Color) ?? 'blue';
    const why = decision.kind === 'none' ? undefined : `${decision.why}: ${decision.kind === 'revert' ? `nginx pointed back at ${decision.intent.from}` : 'withdrawn'}`;
    return { result: { operation: mode, from: c, to: c, image: view.config.images.api, previousImage: null, workersRolled: 0, ...(why ? { resumed: why } : {}), timingsMs: timings } };
  }
  const target = chooseTarget(h, view, mode, opts, resume);
  progress.from = target.from;
  progress.to = target.to;
  const intent: SwitchIntent = {
    operation: resume?.operation ?? mode,
    from: target.from,
    to: target.to,
    image: target.image,
    previousImage: target.previousImage,
    ...(mode === 'swap' && opts.image ? { releaseImage: opts.image } : {}),
    startedAt: new Date().toISOString(),
  };
  const newIds = resume ? containersOf(view.actual.containers, SERVICE.api(target.to), true).filter(live).map((c) => c.id) : [];
  const r: SwapRun = { h, mode, opts, store, view, ...target, intent, ...(resume ? { resume } : {}), newIds, setAside: [], workersRolled: 0, switched: progress.switched, timings };
  try {
    await runSteps(swapSteps(r), { json: opts.json, color: opts.color });
  } catch (err) {
    progress.switched = r.switched;
    if (!r.switched) await undoBeforeSwitch(r);
    throw err;
  }
  progress.switched = r.switched;
  timings.total = Math.round(performance.now() - t0);
  await renderStackFiles(h, await store.read());
  const resumed = resume ? `finished an interrupted ${resume.operation} ${r.from} → ${r.to} (${decision.kind === 'finish' ? decision.why : ''})` : undefined;
  const result: SwapResult = {
    operation: resume?.operation ?? mode,
    from: r.from,
    to: r.to,
    image: r.image,
    previousImage: r.previousImage,
    workersRolled: r.workersRolled,
    ...(resumed ? { resumed } : {}),
    ...(lock.brokeStale ? { brokeStaleLock: lock.brokeStale } : {}),
    timingsMs: timings,
  };
  return { result, detail: `${resumed ? `${resumed}; ` : ''}${r.from} → ${r.to} (${r.image})` };
}

/**
 * A swap or rollback, under the stack lock (deploy runs it under its own, re-entrantly).
 */
export async function swapOrRollback(h: StackHandle, mode: 'swap' | 'rollback', opts: SwapOptions): Promise<SwapResult> {
  const t0 = performance.now();
  const lockImage = (await hostStack(h)).config.images.api;
  const command = mode === 'swap' ? `swap${opts.image ? ` --image ${opts.image}` : ''}` : 'rollback';
  const progress: Progress = { switched: false };
  const out = await withStackLock(
    h,
    { operation: mode, command, image: lockImage, force: opts.force, leftState: () => leftState(progress) },
    (locked) => swapLocked(h, mode, opts, locked, progress, t0),
    (o) => (o.detail === undefined ? undefined : { detail: o.detail, durationMs: o.result.timingsMs.total }),
  );
  return out.result;
}
