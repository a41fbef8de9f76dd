/**
 * The pool's hang watchdog against real models: a user model far slower than the limit gets its
 * worker stopped and replaced; the pool keeps its size and the next model runs on the new worker.
 * No hook into the pool: the "hang" is a real convolution on a 2048×2048 input.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { createEngine, type Engine } from '../../../src/inference/engine.ts';

let tmp: string;
let engine: Engine;

/** An image classifier: `depth` 3×3 convolutions with `filters` filters over a size×size input, pooled, 2 classes. */
async function convModel(dir: string, name: string, size: number, filters: number, depth: number): Promise<void> {
  const model = tfl.sequential({
    layers: [
      ...Array.from({ length: depth }, (_, i) => tfl.layers.conv2d({ ...(i === 0 ? { inputShape: [size, size, 3] } : {}), filters, kernelSize: 3, padding: 'same', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 + i }) })),
      tfl.layers.globalAveragePooling2d({}),
      tfl.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
  await mkdir(dir, { recursive: true });
  await model.save(tf.io.withSaveHandler(async (art) => {
    await writeFile(path.join(dir, 'weights.bin'), Buffer.from(art.weightData as ArrayBuffer));
    await writeFile(path.join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: art.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: art.weightSpecs }] }));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify({
    schemaVersion: 1, name, version: '0.1', task: 'image-classification', runtime: 'tfjs', format: 'layers-model',
    input: { width: size, height: size, resize: 'fill' }, output: { type: 'probabilities' },
    labels: ['a', 'b'], license: { spdx: 'MIT' }, provenance: { source: 'made by this test' },
  }));
  model.dispose();
}

before(async () => {
  await tf.setBackend('cpu');
  tmp = await mkdtemp(path.join(os.tmpdir(), 'modelship-watchdog-'));
  const bundled = path.join(tmp, 'models');
  // ~84 G multiply-adds per image (128 MB activations): about 8 s here, over 5× the limit; the fast one ~50 k
  await convModel(path.join(bundled, 'slow-conv'), 'slow-conv', 1024, 32, 10);
  await convModel(path.join(bundled, 'fast-conv'), 'fast-conv', 32, 4, 1);
  engine = await createEngine({ workers: 1, workerTimeoutMs: 1500, registry: { bundledDir: bundled, env: { MODELSHIP_DATA_DIR: path.join(tmp, 'data') } } });
});

after(async () => {
  await engine?.close();
  await rm(tmp, { recursive: true, force: true });
});

test('a worker stuck on a batch past workerTimeoutMs is replaced; its inputs fail saying so; the pool goes on', async () => {
  const photo = await readFile(new URL('../../fixtures/images/coffee.jpg', import.meta.url));
  const fast = await engine.classifyImage(photo, { model: 'fast-conv' });
  assert.equal(fast.predictions.length, 2);
  const t0 = performance.now();
  await assert.rejects(engine.classifyImage(photo, { model: 'slow-conv' }), /did not finish a batch within 1\.5 s: it was stopped and replaced/);
  const waited = performance.now() - t0;
  assert.ok(waited >= 1400 && waited < 6000, `failed after ${waited.toFixed(0)} ms`);
  // the replacement starts (backend init) and serves; the pool is one worker again, not two
  const again = await engine.classifyImage(photo, { model: 'fast-conv' });
  assert.deepEqual(again.predictions.map((p) => p.label).sort(), ['a', 'b']);
  assert.equal(engine.workers, 1);
});
