/**
 * Colour conversion to sRGB through lookup tables. libvips converts an image that is CMYK or
 * carries an ICC profile with a transform that lcms builds anew for every image: about 30 ms of
 * CPU for CMYK and 3 ms for an RGB profile, whatever the image's size, which is more than
 * decoding a typical photo. A table is sampled once per profile from that very transform (a
 * synthetic image of grid points, converted by libvips), so results follow the same profile;
 * pixels are then interpolated the way lcms evaluates its own optimised transforms: tetrahedral
 * in R, G, B or C, M, Y, and linear in K. Everything here is pure; decode.ts does the I/O.
 */

export type TableSpace = 'cmyk' | 'rgb';

/** Grid points per input channel: CMYK 17⁴ (245 KB table), RGB 33³ (105 KB). */
export const TABLE_GRID: Record<TableSpace, number> = { cmyk: 17, rgb: 33 };

/** The 8-bit value of grid point `j` (0 … grid-1). */
export function gridLevel(j: number, grid: number): number {
  return Math.round((j * 255) / (grid - 1));
}

/**
 * An uncompressed little-endian TIFF (8 bits per sample; CMYK or RGB) holding every grid point
 * once, in table order (first channel fastest), with the ICC profile embedded when given (the
 * image's own profile; for CMYK without one libvips uses its fallback CMYK profile).
 */
export function gridTiff(space: TableSpace, icc?: Uint8Array, grid: number = TABLE_GRID[space]): Uint8Array {
  const channels = space === 'cmyk' ? 4 : 3;
  const pixels = grid ** channels;
  const width = grid * grid, height = pixels / width;
  type Entry = [tag: number, type: number, count: number, value: number];
  const SHORT = 3, LONG = 4, UNDEFINED = 7;
  const entryCount = 10 + (space === 'cmyk' ? 1 : 0) + (icc ? 1 : 0);
  const ifdOffset = 8;
  const bitsOffset = ifdOffset + 2 + entryCount * 12 + 4;
  const iccOffset = bitsOffset + channels * 2;
  const dataOffset = iccOffset + (icc ? icc.length + (icc.length % 2) : 0);
  const entries: Entry[] = [
    [256, LONG, 1, width], // ImageWidth
    [257, LONG, 1, height], // ImageLength
    [258, SHORT, channels, bitsOffset], // BitsPerSample: 8 each
    [259, SHORT, 1, 1], // Compression: none
    [262, SHORT, 1, space === 'cmyk' ? 5 : 2], // PhotometricInterpretation: separated (CMYK) / RGB
    [273, LONG, 1, dataOffset], // StripOffsets
    [277, SHORT, 1, channels], // SamplesPerPixel
    [278, LONG, 1, height], // RowsPerStrip
    [279, LONG, 1, pixels * channels], // StripByteCounts
    [284, SHORT, 1, 1], // PlanarConfiguration: chunky
  ];
  if (space === 'cmyk') entries.push([332, SHORT, 1, 1]); // InkSet: CMYK
  if (icc) entries.push([34675, UNDEFINED, icc.length, iccOffset]); // InterColorProfile
  const out = new Uint8Array(dataOffset + pixels * channels);
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
  for (let i = 0; i < channels; i++) view.setUint16(bitsOffset + i * 2, 8, true);
  if (icc) out.set(icc, iccOffset);
  for (let p = 0; p < pixels; p++) {
    for (let ch = 0, rest = p; ch < channels; ch++, rest = Math.floor(rest / grid)) {
      out[dataOffset + p * channels + ch] = gridLevel(rest % grid, grid);
    }
  }
  return out;
}

