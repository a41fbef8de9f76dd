/**
 * TF.js graph model (the `modelTopology` of a `graph-model` model.json: a frozen TensorFlow
 * GraphDef as JSON) → ONNX graph. Every tensor keeps TensorFlow's semantics (NHWC); the
 * channels-first ONNX ops (Conv, pooling, Resize) are wrapped in Transposes. Pure.
 */
import { ConversionError, unsupportedOpsError } from './errors.ts';
import { GraphBuilder, attr, channelsFirst, kernelToOihw, type OnnxAttr, type OnnxDType, type OnnxModel } from './onnx-graph.ts';
import type { DecodedWeight } from './tfjs-weights.ts';

export interface TfAttrValue {
  i?: string | number;
  f?: number;
  b?: boolean;
  s?: string;
  type?: string;
  list?: { i?: (string | number)[]; f?: number[]; s?: string[]; type?: string[] };
  shape?: { dim?: { size?: string | number }[]; unknownRank?: boolean };
  tensor?: unknown;
}

export interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttrValue>;
}

export interface TfTensorInfo {
  name: string;
  dtype?: string;
  tensorShape?: { dim?: { size?: string | number }[] };
}

export interface TfGraphModelJson {
  modelTopology: { node: TfNode[] };
  signature?: { inputs?: Record<string, TfTensorInfo>; outputs?: Record<string, TfTensorInfo> };
}

const TF_DTYPES: Record<string, OnnxDType> = { DT_FLOAT: 'float32', DT_INT32: 'int32', DT_BOOL: 'bool', DT_INT64: 'int64', DT_DOUBLE: 'float64', DT_UINT8: 'uint8' };

const INT64_BIG = 2 ** 53;

/** What an op handler sees: its node, its inputs as ONNX values, and the graph to add to. */
class NodeContext {
  readonly g: GraphBuilder;
  readonly node: TfNode;
  private readonly inputs: string[];
  private readonly types: Map<string, OnnxDType>;
  private readonly consts: Map<string, DecodedWeight>;

  constructor(g: GraphBuilder, node: TfNode, inputs: string[], types: Map<string, OnnxDType>, consts: Map<string, DecodedWeight>) {
    this.g = g;
    this.node = node;
    this.inputs = inputs;
    this.types = types;
    this.consts = consts;
  }

  get name(): string {
    return this.node.name;
  }

  input(i: number): string {
    const v = this.inputs[i];
    if (v === undefined) throw this.fail(`expects at least ${i + 1} inputs, has ${this.inputs.length}`);
    return v;
  }

  inputCount(): number {
    return this.inputs.length;
  }

  dtypeOf(i: number): OnnxDType {
    return this.types.get(this.input(i)) ?? 'float32';
  }

  /** The value of a constant input (shape, axes, paddings…), as plain numbers. */
  constInts(i: number, what: string): number[] {
    const c = this.consts.get(this.input(i));
    if (!c) throw this.fail(`needs a constant ${what}; this one is computed at run time, which the converter does not support`);
    return Array.from(c.data as ArrayLike<number>, Number);
  }

  constant(i: number): DecodedWeight | undefined {
    return this.consts.get(this.input(i));
  }

  attr(key: string): TfAttrValue | undefined {
    return this.node.attr?.[key];
  }

  int(key: string, dflt: number): number {
    const a = this.attr(key);
    return a?.i === undefined ? dflt : Number(a.i);
  }

  float(key: string, dflt: number): number {
    return this.attr(key)?.f ?? dflt;
  }

  bool(key: string, dflt: boolean): boolean {
    return this.attr(key)?.b ?? dflt;
  }

  str(key: string, dflt: string): string {
    const s = this.attr(key)?.s;
    return s === undefined ? dflt : Buffer.from(s, 'base64').toString('utf8');
  }

  ints(key: string): number[] {
    return (this.attr(key)?.list?.i ?? []).map(Number);
  }

  strs(key: string): string[] {
    return (this.attr(key)?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString('utf8'));
  }

  type(key: string, dflt: OnnxDType = 'float32'): OnnxDType {
    const t = this.attr(key)?.type;
    if (t === undefined) return dflt;
    const d = TF_DTYPES[t];
    if (!d) throw this.fail(`uses dtype ${t}, which the converter does not map`);
    return d;
  }

