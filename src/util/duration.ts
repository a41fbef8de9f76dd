import { UsageError } from './errors.ts';

/** A duration for messages: `40 ms` below a second, else `1.5 s`, `60 s`. */
export function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${ms / 1000} s`;
}

/** Time elapsed, floored to two units for a table column: `42s`, `5m`, `3h12m`, `2d4h`. */
export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

/** How long ago `iso` was, rounded to one unit for a sentence: `40s ago`, `3h ago`; `never` for none. */
export function formatAgo(iso: string | null, now: number): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  if (s < 90) return `${s}s ago`;
  if (s < 5400) return `${Math.round(s / 60)}m ago`;
  if (s < 172800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * Milliseconds in a duration: one or more `<number><unit>` parts (`500ms`, `30s`, `2m`, `1h30m`,
 * `1d`), or a bare number of seconds; null for anything else (negative, empty, unknown unit). The
 * one grammar every duration flag accepts (--timeout, --wait, --since, --interval…). Pure.
 */
export function parseDurationMs(text: string): number | null {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  let total = 0;
  let consumed = 0;
  for (const m of t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy)) {
    total += Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
    consumed += m[0].length;
  }
  return consumed === t.length && t.length > 0 ? Math.round(total) : null;
}

/**
 * `--since`: a duration back from `now` (`10m`, `2h`, `1h30m`, `1d`) or a timestamp, as Unix
 * seconds. A bare number is read as a timestamp, as before.
 */
export function parseSince(text: string, now = Date.now()): number {
  const ago = /[a-z]$/i.test(text.trim()) ? parseDurationMs(text) : null;
  if (ago !== null) return Math.floor((now - ago) / 1000);
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new UsageError(`--since ${text}: expected a duration like 10m, 2h, 1d or a timestamp`);
  return Math.floor(t / 1000);
}

/** Seconds in a CLI duration such as `120s`, `2m`, `1h30m`, `500ms` or a bare number of seconds. */
export function parseDurationSeconds(text: string, flag: string): number {
  const ms = parseDurationMs(text);
  if (ms === null) throw new UsageError(`${flag} ${text}: expected a duration such as 120s, 2m or 1h30m`);
  return ms / 1000;
}
