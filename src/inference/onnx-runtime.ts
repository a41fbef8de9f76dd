import path from 'node:path';
import type * as Ort from 'onnxruntime-node';
import type { OnnxProviderChoice } from './backend.ts';
import type { OnnxManifest } from './manifest.ts';
import { createSession, loadOrt } from './onnx-provider.ts';
import { resolveModelIo, type ResolvedIo } from './onnx-io.ts';
import type { ModelFeeds, RuntimeModel, TensorData, TensorInfo } from './runtime.ts';
import type { BackendInfo } from './types.ts';

/**
 * ONNX Runtime behind the runtime-neutral `RuntimeModel`. The session is created once and kept
 * for the life of the thread. Inputs and outputs are found by the model's own names and shapes
 * (onnx-io.ts), with the manifest's `tensor` fields as the tie-breaker, never by position.
 */

export interface OnnxLoadOptions {
  forced?: OnnxProviderChoice | undefined;
  intraOpThreads: number;
}

export interface OnnxRuntimeModel extends RuntimeModel {
  providerInfo: BackendInfo;
  io: ResolvedIo;
}

function infos(names: readonly string[], meta: readonly Ort.InferenceSession.ValueMetadata[]): TensorInfo[] {
  return names.map((name, i) => {
    const m = meta[i];
    if (!m || !m.isTensor) return { name, type: 'non-tensor', shape: [] };
    return { name, type: m.type, shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : typeof d === 'string' ? d : null)) };
  });
}

export async function loadOnnxModel(dir: string, manifest: OnnxManifest, o: OnnxLoadOptions): Promise<OnnxRuntimeModel> {
  const file = path.resolve(dir, manifest.modelFile);
  if (path.relative(dir, file).startsWith('..')) throw new Error(`modelFile ${manifest.modelFile} leaves the model directory`);
  const { session, provider } = await createSession(file, o);
  let io: ResolvedIo;
  try {
    io = resolveModelIo(manifest, infos(session.inputNames, session.inputMetadata), infos(session.outputNames, session.outputMetadata));
  } catch (err) {
    await session.release();
    throw err;
  }
  const ort = loadOrt();
  const byName = new Map(io.inputs.map((i) => [i.name, i]));
  const toTensor = (name: string, t: TensorData): Ort.Tensor => {
    const info = byName.get(name);
    if (!info) throw new Error(`the model has no input "${name}" (inputs: ${io.inputs.map((i) => i.name).join(', ')})`);
    return new ort.Tensor(info.type as 'float32', convert(t.data, info.type) as Float32Array, t.shape);
  };
  return {
    fixedBatch: io.fixedBatch,
    provider: provider.name,
    providerInfo: provider,
    ...(io.imageLayout ? { imageLayout: io.imageLayout } : {}),
    inputs: io.inputs,
    io,
    predict: async (feeds: ModelFeeds) => {
      const named: Record<string, Ort.Tensor> = {};
      if (feeds instanceof Map) for (const [k, v] of feeds) named[k] = toTensor(k, v);
      else named[io.main] = toTensor(io.main, feeds);
      const out = await session.run(named, [io.output]);
      const t = out[io.output];
      if (!t) throw new Error(`the model returned no output "${io.output}"`);
      try {
        return { data: toFloat32(t.data as ArrayLike<number | bigint>), shape: t.dims.slice() };
      } finally {
        t.dispose();
      }
    },
    dispose: () => void session.release(),
  };
}

/** Casts input values to the element type the model declares (int64 ids, uint8 images…). */
export function convert(data: Float32Array | Int32Array, type: string): Float32Array | Int32Array | BigInt64Array | Uint8Array | Float64Array {
  switch (type) {
    case 'float32':
      return data instanceof Float32Array ? data : Float32Array.from(data);
    case 'int32':
      return data instanceof Int32Array ? data : Int32Array.from(data, Math.round);
    case 'int64':
      return BigInt64Array.from(data, (v) => BigInt(Math.round(v)));
    case 'uint8':
      return Uint8Array.from(data, (v) => Math.min(255, Math.max(0, Math.round(v))));
    case 'float64':
      return Float64Array.from(data);
    default:
      throw new Error(`input element type ${type} is not supported (float32, int32, int64, uint8, float64 are)`);
  }
}

function toFloat32(data: ArrayLike<number | bigint>): Float32Array {
  if (data instanceof Float32Array) return data.slice();
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = Number(data[i]);
  return out;
}

/**
 * Opens the model on the CPU provider and checks its inputs and outputs against the manifest
 * (as a worker would on first use). Returns the problem, or undefined when the model fits.
 */
export async function inspectOnnxModel(dir: string, manifest: OnnxManifest): Promise<string | undefined> {
  const file = path.resolve(dir, manifest.modelFile);
  let session: Ort.InferenceSession;
  try {
    session = (await createSession(file, { forced: 'onnx-cpu', intraOpThreads: 1 })).session;
  } catch (err) {
    return `${manifest.modelFile} cannot be opened by ONNX Runtime: ${(err as Error).message.split('\n')[0]}`;
  }
  try {
    resolveModelIo(manifest, infos(session.inputNames, session.inputMetadata), infos(session.outputNames, session.outputMetadata));
    return undefined;
  } catch (err) {
    return `${manifest.modelFile}: ${(err as Error).message}`;
  } finally {
    await session.release();
  }
}
