import type { OnnxManifest } from './manifest.ts';
import type { Dim, TensorInfo } from './runtime.ts';

/**
 * Pure: which of an ONNX model's inputs and outputs the manifest means, checked against the
 * shapes the model declares. A mismatch is a load error that names the model's real tensors, so
 * the manifest can be fixed without opening the model in another tool.
 */

export interface ResolvedIo {
  inputs: TensorInfo[];
  /** The input the image or token ids feed. */
  main: string;
  output: string;
  fixedBatch: number | null;
  imageLayout?: 'NHWC' | 'NCHW';
}

export function describeTensor(t: TensorInfo): string {
  return `"${t.name}" ${t.type} [${t.shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}

function list(ts: TensorInfo[]): string {
  return ts.map(describeTensor).join(', ');
}

const num = (d: Dim | undefined): number | undefined => (typeof d === 'number' && d > 0 ? d : undefined);

/** NCHW when the channel dim (3) is at index 1, NHWC at index 3; undefined when the shape does not tell. */
export function layoutFromShape(shape: TensorInfo['shape']): 'NHWC' | 'NCHW' | undefined {
  if (shape.length !== 4) return undefined;
  const c1 = num(shape[1]) === 3, c3 = num(shape[3]) === 3;
  if (c1 && !c3) return 'NCHW';
  if (c3 && !c1) return 'NHWC';
  return undefined;
}

const IMAGE_TYPES = new Set(['float32', 'uint8', 'int32', 'float64']);
const ID_TYPES = new Set(['int32', 'int64', 'float32']);

export function resolveModelIo(m: OnnxManifest, inputs: TensorInfo[], outputs: TensorInfo[]): ResolvedIo {
  const isImage = 'input' in m;
  const field = isImage ? 'input.tensor' : 'tokenizer.tensor';
  // A tokenizer.json feeds input_ids (attention_mask, token_type_ids beside it, by name).
  const wanted = isImage ? m.input.tensor : m.tokenizer.type === 'huggingface' ? 'input_ids' : m.tokenizer.tensor;
  let main: TensorInfo | undefined;
  if (wanted !== undefined) {
    main = inputs.find((i) => i.name === wanted);
    if (!main) throw new Error(`manifest ${field} "${wanted}" is not an input of the model; its inputs: ${list(inputs)}`);
  } else if (inputs.length === 1) {
    main = inputs[0];
  } else if (isImage) {
    const images = inputs.filter((i) => i.shape.length === 4);
    if (images.length === 1) main = images[0];
  }
  if (!main) throw new Error(`the model has ${inputs.length} inputs (${list(inputs)}): name the one the ${isImage ? 'image' : 'text'} feeds with ${field} in the manifest`);

  let imageLayout: ResolvedIo['imageLayout'];
  if (isImage) {
    if (!IMAGE_TYPES.has(main.type)) throw new Error(`the model's image input ${describeTensor(main)} has element type ${main.type}; modelship feeds float32, uint8, int32 or float64`);
    if (main.shape.length !== 4) throw new Error(`the model's input ${describeTensor(main)} is not an image batch (expected 4 dimensions, NCHW or NHWC)`);
    const fromShape = layoutFromShape(main.shape);
    if (m.input.layout && fromShape && m.input.layout !== fromShape) {
      throw new Error(`manifest input.layout is ${m.input.layout} but the model's input ${describeTensor(main)} is ${fromShape}`);
    }
    imageLayout = m.input.layout ?? fromShape;
    if (!imageLayout) throw new Error(`cannot tell the layout of the model's input ${describeTensor(main)}: set input.layout ("NCHW" or "NHWC") in the manifest`);
    const [h, w] = imageLayout === 'NCHW' ? [main.shape[2], main.shape[3]] : [main.shape[1], main.shape[2]];
    const mismatch = [num(h) !== undefined && num(h) !== m.input.height ? `height ${num(h)} (manifest input.height ${m.input.height})` : '', num(w) !== undefined && num(w) !== m.input.width ? `width ${num(w)} (manifest input.width ${m.input.width})` : ''].filter(Boolean);
    if (mismatch.length) throw new Error(`the model's input ${describeTensor(main)} takes ${mismatch.join(' and ')}: set input.width/height to the model's size`);
  } else {
    if (!ID_TYPES.has(main.type)) throw new Error(`the model's text input ${describeTensor(main)} has element type ${main.type}; token ids are fed as int32, int64 or float32`);
    if (main.shape.length !== 2) throw new Error(`the model's input ${describeTensor(main)} is not a batch of token ids (expected 2 dimensions [batch, length])`);
    const len = num(main.shape[1]);
    if (len !== undefined && (m.tokenizer.type === 'huggingface' ? len < m.tokenizer.maxLength : len !== m.tokenizer.maxLength)) throw new Error(`the model's input ${describeTensor(main)} takes ${len} tokens but the manifest's tokenizer.maxLength is ${m.tokenizer.maxLength}`);
  }

  let output: TensorInfo | undefined;
  if (m.output.tensor !== undefined) {
    output = outputs.find((o) => o.name === m.output.tensor);
    if (!output) throw new Error(`manifest output.tensor "${m.output.tensor}" is not an output of the model; its outputs: ${list(outputs)}`);
  } else if (outputs.length === 1) {
    output = outputs[0];
  } else {
    throw new Error(`the model has ${outputs.length} outputs (${list(outputs)}): name the one to read with output.tensor in the manifest`);
  }
  const b = num(main.shape[0]);
  return { inputs, main: main.name, output: output!.name, fixedBatch: b ?? null, ...(imageLayout ? { imageLayout } : {}) };
}
