import type { DetectionOutputSpec } from './manifest.ts';
import type { RawBox } from './types.ts';

/**
 * Pure decoding of YOLO-family detector outputs into boxes in model-input pixels (x1,y1,x2,y2).
 * Layouts (see manifest.ts): `yolox` [1,N,5+C] grid offsets, `yolov5` [1,N,5+C] pixels with
 * objectness, `yolov8` [1,4+C,N] pixels without objectness (YOLOv8 / YOLO11). Only boxes with
 * score ≥ minScore are returned (the rest of the N rows are never materialised).
 */

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** The size of a `[1,N,K]` or `[N,K]` output, checked against its data length. */
function rowsOf(shape: readonly number[], length: number, layout: string): { n: number; k: number } {
  const dims = shape.length === 3 && shape[0] === 1 ? shape.slice(1) : shape.length === 2 ? shape : undefined;
  if (!dims) throw new Error(`${layout} output must be [1,N,K] or [N,K]; the model returned [${shape.join(',')}]`);
  const [a, b] = dims as [number, number];
  if (a * b !== length) throw new Error(`${layout} output [${shape.join(',')}] does not match its ${length} values`);
  return { n: a, k: b };
}

function checkClasses(k: number, extra: number, classes: number, layout: string, shape: readonly number[]): void {
  if (k - extra < 1) throw new Error(`${layout} output [${shape.join(',')}] has no class scores (expected ${extra} + classes values per box)`);
  if (classes > 0 && k - extra !== classes) throw new Error(`${layout} output [${shape.join(',')}] scores ${k - extra} classes but the manifest lists ${classes} labels`);
}

/** Grid cells (gx, gy, stride) for a square or rectangular input, grids in `strides` order, each row-major. */
export function yoloxGrid(inputWidth: number, inputHeight: number, strides: readonly number[]): Float32Array {
  const cells: number[] = [];
  for (const s of strides) {
    const gw = Math.floor(inputWidth / s), gh = Math.floor(inputHeight / s);
    for (let y = 0; y < gh; y++) for (let x = 0; x < gw; x++) cells.push(x, y, s);
  }
  return Float32Array.from(cells);
}

/** Best class of a row: index and score (after the optional sigmoid). */
function bestClass(data: ArrayLike<number>, at: number, count: number, step: number, sig: boolean): { cls: number; score: number } {
  let cls = 0, score = -Infinity;
  for (let c = 0; c < count; c++) {
    const v = data[at + c * step]!;
    if (v > score) {
      score = v;
      cls = c;
    }
  }
  return { cls, score: sig ? sigmoid(score) : score };
}

function box(cx: number, cy: number, w: number, h: number, score: number, cls: number): RawBox | undefined {
  if (![cx, cy, w, h, score].every(Number.isFinite)) return undefined;
  return { x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2, score, cls };
}

export interface YoloGeometry {
  inputWidth: number;
  inputHeight: number;
  /** Number of labels (0: do not check). */
  classes: number;
}

export function decodeYolo(data: ArrayLike<number>, shape: readonly number[], spec: Pick<DetectionOutputSpec, 'layout' | 'strides' | 'sigmoid'>, g: YoloGeometry, minScore: number): RawBox[] {
  const out: RawBox[] = [];
  const sig = spec.sigmoid;
  if (spec.layout === 'yolov8') {
    // [1, 4+C, N]: column-major per box
    const { n: k, k: n } = rowsOf(shape, data.length, 'yolov8');
    checkClasses(k, 4, g.classes, 'yolov8', shape);
    for (let i = 0; i < n; i++) {
      const { cls, score } = bestClass(data, 4 * n + i, k - 4, n, sig);
      if (!(score >= minScore)) continue;
      const b = box(data[i]!, data[n + i]!, data[2 * n + i]!, data[3 * n + i]!, score, cls);
      if (b) out.push(b);
    }
    return out;
  }
  const { n, k } = rowsOf(shape, data.length, spec.layout);
  checkClasses(k, 5, g.classes, spec.layout, shape);
  let grid: Float32Array | undefined;
  if (spec.layout === 'yolox') {
    grid = yoloxGrid(g.inputWidth, g.inputHeight, spec.strides);
    if (grid.length / 3 !== n) throw new Error(`yolox output has ${n} rows but a ${g.inputWidth}×${g.inputHeight} input with strides [${spec.strides.join(',')}] makes ${grid.length / 3} grid cells: check input.width/height and output.strides`);
  }
  for (let i = 0; i < n; i++) {
    const r = i * k;
    const obj = sig ? sigmoid(data[r + 4]!) : data[r + 4]!;
    if (!(obj >= minScore)) continue; // score = obj × cls ≤ obj
    const best = bestClass(data, r + 5, k - 5, 1, sig);
    const score = obj * best.score;
    if (!(score >= minScore)) continue;
    let cx = data[r]!, cy = data[r + 1]!, w = data[r + 2]!, h = data[r + 3]!;
    if (grid) {
      const gx = grid[i * 3]!, gy = grid[i * 3 + 1]!, s = grid[i * 3 + 2]!;
      cx = (cx + gx) * s;
      cy = (cy + gy) * s;
      w = Math.exp(w) * s;
      h = Math.exp(h) * s;
    }
    const b = box(cx, cy, w, h, score, best.cls);
    if (b) out.push(b);
  }
  return out;
}
