/**
 * `emergency scale-down` / `emergency restore-scale`: stop the queue workers (the API keeps its
 * single container per colour) to take load off the database, recording the previous scale on the
 * host so it can be put back exactly, from any machine. While scaled down, deploy keeps the
 * workers at 0.
 */
import { UserError } from '../util/errors.ts';
import { SERVICE } from '../stack/names.ts';
import { HostStore } from '../docker/host-state.ts';
import { deploy, type DeployResult } from './deploy.ts';
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

export async function emergencyScaleDown(h: StackHandle, flags: Flags): Promise<ScaleChange> {
  const view = await viewStack(h);
  const running = view.actual.containers.filter((c) => c.labels['com.docker.compose.service'] === SERVICE.worker && c.state === 'running').length;
  const previous = view.state.savedScale ?? { [SERVICE.worker]: running };
  const r = await deploy(h, { dryRun: false, timeoutSeconds: flags.timeoutSeconds, force: flags.force, json: flags.json, color: flags.color, replicas: { [SERVICE.worker]: 0 }, only: [SERVICE.worker], operation: 'emergency scale-down' });
  await new HostStore(h.docker, h.project, view.config.images.api).update((s) => {
    s.savedScale ??= previous;
  });
  return { previous, now: { [SERVICE.worker]: 0 }, deploy: r };
}

export async function emergencyRestoreScale(h: StackHandle, flags: Flags): Promise<ScaleChange> {
  const view = await viewStack(h);
  const saved = view.state.savedScale;
  if (!saved) {
    throw new UserError('no scale-down is recorded on the host: nothing to restore', { hint: '`modelship emergency scale-down` records the scale it replaces; `modelship deploy` applies the config\'s' });
  }
  const target = saved[SERVICE.worker] ?? h.loaded.config.workers.replicas;
  const store = new HostStore(h.docker, h.project, view.config.images.api);
  await store.update((s) => {
    delete s.savedScale;
  });
  try {
    const r = await deploy(h, { dryRun: false, timeoutSeconds: flags.timeoutSeconds, force: flags.force, json: flags.json, color: flags.color, replicas: { [SERVICE.worker]: target }, only: [SERVICE.worker], operation: 'emergency restore-scale' });
    return { previous: { [SERVICE.worker]: 0 }, now: { [SERVICE.worker]: target }, deploy: r };
  } catch (err) {
    await store.update((s) => {
      s.savedScale = saved;
    });
    throw err;
  }
}