  op(op: string, inputs: string[], attrs: Record<string, OnnxAttr> = {}, suffix = op): string {
    return this.g.op(op, `${this.name}/${suffix}`, inputs, attrs);
  }

  fail(message: string): ConversionError {
    return new ConversionError(`TF node ${this.name} (${this.node.op}) ${message}`);
  }
}

/** One handler per TF op: returns the ONNX values of the node's outputs (output 0, 1…) and their dtypes. */
type Handler = (c: NodeContext) => { outputs: string[]; dtypes: OnnxDType[] };

const same = (c: NodeContext, v: string): { outputs: string[]; dtypes: OnnxDType[] } => ({ outputs: [v], dtypes: [c.dtypeOf(0)] });

function unary(onnxOp: string, attrs: Record<string, OnnxAttr> = {}): Handler {
  return (c) => same(c, c.op(onnxOp, [c.input(0)], attrs));
}

function binary(onnxOp: string): Handler {
  return (c) => same(c, c.op(onnxOp, [c.input(0), c.input(1)]));
}

function compare(onnxOp: string, negate = false): Handler {
  return (c) => {
    const v = c.op(onnxOp, [c.input(0), c.input(1)]);
    return { outputs: [negate ? c.op('Not', [v]) : v], dtypes: ['bool'] };
  };
}

function clip(c: NodeContext, x: string, lo: number, hi: number, tag: string): string {
  return c.op('Clip', [x, c.g.scalarFloat(`${c.name}/${tag}_min`, lo), c.g.scalarFloat(`${c.name}/${tag}_max`, hi)], {}, tag);
}

/** Applies a fused activation (from `fused_ops` or a Keras `activation`). */
function activation(c: NodeContext, x: string, act: string, extra: string[]): string {
  switch (act) {
    case 'Relu': return c.op('Relu', [x]);
    case 'Relu6': return clip(c, x, 0, 6, 'Relu6');
    case 'Elu': return c.op('Elu', [x], { alpha: attr.float(1) });
    case 'Sigmoid': return c.op('Sigmoid', [x]);
    case 'LeakyRelu': return c.op('LeakyRelu', [x], { alpha: attr.float(c.float('leakyrelu_alpha', 0.2)) });
    case 'Prelu': {
      const slope = extra[0];
      if (!slope) throw c.fail('fuses Prelu without an alpha input');
      return c.op('PRelu', [x, slope]);
    }
    default: throw c.fail(`fuses activation ${act}, which the converter does not support`);
  }
}

/**
 * TF padding → ONNX. SAME is SAME_UPPER (the extra pixel at the end), except with dilation,
 * where ONNX Runtime refuses auto_pad: there, at stride 1, the total padding is (k−1)·d whatever
 * the input size, so it is written out.
 */
function pads(c: NodeContext, kernel?: number[], dilations?: number[], strides?: number[]): { auto_pad: OnnxAttr } | { pads: OnnxAttr } {
  const padding = c.str('padding', 'VALID');
  if (padding === 'SAME' && kernel && dilations?.some((d) => d > 1)) {
    if (strides?.some((s) => s !== 1)) throw c.fail('combines SAME padding, dilation and a stride above 1, which the converter does not support');
    const total = kernel.map((k, i) => (k - 1) * dilations[i]!);
    return { pads: attr.ints([Math.floor(total[0]! / 2), Math.floor(total[1]! / 2), Math.ceil(total[0]! / 2), Math.ceil(total[1]! / 2)]) };
  }
  if (padding === 'SAME') return { auto_pad: attr.string('SAME_UPPER') };
  if (padding === 'VALID') return { auto_pad: attr.string('VALID') };
  if (padding === 'EXPLICIT') {
    const p = c.ints('explicit_paddings'); // NHWC pairs: [n0,n1,h0,h1,w0,w1,c0,c1]
    if (p.length !== 8) throw c.fail(`has ${p.length} explicit paddings; expected 8`);
    return { pads: attr.ints([p[2]!, p[4]!, p[3]!, p[5]!]) };
  }
  throw c.fail(`has padding ${padding}`);
}

/** The H and W entries of an NHWC 4-vector attribute (strides, dilations, ksize). */
function hw(c: NodeContext, key: string, nchw: boolean): number[] {
  const v = c.ints(key);
  if (v.length === 0) return [1, 1];
  if (v.length !== 4) throw c.fail(`has ${key} of length ${v.length}; expected 4`);
  return nchw ? [v[2]!, v[3]!] : [v[1]!, v[2]!];
}

