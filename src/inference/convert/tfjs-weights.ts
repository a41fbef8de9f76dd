/**
 * Decodes a TF.js weights buffer (the concatenated shards) into typed arrays, the way
 * tfjs-core's `io.decodeWeights` does, quantized weights included (uint8/uint16 affine
 * `q·scale + min`, float16), without creating tensors. Pure.
 */

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; min?: number; scale?: number; original_dtype?: string };
}

export interface DecodedWeight {
  dtype: 'float32' | 'int32' | 'bool';
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

export class WeightDecodeError extends Error {}

/** float16 bits → float32 value (exact: every half is representable as a single). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const STORED_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

export function decodeWeights(buffer: ArrayBuffer, specs: WeightSpec[]): Map<string, DecodedWeight> {
  const out = new Map<string, DecodedWeight>();
  let offset = 0;
  for (const spec of specs) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const q = spec.quantization;
    const stored = q ? q.dtype : spec.dtype;
    const width = STORED_BYTES[stored];
    if (width === undefined) throw new WeightDecodeError(`weight ${spec.name} is stored as ${stored}, which the converter does not read (float32, int32, bool, or quantized uint8/uint16/float16)`);
    const bytes = size * width;
    if (offset + bytes > buffer.byteLength) throw new WeightDecodeError(`weight ${spec.name} needs bytes ${offset}..${offset + bytes} but the weight files hold ${buffer.byteLength}: a shard is truncated or belongs to another model`);
    const view = buffer.slice(offset, offset + bytes);
    offset += bytes;
    if (spec.dtype !== 'float32' && spec.dtype !== 'int32' && spec.dtype !== 'bool') throw new WeightDecodeError(`weight ${spec.name} has dtype ${spec.dtype}; the converter handles float32, int32 and bool weights`);
    let data: Float32Array | Int32Array | Uint8Array;
    if (!q) {
      data = spec.dtype === 'float32' ? new Float32Array(view) : spec.dtype === 'int32' ? new Int32Array(view) : new Uint8Array(view);
    } else if (q.dtype === 'uint8' || q.dtype === 'uint16') {
      if (typeof q.min !== 'number' || typeof q.scale !== 'number') throw new WeightDecodeError(`weight ${spec.name} is ${q.dtype}-quantized but has no min/scale`);
      const raw = q.dtype === 'uint8' ? new Uint8Array(view) : new Uint16Array(view);
      if (spec.dtype === 'float32') {
        data = new Float32Array(size);
        for (let i = 0; i < size; i++) data[i] = raw[i]! * q.scale + q.min;
      } else if (spec.dtype === 'int32') {
        data = new Int32Array(size);
        for (let i = 0; i < size; i++) data[i] = Math.round(raw[i]! * q.scale + q.min);
      } else {
        throw new WeightDecodeError(`weight ${spec.name}: quantized bool weights do not exist in TF.js`);
      }
    } else {
      if (spec.dtype !== 'float32') throw new WeightDecodeError(`weight ${spec.name}: float16 quantization applies to float32 weights only`);
      const raw = new Uint16Array(view);
      data = new Float32Array(size);
      for (let i = 0; i < size; i++) data[i] = halfToFloat(raw[i]!);
    }
    out.set(spec.name, { dtype: spec.dtype, shape: spec.shape.slice(), data });
  }
  return out;
}
