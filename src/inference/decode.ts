import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Metadata } from 'sharp';
import type sharpFn from 'sharp';
import type * as PngJs from 'pngjs';
import type * as JpegJs from 'jpeg-js';
import { decodeBmp, type Bitmap } from './bmp.ts';
import { imageFormat, isBmp, unsupportedFormat } from './sniff.ts';
import { cmykToRgb, gridTiff, isIdentityTable, rgbToRgb, TABLE_GRID, type TableSpace } from './icc-table.ts';
import { applyOrientation, jpegExifOrientation, resizeBilinear, shorterSideSize, type ResizeSpec } from './preprocess.ts';
import { InputError } from './types.ts';

/**
 * Image decoding: bytes → upright 8-bit RGB at the model's input size. sharp (libvips) does the
 * work off the JS thread; when sharp cannot load, jpeg-js / pngjs do it in JS (slower, JPEG and
 * PNG only). Every failure is an `InputError` naming what is wrong with that one input.
 */

export interface DecodeLimits {
  /** Refuse images whose header declares more pixels than this (decompression bombs). */
  maxPixels: number;
}

export const DEFAULT_LIMITS: DecodeLimits = { maxPixels: 50_000_000 };

export interface DecodedImage {
  /** RGB, HWC, `spec.width × spec.height × 3`. */
  pixels: Uint8Array;
  /** Displayed size of the original (after EXIF orientation). */
  width: number;
  height: number;
  /** Notes about conversions done (e.g. "first of 12 frames", "CMYK → sRGB"). */
  notes: string[];
}

type SharpModule = typeof sharpFn;
let sharpLoad: { mod: SharpModule | null; error?: string } | undefined;

export function loadSharp(): SharpModule | null {
  if (!sharpLoad) {
    if (process.env.MODELSHIP_NO_SHARP === '1') sharpLoad = { mod: null, error: 'disabled by MODELSHIP_NO_SHARP=1' };
    else {
      try {
        const require = createRequire(import.meta.url);
        const mod = require('sharp') as SharpModule;
        // Inputs arrive as buffers and are never re-read: libvips' operation cache only costs memory.
        mod.cache(false);
        sharpLoad = { mod };
      } catch (err) {
        sharpLoad = { mod: null, error: (err as Error).message.split('\n')[0] ?? 'unknown error' };
      }
    }
  }
  return sharpLoad.mod;
}

export function decoderName(): string {
  return loadSharp() ? 'sharp' : 'jpeg-js/pngjs';
}

/** libvips sample formats, as people name them. */
const DEPTH_NAMES: Record<string, string> = { ushort: '16-bit', short: '16-bit signed', uint: '32-bit', int: '32-bit signed', float: '32-bit float', double: '64-bit float' };

function mpx(n: number): string {
  return `${(n / 1e6).toFixed(1)} Mpx`;
}

function checkPixels(w: number, h: number, limits: DecodeLimits): void {
  if (w * h > limits.maxPixels) {
    throw new InputError('too-large', `image is ${w}×${h} (${mpx(w * h)}), over the limit of ${mpx(limits.maxPixels)}; refused before decoding`);
  }
}

export async function decodeImage(buf: Uint8Array, spec: ResizeSpec, limits: DecodeLimits = DEFAULT_LIMITS): Promise<DecodedImage> {
  if (buf.length === 0) throw new InputError('empty', 'empty file');
  const sharp = loadSharp();
  if (!sharp) return decodeWithJs(buf, spec, limits);
  if (isBmp(buf)) return decodeBitmap(sharp, decodeBmp(buf, limits.maxPixels), spec);
  return decodeWithSharp(sharp, buf, spec, limits);
}

/** A BMP (read in JS: libvips has no BMP loader) through sharp's compositing and resize. */
async function decodeBitmap(sharp: SharpModule, bmp: Bitmap, spec: ResizeSpec): Promise<DecodedImage> {
  const { width, height } = bmp;
  let img = sharp(bmp.rgba, { raw: { width, height, channels: 4 } });
  img = bmp.hasAlpha ? img.flatten({ background: '#ffffff' }) : img.removeAlpha();
  const out = await fitTo(img, spec, width, height).removeAlpha().raw({ depth: 'uchar' }).toBuffer();
  return { pixels: new Uint8Array(out.buffer, out.byteOffset, out.byteLength), width, height, notes: [] };
}

