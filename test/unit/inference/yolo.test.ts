import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateManifest } from '../../../src/inference/manifest.ts';
import { decodeDetections, nonMaxSuppression } from '../../../src/inference/postprocess.ts';
import { resizeGeometry } from '../../../src/inference/preprocess.ts';
import { decodeYolo, yoloxGrid } from '../../../src/inference/yolo.ts';

/** Synthetic YOLO outputs: a few boxes placed by hand in otherwise empty tensors. */
const C = 3; // classes
const labels = ['person', 'cat', 'cup'];

function detSpec(output: Record<string, unknown>) {
  const r = validateManifest({
    schemaVersion: 1, name: 'd', version: '1', task: 'object-detection', runtime: 'onnx',
    input: { width: 64, height: 64, resize: 'contain', align: 'top-left', padValue: 114 },
    output: { type: 'detections', minScore: 0.25, iouThreshold: 0.45, ...output }, labels, license: { spdx: 'MIT' }, provenance: { source: 'x' },
  });
  if (!r.ok || r.manifest.task !== 'object-detection') throw new Error(JSON.stringify(r));
  return r.manifest;
}

test('yoloxGrid: strides in order, each grid row-major', () => {
  const g = yoloxGrid(64, 32, [16, 32]);
  // 4×2 cells at stride 16, then 2×1 at stride 32
  assert.equal(g.length / 3, 8 + 2);
  assert.deepEqual([...g.slice(0, 6)], [0, 0, 16, 1, 0, 16]);
  assert.deepEqual([...g.slice(4 * 3, 5 * 3)], [0, 1, 16]);
  assert.deepEqual([...g.slice(8 * 3)], [0, 0, 32, 1, 0, 32]);
});

test('yolox: grid offsets and exp sizes become input-pixel boxes; score = obj × best class', () => {
  const strides = [8, 16, 32];
  const n = 8 * 8 + 4 * 4 + 2 * 2; // 64×64 input
  const k = 5 + C;
  const data = new Float32Array(n * k);
  // cell (gx=3, gy=2) of the stride-8 grid: centre (3.5, 2.5)·8 = (28, 20), size exp(ln 4)·8 = 32
  const row = 2 * 8 + 3;
  data.set([0.5, 0.5, Math.log(4), Math.log(2), 0.9, 0.1, 0.8, 0.05], row * k);
  // a row below the threshold (obj 0.2)
  data.set([0, 0, 0, 0, 0.2, 0.9, 0, 0], 0);
  const boxes = decodeYolo(data, [1, n, k], { layout: 'yolox', strides, sigmoid: false }, { inputWidth: 64, inputHeight: 64, classes: C }, 0.25);
  assert.equal(boxes.length, 1);
  const b = boxes[0]!;
  assert.equal(b.cls, 1);
  assert.ok(Math.abs(b.score - 0.72) < 1e-6);
  assert.deepEqual([b.x1, b.y1, b.x2, b.y2].map((v) => Math.round(v * 1000) / 1000), [28 - 16, 20 - 8, 28 + 16, 20 + 8]);
  assert.throws(() => decodeYolo(data.subarray(0, 10 * k), [1, 10, k], { layout: 'yolox', strides, sigmoid: false }, { inputWidth: 64, inputHeight: 64, classes: C }, 0.25), /has 10 rows but a 64×64 input with strides \[8,16,32\] makes 84 grid cells/);
  assert.throws(() => decodeYolo(data, [1, n, k], { layout: 'yolox', strides, sigmoid: false }, { inputWidth: 64, inputHeight: 64, classes: 80 }, 0.25), /scores 3 classes but the manifest lists 80 labels/);
});

