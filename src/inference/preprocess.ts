import type { ImageInputSpec } from './manifest.ts';

/**
 * Pure pixel preprocessing. Input is always 8-bit RGB, row-major HWC, already resized to the
 * model's input size by the decoder.
 */

type NormalizeSpec = Pick<ImageInputSpec, 'scale' | 'mean' | 'std'> & { channelOrder?: 'RGB' | 'BGR' | undefined };

/**
 * value = (pixel * scale - mean[c]) / std[c]. Writes into `out` at `offset` when given (a
 * reused batch buffer: no allocation per input); an Int32Array target receives rounded values.
 * `layout` NHWC (default) interleaves the channels, NCHW writes three planes. With
 * `channelOrder: 'BGR'` the channels are swapped and `mean`/`std` are taken in BGR order (as the
 * model's own preprocessing lists them).
 */
export function normalizePixels(rgb: Uint8Array, spec: NormalizeSpec): Float32Array;
export function normalizePixels<T extends Float32Array | Int32Array>(rgb: Uint8Array, spec: NormalizeSpec, out: T, offset?: number, layout?: 'NHWC' | 'NCHW'): T;
export function normalizePixels(rgb: Uint8Array, spec: NormalizeSpec, target?: Float32Array | Int32Array, offset = 0, layout: 'NHWC' | 'NCHW' = 'NHWC'): Float32Array | Int32Array {
  if (rgb.length % 3 !== 0) throw new Error(`pixel buffer length ${rgb.length} is not a multiple of 3`);
  const out = target ?? new Float32Array(rgb.length);
  if (offset < 0 || offset + rgb.length > out.length) throw new Error(`normalizePixels: ${rgb.length} values do not fit at offset ${offset} of ${out.length}`);
  const { scale } = spec;
  const bgr = spec.channelOrder === 'BGR';
  const identity = scale === 1 && spec.mean.every((m) => m === 0) && spec.std.every((d) => d === 1);
  if (identity && !bgr && layout === 'NHWC') {
    out.set(rgb, offset); // raw 0–255 values (e.g. the detector): a native widening copy
    return out;
  }
  // one table per output channel: 256 possible inputs, so a lookup replaces the arithmetic per value
  const tables = [0, 1, 2].map((c) => {
    const t = new Float32Array(256);
    for (let v = 0; v < 256; v++) t[v] = (v * scale - spec.mean[c]!) / spec.std[c]!;
    return out instanceof Int32Array ? Int32Array.from(t, Math.round) : t;
  });
  // source channel feeding output channel c
  const src = bgr ? [2, 1, 0] : [0, 1, 2];
  if (layout === 'NCHW') {
    if (out instanceof Int32Array) fillPlanes(rgb, tables as Int32Array[], src, out, offset);
    else fillPlanes(rgb, tables as Float32Array[], src, out, offset);
  } else if (out instanceof Int32Array) fillFromTables(rgb, tables as Int32Array[], src, out, offset);
  else fillFromTables(rgb, tables as Float32Array[], src, out, offset);
  return out;
}

function fillFromTables<T extends Float32Array | Int32Array>(rgb: Uint8Array, [t0, t1, t2]: T[], [s0, s1, s2]: number[], out: T, offset: number): void {
  for (let i = 0, j = offset; i < rgb.length; i += 3, j += 3) {
    out[j] = t0![rgb[i + s0!]!]!;
    out[j + 1] = t1![rgb[i + s1!]!]!;
    out[j + 2] = t2![rgb[i + s2!]!]!;
  }
}

function fillPlanes<T extends Float32Array | Int32Array>(rgb: Uint8Array, [t0, t1, t2]: T[], [s0, s1, s2]: number[], out: T, offset: number): void {
  const plane = rgb.length / 3;
  const p1 = offset + plane, p2 = offset + 2 * plane;
  for (let i = 0, k = 0; k < plane; i += 3, k++) {
    out[offset + k] = t0![rgb[i + s0!]!]!;
    out[p1 + k] = t1![rgb[i + s1!]!]!;
    out[p2 + k] = t2![rgb[i + s2!]!]!;
  }
}

/** How a point in model-input pixels maps back to the original (displayed) image: orig = in * scale + offset. */
export interface BoxTransform {
  scaleX: number;
  scaleY: number;
  offsetX: number;
  offsetY: number;
}

export type ResizeSpec = Pick<ImageInputSpec, 'width' | 'height' | 'resize'> & Partial<Pick<ImageInputSpec, 'shorterSide' | 'align' | 'padValue'>>;

/**
 * Geometry of a resize of an image (w×h) to the model input (W×H) for each fit mode, and the
 * inverse transform for boxes. `cover` crops the centre (after scaling the shorter side to
 * `shorterSide` when set), `contain` letterboxes (centred, or at the top-left with `align`).
 */
export function resizeGeometry(width: number, height: number, spec: ResizeSpec): BoxTransform {
  const W = spec.width, H = spec.height;
  if (spec.resize === 'fill') return { scaleX: width / W, scaleY: height / H, offsetX: 0, offsetY: 0 };
  let r: number;
  if (spec.resize === 'cover') r = spec.shorterSide ? spec.shorterSide / Math.min(width, height) : Math.max(W / width, H / height);
  else r = Math.min(W / width, H / height);
  // the scaled image is (width*r × height*r), placed in (W×H): in = orig*r + pad  →  orig = (in - pad)/r
  const topLeft = spec.resize === 'contain' && spec.align === 'top-left';
  const padX = topLeft ? 0 : (W - width * r) / 2;
  const padY = topLeft ? 0 : (H - height * r) / 2;
  return { scaleX: 1 / r, scaleY: 1 / r, offsetX: -padX / r, offsetY: -padY / r };
}