function isNchw(c: NodeContext): boolean {
  const f = c.str('data_format', 'NHWC');
  if (f !== 'NHWC' && f !== 'NCHW') throw c.fail(`has data_format ${f}`);
  return f === 'NCHW';
}

/** Runs fn on a channels-first view of input 0 and returns the result in the node's layout. */
function inChannelsFirst(c: NodeContext, x: string, fn: (nchw: string) => string): string {
  return isNchw(c) ? fn(x) : channelsFirst(c.g, c.name, x, fn);
}

/** TF filter (HWIO, or HW·C·multiplier for depthwise) → ONNX OIHW, as a new initializer. */
function convWeights(c: NodeContext, depthwise: boolean): { w: string; group: number; kernel: number[] } {
  const k = c.constant(1);
  if (!k || k.dtype !== 'float32' || k.shape.length !== 4) throw c.fail('needs a constant 4-D float filter');
  const oihw = kernelToOihw({ shape: k.shape, data: k.data as Float32Array }, depthwise);
  return { w: c.g.initializer(`${c.name}/filter_oihw`, 'float32', oihw.shape, oihw.data), group: depthwise ? k.shape[2]! : 1, kernel: [k.shape[0]!, k.shape[1]!] };
}

function conv(depthwise: boolean, fused: boolean): Handler {
  return (c) => {
    const nchw = isNchw(c);
    const { w, group, kernel } = convWeights(c, depthwise);
    const fusedOps = fused ? c.strs('fused_ops') : [];
    let bias: string | undefined;
    let rest = fusedOps;
    if (rest[0] === 'BiasAdd') {
      const b = c.constant(2);
      if (!b) throw c.fail('fuses BiasAdd with a bias that is not a constant');
      bias = c.input(2);
      rest = rest.slice(1);
    } else if (rest.length > 0) {
      throw c.fail(`fuses ${rest.join('+')}; the converter handles BiasAdd followed by an activation`);
    }
    if (rest.length > 1) throw c.fail(`fuses ${fusedOps.join('+')}; at most one activation after BiasAdd is supported`);
    const strides = hw(c, 'strides', nchw);
    const dilations = hw(c, 'dilations', nchw);
    const attrs: Record<string, OnnxAttr> = {
      strides: attr.ints(strides),
      dilations: attr.ints(dilations),
      group: attr.int(group),
      ...pads(c, kernel, dilations, strides),
    };
    const y = inChannelsFirst(c, c.input(0), (x) => {
      // TF adds the bias on the channel axis; in channels-first ONNX it is Conv's own B input
      return c.op('Conv', bias ? [x, w, bias] : [x, w], attrs);
    });
    const act = rest[0];
    return same(c, act ? activation(c, y, act, [c.inputCount() > 3 ? c.input(3) : '']) : y);
  };
}

function pool(onnxOp: 'MaxPool' | 'AveragePool'): Handler {
  return (c) => {
    const nchw = isNchw(c);
    const attrs: Record<string, OnnxAttr> = { kernel_shape: attr.ints(hw(c, 'ksize', nchw)), strides: attr.ints(hw(c, 'strides', nchw)), ...pads(c) };
    const k = c.ints('ksize');
    if (k.length === 4 && (nchw ? k[0]! * k[1]! : k[0]! * k[3]!) !== 1) throw c.fail('pools over the batch or channel axis');
    // TF's average pooling never counts the padding
    if (onnxOp === 'AveragePool') attrs.count_include_pad = attr.int(0);
    return same(c, inChannelsFirst(c, c.input(0), (x) => c.op(onnxOp, [x], attrs)));
  };
}

