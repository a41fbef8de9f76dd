/**
 * TF.js layers model (a Keras model topology: Sequential or functional) → ONNX graph. Tensors
 * keep Keras's channels-last layout; Conv and pooling run channels-first between Transposes
 * (ONNX Runtime's transpose optimiser folds the pairs away). BatchNormalization becomes a
 * per-channel Mul + Add. Pure.
 */
import { ConversionError, unsupportedOpsError } from './errors.ts';
import { GraphBuilder, attr, channelsFirst, kernelToOihw, type OnnxAttr, type OnnxModel } from './onnx-graph.ts';
import type { DecodedWeight } from './tfjs-weights.ts';
import type { ConvertOptions } from './tf-graph.ts';

export interface KerasLayer {
  class_name: string;
  name?: string;
  config: Record<string, unknown>;
  inbound_nodes?: unknown[];
}

export interface KerasTopology {
  model_config?: { class_name: string; config: unknown };
  class_name?: string;
  config?: unknown;
}

type Inbound = [string, number, number];

class LayerContext {
  readonly g: GraphBuilder;
  readonly layer: KerasLayer;
  readonly name: string;
  private readonly weights: Map<string, DecodedWeight>;

  constructor(g: GraphBuilder, layer: KerasLayer, name: string, weights: Map<string, DecodedWeight>) {
    this.g = g;
    this.layer = layer;
    this.name = name;
    this.weights = weights;
  }

  get config(): Record<string, unknown> {
    return this.layer.config;
  }

  fail(message: string): ConversionError {
    return new ConversionError(`Keras layer ${this.name} (${this.layer.class_name}) ${message}`);
  }

  /** The layer's weight `NAME/<key>` (also found under a scope prefix or with a `:0` suffix). */
  weight(key: string): DecodedWeight {
    const w = this.findWeight(key);
    if (!w) throw this.fail(`has no weight ${this.name}/${key} in the weights manifest; the weight files may belong to another model`);
    return w;
  }

  findWeight(key: string): DecodedWeight | undefined {
    const want = `${this.name}/${key}`;
    const direct = this.weights.get(want) ?? this.weights.get(`${want}:0`);
    if (direct) return direct;
    for (const [k, v] of this.weights) if (k.endsWith(`/${want}`) || k.endsWith(`/${want}:0`)) return v;
    return undefined;
  }

  op(op: string, inputs: string[], attrs: Record<string, OnnxAttr> = {}, suffix = op): string {
    return this.g.op(op, `${this.name}/${suffix}`, inputs, attrs);
  }

  init(suffix: string, w: { shape: number[]; data: Float32Array }): string {
    return this.g.initializer(`${this.name}/${suffix}`, 'float32', w.shape, w.data);
  }

  num(key: string, dflt: number): number {
    const v = this.config[key];
    return typeof v === 'number' ? v : dflt;
  }

  pair(key: string, dflt: [number, number]): [number, number] {
    const v = this.config[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v === 'number') return [v, v];
    if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0] as number, v[1] as number];
    throw this.fail(`has ${key} ${JSON.stringify(v)}; expected a number or two`);
  }

  channelsLast(): boolean {
    const f = this.config.data_format ?? 'channels_last';
    if (f !== 'channels_last' && f !== 'channels_first') throw this.fail(`has data_format ${String(f)}`);
    return f === 'channels_last';
  }
}

function float32(c: LayerContext, w: DecodedWeight): Float32Array {
  if (w.dtype !== 'float32') throw c.fail(`has a ${w.dtype} weight; expected float32`);
  return w.data as Float32Array;
}

function padding(c: LayerContext): OnnxAttr {
  const p = String(c.config.padding ?? 'valid');
  if (p === 'same') return attr.string('SAME_UPPER');
  if (p === 'valid') return attr.string('VALID');
  throw c.fail(`has padding ${p}; expected valid or same`);
}

const ACTIVATIONS = ['linear', 'relu', 'relu6', 'sigmoid', 'softmax', 'tanh', 'elu', 'selu', 'softplus', 'softsign', 'swish', 'silu', 'hard_sigmoid', 'exponential'];

