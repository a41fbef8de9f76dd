/**
 * A small in-memory ONNX graph: nodes, initializers (weights), inputs and outputs. The TF.js
 * converters build one of these; `onnx-write.ts` serialises it. Pure data, no I/O.
 */

export type OnnxDType = 'float32' | 'float64' | 'int32' | 'int64' | 'bool' | 'uint8';

export type TensorValues = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export interface OnnxTensor {
  name: string;
  dtype: OnnxDType;
  dims: number[];
  data: TensorValues;
}

export type OnnxAttr =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'ints'; value: number[] }
  | { kind: 'floats'; value: number[] };

export interface OnnxNode {
  op: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, OnnxAttr>;
}

export interface OnnxValueInfo {
  name: string;
  dtype: OnnxDType;
  /** A number is a fixed size; a string a symbolic one (e.g. "batch"); null unknown. */
  shape: (number | string | null)[] | null;
}

export interface OnnxModel {
  graphName: string;
  opset: number;
  producer: string;
  producerVersion: string;
  docString?: string;
  metadata: Record<string, string>;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

/** The opset the converters target: every op they emit exists with these semantics in 17. */
export const OPSET = 17;

export const attr = {
  int: (value: number): OnnxAttr => ({ kind: 'int', value }),
  float: (value: number): OnnxAttr => ({ kind: 'float', value }),
  string: (value: string): OnnxAttr => ({ kind: 'string', value }),
  ints: (value: number[]): OnnxAttr => ({ kind: 'ints', value }),
  floats: (value: number[]): OnnxAttr => ({ kind: 'floats', value }),
};

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Builds a graph with unique value and node names. */
export class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  readonly inputs: OnnxValueInfo[] = [];
  readonly outputs: OnnxValueInfo[] = [];
  private readonly names = new Set<string>();
  private readonly constants = new Map<string, OnnxTensor>();

  /** Reserves `base`, or `base_1`, `base_2`… when it is taken. */
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  /** Marks an externally chosen name (a graph input, a TF node name) as used. */
  reserve(name: string): string {
    this.names.add(name);
    return name;
  }

  input(name: string, dtype: OnnxDType, shape: OnnxValueInfo['shape']): string {
    this.reserve(name);
    this.inputs.push({ name, dtype, shape });
    return name;
  }

  output(name: string, dtype: OnnxDType, shape: OnnxValueInfo['shape']): void {
    this.outputs.push({ name, dtype, shape });
  }

  /** Adds an initializer under a fresh name derived from `base`; returns its name. */
  initializer(base: string, dtype: OnnxDType, dims: number[], data: TensorValues): string {
    if (data.length !== elementCount(dims)) throw new Error(`initializer ${base}: ${data.length} values for shape [${dims.join(',')}]`);
    const name = this.fresh(base);
    const t: OnnxTensor = { name, dtype, dims: dims.slice(), data };
    this.initializers.push(t);
    this.constants.set(name, t);
    return name;
  }

  /** The initializer behind a value name, when the value is a constant. */
  constant(name: string): OnnxTensor | undefined {
    return this.constants.get(name);
  }

  int64s(base: string, values: number[]): string {
    return this.initializer(base, 'int64', [values.length], BigInt64Array.from(values.map((v) => BigInt(v))));
  }

  scalarFloat(base: string, value: number): string {
    return this.initializer(base, 'float32', [], Float32Array.of(value));
  }

  /**
   * Adds a node. `outputs` is either the exact output names (already reserved or not) or a count
   * of fresh outputs derived from `name`. Returns the output names.
   */
  node(op: string, name: string, inputs: string[], attrs: Record<string, OnnxAttr> = {}, outputs: string[] | number = 1): string[] {
    const nodeName = this.fresh(`${name}#${op}`);
    const outs = typeof outputs === 'number'
      ? Array.from({ length: outputs }, (_, i) => this.fresh(outputs === 1 ? name : `${name}:${i}`))
      : outputs.map((o) => this.reserve(o));
    this.nodes.push({ op, name: nodeName, inputs, outputs: outs, attrs });
    return outs;
  }

  /** `node` for the common single-output case. */
  op(op: string, name: string, inputs: string[], attrs: Record<string, OnnxAttr> = {}): string {
    return this.node(op, name, inputs, attrs, 1)[0]!;
  }

  /**
   * The finished model. Initializers no node reads (constants that became attributes, such as
   * axes and kernel layouts already transposed) are left out.
   */
  build(meta: Omit<OnnxModel, 'nodes' | 'initializers' | 'inputs' | 'outputs' | 'opset'>): OnnxModel {
    const read = new Set(this.nodes.flatMap((n) => n.inputs));
    for (const o of this.outputs) read.add(o.name);
    const initializers = this.initializers.filter((t) => read.has(t.name));
    return { ...meta, opset: OPSET, nodes: this.nodes, initializers, inputs: this.inputs, outputs: this.outputs };
  }
}

/** NHWC → NCHW and back: TF keeps channels last, ONNX's Conv/Pool/Resize want them first. */
export const NHWC_TO_NCHW = [0, 3, 1, 2];
export const NCHW_TO_NHWC = [0, 2, 3, 1];

/**
 * Runs a channels-first ONNX op on a channels-last tensor: Transpose in, op, Transpose out.
 * Returns the NHWC output. `removeTransposePairs` later cancels the back-to-back transposes
 * this leaves between consecutive channels-first ops.
 */
export function channelsFirst(g: GraphBuilder, name: string, x: string, fn: (nchw: string) => string): string {
  const t = g.op('Transpose', `${name}/to_nchw`, [x], { perm: attr.ints(NHWC_TO_NCHW) });
  const y = fn(t);
  return g.op('Transpose', `${name}/to_nhwc`, [y], { perm: attr.ints(NCHW_TO_NHWC) });
}

/**
 * A TF/Keras conv kernel [kh,kw,cin,cout] → ONNX OIHW [cout,cin,kh,kw]; a depthwise kernel
 * [kh,kw,cin,mult] → [cin·mult,1,kh,kw] (output channel c·mult + j, the order TF emits them).
 */
export function kernelToOihw(k: { shape: number[]; data: Float32Array }, depthwise: boolean): { shape: number[]; data: Float32Array } {
  if (k.shape.length !== 4) throw new Error(`conv kernel has shape [${k.shape.join(',')}]; expected 4-D`);
  const [kh, kw, cin, m] = k.shape as [number, number, number, number];
  const src = k.data;
  const out = new Float32Array(src.length);
  if (depthwise) {
    for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let ci = 0; ci < cin; ci++) for (let j = 0; j < m; j++) {
      out[(((ci * m + j) * kh) + y) * kw + x] = src[((y * kw + x) * cin + ci) * m + j]!;
    }
    return { shape: [cin * m, 1, kh, kw], data: out };
  }
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let ci = 0; ci < cin; ci++) for (let o = 0; o < m; o++) {
    out[((o * cin + ci) * kh + y) * kw + x] = src[((y * kw + x) * cin + ci) * m + o]!;
  }
  return { shape: [m, cin, kh, kw], data: out };
}