function resize(mode: 'linear' | 'nearest'): Handler {
  return (c) => {
    const size = c.constInts(1, 'output size');
    if (size.length !== 2) throw c.fail(`has an output size of ${size.length} values; expected [height, width]`);
    const alignCorners = c.bool('align_corners', false);
    const halfPixel = c.bool('half_pixel_centers', false);
    const attrs: Record<string, OnnxAttr> = { mode: attr.string(mode) };
    if (mode === 'linear') {
      attrs.coordinate_transformation_mode = attr.string(alignCorners ? 'align_corners' : halfPixel ? 'half_pixel' : 'asymmetric');
    } else {
      attrs.coordinate_transformation_mode = attr.string(alignCorners ? 'align_corners' : halfPixel ? 'tf_half_pixel_for_nn' : 'asymmetric');
      attrs.nearest_mode = attr.string(alignCorners ? 'round_prefer_ceil' : 'floor');
    }
    const y = channelsFirst(c.g, c.name, c.input(0), (x) => {
      // sizes = [N, C] of the input + the constant [H, W]
      const shape = c.op('Shape', [x]);
      const nc = c.op('Slice', [shape, c.g.int64s(`${c.name}/nc_start`, [0]), c.g.int64s(`${c.name}/nc_end`, [2])], {}, 'nc');
      const sizes = c.op('Concat', [nc, c.g.int64s(`${c.name}/hw`, size)], { axis: attr.int(0) }, 'sizes');
      return c.op('Resize', [x, '', '', sizes], attrs);
    });
    return same(c, y);
  };
}

function reduce(onnxOp: string): Handler {
  return (c) => {
    const axes = c.constInts(1, 'reduction axes');
    const keep = c.bool('keep_dims', false) ? 1 : 0;
    if (axes.length === 0) return same(c, c.op('Identity', [c.input(0)]));
    // opset 13+: ReduceSum takes axes as an input; the others still as an attribute (until 18)
    const y = onnxOp === 'ReduceSum'
      ? c.op(onnxOp, [c.input(0), c.g.int64s(`${c.name}/axes`, axes)], { keepdims: attr.int(keep) })
      : c.op(onnxOp, [c.input(0)], { axes: attr.ints(axes), keepdims: attr.int(keep) });
    return same(c, y);
  };
}

function floorDiv(c: NodeContext): { outputs: string[]; dtypes: OnnxDType[] } {
  const t = c.dtypeOf(0);
  if (t === 'float32' || t === 'float64') return same(c, c.op('Floor', [c.op('Div', [c.input(0), c.input(1)])]));
  // integers: ONNX Div truncates towards zero, TF floors; float64 holds every int32 exactly
  const a = c.op('Cast', [c.input(0)], { to: attr.int(11) }, 'a_f64');
  const b = c.op('Cast', [c.input(1)], { to: attr.int(11) }, 'b_f64');
  const q = c.op('Floor', [c.op('Div', [a, b])]);
  return same(c, c.op('Cast', [q], { to: attr.int(onnxTypeCode(t)) }));
}

function floorMod(c: NodeContext): { outputs: string[]; dtypes: OnnxDType[] } {
  const t = c.dtypeOf(0);
  // ONNX Mod with fmod=0 takes the divisor's sign, as TF's FloorMod does (integers only)
  if (t !== 'float32' && t !== 'float64') return same(c, c.op('Mod', [c.input(0), c.input(1)], { fmod: attr.int(0) }));
  const q = c.op('Floor', [c.op('Div', [c.input(0), c.input(1)])]);
  return same(c, c.op('Sub', [c.input(0), c.op('Mul', [q, c.input(1)])]));
}

export function onnxTypeCode(t: OnnxDType): number {
  return { float32: 1, uint8: 2, int32: 6, int64: 7, bool: 9, float64: 11 }[t];
}

function stridedSlice(c: NodeContext): { outputs: string[]; dtypes: OnnxDType[] } {
  const begin = c.constInts(1, 'begin');
  const end = c.constInts(2, 'end');
  const strides = c.constInts(3, 'strides');
  if (c.int('ellipsis_mask', 0) !== 0) throw c.fail('uses ellipsis_mask, which the converter does not support');
  if (c.int('new_axis_mask', 0) !== 0) throw c.fail('uses new_axis_mask, which the converter does not support');
  const beginMask = c.int('begin_mask', 0);
  const endMask = c.int('end_mask', 0);
  const shrinkMask = c.int('shrink_axis_mask', 0);
  const starts: number[] = [];
  const ends: number[] = [];
  const steps: number[] = [];
  const squeeze: number[] = [];
  for (let i = 0; i < begin.length; i++) {
    const s = strides[i] ?? 1;
    if (s === 0) throw c.fail(`has stride 0 on axis ${i}`);
    if (shrinkMask & (1 << i)) {
      const b = begin[i]!;
      starts.push(b);
      ends.push(b === -1 ? INT64_BIG : b + 1);
      steps.push(1);
      squeeze.push(i);
      continue;
    }
    starts.push(beginMask & (1 << i) ? (s > 0 ? 0 : INT64_BIG) : begin[i]!);
    ends.push(endMask & (1 << i) ? (s > 0 ? INT64_BIG : -INT64_BIG) : end[i]!);
    steps.push(s);
  }
  const axes = begin.map((_, i) => i);
  let y = c.op('Slice', [c.input(0), c.g.int64s(`${c.name}/starts`, starts), c.g.int64s(`${c.name}/ends`, ends), c.g.int64s(`${c.name}/axes`, axes), c.g.int64s(`${c.name}/steps`, steps)]);
  if (squeeze.length) y = c.op('Squeeze', [y, c.g.int64s(`${c.name}/squeeze_axes`, squeeze)]);
  return same(c, y);
}

