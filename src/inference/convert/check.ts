/**
 * Proof, at conversion time, that a converted model computes what its TF.js original computes:
 * the same probe input (a seeded noise image through the manifest's own normalisation, or token
 * ids for a text model) runs in TF.js and, from the new bytes, in ONNX Runtime; the output the
 * manifest reads must agree within 1e-4 of its magnitude. Nothing is written when it does not.
 */
import type { TfjsManifest } from '../manifest.ts';
import { normalizePixels } from '../preprocess.ts';
import type { TensorData } from '../runtime.ts';

export interface ProbeInput {
  data: Float32Array | Int32Array;
  shape: number[];
}

/** A deterministic probe for the manifest's input (undefined when the manifest says too little). Pure. */
export function probeInput(manifest: TfjsManifest, seed = 0x5eed): ProbeInput | undefined {
  let s = seed >>> 0;
  const next = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  if ('input' in manifest) {
    const { width, height } = manifest.input;
    const pixels = new Uint8Array(width * height * 3);
    for (let i = 0; i < pixels.length; i++) pixels[i] = Math.floor(next() * 256);
    const target = manifest.input.dtype === 'int32' ? new Int32Array(pixels.length) : new Float32Array(pixels.length);
    return { data: normalizePixels(pixels, manifest.input, target), shape: [1, height, width, 3] };
  }
  if ('tokenizer' in manifest) {
    const n = manifest.tokenizer.maxLength;
    // small ids exist in every vocabulary (0 is padding, 1 out-of-vocabulary)
    return { data: Int32Array.from({ length: n }, () => Math.floor(next() * 10)), shape: [1, n] };
  }
  return undefined;
}

export interface CheckResult {
  output: string;
  maxAbsDiff: number;
  tolerance: number;
  tfjsBackend: string;
}

/** max |a−b| and the tolerance 1e-4 · max(1, max |a|). Pure. */
export function compareOutputs(a: ArrayLike<number>, b: ArrayLike<number>): { maxAbsDiff: number; tolerance: number } {
  if (a.length !== b.length) return { maxAbsDiff: Number.POSITIVE_INFINITY, tolerance: 0 };
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const x = Number(a[i]);
    const y = Number(b[i]);
    const diff = Number.isNaN(x) && Number.isNaN(y) ? 0 : Math.abs(x - y);
    d = Math.max(d, Number.isNaN(diff) ? Number.POSITIVE_INFINITY : diff);
    if (Number.isFinite(x)) m = Math.max(m, Math.abs(x));
  }
  return { maxAbsDiff: d, tolerance: 1e-4 * Math.max(1, m) };
}

/** Runs the probe through the TF.js files in `dir` and through `onnx` (bytes) in ONNX Runtime. */
export async function checkAgainstTfjs(dir: string, manifest: TfjsManifest, onnx: Uint8Array, outputName: string | undefined): Promise<CheckResult | undefined> {
  const probe = probeInput(manifest);
  if (!probe) return undefined;
  const tf = await import('@tensorflow/tfjs-core');
  const { initBackend } = await import('../backend.ts');
  const { loadTfjsModel } = await import('../tfjs-runtime.ts');
  const backend = await initBackend(tf);
  const model = await loadTfjsModel(dir, manifest, backend.name);
  let expected: TensorData;
  try {
    expected = await model.predict(probe);
  } finally {
    model.dispose();
  }
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(onnx, { logSeverityLevel: 3, intraOpNumThreads: 1 });
  try {
    const out = outputName ?? session.outputNames[0]!;
    const input = probe.data instanceof Int32Array ? new ort.Tensor('int32', probe.data, probe.shape) : new ort.Tensor('float32', probe.data, probe.shape);
    const r = await session.run({ [session.inputNames[0]!]: input }, [out]);
    const got = r[out]!;
    const cmp = [...got.dims].join(',') === expected.shape.join(',')
      ? compareOutputs(expected.data, got.data as ArrayLike<number>)
      : { maxAbsDiff: Number.POSITIVE_INFINITY, tolerance: 0 };
    return { output: out, ...cmp, tfjsBackend: backend.name };
  } finally {
    await session.release();
  }
}
