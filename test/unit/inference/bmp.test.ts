import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bmpSize, decodeBmp } from '../../../src/inference/bmp.ts';
import { unsupportedFormat } from '../../../src/inference/sniff.ts';
import { InputError } from '../../../src/inference/types.ts';

/**
 * BMP files written here byte by byte from the format's description (BITMAPFILEHEADER +
 * BITMAPINFOHEADER/V4/core header), independent of the decoder.
 */
type Px = [number, number, number, number]; // r g b a
const W = 5, H = 3; // odd width: rows need padding for every depth
const image: Px[][] = Array.from({ length: H }, (_, y) => Array.from({ length: W }, (_, x) => [x * 50, y * 100, (x + y) * 30, 255 - x * 40] as Px));

function file(dib: Buffer, extra: Buffer, pixels: Buffer): Buffer {
  const offset = 14 + dib.length + extra.length;
  const head = Buffer.alloc(14);
  head.write('BM');
  head.writeUInt32LE(offset + pixels.length, 2);
  head.writeUInt32LE(offset, 10);
  return Buffer.concat([head, dib, extra, pixels]);
}

function info(bpp: number, opts: { compression?: number; topDown?: boolean; colours?: number; size?: number; alphaMask?: number } = {}): Buffer {
  const size = opts.size ?? 40;
  const b = Buffer.alloc(size);
  b.writeUInt32LE(size, 0);
  b.writeInt32LE(W, 4);
  b.writeInt32LE(opts.topDown ? -H : H, 8);
  b.writeUInt16LE(1, 12);
  b.writeUInt16LE(bpp, 14);
  b.writeUInt32LE(opts.compression ?? 0, 16);
  b.writeUInt32LE(opts.colours ?? 0, 32);
  if (size >= 108 && opts.alphaMask !== undefined) {
    b.writeUInt32LE(0x00ff0000, 40);
    b.writeUInt32LE(0x0000ff00, 44);
    b.writeUInt32LE(0x000000ff, 48);
    b.writeUInt32LE(opts.alphaMask, 52);
  }
  return b;
}

function rows(bpp: number, topDown: boolean, pixel: (p: Px, x: number) => number[]): Buffer {
  const stride = Math.floor((bpp * W + 31) / 32) * 4;
  const out = Buffer.alloc(stride * H);
  for (let fy = 0; fy < H; fy++) {
    const y = topDown ? fy : H - 1 - fy;
    const bytes = image[y]!.flatMap((p, x) => pixel(p, x));
    Buffer.from(bytes).copy(out, fy * stride);
  }
  return out;
}

function expectImage(got: { width: number; height: number; rgba: Uint8Array }, want: (p: Px) => Px): void {
  assert.equal(got.width, W);
  assert.equal(got.height, H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = (y * W + x) * 4;
      assert.deepEqual([...got.rgba.subarray(o, o + 4)], want(image[y]![x]!), `pixel ${x},${y}`);
    }
  }
}

const opaque = (p: Px): Px => [p[0], p[1], p[2], 255];

test('24-bit, bottom-up and top-down', () => {
  for (const topDown of [false, true]) {
    const bmp = file(info(24, { topDown }), Buffer.alloc(0), rows(24, topDown, (p) => [p[2], p[1], p[0]]));
    const img = decodeBmp(bmp, 1e6);
    expectImage(img, opaque);
    assert.equal(img.hasAlpha, false);
    assert.deepEqual(bmpSize(bmp), { width: W, height: H });
  }
});