function castTo(c: NodeContext, v: string, t: OnnxDType, tag: string): string {
  return c.op('Cast', [v], { to: attr.int(onnxTypeCode(t)) }, tag);
}

const HANDLERS: Record<string, Handler> = {
  Identity: unary('Identity'),
  Snapshot: unary('Identity'),
  StopGradient: unary('Identity'),
  Add: binary('Add'),
  AddV2: binary('Add'),
  BiasAdd: (c) => {
    if (isNchw(c)) throw c.fail('adds a bias in NCHW layout, which the converter does not support');
    return same(c, c.op('Add', [c.input(0), c.input(1)]));
  },
  AddN: (c) => same(c, c.op('Sum', Array.from({ length: c.inputCount() }, (_, i) => c.input(i)))),
  Sub: binary('Sub'),
  Mul: binary('Mul'),
  RealDiv: binary('Div'),
  Div: (c) => (c.dtypeOf(0).startsWith('float') ? binary('Div')(c) : floorDiv(c)),
  Maximum: binary('Max'),
  Minimum: binary('Min'),
  Pow: binary('Pow'),
  SquaredDifference: (c) => {
    const d = c.op('Sub', [c.input(0), c.input(1)]);
    return same(c, c.op('Mul', [d, d]));
  },
  FloorDiv: floorDiv,
  FloorMod: floorMod,
  Relu: unary('Relu'),
  Relu6: (c) => same(c, clip(c, c.input(0), 0, 6, 'Relu6')),
  Elu: unary('Elu', { alpha: attr.float(1) }),
  Selu: unary('Selu'),
  LeakyRelu: (c) => same(c, c.op('LeakyRelu', [c.input(0)], { alpha: attr.float(c.float('alpha', 0.2)) })),
  Prelu: binary('PRelu'),
  Sigmoid: unary('Sigmoid'),
  Tanh: unary('Tanh'),
  Softplus: unary('Softplus'),
  Exp: unary('Exp'),
  Log: unary('Log'),
  Sqrt: unary('Sqrt'),
  Rsqrt: (c) => same(c, c.op('Reciprocal', [c.op('Sqrt', [c.input(0)])])),
  Square: (c) => same(c, c.op('Mul', [c.input(0), c.input(0)])),
  Neg: unary('Neg'),
  Abs: unary('Abs'),
  Floor: unary('Floor'),
  Ceil: unary('Ceil'),
  Round: unary('Round'),
  Softmax: unary('Softmax', { axis: attr.int(-1) }),
  Equal: compare('Equal'),
  NotEqual: compare('Equal', true),
  Greater: compare('Greater'),
  GreaterEqual: compare('GreaterOrEqual'),
  Less: compare('Less'),
  LessEqual: compare('LessOrEqual'),
  LogicalAnd: compare('And'),
  LogicalOr: compare('Or'),
  LogicalNot: (c) => ({ outputs: [c.op('Not', [c.input(0)])], dtypes: ['bool'] }),
  Cast: (c) => {
    const to = c.type('DstT');
    return { outputs: [castTo(c, c.input(0), to, 'Cast')], dtypes: [to] };
  },
  Conv2D: conv(false, false),
  _FusedConv2D: conv(false, true),
  DepthwiseConv2dNative: conv(true, false),
  FusedDepthwiseConv2dNative: conv(true, true),
  MaxPool: pool('MaxPool'),
  AvgPool: pool('AveragePool'),
  ResizeBilinear: resize('linear'),
  ResizeNearestNeighbor: resize('nearest'),
  Mean: reduce('ReduceMean'),
  Sum: reduce('ReduceSum'),
  Max: reduce('ReduceMax'),
  Min: reduce('ReduceMin'),
  Prod: reduce('ReduceProd'),
  ConcatV2: (c) => {
    const n = c.inputCount() - 1;
    const [axis] = c.constInts(n, 'axis');
    return same(c, c.op('Concat', Array.from({ length: n }, (_, i) => c.input(i)), { axis: attr.int(axis!) }));
  },
  Reshape: (c) => {
    const k = c.constant(1);
    const shape = k ? c.g.int64s(`${c.name}/shape`, c.constInts(1, 'shape')) : castTo(c, c.input(1), 'int64', 'shape_i64');
    // TF reads a 0 in the shape as "size 0", ONNX (allowzero=0) as "copy the input's size"
    return same(c, c.op('Reshape', [c.input(0), shape], { allowzero: attr.int(1) }));
  },
  Squeeze: (c) => {
    const dims = c.ints('squeeze_dims').length ? c.ints('squeeze_dims') : c.ints('axis');
    return same(c, dims.length ? c.op('Squeeze', [c.input(0), c.g.int64s(`${c.name}/axes`, dims)]) : c.op('Squeeze', [c.input(0)]));
  },
  ExpandDims: (c) => same(c, c.op('Unsqueeze', [c.input(0), c.g.int64s(`${c.name}/axes`, c.constInts(1, 'axis'))])),
  Transpose: (c) => same(c, c.op('Transpose', [c.input(0)], { perm: attr.ints(c.constInts(1, 'permutation')) })),
  Pad: (c) => padOp(c, 'constant'),
  PadV2: (c) => padOp(c, 'constant'),
  MirrorPad: (c) => padOp(c, c.str('mode', 'REFLECT') === 'REFLECT' ? 'reflect' : 'symmetric'),
  StridedSlice: stridedSlice,
  Slice: (c) => {
    const begin = c.constInts(1, 'begin');
    const size = c.constInts(2, 'size');
    const ends = size.map((s, i) => (s === -1 ? INT64_BIG : begin[i]! + s));
    return same(c, c.op('Slice', [c.input(0), c.g.int64s(`${c.name}/starts`, begin), c.g.int64s(`${c.name}/ends`, ends), c.g.int64s(`${c.name}/axes`, begin.map((_, i) => i))]));
  },
  GatherV2: (c) => {
    if (c.int('batch_dims', 0) !== 0) throw c.fail('uses batch_dims, which the converter does not support');
    const [axis] = c.constInts(2, 'axis');
    return same(c, c.op('Gather', [c.input(0), c.input(1)], { axis: attr.int(axis!) }));
  },
  TopKV2: (c) => {
    const [k] = c.constInts(1, 'k');
    const [values, indices] = c.g.node('TopK', `${c.name}`, [c.input(0), c.g.int64s(`${c.name}/k`, [k!])], { axis: attr.int(-1), largest: attr.int(1), sorted: attr.int(1) }, 2);
    // TF's indices are int32; ONNX's int64
    return { outputs: [values!, castTo(c, indices!, 'int32', 'indices_i32')], dtypes: [c.dtypeOf(0), 'int32'] };
  },
  Shape: (c) => {
    const to = c.type('out_type', 'int32');
    return { outputs: [castTo(c, c.op('Shape', [c.input(0)]), to, 'shape_cast')], dtypes: [to] };
  },
  MatMul: matMul(false),
  _FusedMatMul: matMul(true),
  FusedBatchNorm: batchNorm,
  FusedBatchNormV3: batchNorm,
};

