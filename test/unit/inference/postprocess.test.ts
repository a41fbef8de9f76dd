import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeDetections, iou, nonMaxSuppression, parseDetectionRows, rankPredictions, softmax, toScores } from '../../../src/inference/postprocess.ts';

test('softmax is shift-invariant and sums to 1', () => {
  const a = softmax([1, 2, 3]);
  const b = softmax([1001, 1002, 1003]);
  assert.ok(Math.abs(a.reduce((s, v) => s + v, 0) - 1) < 1e-12);
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) < 1e-12));
  assert.ok(Math.abs(a[2]! - Math.exp(3) / (Math.exp(1) + Math.exp(2) + Math.exp(3))) < 1e-12);
});

test('toScores: probabilities pass through, logits get softmax, sigmoid per class', () => {
  assert.deepEqual(toScores([0.2, 0.8], { type: 'probabilities' }), [0.2, 0.8]);
  assert.ok(Math.abs(toScores([0, 0], { type: 'logits' })[0]! - 0.5) < 1e-12);
  assert.ok(Math.abs(toScores([0], { type: 'sigmoid' })[0]! - 0.5) < 1e-12);
});

test('rankPredictions maps labels by index, sorts, applies topK and threshold', () => {
  const labels = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];
  const p = rankPredictions([0.1, 0.05, 0.6, 0.2, 0.05], labels, {});
  assert.deepEqual(p.map((x) => x.label), ['Neutral', 'Porn', 'Drawing', 'Hentai', 'Sexy']);
  assert.deepEqual(rankPredictions([0.1, 0.05, 0.6, 0.2, 0.05], labels, { topK: 2 }).map((x) => x.label), ['Neutral', 'Porn']);
  assert.deepEqual(rankPredictions([0.1, 0.05, 0.6, 0.2, 0.05], labels, { threshold: 0.15 }).map((x) => x.score), [0.6, 0.2]);
  assert.throws(() => rankPredictions([0.5, 0.5], labels), /2 classes but the manifest lists 5 labels/);
});

test('iou of identical, disjoint and half-overlapping boxes', () => {
  const a = { x1: 0, y1: 0, x2: 10, y2: 10, score: 1, cls: 0 };
  assert.equal(iou(a, a), 1);
  assert.equal(iou(a, { ...a, x1: 20, x2: 30 }), 0);
  assert.ok(Math.abs(iou(a, { ...a, x1: 5, x2: 15 }) - 50 / 150) < 1e-12);
});

test('NMS keeps the best of overlapping boxes, keeps separate ones, honours max and min score', () => {
  const boxes = [
    { x1: 0, y1: 0, x2: 10, y2: 10, score: 0.9, cls: 0 },
    { x1: 1, y1: 1, x2: 11, y2: 11, score: 0.8, cls: 0 },
    { x1: 50, y1: 50, x2: 60, y2: 60, score: 0.7, cls: 1 },
    { x1: 80, y1: 80, x2: 90, y2: 90, score: 0.1, cls: 2 },
  ];
  assert.deepEqual(nonMaxSuppression(boxes, 0.5, 10, 0.2).map((b) => b.score), [0.9, 0.7]);
  assert.deepEqual(nonMaxSuppression(boxes, 0.5, 1, 0).map((b) => b.score), [0.9]);
  assert.deepEqual(nonMaxSuppression(boxes, 0.9, 10, 0).map((b) => b.score), [0.9, 0.8, 0.7, 0.1]);
});

test('detection rows: NaN rows dropped, bad length refused', () => {
  assert.equal(parseDetectionRows([1, 2, 3, 4, 0.5, 0, NaN, 0, 0, 0, 0, 0]).length, 1);
  assert.throws(() => parseDetectionRows([1, 2, 3]), /multiple of 6/);
});

test('decodeDetections maps input pixels back to the original image, labels classes, clips', () => {
  const spec = { type: 'detections' as const, layout: 'x1y1x2y2-score-class' as const, coordinates: 'input-pixels' as const, minScore: 0.2, iouThreshold: 0.4, maxDetections: 20, classOffset: 0, strides: [8, 16, 32], sigmoid: false };
  // model input 512x512, original 1024x256 (fill): x scale 2, y scale 0.5
  const rows = [100, 100, 200, 300, 0.9, 15, 0, 0, 10, 10, 0.1, 0, 400, 400, 600, 600, 0.5, 0];
  const d = decodeDetections(rows, [3, 6], spec, ['person', ...new Array(14).fill('x'), 'cat'], {
    transform: { scaleX: 2, scaleY: 0.5, offsetX: 0, offsetY: 0 },
    inputWidth: 512,
    inputHeight: 512,
    width: 1024,
    height: 256,
  });
  assert.deepEqual(d, [
    { label: 'cat', score: 0.9, box: { x: 200, y: 50, width: 200, height: 100 } },
    { label: 'person', score: 0.5, box: { x: 800, y: 200, width: 224, height: 56 } }, // clipped at 1024 x 256
  ]);
  const norm = decodeDetections([0.25, 0.5, 0.75, 1, 0.8, 0], [1, 6], { ...spec, coordinates: 'normalized' }, ['person'], {
    transform: { scaleX: 1, scaleY: 1, offsetX: 0, offsetY: 0 }, inputWidth: 100, inputHeight: 100, width: 100, height: 100,
  });
  assert.deepEqual(norm[0]!.box, { x: 25, y: 50, width: 50, height: 50 });
  const offset = decodeDetections([0, 0, 10, 10, 0.8, 1], [1, 6], { ...spec, classOffset: -1 }, ['person'], {
    transform: { scaleX: 1, scaleY: 1, offsetX: 0, offsetY: 0 }, inputWidth: 100, inputHeight: 100, width: 100, height: 100,
  });
  assert.equal(offset[0]!.label, 'person');
});
