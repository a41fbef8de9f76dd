/**
 * Blue/green releases with no failed request (`swap`), and going back (`rollback`):
 * lock → image check → start the idle colour (migrations first) → gate on /health/ready from
 * inside the stack's network → rewrite upstream.conf, `nginx -t`, graceful reload → drain and stop
 * the old colour (kept for rollback) → roll the queue workers one by one → record on the host.
 * Anything failing before the switch removes the new colour and leaves the old one serving.
 */
import type Docker from 'dockerode';
import { UserError } from '../util/errors.ts';
import path from 'node:path';
import { COLORS, SERVICE, type Color } from '../stack/names.ts';
import { buildStack } from '../stack/build.ts';
import { desiredStack, type DesiredContainer } from '../docker/desired.ts';
import { ContainerFailed, createAndStart, imageIds, pullImage, stopAndRemove, tailLogs, waitReady } from '../docker/engine.ts';
import { acquireLock, HostStore, type Lock } from '../docker/host-state.ts';
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
}

export interface SwapResult {
  operation: 'swap' | 'rollback';
  from: Color;
  to: Color;
  image: string;
  previousImage: string | null;
  workersRolled: number;
  timingsMs: { imageCheck: number; start: number; healthGate: number; switch: number; drain: number; workers: number; total: number };
}

function other(c: Color): Color {
  return c === 'blue' ? 'green' : 'blue';
}

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
  const logs = await tailLogs(docker, id, 50);
  const probe = err instanceof ContainerFailed ? err.probeOutput : '';
  const reason = err instanceof Error ? err.message : String(err);
  throw new UserError(
    [`${service} did not become ready: ${reason}`, `--- last 50 log lines of ${service} ---\n${logs.trimEnd() || '(no output)'}`, ...(probe ? [`--- /health/ready ---\n${probe}`] : [])].join('\n'),
    { hint: 'the old colour is still serving; fix the release and swap again', details: { service, reason, logs, health: probe } },
  );
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
  try {
    view = await viewStack(h);
    const from = view.activeColor as Color;
    if (!COLORS.includes(from)) throw new UserError(`unknown active colour "${view.activeColor}" recorded on the host`);
    const current = containersOf(view, SERVICE.api(from)).filter((c) => c.state === 'running');
    if (current.length === 0) {
      throw new UserError(`the active colour ${from} is not running`, { hint: 'run `modelship deploy` first; swap releases a new version of a running stack' });
    }
    const nginx = containersOf(view, SERVICE.nginx).find((c) => c.state === 'running');
    if (!nginx) throw new UserError('nginx is not running', { hint: 'run `modelship deploy` first' });

    let to: Color;
    let image: string;
    const previousImage = view.state.colors[from]?.image ?? current[0]!.image;
    if (mode === 'swap') {
      to = other(from);
      image = opts.image ?? h.loaded.config.images.api;
    } else {
      to = (view.state.previousColor as Color | undefined) ?? other(from);
      const target = containersOf(view, SERVICE.api(to));
      if (target.length === 0) throw new UserError(`nothing to roll back to: no ${SERVICE.api(to)} container is kept on the host`, { hint: 'rollback returns to the colour a swap replaced; it needs one swap first' });
      image = view.state.colors[to]?.image ?? target[0]!.image;
    }

    let newIds: string[] = [];
    let switched = false;
    let workersRolled = 0;
    const steps: Step[] = [
      {
        title: `Check image ${image}`,
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
        title: `Start ${SERVICE.api(to)}`,
        run: async (note) => {
          const t = performance.now();
          const { apis } = desiredApi(h, view, to, image);
          const existing = containersOf(view, SERVICE.api(to));
          if (mode === 'rollback' && existing.length > 0) {
            for (const c of existing) if (c.state !== 'running') await docker.getContainer(c.id).start();
            newIds = existing.map((c) => c.id);
          } else {
            for (const c of existing) {
              note(`removing the previous ${c.name}`);
              await stopAndRemove(docker, c.id, 10);
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
        title: `Health gate: ${SERVICE.api(to)} /health/ready`,
        run: async (note) => {
          const t = performance.now();
          const spec = desiredApi(h, view, to, image).apis[0]!.spec;
          await Promise.all(
            newIds.map(async (id) => {
              try {
                await waitReady(docker, id, {
                  timeoutMs: opts.healthTimeoutSeconds * 1000,
                  intervalMs: 1000,
                  test: spec.healthcheck?.test,
                  onProbe: (r) => note(r.ok ? 'ready' : (r.output.split('\n').pop() ?? '').slice(0, 120)),
                });
              } catch (err) {
                await failWith(docker, SERVICE.api(to), id, err);
              }
            }),
          );
          mark('healthGate', t);
          return `${newIds.length} ready`;
        },
      },
      {
        title: `Switch nginx to ${to}`,
        run: async () => {
          const t = performance.now();
          const r = await switchUpstream(docker, {
            project: h.project,
            renderDir: h.renderDir,
            config: effectiveConfig(h.loaded.config, { ...view.state, activeColor: to }),
            color: to,
            containerIds: newIds,
          });
          switched = true;
          mark('switch', t);
          return `${r.servers.join(', ')}: nginx -t ok, reloaded`;
        },
      },
      {
        title: `Drain and stop ${SERVICE.api(from)} (kept for rollback)`,
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
          mark('drain', t);
          return `stopped (exit ${codes.join(', ')})`;
        },
      },
      {
        title: 'Roll queue workers one by one',
        run: async (note) => {
          const t = performance.now();
          const { workers } = desiredApi(h, view, to, image);
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
      // Before the switch: the new colour goes away (swap) or back to sleep (rollback).
      if (!switched) {
        for (const id of newIds) {
          if (mode === 'swap') await stopAndRemove(docker, id, 5).catch(() => undefined);
          else await docker.getContainer(id).stop({ t: 5 }).catch(() => undefined);
        }
      }
      throw err;
    }
    timings.total = Math.round(performance.now() - t0);
    await store.update((s) => {
      s.previousColor = from;
      s.activeColor = to;
      s.colors[from] = { image: previousImage, since: s.colors[from]?.since ?? new Date().toISOString() };
      s.colors[to] = { image, since: new Date().toISOString() };
      if (mode === 'swap') {
        if (opts.image) s.releaseImage = opts.image;
        else delete s.releaseImage;
      } else if (image !== h.loaded.config.images.api) s.releaseImage = image;
      else delete s.releaseImage;
    });
    await renderStackFiles(h, { ...view.state, activeColor: to, ...(image !== h.loaded.config.images.api ? { releaseImage: image } : {}) });
    await store.audit({ command: mode === 'swap' ? `swap${opts.image ? ` --image ${opts.image}` : ''}` : 'rollback', result: 'ok', detail: `${from} → ${to} (${image})`, durationMs: timings.total });
    return { operation: mode, from, to, image, previousImage, workersRolled, timingsMs: timings };
  } catch (err) {
    await store.audit({ command: mode, result: 'failed', detail: err instanceof Error ? err.message.split('\n')[0]! : String(err), durationMs: Math.round(performance.now() - t0) }).catch(() => undefined);
    throw err;
  } finally {
    if (!heldLock) await lock.release();
  }
}
