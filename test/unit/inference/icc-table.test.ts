import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cmykToRgb, gridLevel, gridTiff, isIdentityTable, rgbToRgb, TABLE_GRID } from '../../../src/inference/icc-table.ts';

const CMYK_GRID = TABLE_GRID.cmyk;

const level = gridLevel;

/** The textbook CMYK → RGB (no profile): linear in each of C, M, Y for a given K, and in K. */
function naive(c: number, m: number, y: number, k: number): [number, number, number] {
  const f = (v: number) => 255 * (1 - v / 255) * (1 - k / 255);
  return [f(c), f(m), f(y)];
}

function naiveTable(g: number): Uint8Array {
  const lut = new Uint8Array(g ** 4 * 3);
  let p = 0;
  for (let k = 0; k < g; k++) for (let y = 0; y < g; y++) for (let m = 0; m < g; m++) for (let c = 0; c < g; c++) {
    for (const v of naive(level(c, g), level(m, g), level(y, g), level(k, g))) lut[p++] = Math.round(v);
  }
  return lut;
}

test('cmykGridTiff: a well-formed CMYK TIFF holding every grid point in table order', () => {
  const g = 3;
  const tiff = gridTiff('cmyk', undefined, g);
  const view = new DataView(tiff.buffer);
  assert.deepEqual([...tiff.subarray(0, 4)], [0x49, 0x49, 42, 0]);
  const ifd = view.getUint32(4, true);
  const tags = new Map<number, number>();
  for (let i = 0; i < view.getUint16(ifd, true); i++) {
    const at = ifd + 2 + i * 12;
    const type = view.getUint16(at + 2, true);
    tags.set(view.getUint16(at, true), type === 3 && view.getUint32(at + 4, true) === 1 ? view.getUint16(at + 8, true) : view.getUint32(at + 8, true));
  }
  assert.equal(tags.get(256), 9); // 3² × 3²
  assert.equal(tags.get(257), 9);
  assert.equal(tags.get(262), 5); // separated = CMYK
  assert.equal(tags.get(277), 4);
  assert.equal(tags.has(34675), false);
  const data = tiff.subarray(tags.get(273)!);
  assert.equal(data.length, 3 ** 4 * 4);
  // pixel index = ((k·g + y)·g + m)·g + c
  const at = (c: number, m: number, y: number, k: number) => [...data.subarray((((k * g + y) * g + m) * g + c) * 4, (((k * g + y) * g + m) * g + c) * 4 + 4)];
  assert.deepEqual(at(0, 0, 0, 0), [0, 0, 0, 0]);
  assert.deepEqual(at(2, 1, 0, 2), [255, 128, 0, 255]);
  const icc = Uint8Array.from([1, 2, 3]);
  const withIcc = gridTiff('cmyk', icc, g);
  assert.ok(withIcc.length > tiff.length);
});

test('cmykToRgb reproduces a function that is linear per channel exactly (up to rounding), between grid points too', () => {
  const lut = naiveTable(CMYK_GRID);
  const px: number[] = [];
  for (let i = 0; i < 4000; i++) px.push((i * 37) % 256, (i * 101) % 256, (i * 7 + 13) % 256, (i * 53) % 256);
  const rgb = cmykToRgb(Uint8Array.from(px), lut);
  for (let p = 0; p < px.length / 4; p++) {
    const want = naive(px[p * 4]!, px[p * 4 + 1]!, px[p * 4 + 2]!, px[p * 4 + 3]!);
    for (let ch = 0; ch < 3; ch++) assert.ok(Math.abs(rgb[p * 3 + ch]! - want[ch]!) <= 1, `pixel ${p} channel ${ch}: ${rgb[p * 3 + ch]} vs ${want[ch]}`);
  }
});

test('cmykToRgb: grid points map to their table entries; bad sizes are refused', () => {
  const g = 5;
  const lut = Uint8Array.from({ length: g ** 4 * 3 }, (_, i) => (i * 13) % 256);
  const idx = ((3 * g + 2) * g + 1) * g + 4; // c=4 m=1 y=2 k=3
  const out = cmykToRgb(Uint8Array.from([level(4, g), level(1, g), level(2, g), level(3, g)]), lut, g);
  assert.deepEqual([...out], [...lut.subarray(idx * 3, idx * 3 + 3)]);
  assert.throws(() => cmykToRgb(new Uint8Array(6), lut, g), /multiple of 4/);
  assert.throws(() => cmykToRgb(new Uint8Array(4), new Uint8Array(10), g), /table/);
});

test('RGB tables: identity detection, and a linear per-channel mapping reproduced between grid points', () => {
  const g = TABLE_GRID.rgb;
  const identity = new Uint8Array(g ** 3 * 3);
  for (let p = 0; p < g ** 3; p++) for (let ch = 0, rest = p; ch < 3; ch++, rest = Math.floor(rest / g)) identity[p * 3 + ch] = level(rest % g, g);
  assert.equal(isIdentityTable(identity), true);
  // swap R and B, darken G by half: linear in each channel, so interpolation is exact up to rounding
  const mapped = new Uint8Array(identity.length);
  for (let p = 0; p < g ** 3; p++) {
    mapped[p * 3] = identity[p * 3 + 2]!;
    mapped[p * 3 + 1] = Math.round(identity[p * 3 + 1]! / 2);
    mapped[p * 3 + 2] = identity[p * 3]!;
  }
  assert.equal(isIdentityTable(mapped), false);
  const px = Uint8Array.from({ length: 3000 }, (_, i) => (i * 97 + (i >> 3)) % 256);
  const out = rgbToRgb(px.slice(), mapped);
  for (let p = 0; p < px.length; p += 3) {
    assert.ok(Math.abs(out[p]! - px[p + 2]!) <= 1 && Math.abs(out[p + 2]! - px[p]!) <= 1 && Math.abs(out[p + 1]! - px[p + 1]! / 2) <= 1, `pixel ${p / 3}`);
  }
  const rgbTiff = gridTiff('rgb');
  assert.equal(rgbTiff.length > g ** 3 * 3, true);
  assert.throws(() => rgbToRgb(new Uint8Array(4), identity), /multiple of 3/);
});
