import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, parseBackendChoice } from '../../../src/inference/backend.ts';
import { createEngine } from '../../../src/inference/engine.ts';

test('wasm initialises from node_modules and leaves no rethrowing process listeners behind', async () => {
  const before = { exc: process.listeners('uncaughtException').length, rej: process.listeners('unhandledRejection').length };
  const info = await initBackend(tf, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.match(info.name, /^wasm(-simd)?$/);
  assert.equal(process.listeners('uncaughtException').length, before.exc);
  assert.equal(process.listeners('unhandledRejection').length, before.rej);
  // and it computes
  const y = tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).dataSync()[0]);
  assert.equal(y, 11);
});

test('auto order skips the missing native packages with their reasons and reports what runs', async () => {
  const info = await initBackend(tf);
  assert.equal(info.tfBackend, tf.getBackend());
  // On machines without libtensorflow the native packages are absent: they must be listed as skipped.
  if (info.tfBackend !== 'tensorflow') {
    assert.deepEqual(info.skipped.map((s) => s.name).slice(0, 2), ['tfjs-node-gpu', 'tfjs-node']);
    for (const s of info.skipped) assert.ok(s.reason.length > 0);
  }
});

test('MODELSHIP_BACKEND values are parsed strictly', () => {
  assert.equal(parseBackendChoice(undefined), undefined);
  assert.equal(parseBackendChoice('auto'), undefined);
  assert.equal(parseBackendChoice('WASM'), 'wasm');
  assert.equal(parseBackendChoice('gpu'), 'tfjs-node-gpu');
  assert.throws(() => parseBackendChoice('webgl'), /not one of tfjs-node-gpu, tfjs-node, wasm, cpu, onnx-cuda, onnx-cpu, auto/);
});

test('a forced cpu backend is really used and reported by the engine', async () => {
  const engine = await createEngine({ workers: 1, backend: 'cpu' });
  try {
    assert.equal(engine.backend.name, 'cpu');
    const r = await engine.classifyImage(await readFile(new URL('../../fixtures/images/camera-gray.png', import.meta.url)));
    assert.equal(r.backend, 'cpu');
    assert.equal(r.predictions.length, 5);
    const info = await engine.info();
    assert.equal(info.backend.name, 'cpu');
    assert.deepEqual(info.models.map((m) => m.name), ['content-safety', 'objects', 'sentiment']);
  } finally {
    await engine.close();
  }
});

test('a forced backend that cannot load fails clearly instead of falling back', async () => {
  const pkg: string = '@tensorflow/tfjs-node';
  const native = await import(pkg).then(() => true, () => false);
  if (native) return; // installed here: nothing to test
  await assert.rejects(createEngine({ workers: 1, backend: 'tfjs-node' }), /could not start the inference engine: .*tfjs-node: not installed/);
});