function activate(c: LayerContext, x: string, act: unknown): string {
  const a = act === undefined || act === null ? 'linear' : String(act);
  switch (a) {
    case 'linear': return x;
    case 'relu': return c.op('Relu', [x]);
    case 'relu6': return c.op('Clip', [x, c.g.scalarFloat(`${c.name}/relu6_min`, 0), c.g.scalarFloat(`${c.name}/relu6_max`, 6)], {}, 'relu6');
    case 'sigmoid': return c.op('Sigmoid', [x]);
    case 'softmax': return c.op('Softmax', [x], { axis: attr.int(-1) });
    case 'tanh': return c.op('Tanh', [x]);
    case 'elu': return c.op('Elu', [x], { alpha: attr.float(1) });
    case 'selu': return c.op('Selu', [x]);
    case 'softplus': return c.op('Softplus', [x]);
    case 'softsign': return c.op('Softsign', [x]);
    case 'exponential': return c.op('Exp', [x]);
    case 'swish':
    case 'silu': return c.op('Mul', [x, c.op('Sigmoid', [x])], {}, 'swish');
    // TF.js: clip(0.2·x + 0.5, 0, 1), which is ONNX HardSigmoid's default alpha/beta
    case 'hard_sigmoid': return c.op('HardSigmoid', [x], { alpha: attr.float(0.2), beta: attr.float(0.5) });
    default: throw c.fail(`uses activation ${a}, which the converter does not support (supported: ${ACTIVATIONS.join(', ')})`);
  }
}

function convLayer(depthwise: boolean): (c: LayerContext, xs: string[]) => string {
  return (c, [x]) => {
    const kernel = c.weight(depthwise ? 'depthwise_kernel' : 'kernel');
    if (kernel.shape.length !== 4) throw c.fail(`has a ${kernel.shape.length}-D kernel; expected 4-D`);
    const oihw = kernelToOihw({ shape: kernel.shape, data: float32(c, kernel) }, depthwise);
    const inputs = [c.init(depthwise ? 'depthwise_kernel_oihw' : 'kernel_oihw', oihw)];
    if (c.config.use_bias !== false) {
      const b = c.weight('bias');
      inputs.push(c.init('bias', { shape: b.shape, data: float32(c, b) }));
    }
    const strides = c.pair('strides', [1, 1]);
    const dilations = c.pair('dilation_rate', [1, 1]);
    const attrs: Record<string, OnnxAttr> = { strides: attr.ints(strides), dilations: attr.ints(dilations), group: attr.int(depthwise ? kernel.shape[2]! : 1) };
    const pad = padding(c);
    if (pad.kind === 'string' && pad.value === 'SAME_UPPER' && dilations.some((d) => d > 1)) {
      // ONNX Runtime refuses auto_pad with dilation; at stride 1 the padding is (k−1)·d whatever the input size
      if (strides.some((v) => v !== 1)) throw c.fail('combines same padding, dilation and a stride above 1, which the converter does not support');
      const total = [0, 1].map((i) => (kernel.shape[i]! - 1) * dilations[i]!);
      attrs.pads = attr.ints([Math.floor(total[0]! / 2), Math.floor(total[1]! / 2), Math.ceil(total[0]! / 2), Math.ceil(total[1]! / 2)]);
    } else {
      attrs.auto_pad = pad;
    }
    const run = (nchw: string): string => c.op('Conv', [nchw, ...inputs], attrs);
    const y = c.channelsLast() ? channelsFirst(c.g, c.name, x!, run) : run(x!);
    return activate(c, y, c.config.activation);
  };
}

function poolLayer(onnxOp: 'MaxPool' | 'AveragePool'): (c: LayerContext, xs: string[]) => string {
  return (c, [x]) => {
    const size = c.pair('pool_size', [2, 2]);
    const attrs: Record<string, OnnxAttr> = { kernel_shape: attr.ints(size), strides: attr.ints(c.pair('strides', size)), auto_pad: padding(c) };
    if (onnxOp === 'AveragePool') attrs.count_include_pad = attr.int(0);
    const run = (nchw: string): string => c.op(onnxOp, [nchw], attrs);
    return c.channelsLast() ? channelsFirst(c.g, c.name, x!, run) : run(x!);
  };
}

function globalPool(onnxOp: 'ReduceMean' | 'ReduceMax'): (c: LayerContext, xs: string[]) => string {
  return (c, [x]) => c.op(onnxOp, [x!], { axes: attr.ints(c.channelsLast() ? [1, 2] : [2, 3]), keepdims: attr.int(c.config.keepdims === true ? 1 : 0) });
}

