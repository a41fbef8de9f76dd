import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareOutputs, probeInput } from '../../../../src/inference/convert/check.ts';
import type { TfjsManifest } from '../../../../src/inference/manifest.ts';

const image = { runtime: 'tfjs', format: 'layers-model', modelFile: 'model.json', task: 'image-classification', input: { width: 4, height: 3, channels: 3, resize: 'fill', scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], dtype: 'float32' }, output: { type: 'probabilities' } } as unknown as TfjsManifest;

test('the probe image goes through the manifest\'s own normalisation, NHWC, batch 1, and is the same every time', () => {
  const p = probeInput(image)!;
  assert.deepEqual(p.shape, [1, 3, 4, 3]);
  assert.ok(p.data instanceof Float32Array);
  assert.equal(p.data.length, 36);
  // (pixel/255 − 0.5) / 0.25 spans [−2, 2]
  assert.ok(Array.from(p.data).every((v) => v >= -2 && v <= 2));
  assert.ok(new Set(Array.from(p.data)).size > 20, 'noise, not a constant image');
  assert.deepEqual(probeInput(image)!.data, p.data);
});

test('a text model gets small token ids (valid in any vocabulary) of its maxLength; no input spec, no probe', () => {
  const text = { task: 'text-classification', tokenizer: { maxLength: 7 } } as unknown as TfjsManifest;
  const p = probeInput(text)!;
  assert.deepEqual(p.shape, [1, 7]);
  assert.ok(p.data instanceof Int32Array && Array.from(p.data).every((v) => v >= 0 && v < 10));
  assert.equal(probeInput({ task: 'x' } as unknown as TfjsManifest), undefined);
});

test('outputs agree within 1e-4 of their magnitude; NaN in both is agreement, NaN in one or another length is not', () => {
  assert.deepEqual(compareOutputs([0.5, 0.25], [0.50001, 0.25]).tolerance, 1e-4);
  assert.ok(compareOutputs([0.5, 0.25], [0.50001, 0.25]).maxAbsDiff <= 1e-4);
  const boxes = compareOutputs([500, 1], [500.03, 1]);
  assert.ok(Math.abs(boxes.tolerance - 0.05) < 1e-12, 'pixel-sized outputs get a pixel-sized tolerance');
  assert.ok(boxes.maxAbsDiff <= boxes.tolerance);
  assert.equal(compareOutputs([Number.NaN], [Number.NaN]).maxAbsDiff, 0);
  assert.equal(compareOutputs([1], [Number.NaN]).maxAbsDiff, Number.POSITIVE_INFINITY);
  assert.equal(compareOutputs([1, 2], [1]).maxAbsDiff, Number.POSITIVE_INFINITY);
  assert.ok(!(compareOutputs([0.5], [0.6]).maxAbsDiff <= 1e-4));
});
