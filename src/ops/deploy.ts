/**
 * `modelship deploy`: render, check images, take the stack lock, create what is missing, recreate
 * what changed, gate every service on its dependencies' health, run migrations, record the result
 * on the host. Fails closed: on a failure what was healthy keeps running, and the report names the
 * service with its last log lines and health output.
 */
import type Docker from 'dockerode';
import { UserError } from '../util/errors.ts';
import { withTimeout } from '../util/timeout.ts';
import { SERVICE, type Color } from '../stack/names.ts';
import type { ServiceSpec } from '../stack/spec.ts';
import { COMPOSE_LABEL, MS_LABEL, type DesiredContainer } from '../docker/desired.ts';
import {
  ContainerFailed,
  createAndStart,
  createNetwork,
  createVolume,
  engineWentAway,
  isEngineGone,
  joinGatedNetworks,
  pullImage,
  stopAndRemove,
  tailLogs,
  waitReady,
} from '../docker/engine.ts';
import { acquireLock, HostStore, type Lock } from '../docker/host-state.ts';
import { describeAction, planChanges, type ContainerAction, type Plan } from '../docker/plan.ts';
import { runSteps, type Step } from './progress.ts';
import { healEdge } from './edge/heal.ts';
import { frontAddresses, reloadNginx, switchUpstream } from './upstream.ts';
import { ensureCertificate } from './tls-bootstrap.ts';
import { authFailure } from './auth-failure.ts';
import { databaseLogSince, passwordSteps } from './rotate-password.ts';
import type { Config } from '../config/schema.ts';
import { renderStackFiles, viewStack, type StackHandle, type StackView } from './stack.ts';

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

function failureReport(service: string, container: string, err: unknown, logs: string, probeOutput: string, login?: { secrets: Config['secrets']; databaseLog: string }): UserError {
  const reason = err instanceof Error ? err.message : String(err);
  const auth = login ? authFailure(`${logs}\n${probeOutput}\n${login.databaseLog}`, login.secrets) : null;
  const parts = [`deploy failed at ${service} (${container}): ${reason}${auth ? `: ${auth.cause}` : ''}`];
  parts.push(`--- last 50 log lines of ${container} ---\n${logs.trimEnd() || '(no output)'}`);
  if (probeOutput) parts.push(`--- health check output ---\n${probeOutput.trimEnd()}`);
  return new UserError(parts.join('\n'), {
    hint: auth ? `${auth.hint}; services that were healthy before keep running` : 'services that were healthy before keep running; fix the cause and run `modelship deploy` again',
    details: { service, container, reason, logs, health: probeOutput, ...(auth ? { cause: auth.cause } : {}) },
  });
}

/** Runs `modelship db migrate --direct` in a one-off container of the API image on the stack's network. */
export async function runMigrations(docker: Docker, h: StackHandle, api: DesiredContainer, timeoutSeconds: number): Promise<string> {
  const name = `${h.project}-migrate-${Date.now()}`;
  const { name: _n, ...base } = api.create;
  const labels: Record<string, string> = {
    [COMPOSE_LABEL.project]: h.project,
    [COMPOSE_LABEL.service]: 'migrate',
    [COMPOSE_LABEL.oneoff]: 'True',
    [MS_LABEL.project]: h.project,
    [MS_LABEL.service]: 'migrate',
  };
  const c = await docker.createContainer({
    ...(base as Docker.ContainerCreateOptions),
    name,
    Entrypoint: [],
    Cmd: ['modelship', 'db', 'migrate', '--direct'],
    Labels: labels,
    Healthcheck: { Test: ['NONE'] },
    HostConfig: { ...base.HostConfig, RestartPolicy: { Name: 'no' }, PortBindings: {} },
  } as Docker.ContainerCreateOptions);
  try {
    for (const n of api.extraNetworks) await docker.getNetwork(n.name).connect({ Container: c.id });
    await c.start();
    const result = (await withTimeout(c.wait(), timeoutSeconds * 1000, `migrations still running after ${timeoutSeconds} s`)) as { StatusCode: number };
    const logs = await tailLogs(docker, c.id, 50);
    if (result.StatusCode !== 0) throw failureReport('migrate', name, new Error(`migrations exited with code ${result.StatusCode}`), logs, '', { secrets: h.loaded.config.secrets, databaseLog: '' });
    return logs.trim().split('\n').pop() ?? 'done';
  } finally {
    await c.remove({ force: true }).catch(() => undefined);
  }
}

