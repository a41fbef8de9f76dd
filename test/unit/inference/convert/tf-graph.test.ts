import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxAbsDiff, runGraphBoth, seeded, type ConstSpec, type Feed } from '../../../helpers/convert-harness.ts';
import { convertTfGraph, type TfNode } from '../../../../src/inference/convert/tf-graph.ts';
import { ConversionError } from '../../../../src/inference/convert/errors.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const T = { type: 'DT_FLOAT' };
const I32 = { type: 'DT_INT32' };
const ints = (v: number[]) => ({ list: { i: v.map(String) } });
const img = (h: number, w: number, c: number, seed = 1): Feed => ({ name: 'x', shape: [1, h, w, c], values: seeded(h * w * c, seed) });
const f32 = (name: string, shape: number[], seed = 2): ConstSpec => ({ name, dtype: 'float32', shape, values: Array.from(seeded(shape.reduce((a, b) => a * b, 1), seed)) });
const i32 = (name: string, values: number[], shape = [values.length]): ConstSpec => ({ name, dtype: 'int32', shape, values });

function assertClose(pairs: Awaited<ReturnType<typeof runGraphBoth>>, tol = 1e-5): void {
  for (const p of pairs) {
    assert.deepEqual(p.onnx.shape, p.tfjs.shape, 'output shapes differ');
    const d = maxAbsDiff(p);
    assert.ok(d <= tol, `max |tfjs − onnx| = ${d} > ${tol}`);
  }
}

for (const padding of ['SAME', 'VALID']) {
  for (const stride of [1, 2]) {
    test(`_FusedConv2D ${padding} stride ${stride} with BiasAdd + Relu6 matches TF.js`, async () => {
      const node: TfNode = { name: 'y', op: '_FusedConv2D', input: ['x', 'w', 'b'], attr: { T, strides: ints([1, stride, stride, 1]), padding: { s: b64(padding) }, data_format: { s: b64('NHWC') }, dilations: ints([1, 1, 1, 1]), fused_ops: { list: { s: [b64('BiasAdd'), b64('Relu6')] } }, num_args: { i: '1' } } };
      const r = await runGraphBoth([img(9, 7, 3)], [f32('w', [3, 3, 3, 4]), f32('b', [4], 3)], [node], ['y']);
      assertClose(r);
    });
  }
}

test('Conv2D with dilation 2 (SAME) and with explicit padding matches TF.js', async () => {
  const dil: TfNode = { name: 'y', op: 'Conv2D', input: ['x', 'w'], attr: { T, strides: ints([1, 1, 1, 1]), padding: { s: b64('SAME') }, dilations: ints([1, 2, 2, 1]) } };
  assertClose(await runGraphBoth([img(8, 8, 2)], [f32('w', [3, 3, 2, 3])], [dil], ['y']));
  const explicit: TfNode = { name: 'y', op: 'Conv2D', input: ['x', 'w'], attr: { T, strides: ints([1, 2, 2, 1]), padding: { s: b64('EXPLICIT') }, explicit_paddings: ints([0, 0, 1, 2, 2, 0, 0, 0]), dilations: ints([1, 1, 1, 1]) } };
  assertClose(await runGraphBoth([img(8, 7, 2)], [f32('w', [3, 3, 2, 3])], [explicit], ['y']));
});

test('DepthwiseConv2dNative with channel multiplier 2, stride 2, SAME, fused BiasAdd + Relu matches TF.js', async () => {
  const node: TfNode = { name: 'y', op: 'FusedDepthwiseConv2dNative', input: ['x', 'w', 'b'], attr: { T, strides: ints([1, 2, 2, 1]), padding: { s: b64('SAME') }, dilations: ints([1, 1, 1, 1]), fused_ops: { list: { s: [b64('BiasAdd'), b64('Relu')] } }, num_args: { i: '1' } } };
  assertClose(await runGraphBoth([img(7, 6, 3)], [f32('w', [3, 3, 3, 2]), f32('b', [6], 4)], [node], ['y']));
});

test('MaxPool and AvgPool with SAME padding (padding not counted) match TF.js', async () => {
  const attrs = { T, ksize: ints([1, 3, 3, 1]), strides: ints([1, 2, 2, 1]), padding: { s: b64('SAME') }, data_format: { s: b64('NHWC') } };
  assertClose(await runGraphBoth([img(7, 8, 2)], [], [{ name: 'm', op: 'MaxPool', input: ['x'], attr: attrs }, { name: 'a', op: 'AvgPool', input: ['x'], attr: attrs }], ['m', 'a']));
});

