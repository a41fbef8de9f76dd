/**
 * Blue/green on a swarm, `swap` and `rollback`: the idle colour's service is brought to the
 * release and to as many tasks as the active one runs, gated until every task on every node is
 * running healthy; then nginx is updated (start-first) to a new upstream config naming that
 * colour, and recorded as the active one; then the old colour is drained (scaled to 0, each task
 * stopped with its grace period). A failed gate changes nothing the clients see.
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

    // 1. The new colour, gated on every task (running on Swarm = healthy).
    opts.onStep?.(`gate: ${apiTo} with ${image}, ${n} task(s)`);
    const gate = await viewSwarm(h, { activeColor: from, colorImages: { [to]: image }, replicas: { [apiTo]: n, [apiFrom]: n } });
    await engineCall(h.where, mode, () => createFiles(h.docker, 'secret', gate.stack.secrets, gate.plan.secrets));
    await applyActions(h, gate, gate.plan.services.filter((a) => a.service === apiTo), opts);

    // 2. nginx routes to it: a new upstream config, rolled start-first into nginx.
    opts.onStep?.(`switch: nginx → ${apiTo}`);
    const sw = await viewSwarm(h, { activeColor: to, releaseImage: release, colorImages: { [to]: image, [from]: fromImage }, replicas: { [apiTo]: n, [apiFrom]: n } });
    await engineCall(h.where, mode, () => createFiles(h.docker, 'config', sw.stack.configs, sw.plan.configs));
    await applyActions(h, sw, sw.plan.services.filter((a) => a.service === SERVICE.nginx), opts);

    // 3. Drain the old colour: nginx no longer sends it anything; its tasks stop with their grace.
    opts.onStep?.(`drain: ${apiFrom}`);
    const drain = await viewSwarm(h, { activeColor: to, releaseImage: release, colorImages: { [to]: image, [from]: fromImage }, replicas: { [apiTo]: n, [apiFrom]: 0 } });
    await applyActions(h, drain, drain.plan.services.filter((a) => a.service === apiFrom), opts);
    await removeStale(h);
    const note = `${from} → ${to} (${image}, ${n} task(s))`;
    return { mode, from, to, image, replicas: n, note, durationMs: Math.round(performance.now() - t0) };
  });
}
