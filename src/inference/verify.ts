import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as PngJs from 'pngjs';
import type { Engine } from './engine.ts';
import type { ModelManifest } from './manifest.ts';
import { checkModelFiles, type ModelEntry } from './registry.ts';

/**
 * `modelship models verify NAME`: the files are there and match their recorded checksums, the
 * model loads on the backend in use, and one inference gives an output of the right size with
 * finite values (probabilities summing to 1 where the manifest says so).
 */

export interface VerifyCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface VerifyReport {
  model: string;
  version: string;
  backend: string;
  ok: boolean;
  checks: VerifyCheck[];
}

/** A mid-grey 64×64 PNG, encoded in JS so the self-test does not depend on the decoder under test. */
export function selfTestImage(): Buffer {
  const require = createRequire(import.meta.url);
  const { PNG } = require('pngjs') as typeof PngJs;
  const png = new PNG({ width: 64, height: 64 });
  png.data.fill(128);
  return PNG.sync.write(png);
}

export async function verifyModel(engine: Engine, entry: ModelEntry): Promise<VerifyReport> {
  const m: ModelManifest = entry.manifest;
  const checks: VerifyCheck[] = [];
  const problems = await checkModelFiles(entry.dir, m);
  checks.push({ name: 'files', ok: problems.length === 0, detail: problems.length ? problems.join('; ') : 'all files named by the manifest are present' });
  const sums = m.provenance.sha256 ?? {};
  for (const [file, want] of Object.entries(sums)) {
    try {
      const got = createHash('sha256').update(await readFile(path.join(entry.dir, file))).digest('hex');
      checks.push({ name: `sha256 ${file}`, ok: got === want, detail: got === want ? 'matches provenance' : `expected ${want}, got ${got}` });
    } catch (err) {
      checks.push({ name: `sha256 ${file}`, ok: false, detail: (err as Error).message });
    }
  }
  const t0 = performance.now();
  try {
    if (m.task === 'image-classification') {
      const r = await engine.classifyImage(selfTestImage(), { model: entry.name });
      const sum = r.predictions.reduce((a, p) => a + p.score, 0);
      const finite = r.predictions.every((p) => Number.isFinite(p.score));
      checks.push({ name: 'output size', ok: r.predictions.length === entry.labels.length, detail: `${r.predictions.length} scores for ${entry.labels.length} labels` });
      checks.push({ name: 'finite scores', ok: finite, detail: finite ? 'all finite' : 'NaN or infinite scores' });
      if (m.output.type !== 'sigmoid') checks.push({ name: 'probabilities sum to 1', ok: Math.abs(sum - 1) < 1e-3, detail: `sum ${sum.toFixed(6)}` });
    } else if (m.task === 'object-detection') {
      const r = await engine.detect(selfTestImage(), { model: entry.name, threshold: 0 });
      const ok = r.detections.every((d) => Number.isFinite(d.score) && d.box.width >= 0 && d.box.height >= 0);
      checks.push({ name: 'detections decode', ok, detail: `${r.detections.length} boxes decoded (threshold 0), all inside the image` });
    } else {
      const r = await engine.classifyText('This is a short test sentence for the self-test.', { model: entry.name });
      const sum = r.predictions.reduce((a, p) => a + p.score, 0);
      checks.push({ name: 'output size', ok: r.predictions.length === entry.labels.length, detail: `${r.predictions.length} scores for ${entry.labels.length} labels` });
      if (!('output' in m) || m.output.type !== 'sigmoid') checks.push({ name: 'probabilities sum to 1', ok: Math.abs(sum - 1) < 1e-3, detail: `sum ${sum.toFixed(6)}` });
    }
    checks.push({ name: 'load + first inference', ok: true, detail: `${Math.round(performance.now() - t0)} ms` });
  } catch (err) {
    checks.push({ name: 'load + first inference', ok: false, detail: (err as Error).message });
  }
  return {
    model: entry.name,
    version: m.version,
    backend: m.runtime === 'lexicon' ? 'lexicon' : (engine.providers.get(entry.name)?.name ?? engine.backend.name),
    ok: checks.every((c) => c.ok),
    checks,
  };
}
