/**
 * The Open Inference Protocol (KServe V2) REST wire format, as the specification
 * (kserve open-inference-protocol, inference_rest.md) and the clients that speak it (tritonclient.http,
 * the KServe REST client) read it: the model's tensor metadata, request validation against it,
 * the binary tensor data extension (Inference-Header-Content-Length, length-prefixed BYTES,
 * little-endian numbers) and the response with exactly the requested outputs. Pure.
 */
import type { Task } from '../../inference/manifest.ts';
import { ApiError } from '../../services/errors.ts';

export const INFERENCE_HEADER = 'inference-header-content-length';
/** Protocol extensions this server implements (listed by `GET /v2`). */
export const EXTENSIONS = ['binary_tensor_data'];

export interface TensorMeta {
  name: string;
  datatype: 'BYTES' | 'FP32';
  shape: number[];
}

export interface ModelSignature {
  inputs: TensorMeta[];
  outputs: TensorMeta[];
}

/** What a model takes and gives on the V2 routes. */
export function signature(task: Task): ModelSignature {
  if (task === 'text-classification') {
    return { inputs: [{ name: 'text', datatype: 'BYTES', shape: [-1] }], outputs: [{ name: 'label', datatype: 'BYTES', shape: [-1, -1] }, { name: 'score', datatype: 'FP32', shape: [-1, -1] }] };
  }
  if (task === 'object-detection') {
    return { inputs: [{ name: 'image', datatype: 'BYTES', shape: [-1] }], outputs: [{ name: 'detections', datatype: 'BYTES', shape: [-1] }] };
  }
  return { inputs: [{ name: 'image', datatype: 'BYTES', shape: [-1] }], outputs: [{ name: 'label', datatype: 'BYTES', shape: [-1, -1] }, { name: 'score', datatype: 'FP32', shape: [-1, -1] }] };
}

const bad = (message: string): ApiError => new ApiError(400, 'bad_request', message);

/** Media types a V2 infer body may carry: none (what tritonclient sends), JSON, or JSON + binary tensors. */
export function acceptsMediaType(contentType: string | undefined): boolean {
  if (contentType === undefined || contentType.trim() === '') return true;
  const media = contentType.split(';')[0]!.trim().toLowerCase();
  return media === 'application/json' || media === 'application/octet-stream' || /^application\/[a-z0-9.+-]*\+json$/.test(media);
}

/**
 * Splits a body into its JSON header and the binary tensor data after it. Without the header
 * the whole body is JSON (whatever Content-Type said, as Triton and KServe read it).
 */
export function splitBody(body: Buffer, headerLength: string | string[] | undefined): { json: unknown; binary: Buffer } {
  let jsonEnd = body.length;
  if (headerLength !== undefined) {
    const v = Array.isArray(headerLength) ? headerLength[0]! : headerLength;
    if (!/^\d+$/.test(v.trim())) throw bad(`Inference-Header-Content-Length must be a byte count, got "${v}"`);
    jsonEnd = Number(v.trim());
    if (jsonEnd > body.length) throw bad(`Inference-Header-Content-Length is ${jsonEnd} bytes but the body has only ${body.length}`);
  }
  const text = body.subarray(0, jsonEnd).toString('utf8');
  if (text.trim() === '') throw new ApiError(400, 'bad_json', 'empty request body: send the inference request as JSON');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, 'bad_json', `invalid JSON${headerLength !== undefined ? ` in the first ${jsonEnd} bytes (Inference-Header-Content-Length)` : ''}: ${(err as Error).message}`);
  }
  return { json, binary: body.subarray(jsonEnd) };
}

/** BYTES tensor in the binary extension: each element is a 4-byte little-endian length and the bytes. */
export function serializeBytes(elements: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of elements) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(e.length);
    parts.push(len, e);
  }
  return Buffer.concat(parts);
}

export function deserializeBytes(buf: Buffer, what: string): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    if (off + 4 > buf.length) throw bad(`${what}: the binary BYTES data ends inside an element's 4-byte length`);
    const len = buf.readUInt32LE(off);
    off += 4;
    if (off + len > buf.length) throw bad(`${what}: a binary BYTES element claims ${len} bytes but only ${buf.length - off} remain`);
    out.push(buf.subarray(off, off + len));
    off += len;
  }
  return out;
}

export function serializeFp32(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeFloatLE(v, i * 4));
  return b;
}

export interface RequestedOutput {
  name: string;
  binary: boolean;
}

export interface DecodedRequest {
  /** The request's id, echoed in the response. */
  id: string | undefined;
  /** The input tensor's elements, row-major: bytes for image models, strings for text models. */
  elements: (Buffer | string)[];
  /** Outputs to return, in order (all of the model's when the request names none). */
  outputs: RequestedOutput[];
  parameters: Record<string, unknown>;
}