function padOp(c: NodeContext, mode: string): { outputs: string[]; dtypes: OnnxDType[] } {
  const p = c.constInts(1, 'paddings');
  const rank = p.length / 2;
  const onnxPads = [...Array.from({ length: rank }, (_, i) => p[2 * i]!), ...Array.from({ length: rank }, (_, i) => p[2 * i + 1]!)];
  const inputs = [c.input(0), c.g.int64s(`${c.name}/pads`, onnxPads)];
  if (c.node.op === 'PadV2') inputs.push(c.input(2));
  return same(c, c.op('Pad', inputs, { mode: attr.string(mode) }));
}

function matMul(fused: boolean): Handler {
  return (c) => {
    let a = c.input(0);
    let b = c.input(1);
    if (c.bool('transpose_a', false)) a = c.op('Transpose', [a], { perm: attr.ints([1, 0]) }, 'transpose_a');
    if (c.bool('transpose_b', false)) b = c.op('Transpose', [b], { perm: attr.ints([1, 0]) }, 'transpose_b');
    let y = c.op('MatMul', [a, b]);
    if (!fused) return same(c, y);
    const ops = c.strs('fused_ops');
    if (ops[0] !== 'BiasAdd') throw c.fail(`fuses ${ops.join('+')}; the converter handles BiasAdd followed by an activation`);
    y = c.op('Add', [y, c.input(2)], {}, 'BiasAdd');
    if (ops.length > 2) throw c.fail(`fuses ${ops.join('+')}; at most one activation after BiasAdd is supported`);
    return same(c, ops[1] ? activation(c, y, ops[1], [c.inputCount() > 3 ? c.input(3) : '']) : y);
  };
}

