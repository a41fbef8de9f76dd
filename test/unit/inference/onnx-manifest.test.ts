import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJsonLabels, tfjsVariant, validateManifest, type NetworkManifest, type OnnxManifest } from '../../../src/inference/manifest.ts';

const onnx = {
  schemaVersion: 1,
  name: 'resnet',
  version: '1',
  task: 'image-classification',
  runtime: 'onnx',
  input: { width: 224, height: 224, resize: 'cover', shorterSide: 256, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  output: { type: 'logits' },
  labels: 'labels.json',
  license: { spdx: 'Apache-2.0' },
  provenance: { source: 'hub' },
};

function issues(raw: unknown): string[] {
  const r = validateManifest(raw);
  return r.ok ? [] : r.issues.map((i) => `${i.path}: ${i.message}`);
}

test('an ONNX manifest defaults modelFile to model.onnx and leaves the layout to the model', () => {
  const r = validateManifest(onnx);
  assert.ok(r.ok, JSON.stringify(r));
  const m = r.manifest as OnnxManifest;
  assert.equal(m.modelFile, 'model.onnx');
  assert.ok('input' in m);
  assert.equal(m.input.layout, undefined);
  assert.equal(m.input.channelOrder, 'RGB');
  assert.equal(m.tfjs, undefined);
});

test('shorterSide: only with cover, never smaller than the crop', () => {
  assert.deepEqual(issues({ ...onnx, input: { ...onnx.input, resize: 'fill' } }), ['input.shorterSide: only applies with resize "cover" (resize is "fill")']);
  assert.deepEqual(issues({ ...onnx, input: { ...onnx.input, shorterSide: 200 } }), ['input.shorterSide: 200 is smaller than the 224×224 crop taken from it; use at least 224']);
});

test('precise errors for the new fields', () => {
  const bad = issues({ ...onnx, input: { ...onnx.input, layout: 'CHW', channelOrder: 'bgr', padValue: 300 } });
  assert.equal(bad.length, 3, bad.join('\n'));
  assert.ok(bad.some((i) => i.startsWith('input.layout: ')));
  assert.ok(bad.some((i) => i.startsWith('input.channelOrder: ')));
  assert.ok(bad.some((i) => i.startsWith('input.padValue: ')));
  const det = issues({ ...onnx, task: 'object-detection', output: { type: 'detections', layout: 'yolov7', strides: [] } });
  assert.ok(det.some((i) => /^output\.layout: .*yolox/.test(i)), det.join('\n'));
  assert.ok(det.some((i) => i.startsWith('output.strides: ')), det.join('\n'));
  assert.ok(issues({ ...onnx, format: 'graph-model' }).some((i) => /format/.test(i)), 'a TF.js key in an ONNX manifest is refused');
  assert.deepEqual(issues({ ...onnx, runtime: 'tfjs', format: 'graph-model', input: { width: 224, height: 224, layout: 'NCHW' } }), ['input.layout: TF.js models take NHWC input; NCHW applies to ONNX models (runtime "onnx")']);
});

test('the word-index tokenizer takes the Keras Tokenizer options', () => {
  const { input: _i, ...noInput } = onnx;
  const r = validateManifest({ ...noInput, task: 'text-classification', output: { type: 'probabilities' }, tokenizer: { type: 'word-index', vocab: 'vocab.json', maxLength: 30, oovIndex: null, filters: '', split: '|', numWords: 1000 } });
  assert.ok(r.ok, JSON.stringify(r));
  assert.ok('tokenizer' in r.manifest && r.manifest.tokenizer.type === 'word-index');
  assert.equal(r.manifest.tokenizer.oovIndex, null);
  assert.equal(r.manifest.tokenizer.split, '|');
  assert.deepEqual(issues({ ...noInput, task: 'text-classification', output: { type: 'probabilities' }, tokenizer: { type: 'word-index', vocab: 'v.json', maxLength: 30, split: '' } }), ['tokenizer.split: Too small: expected string to have >=1 characters']);
});

test('tfjsVariant: the TF.js files of an ONNX manifest, NHWC; none when it names none', () => {
  const r = validateManifest({ ...onnx, input: { ...onnx.input, layout: 'NCHW' }, tfjs: { format: 'layers-model' } });
  assert.ok(r.ok, JSON.stringify(r));
  const t = tfjsVariant(r.manifest as NetworkManifest)!;
  assert.equal(t.runtime, 'tfjs');
  assert.equal(t.format, 'layers-model');
  assert.equal(t.modelFile, 'model.json');
  assert.ok('input' in t && t.input.layout === 'NHWC');
  assert.equal('tfjs' in t, false);
  const plain = validateManifest(onnx);
  assert.ok(plain.ok);
  assert.equal(tfjsVariant(plain.manifest as NetworkManifest), undefined);
});

test('JSON labels: an array in class order or an index map', () => {
  assert.deepEqual(parseJsonLabels(['a', 'b']), ['a', 'b']);
  assert.deepEqual(parseJsonLabels({ 1: 'b', 0: 'a' }), ['a', 'b']);
  assert.throws(() => parseJsonLabels({ 0: 'a', 2: 'c' }), /key "2" is not a class index 0\.\.1/);
  assert.throws(() => parseJsonLabels(['a', 3]), /label 1 is 3, not a string/);
  assert.throws(() => parseJsonLabels([]), /no labels/);
});