export interface DecodeLimits {
  maxElements: number;
  maxFileSize: number;
  maxTextLength: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function optionalParameters(v: unknown, where: string): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw bad(`${where}: "parameters" must be an object`);
  return v;
}

function flatten(data: unknown[], depth = 0): unknown[] {
  if (depth > 8) throw bad('input data is nested too deeply');
  const out: unknown[] = [];
  for (const d of data) {
    if (Array.isArray(d)) out.push(...flatten(d, depth + 1));
    else out.push(d);
  }
  return out;
}

const BASE64_RE = /^[A-Za-z0-9+/\r\n]*={0,2}$|^[A-Za-z0-9_\-\r\n]*={0,2}$/;

/**
 * Validates an inference request against the model's signature and returns its inputs and the
 * outputs to produce. Errors are 400s that name the tensor and what is wrong with it.
 */
export function decodeRequest(json: unknown, binary: Buffer, sig: ModelSignature, model: string, limits: DecodeLimits): DecodedRequest {
  if (!isObject(json)) throw bad('the request body must be a JSON object with an "inputs" list');
  if (json.id !== undefined && typeof json.id !== 'string') throw bad(`"id" must be a string, got ${JSON.stringify(json.id)}`);
  const parameters = optionalParameters(json.parameters, 'the request');
  if (parameters.binary_data_output !== undefined && typeof parameters.binary_data_output !== 'boolean') throw bad('parameter "binary_data_output" must be true or false');
  const spec = sig.inputs[0]!;
  const describe = `model ${model} takes one input "${spec.name}" (${spec.datatype}, shape [${spec.shape.join(', ')}])`;
  if (!Array.isArray(json.inputs) || json.inputs.length === 0) throw bad(`"inputs" must be a non-empty list: ${describe}`);
  if (json.inputs.length > sig.inputs.length) throw bad(`${json.inputs.length} input tensors given: ${describe}`);

  let binaryOffset = 0;
  let elements: (Buffer | string)[] = [];
  for (const [i, t] of (json.inputs as unknown[]).entries()) {
    if (!isObject(t)) throw bad(`inputs[${i}] must be an object with name, shape, datatype and data`);
    if (typeof t.name !== 'string' || t.name === '') throw bad(`inputs[${i}] has no "name": ${describe}`);
    const where = `input "${t.name}"`;
    if (t.name !== spec.name) throw bad(`unknown ${where}: ${describe}`);
    if (typeof t.datatype !== 'string') throw bad(`${where} has no "datatype" (expected ${spec.datatype})`);
    if (t.datatype !== spec.datatype) throw bad(`${where} has datatype ${t.datatype}; expected ${spec.datatype}`);
    if (!Array.isArray(t.shape)) throw bad(`${where} has no "shape" (a list of dimensions, e.g. [1])`);
    const shape = t.shape as unknown[];
    if (!shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) throw bad(`${where}: shape [${shape.join(', ')}] must list non-negative integers (-1 is for metadata only)`);
    if (shape.length !== spec.shape.length) throw bad(`${where}: shape [${shape.join(', ')}] has ${shape.length} dimension(s); the model's is [${spec.shape.join(', ')}]`);
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const params = optionalParameters(t.parameters, where);
    if (params.shared_memory_region !== undefined) throw bad(`${where}: the shared memory extension is not supported; send the data in the body`);
    const binarySize = params.binary_data_size;
    const hasData = t.data !== undefined && t.data !== null;
    if (binarySize !== undefined && binarySize !== null) {
      if (hasData) throw bad(`${where} has both "data" and parameters.binary_data_size; send one of them`);
      if (!Number.isInteger(binarySize) || (binarySize as number) < 0) throw bad(`${where}: binary_data_size must be a byte count`);
      const end = binaryOffset + (binarySize as number);
      if (end > binary.length) throw bad(`${where}: binary_data_size ${String(binarySize)} goes past the end of the binary data (${binary.length - binaryOffset} bytes left)`);
      const items = deserializeBytes(binary.subarray(binaryOffset, end), where);
      binaryOffset = end;
      if (items.length !== count) throw bad(`${where}: shape [${shape.join(', ')}] describes ${count} element(s) but the binary data holds ${items.length}`);
      elements = spec.name === 'text' ? items.map((b, j) => decodeText(b, where, j)) : items;
    } else {
      if (!hasData) throw bad(`${where} has no "data" (nor parameters.binary_data_size for the binary extension)`);
      if (!Array.isArray(t.data)) throw bad(`${where}: "data" must be a list`);
      const flat = flatten(t.data as unknown[]);
      if (flat.length !== count) throw bad(`${where}: shape [${shape.join(', ')}] describes ${count} element(s) but "data" holds ${flat.length}`);
      elements = flat.map((d, j) => {
        const v = isObject(d) && typeof d.b64 === 'string' ? d.b64 : d;
        if (typeof v !== 'string') throw bad(`${where}: element ${j} is not a string (BYTES elements are strings${spec.name === 'image' ? ': base64 of the image file' : ''})`);
        if (spec.name === 'text') return v;
        if (!BASE64_RE.test(v)) throw bad(`${where}: element ${j} is not base64 (send the image file base64-encoded, or use the binary data extension)`);
        return Buffer.from(v, 'base64');
      });
    }
    if (elements.length === 0) throw bad(`${where} has no elements`);
    if (elements.length > limits.maxElements) throw new ApiError(413, 'too_many_inputs', `${where} has ${elements.length} elements; the limit is ${limits.maxElements}`);
    for (const [j, e] of elements.entries()) {
      if (typeof e === 'string' && e.length > limits.maxTextLength) throw new ApiError(413, 'text_too_long', `${where}: element ${j} has ${e.length} characters; the limit is ${limits.maxTextLength}`);
      if (typeof e !== 'string' && e.length > limits.maxFileSize) throw new ApiError(413, 'file_too_large', `${where}: element ${j} is over ${limits.maxFileSize} bytes`);
    }
  }
  if (binaryOffset !== binary.length) throw bad(`${binary.length - binaryOffset} bytes of binary data after the JSON are not claimed by any input's binary_data_size`);

  const defaultBinary = parameters.binary_data_output === true;
  const outputs = requestedOutputs(json.outputs, sig, model, defaultBinary);
  return { id: json.id as string | undefined, elements, outputs, parameters };
}