/** Scaled size for `cover` with `shorterSide`: the image at that scale, before the centre crop. */
export function shorterSideSize(width: number, height: number, shorterSide: number): { width: number; height: number } {
  const r = shorterSide / Math.min(width, height);
  return { width: Math.max(1, Math.round(width * r)), height: Math.max(1, Math.round(height * r)) };
}

/**
 * Bilinear resize of interleaved 8-bit pixels (half-pixel centres, like sharp/PIL "linear").
 * Used only by the pure-JS fallback decoder when sharp is unavailable.
 */
export function resizeBilinear(src: Uint8Array, sw: number, sh: number, channels: number, dw: number, dh: number): Uint8Array {
  const out = new Uint8Array(dw * dh * channels);
  const fx = sw / dw, fy = sh / dh;
  for (let y = 0; y < dh; y++) {
    const syf = Math.min(Math.max((y + 0.5) * fy - 0.5, 0), sh - 1);
    const y0 = Math.floor(syf), y1 = Math.min(y0 + 1, sh - 1), wy = syf - y0;
    for (let x = 0; x < dw; x++) {
      const sxf = Math.min(Math.max((x + 0.5) * fx - 0.5, 0), sw - 1);
      const x0 = Math.floor(sxf), x1 = Math.min(x0 + 1, sw - 1), wx = sxf - x0;
      for (let c = 0; c < channels; c++) {
        const a = src[(y0 * sw + x0) * channels + c]!, b = src[(y0 * sw + x1) * channels + c]!;
        const d = src[(y1 * sw + x0) * channels + c]!, e = src[(y1 * sw + x1) * channels + c]!;
        const top = a + (b - a) * wx, bot = d + (e - d) * wx;
        out[(y * dw + x) * channels + c] = Math.round(top + (bot - top) * wy);
      }
    }
  }
  return out;
}

/**
 * Applies an EXIF orientation (1..8) to interleaved pixels so the result is upright.
 * Returns the new buffer and size. Orientation 1 or unknown returns the input untouched.
 */
export function applyOrientation(src: Uint8Array, w: number, h: number, channels: number, orientation: number): { data: Uint8Array; width: number; height: number } {
  if (orientation < 2 || orientation > 8) return { data: src, width: w, height: h };
  const swap = orientation >= 5;
  const W = swap ? h : w, H = swap ? w : h;
  const out = new Uint8Array(src.length);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let sx: number, sy: number;
      switch (orientation) {
        case 2: sx = w - 1 - x; sy = y; break;
        case 3: sx = w - 1 - x; sy = h - 1 - y; break;
        case 4: sx = x; sy = h - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = h - 1 - x; break;
        case 7: sx = w - 1 - y; sy = h - 1 - x; break;
        default: sx = w - 1 - y; sy = x; break; // 8
      }
      const si = (sy * w + sx) * channels, di = (y * W + x) * channels;
      for (let c = 0; c < channels; c++) out[di + c] = src[si + c]!;
    }
  }
  return { data: out, width: W, height: H };
}

/** Reads the EXIF orientation tag from a JPEG buffer (APP1 "Exif"), or 1. */
export function jpegExifOrientation(buf: Uint8Array): number {
  if (buf.length < 4 || buf[0] !== 0xff || buf[1] !== 0xd8) return 1;
  let p = 2;
  while (p + 4 <= buf.length) {
    if (buf[p] !== 0xff) return 1;
    const marker = buf[p + 1]!;
    const len = (buf[p + 2]! << 8) | buf[p + 3]!;
    if (marker === 0xda || marker === 0xd9) return 1;
    if (marker === 0xe1 && buf[p + 4] === 0x45 && buf[p + 5] === 0x78 && buf[p + 6] === 0x69 && buf[p + 7] === 0x66) {
      const t = p + 10; // TIFF header
      if (t + 8 > buf.length) return 1;
      const le = buf[t] === 0x49;
      const u16 = (o: number) => (le ? buf[o]! | (buf[o + 1]! << 8) : (buf[o]! << 8) | buf[o + 1]!);
      const u32 = (o: number) => (le ? (buf[o]! | (buf[o + 1]! << 8) | (buf[o + 2]! << 16)) + buf[o + 3]! * 2 ** 24 : buf[o]! * 2 ** 24 + ((buf[o + 1]! << 16) | (buf[o + 2]! << 8) | buf[o + 3]!));
      const ifd = t + u32(t + 4);
      if (ifd + 2 > buf.length) return 1;
      const n = u16(ifd);
      for (let i = 0; i < n; i++) {
        const e = ifd + 2 + i * 12;
        if (e + 12 > buf.length) return 1;
        if (u16(e) === 0x0112) {
          const v = u16(e + 8);
          return v >= 1 && v <= 8 ? v : 1;
        }
      }
      return 1;
    }
    p += 2 + len;
  }
  return 1;
}
