/**
 * Runs one small TF.js model both ways — in TF.js (cpu backend, the reference) and, converted, in
 * real ONNX Runtime — and returns both outputs, so each converter test proves the mapping of its
 * op by the numbers rather than by the shape of the emitted graph.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import * as ort from 'onnxruntime-node';
import { convertKerasModel, type KerasTopology } from '../../src/inference/convert/keras-layers.ts';
import { encodeOnnx } from '../../src/inference/convert/onnx-write.ts';
import { convertTfGraph, type TfNode } from '../../src/inference/convert/tf-graph.ts';
import { decodeWeights, type WeightSpec } from '../../src/inference/convert/tfjs-weights.ts';

let ready: Promise<unknown> | undefined;
export function cpuBackend(): Promise<unknown> {
  ready ??= tf.setBackend('cpu').then(() => tf.ready());
  return ready;
}

export interface ConstSpec {
  name: string;
  dtype: 'float32' | 'int32';
  shape: number[];
  values: number[];
}

export interface Feed {
  name: string;
  shape: number[];
  values: Float32Array | Int32Array;
  dtype?: 'float32' | 'int32';
}

export interface Pair {
  tfjs: { shape: number[]; data: Float32Array | Int32Array | Uint8Array };
  onnx: { shape: number[]; data: Float32Array | Int32Array | Uint8Array | BigInt64Array };
}

/** A deterministic pseudo-random tensor (values in [-1, 1), or integers in [0, max)). */
export function seeded(n: number, seed = 1, max?: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = max === undefined ? (s / 2 ** 32) * 2 - 1 : Math.floor((s / 2 ** 32) * max);
  }
  return out;
}

function weightsOf(consts: ConstSpec[]): { specs: WeightSpec[]; data: ArrayBuffer } {
  const parts = consts.map((c) => (c.dtype === 'int32' ? Int32Array.from(c.values) : Float32Array.from(c.values)));
  const total = parts.reduce((a, p) => a + p.byteLength, 0);
  const buf = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    buf.set(new Uint8Array(p.buffer), off);
    off += p.byteLength;
  }
  return { specs: consts.map((c) => ({ name: c.name, shape: c.shape, dtype: c.dtype })), data: buf.buffer };
}

/** A graph of TF nodes: Placeholders for `feeds`, Consts for `consts`, then `nodes`. */
export function graph(feeds: Feed[], consts: ConstSpec[], nodes: TfNode[]): { node: TfNode[]; versions: { producer: number } } {
  return {
    node: [
      ...feeds.map((f) => ({ name: f.name, op: 'Placeholder', attr: { dtype: { type: f.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT' }, shape: { shape: { dim: f.shape.map((s) => ({ size: String(s) })) } } } })),
      ...consts.map((c) => ({ name: c.name, op: 'Const', attr: { dtype: { type: c.dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT' } } })),
      ...nodes,
    ],
    versions: { producer: 1982 },
  };
}

async function runOnnx(bytes: Uint8Array, feeds: Feed[], outputs: string[]): Promise<Pair['onnx'][]> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3, intraOpNumThreads: 1 });
  try {
    const input: Record<string, ort.Tensor> = {};
    for (const f of feeds) input[f.name] = new ort.Tensor(f.dtype ?? 'float32', f.values, f.shape);
    const r = await session.run(input, outputs);
    return outputs.map((o) => ({ shape: [...r[o]!.dims], data: r[o]!.data as Pair['onnx']['data'] }));
  } finally {
    await session.release();
  }
}

/** Runs a TF graph in TF.js and, converted, in ONNX Runtime. */
export async function runGraphBoth(feeds: Feed[], consts: ConstSpec[], nodes: TfNode[], outputs: string[]): Promise<Pair[]> {
  await cpuBackend();
  const topology = graph(feeds, consts, nodes);
  const { specs, data } = weightsOf(consts);
  const model = await loadGraphModel(tf.io.fromMemory({ modelTopology: topology, weightSpecs: specs as tf.io.WeightsManifestEntry[], weightData: data, format: 'graph-model' }));
  const inputs: tf.NamedTensorMap = {};
  for (const f of feeds) inputs[f.name] = tf.tensor(f.values, f.shape, f.dtype ?? 'float32');
  const outs = model.execute(inputs, outputs);
  const list = Array.isArray(outs) ? outs : [outs];
  const tfjs = await Promise.all(list.map(async (t) => ({ shape: t.shape.slice(), data: (await t.data()) as Float32Array | Int32Array | Uint8Array })));
  tf.dispose([...list, ...Object.values(inputs)]);
  model.dispose();
  const signature = { outputs: Object.fromEntries(outputs.map((o) => [o, { name: o }])) };
  const onnx = encodeOnnx(convertTfGraph({ modelTopology: topology, signature }, decodeWeights(data, specs), { producerVersion: 'test' }));
  const onnxOuts = await runOnnx(onnx, feeds, outputs.map((o) => (o.endsWith(':0') ? o.slice(0, -2) : o)));
  return tfjs.map((t, i) => ({ tfjs: t, onnx: onnxOuts[i]! }));
}

/** Runs a tfjs-layers model in TF.js and, converted from its saved artifacts, in ONNX Runtime. */
export async function runLayersBoth(model: { save: (h: tf.io.IOHandler) => Promise<unknown>; predict: (x: tf.Tensor) => tf.Tensor | tf.Tensor[] }, feed: Feed): Promise<Pair> {
  await cpuBackend();
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (a) => {
    artifacts = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  const x = tf.tensor(feed.values, feed.shape);
  const y = model.predict(x) as tf.Tensor;
  const tfjs = { shape: y.shape.slice(), data: (await y.data()) as Float32Array };
  tf.dispose([x, y]);
  const a = artifacts!;
  const weights = decodeWeights(a.weightData as ArrayBuffer, (a.weightSpecs ?? []) as WeightSpec[]);
  const converted = convertKerasModel(a.modelTopology as KerasTopology, weights, { producerVersion: 'test' });
  const onnxFeed = { ...feed, name: converted.inputs[0]!.name };
  const [onnx] = await runOnnx(encodeOnnx(converted), [onnxFeed], [converted.outputs[0]!.name]);
  return { tfjs, onnx: onnx! };
}

export function maxAbsDiff(p: Pair): number {
  let d = 0;
  for (let i = 0; i < p.tfjs.data.length; i++) d = Math.max(d, Math.abs(Number(p.tfjs.data[i]) - Number(p.onnx.data[i])));
  return d;
}
