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
