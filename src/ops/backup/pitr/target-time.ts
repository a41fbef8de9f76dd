/**
 * `restore --to-time`: a timestamp with an explicit zone, as an operator types it
 * (`2026-12-01 10:14:05+00`, `2026-12-01T10:14:05.250Z`, `2026-12-01 11:14:05+01:00`). A time
 * without a zone is refused: whose 10:14 it is would be a guess. Pure.
 */
const RE = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)$/i;

export type TargetTime = { ok: true; date: Date; /** For recovery_target_time (UTC, microseconds kept). */ postgres: string } | { ok: false; error: string };

export function parseTargetTime(text: string): TargetTime {
  const t = text.trim();
  const m = RE.exec(t);
  if (!m) {
    if (/^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(t)) return { ok: false, error: `"${text}" has no time zone: add one, e.g. "${t}+00" (UTC)` };
    return { ok: false, error: `"${text}" is not a timestamp: use YYYY-MM-DD HH:MM[:SS[.ffffff]] with a zone, e.g. "2026-12-01 10:14:05+00"` };
  }
  const [, y, mo, d, h, mi, s = '0', frac = '', zone] = m as unknown as [string, string, string, string, string, string, string | undefined, string | undefined, string];
  const Y = Number(y), M = Number(mo), D = Number(d), H = Number(h), MI = Number(mi), S = Number(s);
  let offsetMin = 0;
  const z = zone.toUpperCase();
  if (z !== 'Z' && z !== 'UTC') {
    const zm = /^([+-])(\d{2}):?(\d{2})?$/.exec(z)!;
    const oh = Number(zm[2]), om = Number(zm[3] ?? '0');
    if (oh > 15 || om > 59) return { ok: false, error: `"${text}": the zone offset ${zone} is out of range` };
    offsetMin = (zm[1] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const micros = Number(frac.padEnd(6, '0') || '0');
  const ms = Date.UTC(Y, M - 1, D, H, MI, S) - offsetMin * 60_000;
  const check = new Date(Date.UTC(Y, M - 1, D, H, MI, S));
  if (check.getUTCFullYear() !== Y || check.getUTCMonth() !== M - 1 || check.getUTCDate() !== D || H > 23 || MI > 59 || S > 59) {
    return { ok: false, error: `"${text}" is not a valid date and time` };
  }
  const date = new Date(ms + Math.floor(micros / 1000));
  const u = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const postgres = `${p(u.getUTCFullYear(), 4)}-${p(u.getUTCMonth() + 1)}-${p(u.getUTCDate())} ${p(u.getUTCHours())}:${p(u.getUTCMinutes())}:${p(u.getUTCSeconds())}.${p(micros, 6)}+00`;
  return { ok: true, date, postgres };
}
