import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { readFile } from 'node:fs/promises';
import { createEngine, type Engine } from '../../../src/inference/engine.ts';
import { getModel } from '../../../src/inference/model-lookup.ts';
import { WorkerPool } from '../../../src/inference/pool.ts';
import { DEFAULT_BATCHING } from '../../../src/inference/batcher.ts';
import type { NetworkManifest } from '../../../src/inference/manifest.ts';

/**
 * The thread policy with real ONNX Runtime sessions and the bundled models: a `pool` model has a
 * single-threaded session in every worker, an `intra-op` one a single session with a thread per
 * core, in one worker; the policy changes where and how a model runs, never what it answers.
 */
const fixture = (name: string) => readFile(new URL(`../../fixtures/images/${name}`, import.meta.url));
const cores = os.availableParallelism();
let pooled: Engine;
let intra: Engine;

before(async () => {
  pooled = await createEngine({ workers: 2, threads: { '*': 'pool' } });
  intra = await createEngine({ workers: 2, threads: { 'content-safety': 'intra-op', objects: 'intra-op' } });
});
after(async () => {
  await pooled?.close();
  await intra?.close();
});

test('the plan is reported per model, with where it came from, and the session really has those threads', async () => {
  const photos = await Promise.all(['chelsea.jpg', 'coffee.jpg', 'astronaut.jpg', 'motorcycle.jpg'].map(fixture));
  await Promise.all([...photos.map((p) => pooled.classifyImage(p)), ...photos.map((p) => intra.classifyImage(p)), intra.detect(photos[3]!)]);
  const byName = async (e: Engine, n: string) => (await e.info()).models.find((m) => m.name === n)!;
  const p = (await byName(pooled, 'content-safety')).threads!;
  assert.deepEqual({ ...p, summary: undefined }, { layout: 'pool', sessions: 2, threadsPerSession: 1, from: 'config', summary: undefined });
  assert.equal(pooled.providers.get('content-safety')?.threads, 1);
  const i = (await byName(intra, 'content-safety')).threads!;
  assert.deepEqual({ ...i, summary: undefined }, { layout: 'intra-op', sessions: 1, threadsPerSession: cores, from: 'config', summary: undefined });
  assert.equal(i.summary, `intra-op: 1 session × ${cores} thread${cores === 1 ? '' : 's'} (config)`);
  assert.equal(intra.providers.get('content-safety')?.threads, cores);
  assert.equal(intra.providers.get('objects')?.threads, cores);
  // the lexicon model has no thread plan
  assert.equal((await byName(intra, 'sentiment')).threads, undefined);
});

test('pool and intra-op give the same answers', async () => {
  for (const f of ['chelsea.jpg', 'coffee-cmyk.jpg']) {
    const [a, b] = await Promise.all([pooled.classifyImage(await fixture(f), { topK: 5 }), intra.classifyImage(await fixture(f), { topK: 5 })]);
    assert.deepEqual(a.predictions.map((x) => x.label), b.predictions.map((x) => x.label));
    a.predictions.forEach((x, k) => assert.ok(Math.abs(x.score - b.predictions[k]!.score) < 1e-5, `${f} ${x.label}: ${x.score} vs ${b.predictions[k]!.score}`));
  }
});

test('a single-session model is loaded in one worker only, a pool model in every worker, and two single-session models in different workers', async () => {
  const cs = await getModel('content-safety');
  const ob = await getModel('objects');
  const pool = await WorkerPool.start({ workers: 2, batching: DEFAULT_BATCHING });
  try {
    const blank = (m: NetworkManifest) => ({ kind: 'pixels' as const, pixels: new Uint8Array('input' in m ? m.input.width * m.input.height * 3 : 0) });
    const one = { name: cs.name, dir: cs.dir, manifest: cs.manifest as NetworkManifest, threads: { sessions: 1, threadsPerSession: 2 } };
    const every = { name: 'content-safety-pooled', dir: cs.dir, manifest: cs.manifest as NetworkManifest, threads: { sessions: 2, threadsPerSession: 1 } };
    const det = { name: ob.name, dir: ob.dir, manifest: ob.manifest as NetworkManifest, threads: { sessions: 1, threadsPerSession: 2 } };
    // enough inputs at once that both workers are busy: the single-session model still stays on one
    await Promise.all(Array.from({ length: 6 }, () => [pool.run(one, blank(one.manifest)), pool.run(every, blank(every.manifest)), pool.run(det, blank(det.manifest))]).flat());
    assert.equal(pool.workersOf(one.name).length, 1);
    assert.deepEqual(pool.workersOf(every.name), [0, 1]);
    assert.equal(pool.workersOf(det.name).length, 1);
    assert.notDeepEqual(pool.workersOf(det.name), pool.workersOf(one.name));
    assert.equal(pool.providers.get(one.name)?.threads, 2);
    assert.equal(pool.providers.get(every.name)?.threads, 1);
  } finally {
    await pool.close();
  }
});