function merge(onnxOp: string): (c: LayerContext, xs: string[]) => string {
  return (c, xs) => {
    if (xs.length < 2) throw c.fail(`merges ${xs.length} input; expected at least 2`);
    if (onnxOp === 'Mean') return c.op('Mean', xs);
    let acc = xs[0]!;
    for (let i = 1; i < xs.length; i++) acc = c.op(onnxOp, [acc, xs[i]!], {}, `${onnxOp}_${i}`);
    return acc;
  };
}

const identity = (c: LayerContext, [x]: string[]): string => c.op('Identity', [x!]);

const LAYERS: Record<string, (c: LayerContext, xs: string[]) => string> = {
  Conv2D: convLayer(false),
  DepthwiseConv2D: convLayer(true),
  BatchNormalization: (c, [x]) => {
    const axis = c.num('axis', -1);
    if (axis !== -1 && axis !== 3) throw c.fail(`normalises axis ${axis}; the converter handles the channels-last axis (-1)`);
    const mean = float32(c, c.weight('moving_mean'));
    const variance = float32(c, c.weight('moving_variance'));
    const gamma = c.config.scale === false ? undefined : float32(c, c.weight('gamma'));
    const beta = c.config.center === false ? undefined : float32(c, c.weight('beta'));
    const eps = c.num('epsilon', 0.001);
    const n = mean.length;
    const mul = new Float32Array(n);
    const add = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const s = (gamma ? gamma[i]! : 1) / Math.sqrt(variance[i]! + eps);
      mul[i] = s;
      add[i] = (beta ? beta[i]! : 0) - mean[i]! * s;
    }
    const scaled = c.op('Mul', [x!, c.init('bn_scale', { shape: [n], data: mul })]);
    return c.op('Add', [scaled, c.init('bn_offset', { shape: [n], data: add })]);
  },
  ReLU: (c, [x]) => {
    const max = c.config.max_value;
    const slope = c.num('negative_slope', 0);
    if (c.num('threshold', 0) !== 0) throw c.fail('has a non-zero threshold, which the converter does not support');
    if (slope !== 0) {
      if (typeof max === 'number') throw c.fail('combines negative_slope and max_value, which the converter does not support');
      return c.op('LeakyRelu', [x!], { alpha: attr.float(slope) });
    }
    if (typeof max === 'number') return c.op('Clip', [x!, c.g.scalarFloat(`${c.name}/min`, 0), c.g.scalarFloat(`${c.name}/max`, max)]);
    return c.op('Relu', [x!]);
  },
  LeakyReLU: (c, [x]) => c.op('LeakyRelu', [x!], { alpha: attr.float(c.num('alpha', c.num('negative_slope', 0.3))) }),
  Activation: (c, [x]) => {
    const y = activate(c, x!, c.config.activation);
    return y === x ? identity(c, [x]) : y;
  },
  Softmax: (c, [x]) => c.op('Softmax', [x!], { axis: attr.int(c.num('axis', -1)) }),
  ZeroPadding2D: (c, [x]) => {
    const p = c.config.padding;
    let tb: [number, number];
    let lr: [number, number];
    if (typeof p === 'number') tb = lr = [p, p];
    else if (Array.isArray(p) && p.length === 2 && p.every((v) => typeof v === 'number')) {
      tb = [p[0] as number, p[0] as number];
      lr = [p[1] as number, p[1] as number];
    } else if (Array.isArray(p) && p.length === 2 && p.every((v) => Array.isArray(v) && v.length === 2)) {
      tb = p[0] as [number, number];
      lr = p[1] as [number, number];
    } else throw c.fail(`has padding ${JSON.stringify(p)}`);
    const pads = c.channelsLast() ? [0, tb[0], lr[0], 0, 0, tb[1], lr[1], 0] : [0, 0, tb[0], lr[0], 0, 0, tb[1], lr[1]];
    return c.op('Pad', [x!, c.g.int64s(`${c.name}/pads`, pads)], { mode: attr.string('constant') });
  },
  MaxPooling2D: poolLayer('MaxPool'),
  AveragePooling2D: poolLayer('AveragePool'),
  GlobalAveragePooling2D: globalPool('ReduceMean'),
  GlobalMaxPooling2D: globalPool('ReduceMax'),
  Flatten: (c, [x]) => {
    if (!c.channelsLast()) throw c.fail('flattens channels_first data, which the converter does not support');
    return c.op('Flatten', [x!], { axis: attr.int(1) });
  },
  Dense: (c, [x]) => {
    const k = c.weight('kernel');
    let y = c.op('MatMul', [x!, c.init('kernel', { shape: k.shape, data: float32(c, k) })]);
    if (c.config.use_bias !== false) {
      const b = c.weight('bias');
      y = c.op('Add', [y, c.init('bias', { shape: b.shape, data: float32(c, b) })], {}, 'bias');
    }
    return activate(c, y, c.config.activation);
  },
  Reshape: (c, [x]) => {
    const target = c.config.target_shape;
    if (!Array.isArray(target) || !target.every((v) => typeof v === 'number')) throw c.fail(`has target_shape ${JSON.stringify(target)}`);
    if (target.includes(-1)) throw c.fail('has a -1 in target_shape, which the converter does not support');
    return c.op('Reshape', [x!, c.g.int64s(`${c.name}/shape`, [-1, ...(target as number[])])]);
  },
  Dropout: identity,
  SpatialDropout2D: identity,
  GaussianNoise: identity,
  GaussianDropout: identity,
  AlphaDropout: identity,
  Add: merge('Add'),
  Subtract: merge('Sub'),
  Multiply: merge('Mul'),
  Maximum: merge('Max'),
  Minimum: merge('Min'),
  Average: merge('Mean'),
  Concatenate: (c, xs) => c.op('Concat', xs, { axis: attr.int(c.num('axis', -1)) }),
};

