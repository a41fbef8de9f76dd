import onnxProto from 'onnx-proto';
import type { OnnxAttr, OnnxDType, OnnxModel, OnnxTensor, OnnxValueInfo } from './onnx-graph.ts';

/**
 * Serialises an `OnnxModel` to the ONNX protobuf format with the official onnx.proto schema
 * (compiled by the onnx-proto package). Weights go into initializers as little-endian raw_data.
 */

const { onnx } = onnxProto;

/** IR version 8 (ONNX 1.10–1.12) covers opsets up to 17. */
const IR_VERSION = 8;

const DATA_TYPE: Record<OnnxDType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float64: onnx.TensorProto.DataType.DOUBLE,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
  uint8: onnx.TensorProto.DataType.UINT8,
};

function rawBytes(t: OnnxTensor): Uint8Array {
  const d = t.data;
  // every platform Node runs on is little-endian, which is what raw_data requires
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

function tensorProto(t: OnnxTensor): onnxProto.onnx.ITensorProto {
  return { name: t.name, dims: t.dims, dataType: DATA_TYPE[t.dtype], rawData: rawBytes(t) };
}

function attributeProto(name: string, a: OnnxAttr): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int': return { name, type: T.INT, i: a.value };
    case 'float': return { name, type: T.FLOAT, f: a.value };
    case 'string': return { name, type: T.STRING, s: new TextEncoder().encode(a.value) };
    case 'ints': return { name, type: T.INTS, ints: a.value };
    case 'floats': return { name, type: T.FLOATS, floats: a.value };
  }
}

function valueInfo(v: OnnxValueInfo): onnxProto.onnx.IValueInfoProto {
  const tensorType: onnxProto.onnx.TypeProto.ITensor = { elemType: DATA_TYPE[v.dtype] };
  if (v.shape) tensorType.shape = { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : d === null ? {} : { dimParam: d })) };
  return { name: v.name, type: { tensorType } };
}

export function encodeOnnx(model: OnnxModel): Uint8Array {
  const proto: onnxProto.onnx.IModelProto = {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: model.opset }],
    producerName: model.producer,
    producerVersion: model.producerVersion,
    docString: model.docString ?? '',
    metadataProps: Object.entries(model.metadata).map(([key, value]) => ({ key, value })),
    graph: {
      name: model.graphName,
      node: model.nodes.map((n) => ({
        name: n.name,
        opType: n.op,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs).map(([k, a]) => attributeProto(k, a)),
      })),
      initializer: model.initializers.map(tensorProto),
      input: model.inputs.map(valueInfo),
      output: model.outputs.map(valueInfo),
    },
  };
  return onnx.ModelProto.encode(proto).finish();
}

/** Reads back what `encodeOnnx` wrote (op types, initializer names): for tests and `models info`. */
export function decodeOnnxSummary(bytes: Uint8Array): { opset: number; ops: string[]; initializers: string[]; inputs: string[]; outputs: string[]; metadata: Record<string, string> } {
  const m = onnx.ModelProto.decode(bytes);
  const g = m.graph;
  return {
    opset: Number(m.opsetImport.find((o) => !o.domain)?.version ?? 0),
    ops: (g?.node ?? []).map((n) => n.opType ?? ''),
    initializers: (g?.initializer ?? []).map((t) => t.name ?? ''),
    inputs: (g?.input ?? []).map((v) => v.name ?? ''),
    outputs: (g?.output ?? []).map((v) => v.name ?? ''),
    metadata: Object.fromEntries(m.metadataProps.map((p) => [p.key, p.value])),
  };
}