for (const [mode, ac, hp] of [['asymmetric', false, false], ['half_pixel', false, true], ['align_corners', true, false]] as const) {
  test(`ResizeBilinear (${mode}) and ResizeNearestNeighbor match TF.js`, async () => {
    const attr = { T, align_corners: { b: ac }, half_pixel_centers: { b: hp } };
    const r = await runGraphBoth([img(5, 4, 2)], [i32('size', [11, 7])], [
      { name: 'bl', op: 'ResizeBilinear', input: ['x', 'size'], attr },
      { name: 'nn', op: 'ResizeNearestNeighbor', input: ['x', 'size'], attr },
    ], ['bl', 'nn']);
    assertClose(r);
  });
}

test('Mean (keep_dims), Sum, Max over the spatial axes match TF.js', async () => {
  const r = await runGraphBoth([img(4, 5, 3)], [i32('axes', [1, 2])], [
    { name: 'mean', op: 'Mean', input: ['x', 'axes'], attr: { T, keep_dims: { b: true }, Tidx: I32 } },
    { name: 'sum', op: 'Sum', input: ['x', 'axes'], attr: { T, keep_dims: { b: false } } },
    { name: 'max', op: 'Max', input: ['x', 'axes'], attr: { T } },
  ], ['mean', 'sum', 'max']);
  assertClose(r);
});

test('elementwise ops, Relu6, Sigmoid, ConcatV2 (negative axis), Reshape, ExpandDims, Squeeze, Pad match TF.js', async () => {
  const r = await runGraphBoth([img(2, 3, 4)], [f32('c', [4]), i32('axis', [-1], []), i32('shape', [1, 6, 8]), i32('dim', [0], []), i32('pads', [0, 0, 1, 2, 0, 1, 0, 0], [4, 2])], [
    { name: 'mul', op: 'Mul', input: ['x', 'c'], attr: { T } },
    { name: 'add', op: 'AddV2', input: ['mul', 'x'], attr: { T } },
    { name: 'sub', op: 'Sub', input: ['add', 'c'], attr: { T } },
    { name: 'r6', op: 'Relu6', input: ['sub'], attr: { T } },
    { name: 'sig', op: 'Sigmoid', input: ['x'], attr: { T } },
    { name: 'cat', op: 'ConcatV2', input: ['r6', 'sig', 'axis'], attr: { T, N: { i: '2' } } },
    { name: 'rs', op: 'Reshape', input: ['cat', 'shape'], attr: { T } },
    { name: 'ed', op: 'ExpandDims', input: ['rs', 'dim'], attr: { T } },
    { name: 'sq', op: 'Squeeze', input: ['ed'], attr: { T, squeeze_dims: ints([0]) } },
    { name: 'pad', op: 'Pad', input: ['x', 'pads'], attr: { T } },
  ], ['sq', 'pad']);
  assertClose(r);
});

test('StridedSlice with begin/end masks, negative indices, strides and shrink_axis matches TF.js', async () => {
  const r = await runGraphBoth([img(6, 5, 4)], [i32('b1', [0, 1, -4, 1]), i32('e1', [0, 6, 0, 3]), i32('s1', [1, 2, 1, 1]), i32('b2', [0, -1, 0, 0]), i32('e2', [1, 0, 0, 0]), i32('s2', [1, 1, 1, 1])], [
    { name: 'a', op: 'StridedSlice', input: ['x', 'b1', 'e1', 's1'], attr: { T, begin_mask: { i: '1' }, end_mask: { i: '5' }, ellipsis_mask: { i: '0' }, new_axis_mask: { i: '0' }, shrink_axis_mask: { i: '0' } } },
    { name: 'b', op: 'StridedSlice', input: ['x', 'b2', 'e2', 's2'], attr: { T, begin_mask: { i: '12' }, end_mask: { i: '12' }, shrink_axis_mask: { i: '3' } } },
  ], ['a', 'b']);
  assertClose(r);
});

