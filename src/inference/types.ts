/** Shapes shared by the engine, the CLI and (later) the HTTP server. Runtime-neutral. */

export interface Prediction {
  label: string;
  score: number;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Detection {
  label: string;
  score: number;
  box: Box;
}

export type CliTask = 'image' | 'text' | 'detect';

interface ResultBase {
  model: string;
  version: string;
  /** The backend that really ran this input (e.g. `onnx-cpu`, `onnx-cuda`, `wasm-simd`, `tfjs-node`, `lexicon`). */
  backend: string;
  durationMs: number;
  /** What the decoder had to do to this input ("CMYK converted to sRGB", "first of 12 frames"); absent when nothing. */
  notes?: string[];
}

export interface ClassificationResult extends ResultBase {
  predictions: Prediction[];
}

export interface DetectionResult extends ResultBase {
  detections: Detection[];
  /** Size of the image as displayed (after EXIF orientation); boxes are in these pixels. */
  width: number;
  height: number;
}

/** What the backend choice found. `name` is the short string reported in results. */
export interface BackendInfo {
  name: string;
  /** The TF.js backend id (`tensorflow`, `wasm`, `cpu`); `none` for ONNX Runtime. */
  tfBackend: string;
  /** The runtime this backend belongs to (absent: TF.js, as before ONNX Runtime existed). */
  runtime?: 'tfjs' | 'onnx' | 'lexicon';
  /** ONNX Runtime intra-op threads per session. */
  threads?: number;
  device: 'gpu' | 'cpu';
  /** Backends tried before this one and why they were skipped. */
  skipped: { name: string; reason: string }[];
  note?: string;
}

// The error types live in errors.ts; re-exported here for the modules that import them from types.
export { InputError, ModelLoadError } from './errors.ts';

export interface RawBox {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  score: number;
  cls: number;
}
