/**
 * CMYK → sRGB through a 4-D lookup table. libvips converts CMYK with an ICC transform that lcms
 * builds anew for every image: about 30 ms of CPU per image whatever its size, several times
 * the cost of decoding it. The table is sampled once per profile from that very transform (a
 * synthetic CMYK image of grid points, converted by libvips), so results follow the same
 * profile; pixels are then interpolated (tetrahedral in C, M, Y; linear in K), the way lcms
 * itself evaluates its optimised transforms. Everything here is pure; decode.ts does the I/O.
 */

/** Grid points per channel: 17⁴ = 83 521 samples, 245 KB per table. */
export const CMYK_GRID = 17;

/** The 8-bit value of grid point `j` (0 … grid-1). */
export function gridLevel(j: number, grid: number): number {
  return Math.round((j * 255) / (grid - 1));
}

/**
 * An uncompressed little-endian TIFF (PhotometricInterpretation 5, CMYK, 8 bits per sample)
 * holding every grid point once, in table order (C fastest, then M, Y, K), with the ICC profile
 * embedded when given (the image's own profile; without one libvips uses its CMYK fallback).
 */
export function cmykGridTiff(grid: number = CMYK_GRID, icc?: Uint8Array): Uint8Array {
  const side = grid * grid;
  const pixels = side * side;
  const level = (j: number) => gridLevel(j, grid);
  type Entry = [tag: number, type: number, count: number, value: number];
  const SHORT = 3, LONG = 4, UNDEFINED = 7;
  const entryCount = icc ? 12 : 11;
  const ifdOffset = 8;
  const ifdSize = 2 + entryCount * 12 + 4;
  const bitsOffset = ifdOffset + ifdSize;
  const iccOffset = bitsOffset + 8;
  const dataOffset = iccOffset + (icc ? icc.length + (icc.length % 2) : 0);
  const entries: Entry[] = [
    [256, LONG, 1, side], // ImageWidth
    [257, LONG, 1, side], // ImageLength
    [258, SHORT, 4, bitsOffset], // BitsPerSample 8,8,8,8
    [259, SHORT, 1, 1], // Compression: none
    [262, SHORT, 1, 5], // PhotometricInterpretation: separated (CMYK)
    [273, LONG, 1, dataOffset], // StripOffsets
    [277, SHORT, 1, 4], // SamplesPerPixel
    [278, LONG, 1, side], // RowsPerStrip
    [279, LONG, 1, pixels * 4], // StripByteCounts
    [284, SHORT, 1, 1], // PlanarConfiguration: chunky
    [332, SHORT, 1, 1], // InkSet: CMYK
  ];
  if (icc) entries.push([34675, UNDEFINED, icc.length, iccOffset]); // InterColorProfile
  const out = new Uint8Array(dataOffset + pixels * 4);
  const view = new DataView(out.buffer);
  out.set([0x49, 0x49, 42, 0]); // "II", 42
  view.setUint32(4, ifdOffset, true);
  view.setUint16(ifdOffset, entries.length, true);
  entries.forEach(([tag, type, count, value], i) => {
    const at = ifdOffset + 2 + i * 12;
    view.setUint16(at, tag, true);
    view.setUint16(at + 2, type, true);
    view.setUint32(at + 4, count, true);
    if (type === SHORT && count === 1) view.setUint16(at + 8, value, true);
    else view.setUint32(at + 8, value, true);
  });
  view.setUint32(ifdOffset + 2 + entries.length * 12, 0, true); // no next IFD
  for (let i = 0; i < 4; i++) view.setUint16(bitsOffset + i * 2, 8, true);
  if (icc) out.set(icc, iccOffset);
  let p = dataOffset;
  for (let k = 0; k < grid; k++) {
    for (let y = 0; y < grid; y++) {
      for (let m = 0; m < grid; m++) {
        for (let c = 0; c < grid; c++) {
          out[p++] = level(c);
          out[p++] = level(m);
          out[p++] = level(y);
          out[p++] = level(k);
        }
      }
    }
  }
  return out;
}

/**
 * Converts interleaved 8-bit CMYK (0 = no ink) to 8-bit RGB with a table from `cmykGridTiff`
 * converted to RGB (3 bytes per grid point, same order).
 */
export function cmykToRgb(cmyk: Uint8Array, lut: Uint8Array, grid: number = CMYK_GRID): Uint8Array {
  if (cmyk.length % 4 !== 0) throw new Error(`CMYK buffer length ${cmyk.length} is not a multiple of 4`);
  if (lut.length !== grid ** 4 * 3) throw new Error(`CMYK table has ${lut.length} values, expected ${grid ** 4 * 3}`);
  const out = new Uint8Array((cmyk.length / 4) * 3);
  const sc = 3, sm = grid * 3, sy = grid * grid * 3, sk = grid * grid * grid * 3;
  // per 8-bit value: the grid cell below it and the fraction of the way to the next, measured
  // between the (rounded) levels the table was sampled at
  const cell = new Int32Array(256), frac = new Float64Array(256);
  for (let v = 0, j = 0; v < 256; v++) {
    while (j < grid - 2 && gridLevel(j + 1, grid) <= v) j++;
    const lo = gridLevel(j, grid), hi = gridLevel(j + 1, grid);
    cell[v] = j;
    frac[v] = (v - lo) / (hi - lo);
  }
  for (let p = 0, q = 0; p < cmyk.length; p += 4, q += 3) {
    const c = cmyk[p]!, m = cmyk[p + 1]!, y = cmyk[p + 2]!, k = cmyk[p + 3]!;
    if (p > 0 && c === cmyk[p - 4] && m === cmyk[p - 3] && y === cmyk[p - 2] && k === cmyk[p - 1]) {
      out[q] = out[q - 3]!;
      out[q + 1] = out[q - 2]!;
      out[q + 2] = out[q - 1]!;
      continue;
    }
    const kf = frac[k]!;
    // the tetrahedron of the C, M, Y cube that holds the point: walk the axes by falling fraction
    let a1 = sc, f1 = frac[c]!, a2 = sm, f2 = frac[m]!, a3 = sy, f3 = frac[y]!, t: number;
    if (f2 > f1) { t = f1; f1 = f2; f2 = t; t = a1; a1 = a2; a2 = t; }
    if (f3 > f2) { t = f2; f2 = f3; f3 = t; t = a2; a2 = a3; a3 = t; }
    if (f2 > f1) { t = f1; f1 = f2; f2 = t; t = a1; a1 = a2; a2 = t; }
    const o1 = a1, o2 = a1 + a2, o3 = o2 + a3;
    const b = cell[c]! * sc + cell[m]! * sm + cell[y]! * sy + cell[k]! * sk;
    const w0 = 1 - f1, w1 = f1 - f2, w2 = f2 - f3; // barycentric weights; f3 for the far corner
    for (let ch = 0; ch < 3; ch++) {
      const lo = b + ch, hi = lo + sk;
      const vl = w0 * lut[lo]! + w1 * lut[lo + o1]! + w2 * lut[lo + o2]! + f3 * lut[lo + o3]!;
      const vh = w0 * lut[hi]! + w1 * lut[hi + o1]! + w2 * lut[hi + o2]! + f3 * lut[hi + o3]!;
      out[q + ch] = vl + kf * (vh - vl) + 0.5; // Uint8Array stores truncate: +0.5 rounds
    }
  }
  return out;
}