async function decodeWithSharp(sharp: SharpModule, buf: Uint8Array, spec: ResizeSpec, limits: DecodeLimits): Promise<DecodedImage> {
  const notes: string[] = [];
  let meta: Metadata;
  try {
    // metadata() reads the header only: the pixel limit is enforced before any decoding.
    meta = await sharp(buf, { limitInputPixels: false }).metadata();
  } catch (err) {
    const msg = firstLine(err);
    const known = unsupportedFormat(buf);
    if (known) throw new InputError('unsupported', `unsupported format: ${known}`);
    if (/unsupported image format/i.test(msg)) throw new InputError('unsupported', 'not an image (unsupported or unrecognised format)');
    throw new InputError('corrupt', `corrupt or truncated image: ${msg}`);
  }
  const w = meta.width, h = meta.pageHeight ?? meta.height;
  if (!w || !h) throw new InputError('unsupported', `could not read the image size (format ${meta.format ?? 'unknown'})`);
  checkPixels(w, h, limits);
  if ((meta.pages ?? 1) > 1) notes.push(`first of ${meta.pages} frames`);
  if (meta.space === 'cmyk') notes.push('CMYK converted to sRGB');
  if (meta.depth && meta.depth !== 'uchar' && meta.depth !== 'char') notes.push(`${DEPTH_NAMES[meta.depth] ?? meta.depth} samples reduced to 8-bit`);
  const swap = (meta.orientation ?? 1) >= 5;
  const width = swap ? h : w, height = swap ? w : h;
  try {
    if (meta.space === 'cmyk' && meta.channels === 4 && (meta.depth ?? 'uchar') === 'uchar') {
      const lut = await colourTable(sharp, 'cmyk', meta.icc).catch(() => null); // unreadable profile: libvips' own path
      if (lut) return { pixels: await decodeCmyk(sharp, buf, lut, meta, spec, limits), width, height, notes };
    }
    // An 8-bit RGB image with its own ICC profile is decoded as is and converted through a
    // table (none when the profile is sRGB in effect, as most embedded ones are).
    const rgbTable = meta.icc && meta.space === 'srgb' && (meta.depth ?? 'uchar') === 'uchar' ? await colourTable(sharp, 'rgb', meta.icc).catch(() => undefined) : undefined; // unreadable profile: libvips' own path
    const { data, info } = await fitTo(
      sharp(buf, { limitInputPixels: limits.maxPixels, pages: 1, failOn: 'error', ignoreIcc: rgbTable !== undefined })
        .rotate() // honours EXIF orientation
        .flatten({ background: '#ffffff' }) // alpha composited on white
        .toColourspace('srgb'), // CMYK (with its ICC profile), grayscale, 16-bit → 8-bit sRGB
      spec,
      width,
      height,
    )
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== spec.width || info.height !== spec.height) {
      throw new Error(`decoder produced ${info.width}×${info.height}×${info.channels}, expected ${spec.width}×${spec.height}×3`);
    }
    const pixels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return { pixels: rgbTable ? rgbToRgb(pixels, rgbTable) : pixels, width, height, notes };
  } catch (err) {
    const msg = firstLine(err);
    const known = unsupportedFormat(buf); // e.g. a HEIC whose header libvips reads but cannot decode
    if (known) throw new InputError('unsupported', `unsupported format: ${known}`);
    if (/premature end|truncated|corrupt|bogus|unexpected end|read error|Invalid/i.test(msg)) throw new InputError('corrupt', `corrupt or truncated image: ${msg}`);
    throw new InputError('decode-failed', `could not decode image: ${msg}`);
  }
}

/**
 * CMYK through a table sampled from libvips' own ICC transform (see icc-table.ts): libvips would build
 * that transform anew for this image, ~30 ms whatever its size. The table is applied at the
 * smaller of the image's and the model's size: a large photo is first scaled down in CMYK (for
 * `contain` only to its inner size), a small one is converted first; a second pass in RGB
 * finishes the resize or letterboxes on black, exactly as the sRGB path.
 */
async function decodeCmyk(sharp: SharpModule, buf: Uint8Array, lut: Uint8Array, meta: Metadata, spec: ResizeSpec, limits: DecodeLimits): Promise<Uint8Array> {
  let first = sharp(buf, { limitInputPixels: limits.maxPixels, pages: 1, failOn: 'error' }).pipelineColourspace('cmyk').rotate();
  if ((meta.width ?? 0) * (meta.height ?? 0) > spec.width * spec.height && !spec.shorterSide) {
    first = first.resize(spec.width, spec.height, { fit: spec.resize === 'contain' ? 'inside' : spec.resize, kernel: 'linear' });
  }
  const { data, info } = await first.toColourspace('cmyk').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.channels !== 4) throw new Error(`decoder produced ${info.channels} channels for a CMYK image, expected 4`);
  const rgb = cmykToRgb(data, lut);
  if (info.width === spec.width && info.height === spec.height) return rgb;
  const out = await fitTo(sharp(rgb, { raw: { width: info.width, height: info.height, channels: 3 } }), spec, info.width, info.height)
    .raw({ depth: 'uchar' })
    .toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * The resize step for a spec, on an upright w×h image: `fill` stretches, `contain` letterboxes
 * (pad grey level and alignment from the spec), `cover` crops the centre, after first scaling the
 * shorter side to `shorterSide` when the spec sets it (resize 256 → crop 224).
 */
