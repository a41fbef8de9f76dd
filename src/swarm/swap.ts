/**
 * Blue/green on a swarm, `swap` and `rollback`. nginx routes to the network alias api-live (see
 * LIVE_ALIAS), re-resolved every few seconds. The idle colour's service is brought to the release,
 * with as many tasks as the active one and the alias: each task is named by Swarm's DNS only once
 * it is healthy, so nothing ungated is routed to; the swap waits until every task on every node
 * is. Then the new colour is recorded as active (a label on the nginx service) and the old colour
 * is drained: it leaves the alias and its tasks stop with their grace period, their image kept for
 * rollback. A colour that fails its gate is withdrawn; the old one served throughout.
 */
import { SERVICE, type Color } from '../stack/names.ts';
import { UserError } from '../util/errors.ts';
import { applyActions, removeStale, viewSwarm, withSwarmLock, type SwarmHandle } from './deploy.ts';
import { createFiles, engineCall, requireManager } from './engine.ts';
import { swarmName } from './spec.ts';

export interface SwarmSwapOptions {
  image?: string | undefined;
  timeoutSeconds: number;
  force: boolean;
  onStep?: (line: string) => void;
}

export interface SwarmSwapResult {
  mode: 'swap' | 'rollback';
  from: Color;
  to: Color;
  image: string;
  replicas: number;
  note: string;
  durationMs: number;
}

const other = (c: Color): Color => (c === 'blue' ? 'green' : 'blue');

export async function swapSwarm(h: SwarmHandle, mode: 'swap' | 'rollback', opts: SwarmSwapOptions): Promise<SwarmSwapResult> {
  const t0 = performance.now();
  await requireManager(h.docker, h.where, mode);
  return withSwarmLock(h, mode, opts.force, async () => {
    const first = await viewSwarm(h);
    const from = first.activeColor;
    const to = other(from);
    const svc = (c: Color) => first.actual.services.find((s) => s.name === swarmName(h.project, SERVICE.api(c)));
    const active = svc(from);
    if (!active || !first.actual.services.some((s) => s.name === swarmName(h.project, SERVICE.nginx))) {
      throw new UserError(`${mode}: stack ${h.project} is not deployed on this swarm`, { hint: 'run `modelship deploy` first' });
    }
    const idle = svc(to);
    let image: string;
    if (mode === 'rollback') {
      if (!idle) throw new UserError(`rollback: api-${to} has never run on this swarm: there is nothing to roll back to`, { hint: '`modelship swap --image IMAGE` releases a new image on the idle colour' });
      image = idle.image.split('@')[0]!;
    } else image = opts.image ?? h.loaded.config.images.api;
    const fromImage = active.image.split('@')[0]!;
    const n = active.replicas ?? h.loaded.config.api.replicas;
    const apiTo = SERVICE.api(to);
    const apiFrom = SERVICE.api(from);
    const configImage = h.loaded.config.images.api;
    const release = image === configImage ? null : image;

    // 1. The new colour joins the live alias nginx routes to. Swarm's DNS names a task only once
    //    it runs, and with a health check it runs only once healthy: each task takes traffic when
    //    its own gate passed. Wait until every task of it, on every node, is healthy.
    opts.onStep?.(`gate: ${apiTo} with ${image}, ${n} task(s), each joining the live alias once healthy`);
    const gate = await viewSwarm(h, { activeColor: from, liveColors: [from, to], colorImages: { [to]: image }, replicas: { [apiTo]: n, [apiFrom]: n } });
    await engineCall(h.where, mode, () => createFiles(h.docker, 'secret', gate.stack.secrets, gate.plan.secrets));
    await engineCall(h.where, mode, () => createFiles(h.docker, 'config', gate.stack.configs, gate.plan.configs));
    try {
      await applyActions(h, gate, gate.plan.services.filter((a) => a.service === apiTo), opts);
    } catch (err) {
      // Fail closed: the new colour leaves the alias and stops; the old one never stopped serving.
      opts.onStep?.(`gate failed: withdrawing ${apiTo}`);
      const back = await viewSwarm(h, { activeColor: from, colorImages: { [to]: image }, replicas: { [apiTo]: 0, [apiFrom]: n } });
      await applyActions(h, back, back.plan.services.filter((a) => a.service === apiTo), { ...opts, timeoutSeconds: Math.max(60, opts.timeoutSeconds) }).catch(() => undefined);
      throw err;
    }

    // 2. Record the switch (a label of the nginx service: no nginx task restarts), then drain the
    //    old colour: it leaves the alias and its tasks stop, each with its grace period.
    opts.onStep?.(`switch: ${apiTo} is the active colour; drain: ${apiFrom}`);
    const after = { activeColor: to, releaseImage: release, colorImages: { [to]: image, [from]: fromImage }, replicas: { [apiTo]: n, [apiFrom]: 0 } } as const;
    const sw = await viewSwarm(h, after);
    await applyActions(h, sw, sw.plan.services.filter((a) => a.service === SERVICE.nginx), opts);
    const drain = await viewSwarm(h, after);
    await applyActions(h, drain, drain.plan.services.filter((a) => a.service === apiFrom), opts);
    await removeStale(h);
    const note = `${from} → ${to} (${image}, ${n} task(s))`;
    return { mode, from, to, image, replicas: n, note, durationMs: Math.round(performance.now() - t0) };
  });
}
