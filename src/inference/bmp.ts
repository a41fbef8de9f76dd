import { InputError } from './types.ts';
import { isBmp } from './sniff.ts';

/**
 * Windows bitmaps (BMP/DIB), which libvips cannot read without ImageMagick: every variant
 * cameras, scanners and Windows tools write. Uncompressed 1/4/8-bit palette, 16/24/32-bit,
 * BI_BITFIELDS masks, RLE4/RLE8, bottom-up or top-down, OS/2 core headers. Pure: bytes in,
 * upright RGBA out. The size is checked against the pixel limit before any pixel is read.
 */

export interface Bitmap {
  width: number;
  height: number;
  /** RGBA, row-major, top row first. */
  rgba: Uint8Array;
  /** Whether the file carries alpha (a 32-bit image with an alpha mask). */
  hasAlpha: boolean;
}

/** Reads width and height from the header (OS/2 core headers have 16-bit sizes). */
export function bmpSize(buf: Uint8Array): { width: number; height: number } {
  const h = header(buf);
  return { width: h.width, height: h.height };
}

interface Header {
  width: number;
  height: number;
  topDown: boolean;
  bpp: number;
  compression: number;
  dataOffset: number;
  headerSize: number;
  colours: number;
  masks: [number, number, number, number] | undefined;
}

/** BITMAPINFOHEADER, V2, V3, OS/2 2.x, V4, V5: all start with the same 40 bytes. */
const INFO_SIZES = new Set([40, 52, 56, 64, 108, 124]);
const BI_RGB = 0, BI_RLE8 = 1, BI_RLE4 = 2, BI_BITFIELDS = 3, BI_ALPHABITFIELDS = 6;

function header(buf: Uint8Array): Header {
  if (!isBmp(buf)) throw new InputError('unsupported', 'not a BMP file');
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dataOffset = v.getUint32(10, true);
  const headerSize = v.getUint32(14, true);
  let width: number, rawHeight: number, bpp: number, compression = BI_RGB, colours = 0;
  if (headerSize === 12) {
    width = v.getUint16(18, true);
    rawHeight = v.getInt16(20, true);
    bpp = v.getUint16(24, true);
  } else if (INFO_SIZES.has(headerSize) && buf.length >= 14 + 40) {
    width = v.getInt32(18, true);
    rawHeight = v.getInt32(22, true);
    bpp = v.getUint16(28, true);
    compression = v.getUint32(30, true);
    colours = v.getUint32(46, true);
  } else {
    throw new InputError('corrupt', `corrupt BMP: unknown header size ${headerSize}`);
  }
  let masks: Header['masks'];
  if (compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) {
    // INFO headers keep the masks after the header; V2 and later inside it (the same offsets)
    const n = compression === BI_ALPHABITFIELDS || headerSize >= 56 ? 4 : 3;
    if (buf.length < 54 + n * 4) throw new InputError('corrupt', 'corrupt or truncated BMP: colour masks missing');
    masks = [v.getUint32(54, true), v.getUint32(58, true), v.getUint32(62, true), n === 4 ? v.getUint32(66, true) : 0];
  } else if (headerSize >= 108 && (bpp === 32 || bpp === 16)) {
    // V4/V5 headers may declare an alpha mask even for BI_RGB
    const a = v.getUint32(66, true);
    if (a !== 0) masks = bpp === 32 ? [0xff0000, 0xff00, 0xff, a] : [0x7c00, 0x3e0, 0x1f, a];
  }
  if (dataOffset < 14 + headerSize || dataOffset > buf.length) throw new InputError('corrupt', `corrupt or truncated BMP: pixel data offset ${dataOffset} outside the file`);
  if (width <= 0 || rawHeight === 0 || rawHeight === -2147483648) throw new InputError('corrupt', `corrupt BMP: size ${width}×${rawHeight}`);
  if (![1, 4, 8, 16, 24, 32].includes(bpp)) throw new InputError('unsupported', `BMP with ${bpp} bits per pixel is not supported`);
  if (compression === 4 || compression === 5) throw new InputError('unsupported', 'BMP holding an embedded JPEG or PNG is not supported; extract or convert it to PNG/JPEG');
  if (![BI_RGB, BI_RLE8, BI_RLE4, BI_BITFIELDS, BI_ALPHABITFIELDS].includes(compression)) throw new InputError('unsupported', `BMP compression ${compression} is not supported`);
  if ((compression === BI_RLE8 && bpp !== 8) || (compression === BI_RLE4 && bpp !== 4)) throw new InputError('corrupt', `corrupt BMP: RLE compression with ${bpp} bits per pixel`);
  return { width, height: Math.abs(rawHeight), topDown: rawHeight < 0, bpp, compression, dataOffset, headerSize, colours, masks };
}

/** A channel from a bit mask, scaled to 0..255. */
function channel(px: number, mask: number): number {
  if (mask === 0) return 0;
  const shift = 31 - Math.clz32(mask & -mask); // index of the lowest set bit
  const bits = 32 - Math.clz32(mask >>> shift);
  const v = (px & mask) >>> shift;
  const max = bits >= 32 ? 0xffffffff : 2 ** bits - 1;
  return Math.round((v * 255) / max);
}

