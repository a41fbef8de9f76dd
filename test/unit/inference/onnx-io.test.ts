import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateManifest, type OnnxManifest } from '../../../src/inference/manifest.ts';
import { layoutFromShape, resolveModelIo } from '../../../src/inference/onnx-io.ts';
import type { TensorInfo } from '../../../src/inference/runtime.ts';

function manifest(patch: Record<string, unknown>): OnnxManifest {
  const raw: Record<string, unknown> = {
    schemaVersion: 1, name: 'm', version: '1', task: 'image-classification', runtime: 'onnx',
    input: { width: 224, height: 224 }, output: { type: 'logits' }, labels: ['a'], license: { spdx: 'MIT' }, provenance: { source: 'x' }, ...patch,
  };
  if (raw.input === undefined) delete raw.input;
  const r = validateManifest(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.manifest as OnnxManifest;
}
const t = (name: string, type: string, shape: TensorInfo['shape']): TensorInfo => ({ name, type, shape });

test('layout from the shape: channels at 1 → NCHW, at 3 → NHWC, ambiguous → undefined', () => {
  assert.equal(layoutFromShape(['batch', 3, 224, 224]), 'NCHW');
  assert.equal(layoutFromShape([1, 224, 224, 3]), 'NHWC');
  assert.equal(layoutFromShape([1, 3, 3, 3]), undefined);
  assert.equal(layoutFromShape([null, null, null, null]), undefined);
});

test('the only input and output are used; batch dims read from the model', () => {
  const io = resolveModelIo(manifest({}), [t('pixel_values', 'float32', ['batch', 3, 224, 224])], [t('logits', 'float32', ['batch', 1000])]);
  assert.deepEqual({ main: io.main, output: io.output, layout: io.imageLayout, batch: io.fixedBatch }, { main: 'pixel_values', output: 'logits', layout: 'NCHW', batch: null });
  const fixed = resolveModelIo(manifest({}), [t('x', 'uint8', [1, 224, 224, 3])], [t('y', 'float32', [1, 1000])]);
  assert.equal(fixed.fixedBatch, 1);
  assert.equal(fixed.imageLayout, 'NHWC');
});

test('several inputs or outputs: the manifest names them, or the error lists the model\'s', () => {
  const ins = [t('image', 'float32', [1, 3, 224, 224]), t('scale', 'float32', [1, 2])];
  const outs = [t('boxes', 'float32', [1, 100, 4]), t('scores', 'float32', [1, 100])];
  assert.throws(() => resolveModelIo(manifest({}), ins, outs), /the model has 2 outputs \("boxes" float32 \[1,100,4\], "scores" float32 \[1,100\]\): name the one to read with output\.tensor/);
  assert.equal(resolveModelIo(manifest({ output: { type: 'logits', tensor: 'scores' } }), ins, outs).main, 'image'); // the only 4-D input
  assert.throws(() => resolveModelIo(manifest({ input: { width: 224, height: 224, tensor: 'img' } }), ins, outs), /manifest input\.tensor "img" is not an input of the model; its inputs: "image" float32 \[1,3,224,224\], "scale" float32 \[1,2\]/);
  const two = [t('a', 'float32', [1, 3, 224, 224]), t('b', 'float32', [1, 3, 224, 224])];
  assert.throws(() => resolveModelIo(manifest({}), two, [outs[0]!]), /name the one the image feeds with input\.tensor/);
});

test('a manifest that contradicts the model is refused with both sides named', () => {
  const ins = [t('input', 'float32', ['N', 3, 224, 224])];
  const outs = [t('output', 'float32', ['N', 1000])];
  assert.throws(() => resolveModelIo(manifest({ input: { width: 224, height: 224, layout: 'NHWC' } }), ins, outs), /manifest input\.layout is NHWC but the model's input "input" float32 \[N,3,224,224\] is NCHW/);
  assert.throws(() => resolveModelIo(manifest({ input: { width: 256, height: 224 } }), ins, outs), /takes width 224 \(manifest input\.width 256\)/);
  assert.throws(() => resolveModelIo(manifest({}), [t('input', 'float16', [1, 3, 224, 224])], outs), /element type float16/);
  assert.throws(() => resolveModelIo(manifest({}), [t('input', 'float32', [1, 224, 224])], outs), /not an image batch/);
  assert.throws(() => resolveModelIo(manifest({}), [t('input', 'float32', [1, null, null, null])], outs), /cannot tell the layout .* set input\.layout/);
  assert.equal(resolveModelIo(manifest({ input: { width: 224, height: 224, layout: 'NCHW' } }), [t('input', 'float32', [1, null, null, null])], outs).imageLayout, 'NCHW');
});

test('text inputs: 2-D integer ids whose length matches the tokenizer', () => {
  const m = manifest({ task: 'text-classification', input: undefined, tokenizer: { type: 'word-index', vocab: 'v.json', maxLength: 30 } });
  assert.equal(resolveModelIo(m, [t('input', 'int32', ['unk', 30])], [t('output', 'float32', ['unk', 4])]).main, 'input');
  assert.throws(() => resolveModelIo(m, [t('input', 'int64', ['unk', 64])], [t('o', 'float32', [1, 4])]), /takes 64 tokens but the manifest's tokenizer\.maxLength is 30/);
  assert.throws(() => resolveModelIo(m, [t('input', 'string', ['unk'])], [t('o', 'float32', [1, 4])]), /element type string/);
  assert.throws(() => resolveModelIo(m, [t('input_ids', 'int64', [1, 30]), t('attention_mask', 'int64', [1, 30])], [t('o', 'float32', [1, 4])]), /name the one the text feeds with tokenizer\.tensor/);
});

test('input values are cast to the element type the model declares', async () => {
  const { convert } = await import('../../../src/inference/onnx-runtime.ts');
  assert.deepEqual([...(convert(Int32Array.from([1, 2]), 'int64') as BigInt64Array)], [1n, 2n]);
  assert.deepEqual([...(convert(Float32Array.from([-3, 12.6, 300]), 'uint8') as Uint8Array)], [0, 13, 255]);
  const f = Float32Array.from([0.5]);
  assert.equal(convert(f, 'float32'), f, 'float32 input is passed through without a copy');
  assert.throws(() => convert(f, 'float16'), /input element type float16 is not supported/);
});