function fitTo(img: ReturnType<SharpModule>, spec: ResizeSpec, w: number, h: number): ReturnType<SharpModule> {
  if (spec.resize === 'cover' && spec.shorterSide) {
    const s = shorterSideSize(w, h, spec.shorterSide);
    return img
      .resize(s.width, s.height, { fit: 'fill', kernel: 'linear' })
      .extract({ left: Math.floor((s.width - spec.width) / 2), top: Math.floor((s.height - spec.height) / 2), width: spec.width, height: spec.height });
  }
  const pad = spec.padValue ?? 0;
  return img.resize(spec.width, spec.height, {
    fit: spec.resize,
    background: { r: pad, g: pad, b: pad },
    kernel: 'linear',
    ...(spec.resize === 'contain' && spec.align === 'top-left' ? { position: 'left top' } : {}),
  });
}

/**
 * Tables by colour space and ICC profile (CMYK without one: libvips' fallback profile); a few are
 * kept. An RGB table that changes nothing resolves to null.
 */
const colourTables = new Map<string, Promise<Uint8Array | null>>();
const MAX_COLOUR_TABLES = 16;

function colourTable(sharp: SharpModule, space: TableSpace, icc: Buffer | undefined): Promise<Uint8Array | null> {
  const key = `${space}:${icc ? createHash('sha256').update(icc).digest('hex') : 'fallback'}`;
  let table = colourTables.get(key);
  if (!table) {
    table = sharp(gridTiff(space, icc)).toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer().then((b) => {
      const lut = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      if (lut.length !== TABLE_GRID[space] ** (space === 'cmyk' ? 4 : 3) * 3) throw new Error(`colour table for the image's ${space} profile came out with ${lut.length} values`);
      return space === 'rgb' && isIdentityTable(lut) ? null : lut;
    });
    table.catch(() => colourTables.delete(key)); // a failed build is retried by the next image
    if (colourTables.size >= MAX_COLOUR_TABLES) colourTables.delete(colourTables.keys().next().value!);
    colourTables.set(key, table);
  }
  return table;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err))
    .split('\n')[0]!
    .replace(/^Input (buffer|file) has corrupt header: ?/, '')
    .replace(/^Vips\w+: /, '')
    .trim();
}

async function decodeWithJs(buf: Uint8Array, spec: ResizeSpec, limits: DecodeLimits): Promise<DecodedImage> {
  const require = createRequire(import.meta.url);
  const notes: string[] = ['decoded with the pure-JS fallback (sharp unavailable)'];
  let rgba: Uint8Array, w: number, h: number;
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const format = imageFormat(b);
  const isJpeg = format === 'jpeg';
  const isPng = format === 'png';
  if (isPng) {
    // IHDR is the first chunk: width/height at bytes 16..24, checked before inflating.
    if (b.length < 24) throw new InputError('corrupt', 'corrupt or truncated PNG header');
    checkPixels(b.readUInt32BE(16), b.readUInt32BE(20), limits);
    const { PNG } = require('pngjs') as typeof PngJs;
    try {
      const png = PNG.sync.read(b); // expands gray/palette/16-bit to 8-bit RGBA
      rgba = png.data;
      w = png.width;
      h = png.height;
    } catch (err) {
      throw new InputError('corrupt', `corrupt or truncated PNG: ${firstLine(err)}`);
    }
  } else if (isJpeg) {
    const jpeg = require('jpeg-js') as typeof JpegJs;
    try {
      const img = jpeg.decode(b, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: limits.maxPixels / 1e6, tolerantDecoding: false });
      rgba = img.data;
      w = img.width;
      h = img.height;
    } catch (err) {
      const msg = firstLine(err);
      if (/maxResolutionInMP/.test(msg)) throw new InputError('too-large', `image over the limit of ${mpx(limits.maxPixels)}; refused`);
      throw new InputError('corrupt', `corrupt or truncated JPEG: ${msg}`);
    }
  } else if (isBmp(buf)) {
    ({ rgba, width: w, height: h } = decodeBmp(buf, limits.maxPixels));
  } else {
    const known = unsupportedFormat(buf);
    throw new InputError('unsupported', known ? `unsupported format: ${known}` : 'not a JPEG, PNG or BMP (the pure-JS fallback decoder handles only these; install sharp for more formats)');
  }
  let rgb = rgbaOnWhite(rgba);
  if (isJpeg) {
    const o = applyOrientation(rgb, w, h, 3, jpegExifOrientation(buf));
    rgb = o.data;
    w = o.width;
    h = o.height;
  }
  if (spec.resize !== 'fill') notes.push(`resize "${spec.resize}" approximated by "fill" in the fallback decoder`);
  return { pixels: resizeBilinear(rgb, w, h, 3, spec.width, spec.height), width: w, height: h, notes };
}

/** RGBA → RGB, alpha composited on white (as the sharp path flattens). */
function rgbaOnWhite(rgba: Uint8Array): Uint8Array {
  const rgb = new Uint8Array((rgba.length / 4) * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    const a = rgba[i + 3]! / 255;
    rgb[j] = Math.round(rgba[i]! * a + 255 * (1 - a));
    rgb[j + 1] = Math.round(rgba[i + 1]! * a + 255 * (1 - a));
    rgb[j + 2] = Math.round(rgba[i + 2]! * a + 255 * (1 - a));
  }
  return rgb;
}