export const SUPPORTED_KERAS_LAYERS: readonly string[] = ['InputLayer', ...Object.keys(LAYERS)].sort();

interface ParsedModel {
  layers: KerasLayer[];
  /** Per layer: the inbound [layer, nodeIndex, tensorIndex] refs (its one call). */
  inbound: Map<string, Inbound[]>;
  inputs: string[];
  outputs: string[];
}

function layerName(l: KerasLayer): string {
  const n = l.name ?? (l.config.name as string | undefined);
  if (!n) throw new ConversionError(`a Keras layer (${l.class_name}) has no name`);
  return n;
}

/** Reads Sequential and functional (Model/Functional) Keras 2 topologies into one shape. */
function parseTopology(topology: KerasTopology): ParsedModel {
  const mc = topology.model_config ?? (topology.class_name ? { class_name: topology.class_name, config: topology.config } : undefined);
  if (!mc) throw new ConversionError('model.json has no Keras model_config');
  if (mc.class_name === 'Sequential') {
    const cfg = mc.config as { layers?: KerasLayer[] } | KerasLayer[];
    const layers = Array.isArray(cfg) ? cfg : cfg.layers ?? [];
    if (layers.length === 0) throw new ConversionError('the Sequential model has no layers');
    const out: KerasLayer[] = [];
    const inbound = new Map<string, Inbound[]>();
    const first = layers[0]!;
    let prev: string;
    if (first.class_name === 'InputLayer') {
      prev = layerName(first);
      out.push(first);
    } else {
      const shape = first.config.batch_input_shape ?? first.config.batch_shape;
      prev = 'input';
      out.push({ class_name: 'InputLayer', name: prev, config: { name: prev, batch_input_shape: shape, dtype: first.config.dtype ?? 'float32' } });
    }
    for (const l of layers.slice(first.class_name === 'InputLayer' ? 1 : 0)) {
      const n = layerName(l);
      inbound.set(n, [[prev, 0, 0]]);
      out.push(l);
      prev = n;
    }
    return { layers: out, inbound, inputs: [layerName(out[0]!)], outputs: [prev] };
  }
  if (mc.class_name !== 'Model' && mc.class_name !== 'Functional') throw new ConversionError(`model_config has class ${mc.class_name}; the converter reads Sequential and functional (Model) Keras models`);
  const cfg = mc.config as { layers?: KerasLayer[]; input_layers?: unknown[]; output_layers?: unknown[] };
  const layers = cfg.layers ?? [];
  const inbound = new Map<string, Inbound[]>();
  for (const l of layers) {
    const n = layerName(l);
    const calls = l.inbound_nodes ?? [];
    if (calls.length > 1) throw new ConversionError(`Keras layer ${n} (${l.class_name}) is called ${calls.length} times (a shared layer), which the converter does not support`);
    if (calls.length === 0) continue;
    const call = calls[0];
    if (!Array.isArray(call)) throw new ConversionError(`Keras layer ${n}: inbound_nodes is not in the Keras 2 format ([[name, node, tensor, kwargs], …]); re-save the model with TF.js's converter`);
    inbound.set(n, call.map((ref) => {
      if (!Array.isArray(ref) || typeof ref[0] !== 'string') throw new ConversionError(`Keras layer ${n}: cannot read inbound reference ${JSON.stringify(ref)}`);
      if (Number(ref[1] ?? 0) !== 0) throw new ConversionError(`Keras layer ${n} reads call ${String(ref[1])} of ${ref[0]} (a shared layer), which the converter does not support`);
      return [ref[0], 0, Number(ref[2] ?? 0)] as Inbound;
    }));
  }
  const refName = (r: unknown): string => {
    if (Array.isArray(r) && typeof r[0] === 'string') return r[0];
    throw new ConversionError(`cannot read model input/output reference ${JSON.stringify(r)}`);
  };
  const ios = (v: unknown[] | undefined): unknown[] => (Array.isArray(v) && typeof v[0] === 'string' ? [v] : v ?? []);
  return { layers, inbound, inputs: ios(cfg.input_layers).map(refName), outputs: ios(cfg.output_layers).map(refName) };
}

