/**
 * Byte sizes, one convention both ways: binary multiples. A size string's `K`, `KB` and `KiB` all
 * mean 1024 bytes (`M`, `MB`, `MiB` 1024², …) the way nginx, Docker and most operators read them,
 * and a size shown to a person is written in IEC units, which say so: `B`, `KiB`, `MiB`, `GiB`,
 * `TiB`, without a space, as `docker stats` writes them (`512B`, `1.5KiB`, `48.0MiB`, `217MiB`). Pure.
 */

/** Bytes in a size string (`50MB`, `1GiB`, `512k`, `64 KB`, `100b`). Throws on anything else. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text}`);
  const unit = m[2]!.toLowerCase();
  if (!/^(b|[kmgt](i?b)?)$/.test(unit)) throw new Error(`unknown size unit: ${m[2]}`);
  return Math.round(Number(m[1]) * 1024 ** 'bkmgt'.indexOf(unit[0]!));
}

/** parseSize, or undefined where the text is not a size. */
export function parseSizeOr(text: string | undefined): number | undefined {
  if (!text) return undefined;
  try {
    return parseSize(text);
  } catch {
    return undefined;
  }
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** `512B`, `1.5KiB`, `48.0MiB`, `217MiB`: three significant digits at most, binary multiples. */
export function formatBytes(n: number): string {
  let v = n;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v.toFixed(0) : v >= 100 ? v.toFixed(0) : v.toFixed(1)}${UNITS[i]}`;
}
