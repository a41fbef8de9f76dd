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
import type Docker from 'dockerode';
import { UserError } from '../util/errors.ts';
import path from 'node:path';
import { COLORS, SERVICE, type Color } from '../stack/names.ts';
import { buildStack } from '../stack/build.ts';
import { desiredStack, type DesiredContainer } from '../docker/desired.ts';
import { ContainerFailed, createAndStart, engineWentAway, imageIds, isEngineGone, joinGatedNetworks, pullImage, stopAndRemove, tailLogs, waitReady } from '../docker/engine.ts';
import { acquireLock, HostStore, type HostState, type Lock, type SwitchIntent } from '../docker/host-state.ts';
import { judgeEdge } from './edge/check.ts';
import { probeEdge } from './edge/probe.ts';
import { readServedColor } from './edge/served.ts';
import { decideIntent } from './intent.ts';
import { runMigrations } from './deploy.ts';
import { switchUpstream } from './upstream.ts';
import { runSteps, type Step } from './progress.ts';
import { deployProfiles, effectiveConfig, renderStackFiles, viewStack, type StackHandle, type StackView } from './stack.ts';
import { renderForDir } from './render.ts';

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

function containersOf(view: StackView, service: string): Array<{ id: string; name: string; state: string; image: string }> {
  return view.actual.containers
    .filter((x) => x.labels['com.docker.compose.service'] === service && x.labels['org.modelship.internal'] === undefined && x.labels['com.docker.compose.oneoff'] !== 'True')
    .map((c) => ({ id: c.id, name: c.name, state: c.state, image: c.image }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** The desired API containers for a colour with a given image (same spec deploy would create). */
function desiredApi(h: StackHandle, view: StackView, color: Color, image: string): { apis: DesiredContainer[]; workers: DesiredContainer[] } {
  const config = { ...view.config, api: { ...view.config.api, activeColor: color }, images: { ...view.config.images, api: image } };
  const spec = buildStack(config, { configFileName: path.basename(h.loaded.file) });
  const desired = desiredStack(spec, {
    renderDir: h.renderDir,
    configDir: h.loaded.dir,
    envFileValues: h.loaded.env,
    imageIds: view.images,
    activeColor: color,
    profiles: deployProfiles(),
    renderedFiles: renderForDir({ ...h.loaded, config }, h.renderDir),
  });
  const apis = desired.containers.filter((c) => c.service === SERVICE.api(color));
  if (apis.length === 0) throw new UserError(`no ${SERVICE.api(color)} service in the stack`);
  return { apis, workers: desired.containers.filter((c) => c.service === SERVICE.worker) };
}

async function failWith(docker: Docker, service: string, id: string, err: unknown): Promise<never> {
  if (isEngineGone(err)) throw err;
  const logs = await tailLogs(docker, id, 50);
  const probe = err instanceof ContainerFailed ? err.probeOutput : '';
  const reason = err instanceof Error ? err.message : String(err);
  throw new UserError(
    [`${service} did not become ready: ${reason}`, `--- last 50 log lines of ${service} ---\n${logs.trimEnd() || '(no output)'}`, ...(probe ? [`--- /health/ready ---\n${probe}`] : [])].join('\n'),
    { hint: 'the old colour is still serving; fix the release and swap again', details: { service, reason, logs, health: probe } },
  );
}

/** Colours with at least one running API container. */
export function runningColors(view: StackView): Set<string> {
  return new Set(COLORS.filter((c) => containersOf(view, SERVICE.api(c)).some((x) => x.state === 'running' && !x.name.endsWith(KEPT_SUFFIX))));
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

/**
 * `heldLock`: the caller (deploy) already holds the stack lock; swap runs under it and leaves it.
 */
export async function swapOrRollback(h: StackHandle, mode: 'swap' | 'rollback', opts: SwapOptions, heldLock?: Lock): Promise<SwapResult> {
  const t0 = performance.now();
  const docker = h.docker;
  let view = await viewStack(h);
  const lockImage = view.config.images.api;
  const store = new HostStore(docker, h.project, lockImage);
  const command = mode === 'swap' ? `swap${opts.image ? ` --image ${opts.image}` : ''}` : 'rollback';
  const lock =
    heldLock ??
    (await acquireLock(docker, h.project, mode, lockImage, { force: opts.force }).catch(async (err: unknown) => {
      await store.audit({ command: mode, result: 'refused', detail: err instanceof Error ? err.message : String(err) }).catch(() => undefined);
      throw err;
    }));
  const timings = { imageCheck: 0, start: 0, healthGate: 0, switch: 0, drain: 0, workers: 0, total: 0 };
  const mark = (key: keyof typeof timings, since: number): void => {
    timings[key] = Math.round(performance.now() - since);
  };
  let from: Color | undefined;
  let to: Color | undefined;
  let switched = false;
  try {
    // Written first, so a killed run still leaves a line in the audit log.
    if (!heldLock) await store.audit({ command, result: 'started', ...(lock.brokeStale ? { detail: `broke the stale lock of ${lock.brokeStale}` } : {}) });
    view = await viewStack(h);

    // An earlier swap or rollback that was killed: what nginx serves decides.
    const decision = decideIntent(view.state, runningColors(view), ...(await readServedColor(h, view.config)));
    let resume: SwitchIntent | undefined;
    if (decision.kind === 'revert') {
      const back = decision.intent.from as Color;
      await switchUpstream(docker, { project: h.project, renderDir: h.renderDir, config: effectiveConfig(h.loaded.config, { ...view.state, activeColor: back }), color: back });
    }
    if (decision.kind === 'discard' || decision.kind === 'revert') {
      await store.update((st) => void delete st.switching);
      view = await viewStack(h);
    } else if (decision.kind === 'finish') {
      resume = decision.intent;
      await store.update((st) => recordSwitch(st, decision.intent, h.loaded.config.images.api));
      switched = true;
      view = await viewStack(h);
    }

    if (opts.resumeOnly && !resume) {
      const c = (view.activeColor as Color) ?? 'blue';
      const why = decision.kind === 'none' ? undefined : `${decision.why}: ${decision.kind === 'revert' ? `nginx pointed back at ${decision.intent.from}` : 'withdrawn'}`;
      return { operation: mode, from: c, to: c, image: view.config.images.api, previousImage: null, workersRolled: 0, ...(why ? { resumed: why } : {}), timingsMs: timings };
    }
    let image: string;
    let previousImage: string | null;
    let current: Array<{ id: string; name: string; state: string; image: string }>;
    if (resume) {
      from = resume.from as Color;
      to = resume.to as Color;
      image = resume.image;
      previousImage = resume.previousImage;
      current = containersOf(view, SERVICE.api(from)).filter((c) => c.state === 'running');
    } else {
      from = view.activeColor as Color;
      if (!COLORS.includes(from)) throw new UserError(`unknown active colour "${view.activeColor}" recorded on the host`);
      current = containersOf(view, SERVICE.api(from)).filter((c) => c.state === 'running');
      if (current.length === 0) {
        throw new UserError(`the active colour ${from} is not running`, { hint: 'run `modelship deploy` first; swap releases a new version of a running stack' });
      }
      const nginx = containersOf(view, SERVICE.nginx).find((c) => c.state === 'running');
      if (!nginx) throw new UserError('nginx is not running', { hint: 'run `modelship deploy` first' });
      previousImage = view.state.colors[from]?.image ?? current[0]!.image;
      if (mode === 'swap') {
        to = other(from);
        image = opts.image ?? h.loaded.config.images.api;
      } else {
        to = (view.state.previousColor as Color | undefined) ?? other(from);
        const target = containersOf(view, SERVICE.api(to));
        if (target.length === 0) throw new UserError(`nothing to roll back to: no ${SERVICE.api(to)} container is kept on the host`, { hint: 'rollback returns to the colour a swap replaced; it needs one swap first' });
        image = view.state.colors[to]?.image ?? target[0]!.image;
      }
    }
    const fromC: Color = from;
    const toC: Color = to;
    const intent: SwitchIntent = {
      operation: resume?.operation ?? mode,
      from: fromC,
      to: toC,
      image,
      previousImage,
      ...(mode === 'swap' && opts.image ? { releaseImage: opts.image } : {}),
      startedAt: new Date().toISOString(),
    };

    let newIds: string[] = resume ? containersOf(view, SERVICE.api(toC)).filter((c) => c.state === 'running' && !c.name.endsWith(KEPT_SUFFIX)).map((c) => c.id) : [];
    /** The colour's previous release, renamed aside while the new one starts (swap only). */
    const setAside: Array<{ id: string; name: string }> = [];
    let workersRolled = 0;
    const skipDone = resume ? `done by the interrupted ${resume.operation}` : false;
    const steps: Step[] = [
      {
        title: `Check image ${image}`,
        skip: skipDone,
        run: async () => {
          const t = performance.now();
          const have = await imageIds(docker, [image]);
          if (!have[image]) {
            const r = await pullImage(docker, image);
            if (!r.ok) throw new UserError(`image ${image} is not present and could not be pulled (${r.reason}); nothing was changed`, { hint: 'build it with `modelship build --tag …` or load it with `docker load`' });
          }
          view.images[image] = (await imageIds(docker, [image]))[image]!;
          mark('imageCheck', t);
          return 'present';
        },
      },
      {
        title: `Start ${SERVICE.api(toC)}`,
        skip: skipDone,
        run: async (note) => {
          const t = performance.now();
          const { apis } = desiredApi(h, view, toC, image);
          const existing = containersOf(view, SERVICE.api(toC));
          const kept = existing.filter((c) => c.name.endsWith(KEPT_SUFFIX));
          const live = existing.filter((c) => !c.name.endsWith(KEPT_SUFFIX));
          if (mode === 'rollback' && live.length > 0) {
            for (const c of live) if (c.state !== 'running') await docker.getContainer(c.id).start();
            newIds = live.map((c) => c.id);
          } else {
            // The colour's previous release stays on the host under another name until the new one
            // serves: a failed swap puts it back, so `rollback` still has it.
            for (const c of live) {
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
              setAside.push({ id: c.id, name: c.name });
            }
            note('migrations');
            await runMigrations(docker, h, apis[0]!, opts.healthTimeoutSeconds);
            for (const api of apis) {
              note(`starting ${api.name}`);
              newIds.push(await createAndStart(docker, api));
            }
          }
          mark('start', t);
          return `${image} × ${newIds.length}`;
        },
      },
      {
        title: `Health gate: ${SERVICE.api(toC)} /health/ready`,
        skip: skipDone,
        run: async (note) => {
          const t = performance.now();
          const api = desiredApi(h, view, toC, image).apis[0]!;
          await Promise.all(
            newIds.map(async (id) => {
              try {
                await waitReady(docker, id, {
                  timeoutMs: opts.healthTimeoutSeconds * 1000,
                  intervalMs: 1000,
                  test: api.spec.healthcheck?.test,
                  onProbe: (r) => note(r.ok ? 'ready' : (r.output.split('\n').pop() ?? '').slice(0, 120)),
                });
              } catch (err) {
                await failWith(docker, SERVICE.api(toC), id, err);
              }
              // Gated: from now on it carries the name nginx routes to.
              await joinGatedNetworks(docker, api, id);
            }),
          );
          mark('healthGate', t);
          return `${newIds.length} ready`;
        },
      },
      {
        title: `Switch nginx to ${toC}`,
        skip: skipDone,
        run: async () => {
          const t = performance.now();
          // The intent goes first: a process killed after the reload leaves it for the next run.
          await store.update((st) => void (st.switching = intent));
          const config = effectiveConfig(h.loaded.config, { ...view.state, activeColor: toC });
          const r = await switchUpstream(docker, { project: h.project, renderDir: h.renderDir, config, color: toC });
          switched = true;
          let checked: string;
          try {
            checked = await checkEdgeServes(h, config, toC);
          } catch (err) {
            // Back to what served before; the new colour goes away with the failure below.
            await switchUpstream(docker, { project: h.project, renderDir: h.renderDir, config: effectiveConfig(h.loaded.config, { ...view.state, activeColor: fromC }), color: fromC });
            switched = false;
            throw err;
          }
          await store.update((st) => recordSwitch(st, intent, h.loaded.config.images.api));
          mark('switch', t);
          return `${r.target}: nginx -t ok, reloaded; ${checked}`;
        },
      },
      {
        title: `Drain and stop ${SERVICE.api(fromC)} (kept for rollback)`,
        run: async () => {
          const t = performance.now();
          // SIGTERM: each server turns unready, finishes what it holds and exits; the engine waits
          // up to the drain timeout before SIGKILL. The containers are kept.
          const codes = await Promise.all(
            current.map(async (c) => {
              await docker.getContainer(c.id).stop({ t: opts.drainTimeoutSeconds }).catch((err: { statusCode?: number }) => {
                if (err.statusCode !== 304) throw err;
              });
              return (await docker.getContainer(c.id).inspect()).State.ExitCode;
            }),
          );
          // The release the new one replaced is no longer needed: the old colour is the rollback target.
          const replaced = [...setAside.map((c) => c.id), ...containersOf(view, SERVICE.api(toC)).filter((c) => c.name.endsWith(KEPT_SUFFIX)).map((c) => c.id)];
          for (const id of new Set(replaced)) await stopAndRemove(docker, id, 5);
          mark('drain', t);
          return codes.length === 0 ? 'already stopped' : `stopped (exit ${codes.join(', ')})`;
        },
      },
      {
        title: 'Roll queue workers one by one',
        run: async (note) => {
          const t = performance.now();
          const { workers } = desiredApi(h, view, toC, image);
          const actualWorkers = view.actual.containers.filter((c) => c.labels['com.docker.compose.service'] === SERVICE.worker);
          for (const w of workers) {
            const old = actualWorkers.find((a) => a.name === w.name);
            if (old && old.labels['org.modelship.hash'] === w.hash && old.state === 'running') continue;
            note(`${w.name}: finishing its job`);
            if (old) await stopAndRemove(docker, old.id, w.spec.stopGracePeriodSeconds);
            const id = await createAndStart(docker, w);
            await waitReady(docker, id, { timeoutMs: opts.healthTimeoutSeconds * 1000, test: w.spec.healthcheck?.test });
            workersRolled++;
          }
          mark('workers', t);
          return workersRolled === 0 ? 'already on this image' : `${workersRolled} rolled`;
        },
      },
    ];
    try {
      await runSteps(steps, { json: opts.json, color: opts.color });
    } catch (err) {
      // Before the switch: the new colour goes away (swap) or back to sleep (rollback), the
      // previous release comes back under its name, and the intent is withdrawn.
      if (!switched) {
        for (const id of newIds) {
          if (mode === 'swap') await stopAndRemove(docker, id, 5).catch(() => undefined);
          else await docker.getContainer(id).stop({ t: 5 }).catch(() => undefined);
        }
        for (const c of setAside) await docker.getContainer(c.id).rename({ name: c.name }).catch(() => undefined);
        await store.update((st) => void delete st.switching).catch(() => undefined);
      }
      throw err;
    }
    timings.total = Math.round(performance.now() - t0);
    const recorded = await store.read();
    await renderStackFiles(h, recorded);
    const resumed = resume ? `finished an interrupted ${resume.operation} ${fromC} → ${toC} (${decision.kind === 'finish' ? decision.why : ''})` : undefined;
    await store.audit({ command, result: 'ok', detail: `${resumed ? `${resumed}; ` : ''}${fromC} → ${toC} (${image})`, durationMs: timings.total });
    return {
      operation: resume?.operation ?? mode,
      from: fromC,
      to: toC,
      image,
      previousImage,
      workersRolled,
      ...(resumed ? { resumed } : {}),
      ...(lock.brokeStale ? { brokeStaleLock: lock.brokeStale } : {}),
      timingsMs: timings,
    };
  } catch (err) {
    const gone = isEngineGone(err);
    const state = switched && to ? `nginx already serves ${to}` : from ? `nothing was switched: ${from} still serves` : 'nothing was changed';
    const final = gone ? engineWentAway(err, mode, state) : err;
    await store.audit({ command, result: 'failed', detail: final instanceof Error ? final.message.split('\n')[0]! : String(final), durationMs: Math.round(performance.now() - t0) }).catch(() => undefined);
    throw final;
  } finally {
    if (!heldLock) await lock.release();
  }
}
