/**
 * `emergency scale-down` / `emergency restore-scale`: stop the queue workers (the API keeps its
 * single container per colour) to take load off the database, recording the previous scale on the
 * host so it can be put back exactly, from any machine. While scaled down, deploy keeps the
 * workers at 0. The recorded scale is written under the same stack lock as the deploy that applies
 * it, so no other command sees the workers changed and the record not yet written.
 */
import { UserError } from '../util/errors.ts';
import { SERVICE } from '../stack/names.ts';
import { containersOf } from '../docker/engine.ts';
import { deploy, type DeployResult } from './deploy.ts';
import { withStackLock } from './lock.ts';
import { viewStack, type StackHandle } from './stack.ts';

export interface ScaleChange {
  previous: Record<string, number>;
  now: Record<string, number>;
  deploy: DeployResult;
}

interface Flags {
  force: boolean;
  json: boolean;
  color: boolean;
  timeoutSeconds: number;
}

function deployWorkers(h: StackHandle, flags: Flags, workers: number, operation: string): Promise<DeployResult> {
  return deploy(h, { dryRun: false, timeoutSeconds: flags.timeoutSeconds, force: flags.force, json: flags.json, color: flags.color, replicas: { [SERVICE.worker]: workers }, only: [SERVICE.worker], operation });
}

const okDetail = (c: ScaleChange): string => [c.deploy.note, ...c.deploy.actions.filter((a) => a.kind !== 'unchanged').map((a) => `${a.kind} ${a.container}`)].filter(Boolean).join('; ');

export async function emergencyScaleDown(h: StackHandle, flags: Flags): Promise<ScaleChange> {
  const operation = 'emergency scale-down';
  const image = (await viewStack(h)).config.images.api;
  return withStackLock(h, { operation, image, force: flags.force }, async ({ store }) => {
    const view = await viewStack(h);
    const running = containersOf(view.actual.containers, SERVICE.worker, true).length;
    const previous = view.state.savedScale ?? { [SERVICE.worker]: running };
    const r = await deployWorkers(h, flags, 0, operation);
    await store.update((s) => {
      s.savedScale ??= previous;
    });
    return { previous, now: { [SERVICE.worker]: 0 }, deploy: r };
  }, okDetail);
}

export async function emergencyRestoreScale(h: StackHandle, flags: Flags): Promise<ScaleChange> {
  const operation = 'emergency restore-scale';
  const first = await viewStack(h);
  if (!first.state.savedScale) {
    throw new UserError('no scale-down is recorded on the host: nothing to restore', { hint: '`modelship emergency scale-down` records the scale it replaces; `modelship deploy` applies the config\'s' });
  }
  return withStackLock(h, { operation, image: first.config.images.api, force: flags.force }, async ({ store }) => {
    const saved = (await viewStack(h)).state.savedScale;
    if (!saved) throw new UserError('no scale-down is recorded on the host any more: another operator restored it meanwhile', { hint: 'see `modelship audit`' });
    const target = saved[SERVICE.worker] ?? h.loaded.config.workers.replicas;
    await store.update((s) => {
      delete s.savedScale;
    });
    try {
      const r = await deployWorkers(h, flags, target, operation);
      return { previous: { [SERVICE.worker]: 0 }, now: { [SERVICE.worker]: target }, deploy: r };
    } catch (err) {
      await store.update((s) => {
        s.savedScale = saved;
      });
      throw err;
    }
  }, okDetail);
}