function batchNorm(c: NodeContext): { outputs: string[]; dtypes: OnnxDType[] } {
  if (c.bool('is_training', false)) throw c.fail('is a training-mode batch norm');
  if (isNchw(c)) throw c.fail('normalises in NCHW layout, which the converter does not support');
  const [scale, offset, mean, variance] = [1, 2, 3, 4].map((i) => c.constant(i));
  if (!scale || !offset || !mean || !variance) throw c.fail('needs constant scale, offset, mean and variance');
  const eps = c.float('epsilon', 0.001);
  const n = scale.data.length;
  const mul = new Float32Array(n);
  const add = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const s = scale.data[i]! / Math.sqrt(variance.data[i]! + eps);
    mul[i] = s;
    add[i] = offset.data[i]! - mean.data[i]! * s;
  }
  const y = c.op('Add', [c.op('Mul', [c.input(0), c.g.initializer(`${c.name}/bn_scale`, 'float32', [n], mul)]), c.g.initializer(`${c.name}/bn_offset`, 'float32', [n], add)]);
  return same(c, y);
}

export const SUPPORTED_TF_OPS: readonly string[] = ['Const', 'Placeholder', 'NoOp', ...Object.keys(HANDLERS)].sort();

/** "node", "node:1", "^control" → [node, output index] (control inputs: null). */
function parseRef(ref: string): [string, number] | null {
  if (ref.startsWith('^')) return null;
  const m = /^(.*?)(?::(\d+))?$/.exec(ref)!;
  return [m[1]!, m[2] === undefined ? 0 : Number(m[2])];
}

function tfShape(info: { dim?: { size?: string | number }[] } | undefined): (number | string | null)[] | null {
  if (!info?.dim) return null;
  return info.dim.map((d, i) => {
    const n = Number(d.size ?? -1);
    return n >= 0 ? n : i === 0 ? 'batch' : null;
  });
}

export interface ConvertOptions {
  producerVersion: string;
  /** Written into the ONNX metadata (e.g. where the TF.js model came from). */
  metadata?: Record<string, string>;
}

