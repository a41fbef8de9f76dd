/**
 * Which base backups and WAL segments to keep. Pure.
 *
 * - The newest `keep` verified base backups are kept; the newest verified one always. So are the
 *   newest `keep` verified ones on the live timeline's lineage (after a restore the newest ones may
 *   be of a timeline it abandoned, and the live timeline must keep its own).
 * - A base backup a restore is reading (pinned, see pins.ts) is kept with the WAL it needs.
 * - Unverified base backups and ones without a readable record are never deleted (a human looks).
 * - A WAL segment is deleted only when it is older than the start of every kept base backup (on
 *   any timeline): no kept base backup can need it. Timeline history files are never deleted.
 * - Without any kept base backup no WAL is deleted.
 */
import { parseLsn, parseSegmentName, segNoOf } from './wal.ts';

export interface BaseItem {
  name: string;
  finishedAt: Date | null;
  verified: boolean;
  /** Start LSN and segment size, when the record is readable. */
  startLsn: string | null;
  walSegmentSize: number;
  /** Replay from it reaches the latest timeline (baseOnLineage); absent: unknown, taken as yes. */
  onLineage?: boolean;
  /** A restore is reading it (a live pin). */
  pinned?: boolean;
}

export interface PitrRetentionPlan {
  bases: Array<{ name: string; action: 'keep' | 'delete'; reason: string }>;
  wal: { delete: string[]; keepFrom: string | null };
}

export function planPitrRetention(bases: readonly BaseItem[], walFiles: readonly string[], keep: number): PitrRetentionPlan {
  const n = Math.max(1, keep);
  const verified = bases
    .filter((b) => b.verified && b.finishedAt && b.startLsn)
    .sort((a, b) => b.finishedAt!.getTime() - a.finishedAt!.getTime() || (a.name < b.name ? 1 : -1));
  const keepSet = new Set(verified.slice(0, n).map((b) => b.name));
  const lineageKeep = new Set(verified.filter((b) => b.onLineage !== false).slice(0, n).map((b) => b.name));
  for (const name of lineageKeep) keepSet.add(name);
  const plan: PitrRetentionPlan = { bases: [], wal: { delete: [], keepFrom: null } };
  const kept: BaseItem[] = [];
  for (const b of [...bases].sort((a, c) => (a.name < c.name ? 1 : -1))) {
    if (!b.startLsn || !b.finishedAt) {
      plan.bases.push({ name: b.name, action: 'keep', reason: 'no readable base.json: never deleted automatically' });
      continue;
    }
    if (!b.verified) {
      plan.bases.push({ name: b.name, action: 'keep', reason: 'not verified: kept for inspection, counts toward nothing' });
      kept.push(b);
      continue;
    }
    if (keepSet.has(b.name)) {
      plan.bases.push({ name: b.name, action: 'keep', reason: b.name === verified[0]!.name ? 'newest verified' : verified.slice(0, n).some((v) => v.name === b.name) ? `one of the ${n} newest verified` : `one of the ${n} newest verified on the live timeline's lineage` });
      kept.push(b);
    } else if (b.pinned) {
      plan.bases.push({ name: b.name, action: 'keep', reason: 'a restore is reading it (pinned)' });
      kept.push(b);
    } else plan.bases.push({ name: b.name, action: 'delete', reason: `older than the ${n} newest verified base backups` });
  }
  if (kept.length === 0) return plan;
  let minSeg: bigint | null = null;
  let segSize = kept[0]!.walSegmentSize;
  for (const b of kept) {
    const s = segNoOf(parseLsn(b.startLsn!), b.walSegmentSize);
    if (minSeg === null || s < minSeg) {
      minSeg = s;
      segSize = b.walSegmentSize;
    }
  }
  for (const f of walFiles) {
    const s = parseSegmentName(f, segSize);
    if (s && s.segNo < minSeg!) plan.wal.delete.push(f);
  }
  plan.wal.delete.sort();
  const oldestKept = kept.find((b) => segNoOf(parseLsn(b.startLsn!), b.walSegmentSize) === minSeg);
  plan.wal.keepFrom = oldestKept ? oldestKept.name : null;
  return plan;
}