test('yolov5: rows already in pixels; sigmoid applied when the export left it out', () => {
  const k = 5 + C;
  const logit = (p: number) => Math.log(p / (1 - p));
  const data = Float32Array.from([32, 32, 20, 10, logit(0.9), logit(0.1), logit(0.1), logit(0.8), 10, 10, 4, 4, logit(0.1), 0, 0, 0]);
  const boxes = decodeYolo(data, [1, 2, k], { layout: 'yolov5', strides: [8], sigmoid: true }, { inputWidth: 64, inputHeight: 64, classes: C }, 0.25);
  assert.equal(boxes.length, 1);
  assert.equal(boxes[0]!.cls, 2);
  assert.ok(Math.abs(boxes[0]!.score - 0.72) < 1e-6);
  assert.deepEqual([boxes[0]!.x1, boxes[0]!.y1, boxes[0]!.x2, boxes[0]!.y2], [22, 27, 42, 37]);
});

test('yolov8: [1, 4+C, N] columns, no objectness', () => {
  const n = 3;
  const data = new Float32Array((4 + C) * n);
  const set = (row: number, col: number, v: number) => (data[row * n + col] = v);
  // box in column 1: cx 40 cy 30 w 8 h 6, class 0 at 0.6
  [40, 30, 8, 6].forEach((v, r) => set(r, 1, v));
  set(4, 1, 0.6);
  set(5, 2, 0.1); // column 2 below threshold
  const boxes = decodeYolo(data, [1, 4 + C, n], { layout: 'yolov8', strides: [8], sigmoid: false }, { inputWidth: 64, inputHeight: 64, classes: C }, 0.25);
  assert.deepEqual(boxes, [{ x1: 36, y1: 27, x2: 44, y2: 33, score: 0.6000000238418579, cls: 0 }]);
  assert.throws(() => decodeYolo(data, [1, 4 + C, n], { layout: 'yolov8', strides: [8], sigmoid: false }, { inputWidth: 64, inputHeight: 64, classes: 80 }, 0.25), /scores 3 classes but the manifest lists 80/);
  assert.throws(() => decodeYolo(data, [4 + C, n, 1, 1], { layout: 'yolov8', strides: [8], sigmoid: false }, { inputWidth: 64, inputHeight: 64, classes: C }, 0.25), /must be \[1,N,K\] or \[N,K\]/);
});

test('per-class NMS keeps overlapping boxes of different classes; class-agnostic does not', () => {
  const a = { x1: 0, y1: 0, x2: 10, y2: 10, score: 0.9, cls: 0 };
  const b = { x1: 1, y1: 1, x2: 10, y2: 10, score: 0.8, cls: 1 };
  const c = { x1: 0, y1: 0, x2: 9, y2: 10, score: 0.7, cls: 0 };
  assert.deepEqual(nonMaxSuppression([a, b, c], 0.45, 10, 0, true), [a, b]);
  assert.deepEqual(nonMaxSuppression([a, b, c], 0.45, 10, 0, false), [a]);
});

test('letterboxed top-left: boxes come back in the original image pixels', () => {
  // original 128×64 into 64×64 top-left: r = 0.5, image occupies 64×32 at (0,0)
  const spec = detSpec({ layout: 'yolov5' });
  const t = resizeGeometry(128, 64, spec.input);
  assert.deepEqual(t, { scaleX: 2, scaleY: 2, offsetX: -0, offsetY: -0 });
  const centred = resizeGeometry(128, 64, { ...spec.input, align: 'center' });
  assert.deepEqual(centred, { scaleX: 2, scaleY: 2, offsetX: -0, offsetY: -32 });
  const data = Float32Array.from([32, 16, 20, 10, 0.9, 0.9, 0, 0, 33, 16, 20, 10, 0.9, 0, 0.8, 0]);
  const d = decodeDetections(data, [1, 2, 8], spec.output, labels, { transform: t, inputWidth: 64, inputHeight: 64, width: 128, height: 64 });
  assert.deepEqual(d.map((x) => x.label), ['person', 'cat']); // per-class by default for YOLO layouts
  assert.deepEqual(d[0]!.box, { x: 44, y: 22, width: 40, height: 20 });
  const agnostic = decodeDetections(data, [1, 2, 8], { ...spec.output, nms: 'class-agnostic' }, labels, { transform: t, inputWidth: 64, inputHeight: 64, width: 128, height: 64 });
  assert.equal(agnostic.length, 1);
});
