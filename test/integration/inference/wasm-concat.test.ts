import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initBackend } from '../../../src/inference/backend.ts';
import { concatRowsInto } from '../../../src/inference/wasm-concat.ts';

test('concatRowsInto lays rows of each input side by side, short rows and long', () => {
  // heap: [a0 a1 | a2 a3] [b0 b1 b2 ... b39 | ...] then the output
  const heap = new Int32Array(4 + 80 + 84).fill(-1);
  heap.set([1, 2, 3, 4], 0); // a: 2 rows of 2
  for (let i = 0; i < 80; i++) heap[4 + i] = 100 + i; // b: 2 rows of 40 (copyWithin path)
  concatRowsInto(heap, [{ offset: 0, rowLength: 2 }, { offset: 4, rowLength: 40 }], 84, 2);
  const out = [...heap.subarray(84)];
  assert.deepEqual(out.slice(0, 2), [1, 2]);
  assert.deepEqual(out.slice(2, 42), Array.from({ length: 40 }, (_, i) => 100 + i));
  assert.deepEqual(out.slice(42, 44), [3, 4]);
  assert.deepEqual(out.slice(44), Array.from({ length: 40 }, (_, i) => 140 + i));
});

test('the wasm Concat kernel gives what the cpu backend gives, for every axis and dtype', async () => {
  const cases: { shapes: number[][]; axis: number; dtype: 'float32' | 'int32' | 'bool' }[] = [
    { shapes: [[1, 8, 8, 64], [1, 8, 8, 64]], axis: 3, dtype: 'float32' },
    { shapes: [[1, 8, 8, 3], [1, 8, 8, 5], [1, 8, 8, 1]], axis: -1, dtype: 'float32' },
    { shapes: [[2, 3, 4], [2, 5, 4]], axis: 1, dtype: 'int32' },
    { shapes: [[2, 3], [4, 3]], axis: 0, dtype: 'float32' },
    { shapes: [[1, 100, 1], [1, 100, 1], [1, 100, 1]], axis: 2, dtype: 'float32' },
    { shapes: [[3, 2], [3, 0], [3, 1]], axis: 1, dtype: 'bool' },
    { shapes: [[2, 2]], axis: 0, dtype: 'int32' },
  ];
  const values = (shape: number[], seed: number, dtype: string) => Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => (dtype === 'bool' ? (i + seed) % 3 === 0 : dtype === 'int32' ? i * 7 - seed : Math.sin(i + seed * 13)));
  const run = (c: (typeof cases)[number]) => tf.tidy(() => tf.concat(c.shapes.map((s, k) => tf.tensor(values(s, k, c.dtype) as number[], s, c.dtype)), c.axis).arraySync());
  await tf.setBackend('cpu');
  const want = cases.map(run);
  await initBackend(tf, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.equal(tf.getKernel(tf.Concat, 'wasm')?.kernelFunc.name, 'modelshipConcat');
  cases.forEach((c, i) => assert.deepEqual(run(c), want[i], JSON.stringify(c)));
});
