import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBackend } from '../../../src/inference/backend.ts';
import { KERAS_DEFAULT_FILTERS } from '../../../src/inference/manifest.ts';
import { normalizePixels, resizeGeometry, shorterSideSize } from '../../../src/inference/preprocess.ts';
import { parseVocab, splitWords, tokenize } from '../../../src/inference/tokenizer.ts';

// two pixels: (10, 20, 30) and (40, 50, 60)
const px = Uint8Array.from([10, 20, 30, 40, 50, 60]);

test('NCHW writes one plane per channel; BGR swaps channels and takes mean/std in BGR order', () => {
  const spec = { scale: 1, mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number] };
  assert.deepEqual([...normalizePixels(px, spec, new Float32Array(6), 0, 'NCHW')], [10, 40, 20, 50, 30, 60]);
  assert.deepEqual([...normalizePixels(px, { ...spec, channelOrder: 'BGR' }, new Float32Array(6), 0, 'NHWC')], [30, 20, 10, 60, 50, 40]);
  assert.deepEqual([...normalizePixels(px, { ...spec, channelOrder: 'BGR' }, new Float32Array(6), 0, 'NCHW')], [30, 60, 20, 50, 10, 40]);
  const norm = normalizePixels(px, { scale: 1, mean: [1, 2, 3], std: [1, 2, 3], channelOrder: 'BGR' }, new Float32Array(8), 2, 'NCHW');
  // B plane (mean 1, std 1), G plane (mean 2, std 2), R plane (mean 3, std 3)
  assert.deepEqual([...norm].map((v) => Math.round(v * 1000) / 1000), [0, 0, 29, 59, 9, 24, 2.333, 12.333]);
});

test('shorter side 256 then a centre 224 crop: scale and offsets for mapping back', () => {
  assert.deepEqual(shorterSideSize(451, 300, 256), { width: 385, height: 256 });
  const g = resizeGeometry(400, 300, { width: 224, height: 224, resize: 'cover', shorterSide: 256 });
  const r = 256 / 300;
  assert.ok(Math.abs(g.scaleX - 1 / r) < 1e-12);
  // the crop starts (400r - 224)/2 pixels into the scaled image
  assert.ok(Math.abs(g.offsetX - (400 * r - 224) / 2 / r) < 1e-9);
  assert.ok(Math.abs(g.offsetY - (256 - 224) / 2 / r) < 1e-9);
});

test('Keras Tokenizer conventions: filters, split, OOV or dropped words, num_words', () => {
  const vocab = parseVocab({ '<OOV>': 1, the: 2, market: 3, "it's": 4, rally: 5 });
  const spec = { type: 'word-index' as const, vocab: 'v', maxLength: 6, oovIndex: 1 as number | null, padIndex: 0, padding: 'post' as const, truncating: 'pre' as const, lowercase: true, filters: KERAS_DEFAULT_FILTERS, split: ' ' };
  // the apostrophe is not a default filter; tab/newline are
  assert.deepEqual(splitWords("It's the\tMARKET—rally!", spec), ["it's", 'the', 'market—rally']);
  assert.deepEqual([...tokenize("It's the market, rally!", vocab, spec)], [4, 2, 3, 5, 0, 0]);
  assert.deepEqual([...tokenize('the zebra market', vocab, spec)], [2, 1, 3, 0, 0, 0]);
  assert.deepEqual([...tokenize('the zebra market', vocab, { ...spec, oovIndex: null })], [2, 3, 0, 0, 0, 0]);
  assert.deepEqual([...tokenize('the market rally', vocab, { ...spec, numWords: 4 })], [2, 3, 1, 0, 0, 0]);
  assert.deepEqual([...tokenize('a b c d e f g the', vocab, spec)], [1, 1, 1, 1, 1, 2]); // keep the last 6
  assert.deepEqual([...tokenize('the,market', vocab, { ...spec, filters: '', split: ',' })], [2, 3, 0, 0, 0, 0]);
  assert.deepEqual([...tokenize('The Market', vocab, { ...spec, lowercase: false })], [1, 1, 0, 0, 0, 0]);
});

test('MODELSHIP_BACKEND names TF.js backends or ONNX Runtime providers', () => {
  assert.equal(parseBackend(undefined), undefined);
  assert.equal(parseBackend(' auto '), undefined);
  assert.deepEqual(parseBackend('onnx-cpu'), { runtime: 'onnx', onnx: 'onnx-cpu' });
  assert.deepEqual(parseBackend('CUDA'), { runtime: 'onnx', onnx: 'onnx-cuda' });
  assert.deepEqual(parseBackend('wasm'), { runtime: 'tfjs', tfjs: 'wasm' });
  assert.throws(() => parseBackend('onnx-rocm'), /MODELSHIP_BACKEND=onnx-rocm is not one of tfjs-node-gpu, tfjs-node, wasm, cpu, onnx-cuda, onnx-cpu, auto/);
});
