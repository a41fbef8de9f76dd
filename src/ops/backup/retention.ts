/**
 * Which backups to keep: grandfather-father-son over the backups that exist, not over calendar
 * days, so a schedule that stopped for a week never ages every good backup out. Pure.
 *
 * - Only verified backups with a valid manifest fill the daily/weekly/monthly slots.
 * - The newest backup of each of the N most recent UTC days (ISO weeks, months) that have one is kept.
 * - The newest verified backup is always kept.
 * - Files without a valid manifest and unverified backups are never deleted (listed for a human).
 * - Pinned (emergency) backups are kept and fill no slot.
 */
export interface RetentionPolicy {
  daily: number;
  weekly: number;
  monthly: number;
}

export interface RetentionItem {
  file: string;
  createdAt: Date;
  /** false when the manifest is missing or invalid. */
  manifestValid: boolean;
  verified: boolean;
  /** Emergency backups: taken by a human during an incident, never deleted automatically. */
  pinned?: boolean;
}

export interface RetentionDecision {
  file: string;
  action: 'keep' | 'delete';
  reasons: string[];
}

export function dayKey(d: Date): string {
  return d.toISOString().slice(0, 10);
}

export function monthKey(d: Date): string {
  return d.toISOString().slice(0, 7);
}

/** ISO-8601 week, e.g. 2026-W48 (weeks start on Monday; week 1 holds the year's first Thursday). */
export function isoWeekKey(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const dow = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - dow);
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((t.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${t.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

export function planRetention(items: readonly RetentionItem[], policy: RetentionPolicy): RetentionDecision[] {
  const reasons = new Map<string, string[]>();
  for (const it of items) reasons.set(it.file, []);
  const good = items
    .filter((i) => i.manifestValid && i.verified && !i.pinned)
    .slice()
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.file < b.file ? 1 : -1));

  const slot = (label: string, n: number, key: (d: Date) => string): void => {
    const seen = new Set<string>();
    for (const it of good) {
      const k = key(it.createdAt);
      if (seen.has(k)) continue;
      if (seen.size >= n) break;
      seen.add(k);
      reasons.get(it.file)!.push(`${label} ${k}`);
    }
  };
  slot('daily', policy.daily, dayKey);
  slot('weekly', policy.weekly, isoWeekKey);
  slot('monthly', policy.monthly, monthKey);
  if (good[0]) reasons.get(good[0].file)!.unshift('newest verified');

  return items
    .slice()
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
    .map((it) => {
      if (!it.manifestValid) return { file: it.file, action: 'keep', reasons: ['no valid manifest: never deleted automatically'] };
      if (!it.verified) return { file: it.file, action: 'keep', reasons: ['not verified: kept for inspection, counts toward nothing'] };
      if (it.pinned) return { file: it.file, action: 'keep', reasons: ['emergency backup: kept until deleted by hand'] };
      const r = reasons.get(it.file)!;
      return r.length > 0 ? { file: it.file, action: 'keep', reasons: r } : { file: it.file, action: 'delete', reasons: ['outside the retention policy'] };
    });
}

/** A file in the backup directory, as far as orphan detection needs it. */
export interface DirFile {
  name: string;
  mtimeMs: number;
}

export interface OrphanDecision {
  file: string;
  action: 'delete';
  reasons: string[];
}

/** Unmodified this long, a partial file is no longer being written by anyone. */
export const ORPHAN_GRACE_MS = 12 * 3_600_000;

const DUMP_RE = /^(.+-\d{8}T\d{6}Z)\.dump$/;
const SIDECAR_RE = /^(.+-\d{8}T\d{6}Z)\.(sha256|manifest\.json)$/;
const TEMP_RE = /^\.(.+?)\.(?:[A-Za-z0-9_-]+\.\d+(?:-[a-z0-9]+)?|[a-f0-9]{8,})\.tmp$/;
const PROBE_RE = /^\.modelship-probe-\d+-[a-f0-9]+\.tmp$/;

/** The database a backup-directory file belongs to (`shop-20261126T020000Z.dump` → shop). */
function databaseOfName(base: string): string | null {
  const m = /^(.+)-\d{8}T\d{6}Z/.exec(base);
  return m ? m[1]! : null;
}

/**
 * Partial files that no backup will ever finish, to delete. Pure.
 *
 * - temp files (a dump being written, a checksum or manifest before its rename, a write probe)
 *   unmodified for `graceMs`: their writer is gone;
 * - a checksum or manifest whose dump does not exist (a backup killed before its commit);
 * - a dump with its checksum but no manifest (left by an interrupted backup of an older version,
 *   or one whose manifest write failed), once a newer verified backup of the database exists.
 *
 * A bare `.dump` with neither checksum nor manifest is never deleted: it may be an off-site copy
 * put back for `restore --trust-unverified`.
 */
export function planOrphans(
  files: readonly DirFile[],
  o: { now: number; graceMs?: number; database?: string | undefined; newestVerified: ReadonlyMap<string, Date> },
): OrphanDecision[] {
  const grace = o.graceMs ?? ORPHAN_GRACE_MS;
  const names = new Set(files.map((f) => f.name));
  const out: OrphanDecision[] = [];
  const old = (f: DirFile) => o.now - f.mtimeMs >= grace;
  const ageH = (f: DirFile) => `${Math.floor((o.now - f.mtimeMs) / 3_600_000)} h old`;
  for (const f of files) {
    const t = TEMP_RE.exec(f.name);
    if (PROBE_RE.test(f.name) || t) {
      const db = t ? databaseOfName(t[1]!) : null;
      if (t && db === null && !t[1]!.includes('modelship')) continue; // not one of ours
      if (o.database !== undefined && db !== null && db !== o.database) continue;
      if (old(f)) out.push({ file: f.name, action: 'delete', reasons: [`temp file of a run that is gone (${ageH(f)})`] });
      continue;
    }
    const side = SIDECAR_RE.exec(f.name);
    if (side) {
      if (o.database !== undefined && databaseOfName(side[1]!) !== o.database) continue;
      if (!names.has(`${side[1]}.dump`) && old(f)) out.push({ file: f.name, action: 'delete', reasons: [`${side[2]} without its dump: a backup stopped before its commit (${ageH(f)})`] });
      continue;
    }
    const dump = DUMP_RE.exec(f.name);
    if (dump) {
      const db = databaseOfName(dump[1]!);
      if (db === null || (o.database !== undefined && db !== o.database)) continue;
      if (names.has(`${dump[1]}.manifest.json`) || !names.has(`${dump[1]}.sha256`) || !old(f)) continue;
      const newest = o.newestVerified.get(db);
      const at = /-(\d{8}T\d{6}Z)$/.exec(dump[1]!)?.[1];
      if (newest && at && newest.toISOString().replace(/[-:]|\.\d{3}/g, '') > at) {
        out.push({ file: f.name, action: 'delete', reasons: ['dump and checksum without a manifest: left by an interrupted backup; a newer verified backup exists'] });
        out.push({ file: `${dump[1]}.sha256`, action: 'delete', reasons: ['checksum of that interrupted backup'] });
      }
    }
  }
  return out;
}