export function decodeBmp(buf: Uint8Array, maxPixels: number): Bitmap {
  const h = header(buf);
  const { width, height, bpp } = h;
  if (width * height > maxPixels) {
    throw new InputError('too-large', `image is ${width}×${height} (${(width * height / 1e6).toFixed(1)} Mpx), over the limit of ${(maxPixels / 1e6).toFixed(1)} Mpx; refused before decoding`);
  }
  const palette = bpp <= 8 ? readPalette(buf, h) : undefined;
  const rgba = new Uint8Array(width * height * 4);
  const row = (y: number) => (h.topDown ? y : height - 1 - y); // file row → image row
  if (h.compression === BI_RLE8 || h.compression === BI_RLE4) {
    rgba.fill(0);
    for (let i = 3; i < rgba.length; i += 4) rgba[i] = 255;
    decodeRle(buf, h, palette!, rgba, row);
    return { width, height, rgba, hasAlpha: false };
  }
  const stride = Math.floor((bpp * width + 31) / 32) * 4;
  if (h.dataOffset + stride * (height - 1) + Math.ceil((bpp * width) / 8) > buf.length) throw new InputError('corrupt', 'corrupt or truncated BMP: pixel data ends early');
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const masks = h.masks ?? (bpp === 16 ? [0x7c00, 0x3e0, 0x1f, 0] : [0xff0000, 0xff00, 0xff, 0]);
  const hasAlpha = bpp >= 16 && masks[3] !== 0;
  for (let fy = 0; fy < height; fy++) {
    const src = h.dataOffset + fy * stride;
    let o = row(fy) * width * 4;
    for (let x = 0; x < width; x++, o += 4) {
      if (bpp <= 8) {
        const bit = x * bpp;
        const byte = buf[src + (bit >> 3)]!;
        const idx = bpp === 8 ? byte : (byte >> (8 - bpp - (bit & 7))) & ((1 << bpp) - 1);
        const p = (idx < palette!.length / 3 ? idx : 0) * 3;
        rgba[o] = palette![p]!;
        rgba[o + 1] = palette![p + 1]!;
        rgba[o + 2] = palette![p + 2]!;
        rgba[o + 3] = 255;
      } else if (bpp === 24 && !h.masks) {
        const s = src + x * 3;
        rgba[o] = buf[s + 2]!;
        rgba[o + 1] = buf[s + 1]!;
        rgba[o + 2] = buf[s]!;
        rgba[o + 3] = 255;
      } else {
        const px = bpp === 16 ? v.getUint16(src + x * 2, true) : bpp === 24 ? buf[src + x * 3]! | (buf[src + x * 3 + 1]! << 8) | (buf[src + x * 3 + 2]! << 16) : v.getUint32(src + x * 4, true);
        rgba[o] = channel(px, masks[0]);
        rgba[o + 1] = channel(px, masks[1]);
        rgba[o + 2] = channel(px, masks[2]);
        rgba[o + 3] = hasAlpha ? channel(px, masks[3]) : 255;
      }
    }
  }
  if (hasAlpha && allTransparent(rgba)) {
    // Writers that declare an alpha mask and leave it at 0 mean an opaque image (browsers read it so).
    for (let i = 3; i < rgba.length; i += 4) rgba[i] = 255;
    return { width, height, rgba, hasAlpha: false };
  }
  return { width, height, rgba, hasAlpha };
}

function allTransparent(rgba: Uint8Array): boolean {
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i] !== 0) return false;
  return true;
}

function readPalette(buf: Uint8Array, h: Header): Uint8Array {
  const entry = h.headerSize === 12 ? 3 : 4;
  const start = 14 + h.headerSize + (h.compression === BI_BITFIELDS && h.headerSize === 40 ? 12 : 0);
  const count = Math.min(h.colours || 1 << h.bpp, 1 << h.bpp, Math.max(0, Math.floor((Math.min(h.dataOffset, buf.length) - start) / entry)));
  if (count === 0) throw new InputError('corrupt', 'corrupt BMP: palette image without a palette');
  const out = new Uint8Array(count * 3);
  for (let i = 0; i < count; i++) {
    const s = start + i * entry;
    out[i * 3] = buf[s + 2]!;
    out[i * 3 + 1] = buf[s + 1]!;
    out[i * 3 + 2] = buf[s]!;
  }
  return out;
}

/** RLE8/RLE4 (bottom-up only by the format's rules); pixels a delta skips stay black. */
function decodeRle(buf: Uint8Array, h: Header, palette: Uint8Array, rgba: Uint8Array, row: (y: number) => number): void {
  const { width, height } = h;
  const four = h.compression === BI_RLE4;
  let x = 0, y = 0, i = h.dataOffset;
  const put = (idx: number) => {
    if (x < width && y < height) {
      const o = (row(y) * width + x) * 4;
      const p = (idx < palette.length / 3 ? idx : 0) * 3;
      rgba[o] = palette[p]!;
      rgba[o + 1] = palette[p + 1]!;
      rgba[o + 2] = palette[p + 2]!;
    }
    x++;
  };
  while (y < height) {
    if (i + 1 >= buf.length) throw new InputError('corrupt', 'corrupt or truncated BMP: RLE data ends early');
    const n = buf[i]!, c = buf[i + 1]!;
    i += 2;
    if (n > 0) {
      for (let k = 0; k < n; k++) put(four ? (k & 1 ? c & 0x0f : c >> 4) : c);
    } else if (c === 0) {
      x = 0;
      y++;
    } else if (c === 1) {
      return;
    } else if (c === 2) {
      if (i + 1 >= buf.length) throw new InputError('corrupt', 'corrupt or truncated BMP: RLE data ends early');
      x += buf[i]!;
      y += buf[i + 1]!;
      i += 2;
    } else {
      const bytes = four ? Math.ceil(c / 2) : c;
      if (i + bytes > buf.length) throw new InputError('corrupt', 'corrupt or truncated BMP: RLE data ends early');
      for (let k = 0; k < c; k++) put(four ? (k & 1 ? buf[i + (k >> 1)]! & 0x0f : buf[i + (k >> 1)]! >> 4) : buf[i + k]!);
      i += bytes + (bytes & 1); // runs are padded to 16 bits
    }
  }
}
