import type { ClassificationOutputSpec, DetectionOutputSpec } from './manifest.ts';
import type { BoxTransform } from './preprocess.ts';
import type { Detection, Prediction } from './types.ts';
import { decodeYolo } from './yolo.ts';
import type { RawBox } from './types.ts';

/** Pure output decoding: probabilities → ranked labels, raw detections → boxes after NMS. */

export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    out[i] = Math.exp(logits[i]! - max);
    sum += out[i]!;
  }
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}

export function toScores(raw: ArrayLike<number>, spec: Pick<ClassificationOutputSpec, 'type'>): ArrayLike<number> {
  if (spec.type === 'logits') return softmax(raw);
  if (spec.type === 'sigmoid') return Float64Array.from(raw, (v) => 1 / (1 + Math.exp(-v)));
  return raw;
}

/**
 * Labels the scores and returns the best `topK` (all when topK is 0 or undefined), highest first,
 * dropping those below `threshold`. Ties keep label order. Fails when the model's output size
 * does not match its labels, which is a manifest error worth catching early.
 */
export function rankPredictions(scores: ArrayLike<number>, labels: readonly string[], opts: { topK?: number | undefined; threshold?: number | undefined } = {}): Prediction[] {
  if (scores.length !== labels.length) {
    throw new Error(`model output has ${scores.length} classes but the manifest lists ${labels.length} labels`);
  }
  const items: Prediction[] = [];
  for (let i = 0; i < scores.length; i++) items.push({ label: labels[i]!, score: scores[i]! });
  items.sort((a, b) => b.score - a.score);
  const threshold = opts.threshold ?? 0;
  const kept = items.filter((p) => p.score >= threshold);
  return opts.topK && opts.topK > 0 ? kept.slice(0, opts.topK) : kept;
}


export function iou(a: RawBox, b: RawBox): number {
  const ix = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1));
  const iy = Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
  const inter = ix * iy;
  const areaA = Math.max(0, a.x2 - a.x1) * Math.max(0, a.y2 - a.y1);
  const areaB = Math.max(0, b.x2 - b.x1) * Math.max(0, b.y2 - b.y1);
  const union = areaA + areaB - inter;
  return union <= 0 ? 0 : inter / union;
}

/**
 * Greedy non-max suppression (class-agnostic, like TF's `image.nonMaxSuppression`): keep the
 * highest score, drop every box overlapping it by more than `iouThreshold`, repeat.
 */
export function nonMaxSuppression(boxes: RawBox[], iouThreshold: number, maxOut: number, minScore = 0, perClass = false): RawBox[] {
  const sorted = boxes.filter((b) => b.score >= minScore).sort((a, b) => b.score - a.score);
  const kept: RawBox[] = [];
  for (const b of sorted) {
    if (kept.length >= maxOut) break;
    // per-class: only boxes of the same class suppress each other (a person on a horse keeps both)
    if (kept.every((k) => (perClass && k.cls !== b.cls) || iou(k, b) <= iouThreshold)) kept.push(b);
  }
  return kept;
}

/** Parses a flat `[N, 6]` array laid out x1,y1,x2,y2,score,class. NaN rows are dropped. */
export function parseDetectionRows(data: ArrayLike<number>): RawBox[] {
  if (data.length % 6 !== 0) throw new Error(`detection output length ${data.length} is not a multiple of 6`);
  const out: RawBox[] = [];
  for (let i = 0; i < data.length; i += 6) {
    const b = { x1: data[i]!, y1: data[i + 1]!, x2: data[i + 2]!, y2: data[i + 3]!, score: data[i + 4]!, cls: data[i + 5]! };
    if ([b.x1, b.y1, b.x2, b.y2, b.score, b.cls].some((v) => !Number.isFinite(v))) continue;
    out.push(b);
  }
  return out;
}

/**
 * Raw model output → detections in the original image's pixels: NMS, label mapping, the inverse
 * of the resize, and clipping to the image. Coordinates are rounded to 0.1 px.
 */
export function decodeDetections(
  data: ArrayLike<number>,
  shape: readonly number[],
  spec: DetectionOutputSpec,
  labels: readonly string[],
  geometry: { transform: BoxTransform; inputWidth: number; inputHeight: number; width: number; height: number },
  opts: { threshold?: number | undefined; maxDetections?: number | undefined } = {},
): Detection[] {
  const minScore = opts.threshold ?? spec.minScore;
  const { transform: t, inputWidth, inputHeight, width, height } = geometry;
  const rows = spec.layout === 'x1y1x2y2-score-class' ? parseDetectionRows(data) : decodeYolo(data, shape, spec, { inputWidth, inputHeight, classes: labels.length }, minScore);
  const perClass = (spec.nms ?? (spec.layout === 'x1y1x2y2-score-class' ? 'class-agnostic' : 'per-class')) === 'per-class';
  const kept = nonMaxSuppression(rows, spec.iouThreshold, opts.maxDetections ?? spec.maxDetections, minScore, perClass);
  const kx = spec.coordinates === 'normalized' ? inputWidth : 1;
  const ky = spec.coordinates === 'normalized' ? inputHeight : 1;
  const r1 = (v: number) => Math.round(v * 10) / 10;
  const out: Detection[] = [];
  for (const b of kept) {
    const idx = Math.round(b.cls) + spec.classOffset;
    const label = labels[idx] ?? `class_${idx}`;
    const x1 = clamp(b.x1 * kx * t.scaleX + t.offsetX, 0, width);
    const y1 = clamp(b.y1 * ky * t.scaleY + t.offsetY, 0, height);
    const x2 = clamp(b.x2 * kx * t.scaleX + t.offsetX, 0, width);
    const y2 = clamp(b.y2 * ky * t.scaleY + t.offsetY, 0, height);
    if (x2 <= x1 || y2 <= y1) continue;
    out.push({ label, score: Math.round(b.score * 1e4) / 1e4, box: { x: r1(x1), y: r1(y1), width: r1(x2 - x1), height: r1(y2 - y1) } });
  }
  return out;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}
