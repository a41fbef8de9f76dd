/**
 * What the two Open Inference Protocol clients put on the wire, and how they read the answer,
 * rewritten from their published source (no PyPI here):
 *
 * - tritonclient.http (`InferenceServerClient.infer`, `_get_inference_request`, `InferInput`,
 *   `InferRequestedOutput`, `InferResult`, `_get_error`; transport geventhttpclient): the body is
 *   Python's `json.dumps` (", " and ": " separators, ASCII-escaped), binary inputs follow it with
 *   `Inference-Header-Content-Length`, no Content-Type at all; without requested outputs it asks for
 *   `binary_data_output: true`; an error is `json.loads(body)["error"]` for any status but 200.
 * - KServe's `InferenceRESTClient.infer` (httpx, `InferRequest.to_rest`, orjson): compact JSON
 *   with `id` and `model_name`, no Content-Type for a JSON body, `application/octet-stream` plus
 *   the header when inputs are binary; the answer is `InferResponse.from_bytes(content,
 *   header or len(content))`; an error's message is read only when Content-Type is exactly
 *   `application/json`.
 */

/** Python's json.dumps with its defaults (separators ", " / ": ", ensure_ascii). */
export function pyJsonDumps(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (v === true) return 'true';
  if (v === false) return 'false';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(v);
  if (typeof v === 'string') return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (Array.isArray(v)) return `[${v.map(pyJsonDumps).join(', ')}]`;
  return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${pyJsonDumps(k)}: ${pyJsonDumps(x)}`).join(', ')}}`;
}

export function serializeByteTensor(elements: (Buffer | string)[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of elements) {
    const b = typeof e === 'string' ? Buffer.from(e, 'utf8') : e;
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    parts.push(len, b);
  }
  return Buffer.concat(parts);
}

