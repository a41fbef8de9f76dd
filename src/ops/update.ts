/**
 * `modelship update`: pull newer versions of the images the host runs (the API release `swap
 * --image` pinned, not the config's images.api), redeploy what changed (under the stack lock, as
 * `update` in the audit log), and prune dangling images of modelship's own builds.
 */
import { imageIds, pullImage } from '../docker/engine.ts';
import { MS_LABEL } from '../stack/names.ts';
import { deploy, type DeployResult } from './deploy.ts';
import { hostStack, type StackHandle } from './stack.ts';

export interface UpdateResult {
  pulled: string[];
  failed: Array<{ image: string; reason: string; keptLocal: boolean }>;
  changedImages: string[];
  pruned: number;
  deploy: DeployResult;
}

/** The images the host's stack runs: the API release `swap --image` pinned, not the config's images.api. */
export async function imagesToPull(h: StackHandle): Promise<string[]> {
  return [...new Set((await hostStack(h)).spec.services.map((s) => s.image))];
}

export async function update(h: StackHandle, opts: { timeoutSeconds: number; force: boolean; json: boolean; color: boolean }): Promise<UpdateResult> {
  const refs = await imagesToPull(h);
  const before = await imageIds(h.docker, refs);
  const pulled: string[] = [];
  const failed: UpdateResult['failed'] = [];
  for (const ref of refs) {
    const r = await pullImage(h.docker, ref);
    if (r.ok) pulled.push(ref);
    else failed.push({ image: ref, reason: r.reason ?? 'unknown', keptLocal: Boolean(before[ref]) });
  }
  const after = await imageIds(h.docker, refs);
  const changedImages = refs.filter((r) => before[r] !== after[r] && after[r]);
  const r = await deploy(h, { dryRun: false, ...opts, operation: 'update' });
  const pruned = await h.docker.pruneImages({ filters: { dangling: ['true'], label: [MS_LABEL.image] } }).catch(() => ({ ImagesDeleted: [] }));
  return { pulled, failed, changedImages, pruned: (pruned.ImagesDeleted ?? []).length, deploy: r };
}