/** Why a plan recreates a running nginx (the edge drops connections meanwhile), or null. */
export function edgeBlink(plan: Plan): string | null {
  const a = plan.containers.find((x) => x.service === SERVICE.nginx && x.kind === 'recreate');
  if (!a || a.kind !== 'recreate' || a.actual.state !== 'running') return null;
  return `nginx is recreated (${a.reasons.join(', ')} changed): the edge drops connections for the few seconds its new container takes to start`;
}

export async function deploy(h: StackHandle, opts: DeployOptions): Promise<DeployResult> {
  const t0 = performance.now();
  const docker = h.docker;
  let view = await viewStack(h, opts.replicas ? { replicas: opts.replicas } : {});
  if (!opts.dryRun) await renderStackFiles(h, { ...view.state, activeColor: view.activeColor });
  const scoped = (p: Plan): Plan => (opts.only ? { ...p, containers: p.containers.filter((a) => opts.only!.includes(a.service)) } : p);
  let plan = scoped(view.plan);
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
  const lockImage = view.config.images.api;
  const store = new HostStore(docker, h.project, lockImage);
  const operation = opts.operation ?? 'deploy';
  const notes: string[] = [];
  const lock: Lock = await acquireLock(docker, h.project, operation, lockImage, { force: opts.force }).catch(async (err: unknown) => {
    await store.audit({ command: operation, result: 'refused', detail: err instanceof Error ? err.message : String(err) }).catch(() => undefined);
    throw err;
  });
  let stage = 'nothing was changed yet';
  try {
    // Written first, so a killed deploy still leaves a line in the audit log.
    await store.audit({ command: operation, result: 'started', ...(lock.brokeStale ? { detail: `broke the stale lock of ${lock.brokeStale}` } : {}) });
    const { swapOrRollback } = await import('./swap.ts');
    const swapOpts = { healthTimeoutSeconds: opts.timeoutSeconds, drainTimeoutSeconds: 30, force: false, json: opts.json, color: opts.color };
    // Re-read under the lock: another operator may have changed the stack meanwhile.
    view = await viewStack(h, opts.replicas ? { replicas: opts.replicas } : {});
    if (view.state.switching) {
      // A swap or rollback was killed: finish it (nginx serves the new colour) or withdraw it,
      // never silently revert it.
      const r = await swapOrRollback(h, 'swap', { ...swapOpts, image: undefined, resumeOnly: true }, lock);
      if (r.resumed) notes.push(r.resumed);
      view = await viewStack(h, opts.replicas ? { replicas: opts.replicas } : {});
      await renderStackFiles(h, { ...view.state, activeColor: view.activeColor });
      view = await viewStack(h, opts.replicas ? { replicas: opts.replicas } : {});
    }
    plan = scoped(view.plan);
    // A changed API is released the blue/green way (the idle colour with the new spec, gated,
    // switched, the old one drained) instead of being recreated in place, also when nginx changes
    // in the same deploy: deploy never takes the API down. Only a first deploy, or one without a
    // running nginx, recreates in place.
    const apiService = SERVICE.api(view.activeColor as Color);
    const nginxRunning = view.actual.containers.some((c) => c.labels[COMPOSE_LABEL.service] === SERVICE.nginx && c.state === 'running' && c.labels[MS_LABEL.internal] === undefined);
    const apiRecreates = plan.containers.filter((a) => a.service === apiService && a.kind === 'recreate');
    const blueGreen = nginxRunning && apiRecreates.length > 0 && !opts.only;
    const applied: Plan = blueGreen ? { ...plan, containers: plan.containers.filter((a) => !(a.service === apiService && a.kind === 'recreate')) } : plan;
    const steps = [...passwordSteps(h, view), ...buildSteps(h, view, applied, opts)];
    stage = 'some services may have been changed';
    await runSteps(steps, { json: opts.json, color: opts.color });
    if (blueGreen) {
      const r = await swapOrRollback(h, 'swap', { ...swapOpts, image: view.state.releaseImage }, lock);
      view.activeColor = r.to;
      notes.push(`API released blue/green (${apiRecreates[0]!.kind === 'recreate' ? apiRecreates[0]!.reasons.join(', ') : ''} changed): ${r.from} → ${r.to}`);
    }
    // The path a client takes: nginx must answer /health from the active colour.
    const healed = await healEdge(h, { ...view, activeColor: view.activeColor }, { dryRun: false });
    if (healed) notes.push(healed);
    const nginxFiles = view.desired.containers.find((c) => c.service === SERVICE.nginx)?.reloadFiles;
    await store.update((s) => {
      const api = view.desired.containers.find((c) => c.service === SERVICE.api(view.activeColor as 'blue' | 'green'));
      s.activeColor = view.activeColor;
      if (api) {
        const prev = s.colors[view.activeColor];
        s.colors[view.activeColor] = { image: api.create.Image, since: prev?.image === api.create.Image && prev.since ? prev.since : new Date().toISOString() };
      }
      if (nginxFiles !== undefined && (!opts.only || opts.only.includes(SERVICE.nginx))) s.reloaded = { ...(s.reloaded ?? {}), [SERVICE.nginx]: nginxFiles };
      s.lastDeploy = new Date().toISOString();
    });
    const changes = plan.containers.filter((a) => a.kind !== 'unchanged').map(describeAction);
    await store.audit({ command: operation, result: 'ok', detail: [...notes, ...changes].join('; '), durationMs: Math.round(performance.now() - t0) });
    return result(true, notes.join('; ') || undefined);
  } catch (err) {
    const final = isEngineGone(err) ? engineWentAway(err, operation, stage) : err;
    await store.audit({ command: operation, result: 'failed', detail: final instanceof Error ? final.message.split('\n')[0]! : String(final), durationMs: Math.round(performance.now() - t0) }).catch(() => undefined);
    throw final;
  } finally {
    await lock.release();
  }
}