test('32-bit: BI_RGB ignores the fourth byte; a V4 header with an alpha mask carries alpha', () => {
  const plain = file(info(32), Buffer.alloc(0), rows(32, false, (p) => [p[2], p[1], p[0], 0]));
  expectImage(decodeBmp(plain, 1e6), opaque);
  const v4 = file(info(32, { size: 108, compression: 3, alphaMask: 0xff000000 }), Buffer.alloc(0), rows(32, false, (p) => [p[2], p[1], p[0], p[3]]));
  const img = decodeBmp(v4, 1e6);
  assert.equal(img.hasAlpha, true);
  expectImage(img, (p) => p);
  // an alpha mask with every alpha at 0 means opaque (as browsers read it), not an invisible image
  const zeroAlpha = file(info(32, { size: 108, compression: 3, alphaMask: 0xff000000 }), Buffer.alloc(0), rows(32, false, (p) => [p[2], p[1], p[0], 0]));
  const opaqueImg = decodeBmp(zeroAlpha, 1e6);
  assert.equal(opaqueImg.hasAlpha, false);
  expectImage(opaqueImg, opaque);
});

test('16-bit: default 5-5-5 and BI_BITFIELDS 5-6-5', () => {
  const scale = (v: number, bits: number) => Math.round((v * 255) / (2 ** bits - 1));
  const q = (v: number, bits: number) => v >> (8 - bits);
  const b555 = file(info(16), Buffer.alloc(0), rows(16, false, (p) => {
    const v = (q(p[0], 5) << 10) | (q(p[1], 5) << 5) | q(p[2], 5);
    return [v & 0xff, v >> 8];
  }));
  expectImage(decodeBmp(b555, 1e6), (p) => [scale(q(p[0], 5), 5), scale(q(p[1], 5), 5), scale(q(p[2], 5), 5), 255]);
  const masks = Buffer.alloc(12);
  masks.writeUInt32LE(0xf800, 0);
  masks.writeUInt32LE(0x07e0, 4);
  masks.writeUInt32LE(0x001f, 8);
  const b565 = file(info(16, { compression: 3 }), masks, rows(16, false, (p) => {
    const v = (q(p[0], 5) << 11) | (q(p[1], 6) << 5) | q(p[2], 5);
    return [v & 0xff, v >> 8];
  }));
  expectImage(decodeBmp(b565, 1e6), (p) => [scale(q(p[0], 5), 5), scale(q(p[1], 6), 6), scale(q(p[2], 5), 5), 255]);
});

/** A palette of every distinct colour of the image, in order of first use. */
function paletteOf(): { palette: Px[]; index: (p: Px) => number } {
  const palette: Px[] = [];
  const key = (p: Px) => p.slice(0, 3).join(',');
  for (const row of image) for (const p of row) if (!palette.some((c) => key(c) === key(p))) palette.push(p);
  return { palette, index: (p) => palette.findIndex((c) => key(c) === key(p)) };
}

test('8-bit and 4-bit palettes, RLE8 and RLE4', () => {
  const { palette, index } = paletteOf();
  assert.ok(palette.length <= 16);
  const pal = Buffer.from(palette.flatMap((p) => [p[2], p[1], p[0], 0]));
  const b8 = file(info(8, { colours: palette.length }), pal, rows(8, false, (p) => [index(p)]));
  expectImage(decodeBmp(b8, 1e6), opaque);
  // 4 bits: two pixels a byte, high nibble first
  const packed4 = (y: number) => {
    const idx = image[y]!.map((p) => index(p));
    const out: number[] = [];
    for (let x = 0; x < W; x += 2) out.push((idx[x]! << 4) | (idx[x + 1] ?? 0));
    return out;
  };
  const stride4 = Math.floor((4 * W + 31) / 32) * 4;
  const px4 = Buffer.alloc(stride4 * H);
  for (let fy = 0; fy < H; fy++) Buffer.from(packed4(H - 1 - fy)).copy(px4, fy * stride4);
  expectImage(decodeBmp(file(info(4, { colours: palette.length }), pal, px4), 1e6), opaque);
  // RLE8: each row as an absolute run of W pixels (padded to 16 bits), then end of line; end of bitmap
  const rle8: number[] = [];
  for (let fy = 0; fy < H; fy++) {
    const idx = image[H - 1 - fy]!.map((p) => index(p));
    rle8.push(0, W, ...idx, ...(W % 2 ? [0] : []), 0, 0);
  }
  rle8.push(0, 1);
  expectImage(decodeBmp(file(info(8, { compression: 1, colours: palette.length }), pal, Buffer.from(rle8)), 1e6), opaque);
  // RLE4: encoded runs of one pixel each (count 1, colour in the high nibble)
  const rle4: number[] = [];
  for (let fy = 0; fy < H; fy++) {
    for (const p of image[H - 1 - fy]!) rle4.push(1, index(p) << 4);
    rle4.push(0, 0);
  }
  rle4.push(0, 1);
  expectImage(decodeBmp(file(info(4, { compression: 2, colours: palette.length }), pal, Buffer.from(rle4)), 1e6), opaque);
});