export function deserializeBytesTensor(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    const len = buf.readUInt32LE(off);
    out.push(buf.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  return out;
}

export interface ClientInput {
  name: string;
  shape: number[];
  datatype: string;
  /** BYTES elements (as numpy object array items). */
  elements: (Buffer | string)[];
  /** set_data_from_numpy(binary_data=...) — tritonclient's and KServe's default is true. */
  binary: boolean;
}

export interface ClientOutput {
  name: string;
  binary_data?: boolean;
  class_count?: number;
}

export interface WireRequest {
  head: string[];
  body: Buffer;
}

// --- tritonclient.http -----------------------------------------------------------------------

export function tritonInferRequest(o: { port: number; model: string; inputs: ClientInput[]; outputs?: ClientOutput[]; requestId?: string; parameters?: Record<string, unknown>; headers?: string[] }): WireRequest {
  const req: Record<string, unknown> = {};
  if (o.requestId) req.id = o.requestId;
  const parameters: Record<string, unknown> = { ...o.parameters };
  req.inputs = o.inputs.map((i) => {
    const t: Record<string, unknown> = { name: i.name, shape: i.shape, datatype: i.datatype };
    if (i.binary) t.parameters = { binary_data_size: serializeByteTensor(i.elements).length };
    else t.data = i.elements.map((e) => (typeof e === 'string' ? e : e.toString('utf8')));
    return t;
  });
  if (o.outputs && o.outputs.length > 0) {
    req.outputs = o.outputs.map((out) => {
      const p: Record<string, unknown> = {};
      if (out.class_count) p.classification = out.class_count;
      p.binary_data = out.binary_data ?? true;
      return { name: out.name, parameters: p };
    });
  } else {
    parameters.binary_data_output = true;
  }
  if (Object.keys(parameters).length > 0) req.parameters = parameters;
  const json = pyJsonDumps(req);
  const binaries = o.inputs.filter((i) => i.binary).map((i) => serializeByteTensor(i.elements));
  const body = binaries.length > 0 ? Buffer.concat([Buffer.from(json, 'utf8'), ...binaries]) : Buffer.from(json, 'utf8');
  const head = [`POST /v2/models/${encodeURIComponent(o.model)}/infer HTTP/1.1`, `Host: 127.0.0.1:${o.port}`, 'User-Agent: python/gevent-http-client-2.3.1', ...(o.headers ?? [])];
  if (binaries.length > 0) head.push(`Inference-Header-Content-Length: ${json.length}`);
  head.push(`Content-Length: ${body.length}`);
  return { head, body };
}

export function tritonGet(port: number, uri: string, headers: string[] = []): WireRequest {
  return { head: [`GET ${uri} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'User-Agent: python/gevent-http-client-2.3.1', ...headers], body: Buffer.alloc(0) };
}

export class TritonError extends Error {}

/** tritonclient's InferResult: `as_numpy(name)` gives the flat values and the shape. */
export function tritonInferResult(r: { status: number; headers: Record<string, string>; body: Buffer }): { result: Record<string, unknown>; asNumpy: (name: string) => { shape: number[]; values: (string | number)[] } | null } {
  if (r.status !== 200) {
    const text = r.body.toString('utf8');
    const err = text.length ? (JSON.parse(text) as { error: string }) : { error: 'client received an empty response from the server.' };
    throw new TritonError(err.error);
  }
  const headerLength = r.headers['inference-header-content-length'];
  let result: Record<string, unknown>;
  let buffer: Buffer = Buffer.alloc(0);
  const offsets = new Map<string, number>();
  if (headerLength === undefined) {
    result = JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;
  } else {
    const n = Number(headerLength);
    result = JSON.parse(r.body.subarray(0, n).toString('utf8')) as Record<string, unknown>;
    buffer = r.body.subarray(n);
    let idx = 0;
    for (const out of result.outputs as { name: string; parameters?: { binary_data_size?: number } }[]) {
      const size = out.parameters?.binary_data_size;
      if (size !== undefined) {
        offsets.set(out.name, idx);
        idx += size;
      }
    }
  }
  const asNumpy = (name: string) => {
    const out = (result.outputs as { name: string; datatype: string; shape: number[]; data?: (string | number)[]; parameters?: { binary_data_size?: number } }[]).find((o) => o.name === name);
    if (!out) return null;
    if (out.data !== undefined) return { shape: out.shape, values: out.data };
    const start = offsets.get(name)!;
    const blob = buffer.subarray(start, start + out.parameters!.binary_data_size!);
    if (out.datatype === 'BYTES') return { shape: out.shape, values: deserializeBytesTensor(blob).map((b) => b.toString('utf8')) };
    if (out.datatype === 'FP32') return { shape: out.shape, values: Array.from({ length: blob.length / 4 }, (_, i) => blob.readFloatLE(i * 4)) };
    throw new Error(`unhandled datatype ${out.datatype}`);
  };
  return { result, asNumpy };
}

// --- KServe InferenceRESTClient -----------------------------------------------------------------

export function kserveInferRequest(o: { port: number; model: string; id: string; inputs: ClientInput[]; outputs?: { name: string; parameters?: Record<string, unknown> }[]; parameters?: Record<string, unknown>; headers?: string[] }): WireRequest {
  const raw: Buffer[] = [];
  const inputs = o.inputs.map((i) => {
    const t: Record<string, unknown> = { name: i.name, shape: i.shape, datatype: i.datatype };
    if (i.binary) {
      const b = serializeByteTensor(i.elements);
      t.parameters = { binary_data_size: b.length };
      raw.push(b);
    } else {
      t.data = i.elements.map((e) => (typeof e === 'string' ? e : e.toString('utf8')));
    }
    return t;
  });
  const res: Record<string, unknown> = { id: o.id, model_name: o.model, inputs };
  if (o.outputs && o.outputs.length > 0) res.outputs = o.outputs;
  if (o.parameters && Object.keys(o.parameters).length > 0) res.parameters = o.parameters;
  const json = Buffer.from(JSON.stringify(res), 'utf8');
  const body = raw.length > 0 ? Buffer.concat([json, ...raw]) : json;
  const head = [`POST /v2/models/${o.model}/infer HTTP/1.1`, `Host: 127.0.0.1:${o.port}`, 'Accept: */*', 'Accept-Encoding: gzip, deflate', 'Connection: keep-alive', 'User-Agent: python-httpx/0.28.1', ...(o.headers ?? [])];
  if (raw.length > 0) head.push(`inference-header-content-length: ${json.length}`, 'content-type: application/octet-stream');
  head.push(`Content-Length: ${body.length}`);
  return { head, body };
}

export class KServeHTTPStatusError extends Error {}

/** `_construct_http_status_error`, then `InferResponse.from_bytes`. */
export function kserveInferResponse(r: { status: number; headers: Record<string, string>; body: Buffer }): { id: string; model_name: string; outputs: { name: string; datatype: string; shape: number[]; values: (string | number)[] }[] } {
  if (r.status < 200 || r.status >= 300) {
    let message = '';
    if (r.headers['content-type'] === 'application/json') {
      const j = JSON.parse(r.body.toString('utf8')) as { error?: string };
      message = j.error ?? JSON.stringify(j);
    }
    throw new KServeHTTPStatusError(`${message}, '${r.status}'`);
  }
  const jsonLength = Number(r.headers['inference-header-content-length'] ?? r.body.length);
  const head = JSON.parse(r.body.subarray(0, jsonLength).toString('utf8')) as { id: string; model_name: string; outputs: { name: string; datatype: string; shape: number[]; data?: (string | number)[]; parameters?: { binary_data_size?: number } }[] };
  let off = jsonLength;
  return {
    id: head.id,
    model_name: head.model_name,
    outputs: head.outputs.map((o) => {
      if (o.data !== undefined) return { name: o.name, datatype: o.datatype, shape: o.shape, values: o.data };
      const size = o.parameters!.binary_data_size!;
      const blob = r.body.subarray(off, off + size);
      off += size;
      const values = o.datatype === 'BYTES' ? deserializeBytesTensor(blob).map((b) => b.toString('utf8')) : Array.from({ length: blob.length / 4 }, (_, i) => blob.readFloatLE(i * 4));
      return { name: o.name, datatype: o.datatype, shape: o.shape, values };
    }),
  };
}