function buildSteps(h: StackHandle, view: StackView, plan: Plan, opts: DeployOptions): Step[] {
  const docker = h.docker;
  const timeoutMs = opts.timeoutSeconds * 1000;
  const steps: Step[] = [];
  const services = new Map(view.desired.services.map((s) => [s.name, s]));
  const healthy = new Set<string>();
  const ids = new Map<string, string>();

  if (plan.networks.length + plan.volumes.length > 0) {
    steps.push({
      title: 'Networks and volumes',
      run: async () => {
        for (const name of plan.networks) await createNetwork(docker, view.desired.networks.find((n) => n.name === name)!);
        for (const name of plan.volumes) await createVolume(docker, view.desired.volumes.find((v) => v.name === name)!);
        return `${plan.networks.length} network(s), ${plan.volumes.length} volume(s) created`;
      },
    });
  }

  const nginxPlan = plan.containers.find((a) => a.service === SERVICE.nginx);
  if (view.config.tls.mode === 'letsencrypt' && nginxPlan && nginxPlan.kind !== 'unchanged' && nginxPlan.kind !== 'remove') {
    steps.push({
      title: "TLS certificate (Let's Encrypt)",
      run: async () => {
        const r = await ensureCertificate(docker, view.config, view.config.images.nginx);
        return r === 'present' ? 'present' : 'self-signed placeholder until certbot issues the real one';
      },
    });
  }

  const gate = async (service: ServiceSpec, containerId: string, containerName: string, note: (m: string) => void): Promise<void> => {
    const since = Date.now();
    try {
      await waitReady(docker, containerId, {
        timeoutMs,
        test: service.healthcheck?.test,
        onProbe: (r) => note(r.ok ? 'healthy' : `waiting: ${r.output.split('\n').pop() ?? ''}`.slice(0, 120)),
      });
    } catch (err) {
      const logs = await tailLogs(docker, containerId, 50);
      // Keep the failed container for inspection, but stop it flapping under its restart policy.
      await docker.getContainer(containerId).update({ RestartPolicy: { Name: 'no' } }).catch(() => undefined);
      await docker.getContainer(containerId).stop({ t: 5 }).catch(() => undefined);
      const databaseLog = service.name === SERVICE.postgres ? '' : await databaseLogSince(docker, h.project, since);
      throw failureReport(service.name, containerName, err, logs, err instanceof ContainerFailed ? err.probeOutput : '', { secrets: view.config.secrets, databaseLog });
    }
  };

  /** Dependencies that were not touched still have to be healthy before a dependent starts. */
  const ensureDeps = async (s: ServiceSpec, note: (m: string) => void): Promise<void> => {
    for (const dep of s.dependsOn) {
      if (healthy.has(dep.service) || dep.condition !== 'service_healthy') continue;
      const depSpec = services.get(dep.service);
      const running = view.actual.containers.find((c) => c.labels[COMPOSE_LABEL.service] === dep.service && c.state === 'running' && c.labels[MS_LABEL.internal] === undefined);
      const id = ids.get(dep.service) ?? running?.id;
      if (!depSpec || !id) continue;
      note(`waiting for ${dep.service}`);
      await gate(depSpec, id, running?.name ?? dep.service, note);
      healthy.add(dep.service);
    }
  };

  const apiService = SERVICE.api(view.activeColor as 'blue' | 'green');
  const apiTouched = plan.containers.some((a) => a.service === apiService && a.kind !== 'unchanged');
  for (const service of view.desired.order) {
    const s = services.get(service)!;
    const actions = plan.containers.filter((a) => a.service === service && a.kind !== 'unchanged' && a.kind !== 'remove');
    if (service === apiService && apiTouched) {
      const api = view.desired.containers.find((c) => c.service === apiService)!;
      steps.push({
        title: 'Database migrations',
        run: async (note) => {
          await ensureDeps(s, note);
          return runMigrations(docker, h, api, opts.timeoutSeconds);
        },
      });
    }
    if (actions.length === 0) continue;
    for (const a of actions) {
      if (a.kind === 'remove' || a.kind === 'unchanged') continue;
      steps.push({
        title: `${service}: ${describeAction(a).split(/\s+/)[0]} ${a.name}`,
        run: async (note) => {
          await ensureDeps(s, note);
          let id: string;
          if (a.kind === 'reload') {
            const r = await reloadNginx(docker, a.actual.id);
            healthy.add(service);
            return `${a.reason.split(':')[0]}: ${r}`;
          }
          if (a.kind === 'start') {
            await docker.getContainer(a.actual.id).start().catch((err: { statusCode?: number }) => {
              if (err.statusCode !== 304) throw err;
            });
            id = a.actual.id;
          } else {
            if (a.kind === 'recreate') {
              note('stopping the old container');
              await stopAndRemove(docker, a.actual.id, s.stopGracePeriodSeconds);
            }
            note('starting');
            try {
              id = await createAndStart(docker, a.desired);
            } catch (err) {
              throw failureReport(service, a.name, err, '', '');
            }
          }
          ids.set(service, id);
          await gate(s, id, a.name, note);
          // Gated: only now does it carry the name nginx routes to.
          await joinGatedNetworks(docker, a.desired, id);
          healthy.add(service);
          return a.kind === 'recreate' ? `healthy (${a.reasons.join(', ')} changed)` : 'healthy';
        },
      });
    }
  }
  // nginx routes by name (Docker's DNS): created, recreated and removed API containers need no
  // reload. The upstream file was rendered for the active colour before the steps ran.
  const removals = plan.containers.filter((a) => a.kind === 'remove');
  if (removals.length > 0) {
    steps.push({
      title: `Remove ${removals.length} container(s)`,
      run: async (note) => {
        // An API replica on its way out still has its name in nginx's DNS cache for a moment:
        // nginx is pinned to the replicas that stay (their addresses, `nginx -t`, graceful reload)
        // until it is gone, then routes by name again.
        const leaving = new Set(removals.filter((a) => a.service === apiService && a.kind === 'remove').map((a) => (a.kind === 'remove' ? a.actual.id : '')));
        let pinned = false;
        if (leaving.size > 0) {
          const stay = (await docker.listContainers({ filters: { label: [`${COMPOSE_LABEL.project}=${h.project}`, `${COMPOSE_LABEL.service}=${apiService}`], status: ['running'] } })).map((c) => c.Id).filter((id) => !leaving.has(id));
          const addrs = await frontAddresses(docker, h.project, stay, view.config.api.port);
          if (addrs.length > 0) {
            note(`nginx pinned to ${addrs.join(', ')}`);
            await switchUpstream(docker, { project: h.project, renderDir: h.renderDir, config: view.config, color: view.activeColor as Color, pinned: addrs });
            pinned = true;
            // The reload is asynchronous: the old nginx workers hand over first.
            await new Promise((res) => setTimeout(res, 1500));
          }
        }
        try {
          for (const a of removals) {
            if (a.kind !== 'remove') continue;
            const grace = services.get(a.service)?.stopGracePeriodSeconds ?? 10;
            await stopAndRemove(docker, a.actual.id, grace);
          }
        } finally {
          if (pinned) await switchUpstream(docker, { project: h.project, renderDir: h.renderDir, config: view.config, color: view.activeColor as Color });
        }
        return removals.map((r) => r.name).join(', ');
      },
    });
  }
  return steps;
}