// Long because: the conversion pipeline in order (outputs, inputs, constants, nodes, graph), each stage a call into the op tables above.
export function convertTfGraph(model: TfGraphModelJson, weights: Map<string, DecodedWeight>, opts: ConvertOptions): OnnxModel {
  const nodes = model.modelTopology?.node;
  if (!Array.isArray(nodes) || nodes.length === 0) throw new ConversionError('model.json has no graph nodes (modelTopology.node is empty)');
  const byName = new Map(nodes.map((n) => [n.name, n]));

  const sigOutputs = model.signature?.outputs ? Object.values(model.signature.outputs) : undefined;
  const outputRefs: { node: string; index: number; name: string; info?: TfTensorInfo }[] = sigOutputs
    ? sigOutputs.map((o) => {
      const [node, index] = parseRef(o.name) ?? [o.name, 0];
      return { node, index, name: index === 0 ? node : `${node}:${index}`, info: o };
    })
    : sinks(nodes).map((node) => ({ node, index: 0, name: node }));
  if (outputRefs.length === 0) throw new ConversionError('the graph has no outputs');
  for (const o of outputRefs) if (!byName.has(o.node)) throw new ConversionError(`the signature names output ${o.name}, which is not a node of the graph`);
  const outputNames = outputRefs.map((o) => o.node);

  // the nodes the outputs depend on, in dependency order
  const order: TfNode[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string): void => {
    const st = state.get(name);
    if (st === 'done') return;
    if (st === 'visiting') throw new ConversionError(`the graph has a cycle through node ${name} (control flow is not supported)`);
    const n = byName.get(name);
    if (!n) throw new ConversionError(`a node reads ${name}, which is not in the graph`);
    state.set(name, 'visiting');
    const stack: string[] = [];
    for (const ref of n.input ?? []) {
      const r = parseRef(ref);
      if (r) stack.push(r[0]);
    }
    for (const s of stack) visit(s);
    state.set(name, 'done');
    order.push(n);
  };
  for (const o of outputNames) visit(o);

  const unsupported = new Map<string, string[]>();
  for (const n of order) {
    if (n.op === 'Const' || n.op === 'Placeholder' || n.op === 'NoOp' || HANDLERS[n.op]) continue;
    const list = unsupported.get(n.op) ?? [];
    list.push(n.name);
    unsupported.set(n.op, list);
  }
  if (unsupported.size) throw unsupportedOpsError('TF op', unsupported, SUPPORTED_TF_OPS);

  const g = new GraphBuilder();
  // graph outputs keep their TF names: reserve them before anything else takes them
  for (const o of outputRefs) g.reserve(o.name);
  const values = new Map<string, string>(); // "node:i" → ONNX value
  const types = new Map<string, OnnxDType>();
  const consts = new Map<string, DecodedWeight>(); // ONNX value → decoded constant
  const key = (name: string, i: number): string => `${name}:${i}`;

  for (const n of order) {
    if (n.op === 'NoOp') continue;
    if (n.op === 'Placeholder') {
      const sig = model.signature?.inputs?.[n.name];
      const dtype = TF_DTYPES[n.attr?.dtype?.type ?? 'DT_FLOAT'];
      if (!dtype) throw new ConversionError(`input ${n.name} has dtype ${n.attr?.dtype?.type}, which the converter does not map`);
      const v = g.input(n.name, dtype, tfShape(sig?.tensorShape ?? n.attr?.shape?.shape));
      values.set(key(n.name, 0), v);
      types.set(v, dtype);
      continue;
    }
    if (n.op === 'Const') {
      const w = weights.get(n.name);
      if (!w) throw new ConversionError(`TF node ${n.name} (Const) has no value in the weights manifest; the weight files may belong to another model`);
      const dtype: OnnxDType = w.dtype === 'bool' ? 'bool' : w.dtype;
      const v = g.initializer(n.name, dtype, w.shape, w.data);
      values.set(key(n.name, 0), v);
      types.set(v, dtype);
      consts.set(v, w);
      continue;
    }
    const inputs: string[] = [];
    for (const ref of n.input ?? []) {
      const r = parseRef(ref);
      if (!r) continue;
      const v = values.get(key(r[0], r[1]));
      if (v === undefined) throw new ConversionError(`TF node ${n.name} (${n.op}) reads output ${r[1]} of ${r[0]}, which that node does not have`);
      inputs.push(v);
    }
    const result = HANDLERS[n.op]!(new NodeContext(g, n, inputs, types, consts));
    result.outputs.forEach((v, i) => {
      values.set(key(n.name, i), v);
      types.set(v, result.dtypes[i] ?? 'float32');
    });
  }

  for (const o of outputRefs) {
    const v = values.get(key(o.node, o.index));
    if (v === undefined) throw new ConversionError(`output ${o.name}: node ${o.node} has no output ${o.index}`);
    g.node('Identity', o.name, [v], {}, [o.name]);
    g.output(o.name, types.get(v) ?? 'float32', tfShape(o.info?.tensorShape));
  }
  return g.build({ graphName: 'tfjs-graph-model', producer: 'modelship', producerVersion: opts.producerVersion, metadata: opts.metadata ?? {} });
}

/** Nodes nobody reads: the outputs of a graph without a signature. */
function sinks(nodes: TfNode[]): string[] {
  const read = new Set<string>();
  for (const n of nodes) for (const ref of n.input ?? []) {
    const r = parseRef(ref);
    if (r) read.add(r[0]);
  }
  return nodes.filter((n) => !read.has(n.name) && n.op !== 'Const' && n.op !== 'NoOp').map((n) => n.name);
}