/** Per 8-bit value: the grid cell below it and the fraction of the way to the next grid level. */
function cells(grid: number): { cell: Int32Array; frac: Float64Array } {
  const cell = new Int32Array(256), frac = new Float64Array(256);
  for (let v = 0, j = 0; v < 256; v++) {
    while (j < grid - 2 && gridLevel(j + 1, grid) <= v) j++;
    const lo = gridLevel(j, grid), hi = gridLevel(j + 1, grid);
    cell[v] = j;
    frac[v] = (v - lo) / (hi - lo);
  }
  return { cell, frac };
}

function checkTable(lut: Uint8Array, grid: number, inputs: number): void {
  if (lut.length !== grid ** inputs * 3) throw new Error(`colour table has ${lut.length} values, expected ${grid ** inputs * 3}`);
}

/** Whether an RGB table maps every grid point to itself (±1): the profile is sRGB in effect. */
export function isIdentityTable(lut: Uint8Array, grid: number = TABLE_GRID.rgb): boolean {
  checkTable(lut, grid, 3);
  for (let p = 0; p < grid ** 3; p++) {
    for (let ch = 0, rest = p; ch < 3; ch++, rest = Math.floor(rest / grid)) {
      if (Math.abs(lut[p * 3 + ch]! - gridLevel(rest % grid, grid)) > 1) return false;
    }
  }
  return true;
}

/**
 * Converts interleaved 8-bit CMYK (0 = no ink) to 8-bit RGB with a table made from
 * `gridTiff('cmyk')` converted to RGB (3 bytes per grid point, same order).
 */
export function cmykToRgb(cmyk: Uint8Array, lut: Uint8Array, grid: number = TABLE_GRID.cmyk): Uint8Array {
  if (cmyk.length % 4 !== 0) throw new Error(`CMYK buffer length ${cmyk.length} is not a multiple of 4`);
  checkTable(lut, grid, 4);
  const out = new Uint8Array((cmyk.length / 4) * 3);
  const sc = 3, sm = grid * 3, sy = grid * grid * 3, sk = grid * grid * grid * 3;
  const { cell, frac } = cells(grid);
  for (let p = 0, q = 0; p < cmyk.length; p += 4, q += 3) {
    const c = cmyk[p]!, m = cmyk[p + 1]!, y = cmyk[p + 2]!, k = cmyk[p + 3]!;
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

/** Converts interleaved 8-bit RGB in place with a table made from `gridTiff('rgb', icc)`. */
export function rgbToRgb(rgb: Uint8Array, lut: Uint8Array, grid: number = TABLE_GRID.rgb): Uint8Array {
  if (rgb.length % 3 !== 0) throw new Error(`RGB buffer length ${rgb.length} is not a multiple of 3`);
  checkTable(lut, grid, 3);
  const sr = 3, sg = grid * 3, sb = grid * grid * 3;
  const { cell, frac } = cells(grid);
  for (let p = 0; p < rgb.length; p += 3) {
    const r = rgb[p]!, g = rgb[p + 1]!, bl = rgb[p + 2]!;
    let a1 = sr, f1 = frac[r]!, a2 = sg, f2 = frac[g]!, a3 = sb, f3 = frac[bl]!, t: number;
    if (f2 > f1) { t = f1; f1 = f2; f2 = t; t = a1; a1 = a2; a2 = t; }
    if (f3 > f2) { t = f2; f2 = f3; f3 = t; t = a2; a2 = a3; a3 = t; }
    if (f2 > f1) { t = f1; f1 = f2; f2 = t; t = a1; a1 = a2; a2 = t; }
    const o1 = a1, o2 = a1 + a2, o3 = o2 + a3;
    const b = cell[r]! * sr + cell[g]! * sg + cell[bl]! * sb;
    const w0 = 1 - f1, w1 = f1 - f2, w2 = f2 - f3;
    for (let ch = 0; ch < 3; ch++) {
      const o = b + ch;
      rgb[p + ch] = w0 * lut[o]! + w1 * lut[o + o1]! + w2 * lut[o + o2]! + f3 * lut[o + o3]! + 0.5;
    }
  }
  return rgb;
}