/** The outputs a request asks for (all of the model's when it names none), each binary or JSON. */
function requestedOutputs(requested: unknown, sig: ModelSignature, model: string, defaultBinary: boolean): RequestedOutput[] {
  const all = () => sig.outputs.map((o) => ({ name: o.name, binary: defaultBinary }));
  if (requested === undefined || requested === null) return all();
  if (!Array.isArray(requested)) throw bad('"outputs" must be a list of {"name": ...}');
  const known = sig.outputs.map((o) => o.name);
  const seen = new Set<string>();
  const outputs = (requested as unknown[]).map((o, i) => {
    if (!isObject(o) || typeof o.name !== 'string') throw bad(`outputs[${i}] must be an object with a "name"`);
    if (!known.includes(o.name)) throw bad(`unknown output "${o.name}": model ${model} has outputs ${known.map((k) => `"${k}"`).join(', ')}`);
    if (seen.has(o.name)) throw bad(`output "${o.name}" is requested twice`);
    seen.add(o.name);
    const p = optionalParameters(o.parameters, `output "${o.name}"`);
    if (p.classification !== undefined && p.classification !== 0) throw bad(`output "${o.name}": the classification extension is not supported; labels come as the "label" output`);
    if (p.shared_memory_region !== undefined) throw bad(`output "${o.name}": the shared memory extension is not supported`);
    if (p.binary_data !== undefined && typeof p.binary_data !== 'boolean') throw bad(`output "${o.name}": binary_data must be true or false`);
    return { name: o.name, binary: typeof p.binary_data === 'boolean' ? p.binary_data : defaultBinary };
  });
  return outputs.length === 0 ? all() : outputs;
}

function decodeText(b: Buffer, where: string, j: number): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(b);
  } catch {
    throw bad(`${where}: element ${j} is not UTF-8 text`);
  }
}

export interface OutputTensor {
  name: string;
  datatype: 'BYTES' | 'FP32';
  shape: number[];
  data: (string | number)[];
}

/**
 * The response: JSON alone, or JSON + binary tensors (then `headerLength` is its byte length for
 * Inference-Header-Content-Length and `body` is JSON followed by the outputs' bytes, in order).
 */
export function encodeResponse(head: { model_name: string; model_version: string; id: string; parameters?: Record<string, unknown> }, tensors: OutputTensor[], requested: RequestedOutput[]): { body: Buffer; headerLength: number | undefined } {
  const outputs: Record<string, unknown>[] = [];
  const blobs: Buffer[] = [];
  for (const r of requested) {
    const t = tensors.find((x) => x.name === r.name);
    if (!t) continue;
    if (r.binary) {
      const blob = t.datatype === 'FP32' ? serializeFp32(t.data as number[]) : serializeBytes((t.data as string[]).map((s) => Buffer.from(s, 'utf8')));
      blobs.push(blob);
      outputs.push({ name: t.name, datatype: t.datatype, shape: t.shape, parameters: { binary_data_size: blob.length } });
    } else {
      outputs.push({ name: t.name, datatype: t.datatype, shape: t.shape, data: t.data });
    }
  }
  const json = Buffer.from(JSON.stringify({ ...head, outputs }), 'utf8');
  if (blobs.length === 0) return { body: json, headerLength: undefined };
  return { body: Buffer.concat([json, ...blobs]), headerLength: json.length };
}