test('TopKV2 (values and int32 indices), FloorDiv and FloorMod on ints, GatherV2, Cast, Equal match TF.js', async () => {
  const feed: Feed = { name: 'x', shape: [1, 40], values: seeded(40, 7) };
  const r = await runGraphBoth([feed], [i32('k', [5], []), i32('seven', [7], []), i32('neg3', [-3], []), i32('axis0', [0], []), i32('shape5', [5]), f32('table', [12, 2], 9)], [
    { name: 'top', op: 'TopKV2', input: ['x', 'k'], attr: { T, sorted: { b: true } } },
    { name: 'fd', op: 'FloorDiv', input: ['top:1', 'neg3'], attr: { T: I32 } },
    { name: 'fm', op: 'FloorMod', input: ['top:1', 'seven'], attr: { T: I32 } },
    { name: 'fmn', op: 'FloorMod', input: ['top:1', 'neg3'], attr: { T: I32 } },
    { name: 'rs', op: 'Reshape', input: ['fm', 'shape5'], attr: { T: I32 } },
    { name: 'g', op: 'GatherV2', input: ['table', 'rs', 'axis0'], attr: { batch_dims: { i: '0' } } },
    { name: 'eq', op: 'Equal', input: ['fm', 'fmn'], attr: { T: I32 } },
    { name: 'cast', op: 'Cast', input: ['eq'], attr: { SrcT: { type: 'DT_BOOL' }, DstT: T } },
  ], ['top', 'top:1', 'fd', 'fm', 'fmn', 'g', 'cast']);
  assertClose(r, 0);
});

test('FusedBatchNormV3 and _FusedMatMul (transpose_b, BiasAdd, Relu) match TF.js', async () => {
  const bn = await runGraphBoth([img(3, 3, 4)], [f32('s', [4], 1), f32('o', [4], 2), f32('m', [4], 3), { name: 'v', dtype: 'float32', shape: [4], values: [0.5, 1, 2, 0.1] }], [
    { name: 'y', op: 'FusedBatchNormV3', input: ['x', 's', 'o', 'm', 'v'], attr: { T, epsilon: { f: 0.001 }, is_training: { b: false }, data_format: { s: b64('NHWC') } } },
  ], ['y']);
  assertClose(bn);
  const mm = await runGraphBoth([{ name: 'x', shape: [2, 5], values: seeded(10, 3) }], [f32('w', [3, 5]), f32('b', [3], 5)], [
    { name: 'y', op: '_FusedMatMul', input: ['x', 'w', 'b'], attr: { T, transpose_a: { b: false }, transpose_b: { b: true }, fused_ops: { list: { s: [b64('BiasAdd'), b64('Relu')] } }, num_args: { i: '1' } } },
  ], ['y']);
  assertClose(mm);
});

test('unsupported ops fail once, naming every op and where it is used', () => {
  const topology = { node: [
    { name: 'x', op: 'Placeholder', attr: { dtype: T } },
    { name: 'a', op: 'Erf', input: ['x'] },
    { name: 'b', op: 'Erf', input: ['a'] },
    { name: 'c', op: 'NonMaxSuppressionV5', input: ['b'] },
  ] };
  assert.throws(() => convertTfGraph({ modelTopology: topology }, new Map(), { producerVersion: 't' }), (err: Error) => {
    assert.ok(err instanceof ConversionError);
    assert.match(err.message, /2 TF ops the ONNX converter does not support: Erf \(2 nodes, e\.g\. a, b\); NonMaxSuppressionV5 \(1 node, e\.g\. c\)/);
    assert.match(err.message, /Supported: .*_FusedConv2D/);
    return true;
  });
});

test('a computed (non-constant) axis is refused with the node named; a Const without weights too', () => {
  const t = { node: [
    { name: 'x', op: 'Placeholder', attr: { dtype: T } },
    { name: 'ax', op: 'Shape', input: ['x'] },
    { name: 'm', op: 'Mean', input: ['x', 'ax'] },
  ] };
  assert.throws(() => convertTfGraph({ modelTopology: t }, new Map(), { producerVersion: 't' }), /TF node m \(Mean\) needs a constant reduction axes; this one is computed at run time/);
  const c = { node: [{ name: 'x', op: 'Placeholder', attr: { dtype: T } }, { name: 'w', op: 'Const' }, { name: 'y', op: 'Mul', input: ['x', 'w'] }] };
  assert.throws(() => convertTfGraph({ modelTopology: c }, new Map(), { producerVersion: 't' }), /TF node w \(Const\) has no value in the weights manifest/);
});

test('only what the outputs need is converted; dangling nodes (even unsupported ones) are ignored', () => {
  const t = { node: [
    { name: 'x', op: 'Placeholder', attr: { dtype: T } },
    { name: 'y', op: 'Relu', input: ['x'] },
    { name: 'unused', op: 'Erf', input: ['x'] },
  ] };
  const m = convertTfGraph({ modelTopology: t, signature: { outputs: { y: { name: 'y:0' } } } }, new Map(), { producerVersion: 't' });
  assert.deepEqual(m.nodes.map((n) => n.op), ['Relu', 'Identity']);
  assert.deepEqual(m.outputs.map((o) => o.name), ['y']);
});
