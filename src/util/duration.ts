import { UsageError } from './errors.ts';

/** A duration for messages: `40 ms` below a second, else `1.5 s`, `60 s`. */
export function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${ms / 1000} s`;
}

/** Seconds in a CLI duration such as `120s`, `2m`, `1h30m`, `500ms` or a bare number of seconds. */
export function parseDurationSeconds(text: string, flag: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (const m of t.matchAll(re)) {
    total += Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
    consumed += m[0].length;
  }
  if (consumed !== t.length || t.length === 0) throw new UsageError(`${flag} ${text}: expected a duration such as 120s, 2m or 1h30m`);
  return total;
}