export function convertKerasModel(topology: KerasTopology, weights: Map<string, DecodedWeight>, opts: ConvertOptions): OnnxModel {
  const parsed = parseTopology(topology);
  const unsupported = new Map<string, string[]>();
  for (const l of parsed.layers) {
    if (l.class_name === 'InputLayer' || LAYERS[l.class_name]) continue;
    const list = unsupported.get(l.class_name) ?? [];
    list.push(layerName(l));
    unsupported.set(l.class_name, list);
  }
  if (unsupported.size) throw unsupportedOpsError('Keras layer', unsupported, SUPPORTED_KERAS_LAYERS);
  if (parsed.outputs.length === 0) throw new ConversionError('the Keras model names no output layers');

  const g = new GraphBuilder();
  for (const o of parsed.outputs) g.reserve(o);
  const byName = new Map(parsed.layers.map((l) => [layerName(l), l]));
  const values = new Map<string, string>();
  const visiting = new Set<string>();
  const build = (name: string): string => {
    const done = values.get(name);
    if (done) return done;
    const l = byName.get(name);
    if (!l) throw new ConversionError(`a Keras layer reads ${name}, which is not a layer of the model`);
    if (visiting.has(name)) throw new ConversionError(`the Keras model has a cycle through layer ${name}`);
    visiting.add(name);
    let v: string;
    if (l.class_name === 'InputLayer') {
      const shape = (l.config.batch_input_shape ?? l.config.batch_shape) as (number | null)[] | undefined;
      if (!Array.isArray(shape)) throw new ConversionError(`Keras input layer ${name} has no batch_input_shape`);
      const dtype = l.config.dtype === 'int32' ? 'int32' : 'float32';
      v = g.input(name, dtype, shape.map((d, i) => (typeof d === 'number' ? d : i === 0 ? 'batch' : null)));
    } else {
      const refs = parsed.inbound.get(name);
      if (!refs?.length) throw new ConversionError(`Keras layer ${name} (${l.class_name}) has no input`);
      const xs = refs.map(([src, , t]) => {
        if (t !== 0) throw new ConversionError(`Keras layer ${name} reads output ${t} of ${src}; multi-output layers are not supported`);
        return build(src);
      });
      v = LAYERS[l.class_name]!(new LayerContext(g, l, name, weights), xs);
    }
    visiting.delete(name);
    values.set(name, v);
    return v;
  };
  for (const o of parsed.outputs) {
    const v = build(o);
    g.node('Identity', o, [v], {}, [o]);
    g.output(o, 'float32', null);
  }
  return g.build({ graphName: 'tfjs-layers-model', producer: 'modelship', producerVersion: opts.producerVersion, metadata: opts.metadata ?? {} });
}