test('OS/2 core header (12 bytes, 3-byte palette entries absent for 24-bit)', () => {
  const core = Buffer.alloc(12);
  core.writeUInt32LE(12, 0);
  core.writeUInt16LE(W, 4);
  core.writeInt16LE(H, 6);
  core.writeUInt16LE(1, 8);
  core.writeUInt16LE(24, 10);
  expectImage(decodeBmp(file(core, Buffer.alloc(0), rows(24, false, (p) => [p[2], p[1], p[0]])), 1e6), opaque);
});

test('bad files: truncated pixels, a size over the pixel limit (refused before reading), junk header, embedded JPEG', () => {
  const good = file(info(24), Buffer.alloc(0), rows(24, false, (p) => [p[2], p[1], p[0]]));
  const err = (code: string, re: RegExp) => (e: unknown) => e instanceof InputError && e.code === code && re.test(e.message);
  assert.throws(() => decodeBmp(good.subarray(0, good.length - 10), 1e6), err('corrupt', /truncated BMP/));
  assert.throws(() => decodeBmp(good, 10), err('too-large', /5×3.*over the limit/));
  const huge = Buffer.from(good);
  huge.writeInt32LE(1_000_000, 18);
  huge.writeInt32LE(1_000_000, 22);
  assert.throws(() => decodeBmp(huge, 50_000_000), err('too-large', /refused before decoding/));
  assert.throws(() => decodeBmp(Buffer.from('BM' + 'x'.repeat(60)), 1e6), err('corrupt', /header size/));
  assert.throws(() => decodeBmp(file(info(24, { compression: 4 }), Buffer.alloc(0), Buffer.alloc(16)), 1e6), err('unsupported', /embedded JPEG or PNG/));
  const rleCut = file(info(8, { compression: 1, colours: 2 }), Buffer.alloc(8), Buffer.from([2, 1]));
  assert.throws(() => decodeBmp(rleCut, 1e6), err('corrupt', /RLE data ends early/));
});

test('unsupported formats are named from their first bytes', () => {
  assert.match(unsupportedFormat(Buffer.from('\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic', 'latin1'))!, /HEIC/);
  assert.equal(unsupportedFormat(Buffer.from('\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1', 'latin1')), undefined); // AVIF is decoded
  assert.match(unsupportedFormat(Buffer.from('8BPS\x00\x01', 'latin1'))!, /Photoshop/);
  assert.match(unsupportedFormat(Buffer.from('%PDF-1.7\n', 'latin1'))!, /PDF/);
  assert.match(unsupportedFormat(Buffer.from('\x00\x00\x00\x0cjP  \r\n\x87\n', 'latin1'))!, /JPEG 2000/);
  assert.match(unsupportedFormat(Buffer.from([0xff, 0x0a, 0, 0]))!, /JPEG XL/);
  assert.match(unsupportedFormat(Buffer.from([0, 0, 1, 0, 1, 0, 16, 16]))!, /icon/);
  assert.equal(unsupportedFormat(Buffer.from('hello world')), undefined);
});
