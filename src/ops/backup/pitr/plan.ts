/**
 * Planning a point-in-time restore: which base backup, which WAL, which recovery settings. Pure.
 */
import type { BaseRecord } from './base-record.ts';
import { parseLsn, segNoOf, walCoverage, type Coverage, type TimelineSwitch } from './wal.ts';

export type RestoreTarget = { kind: 'latest' } | { kind: 'time'; date: Date; postgres: string };

export interface BaseCandidate {
  name: string;
  record: BaseRecord | null;
  /** Why it cannot be used, when record is null or unverified. */
  problem?: string;
}

export type BaseChoice = { ok: true; base: BaseRecord } | { ok: false; error: string; hint: string };

/**
 * The timeline replay ends on (recovery_target_timeline=latest: the newest one the archive has a
 * history file for) and its ancestry, parent timelines with the LSN where each was left.
 */
export interface Lineage {
  timeline: number;
  history: readonly TimelineSwitch[];
}

/**
 * Whether replay from `base` can reach `lineage`'s timeline: the base is on it, or on an ancestor
 * and was consistent (its end LSN) before that ancestor was left. A base backup of a timeline a
 * later restore abandoned (taken while the restore ran, say) cannot. Pure.
 */
export function baseOnLineage(base: Pick<BaseRecord, 'timeline' | 'endLsn'>, lineage: Lineage | null): boolean {
  if (!lineage || base.timeline === lineage.timeline) return true;
  const fork = lineage.history.find((h) => h.timeline === base.timeline);
  return fork !== undefined && parseLsn(base.endLsn) <= fork.switchLsn;
}

/** The newest verified base backup that was complete at the target time (any, for --to-latest) and leads to the latest timeline. */
export function chooseBase(candidates: readonly BaseCandidate[], target: RestoreTarget, lineage: Lineage | null = null): BaseChoice {
  const all = candidates
    .filter((c): c is BaseCandidate & { record: BaseRecord } => c.record !== null && c.record.verified)
    .map((c) => c.record)
    .sort((a, b) => Date.parse(b.finishedAt) - Date.parse(a.finishedAt));
  const verified = all.filter((r) => baseOnLineage(r, lineage));
  if (verified.length === 0) {
    const bad = candidates.filter((c) => c.problem).map((c) => `${c.name}: ${c.problem}`);
    const off = all.map((r) => `${r.name}: timeline ${r.timeline}, not an ancestor of the latest timeline ${lineage?.timeline}`);
    return {
      ok: false,
      error: `no verified base backup${[...bad, ...off].length ? ` (${[...bad, ...off].join('; ')})` : ''}`,
      hint: 'take one with `modelship backup base` (the db-backup service takes them on backups.pitr.baseSchedule, and on its start after a restore)',
    };
  }
  if (target.kind === 'latest') return { ok: true, base: verified[0]! };
  const fit = verified.find((r) => Date.parse(r.finishedAt) <= target.date.getTime());
  if (!fit) {
    const oldest = verified[verified.length - 1]!;
    return {
      ok: false,
      error: `no base backup was complete at ${target.postgres}: the oldest verified one finished at ${oldest.finishedAt}`,
      hint: 'pick a later --to-time, or restore an older pg_dump backup (`modelship backup list`)',
    };
  }
  return { ok: true, base: fit };
}

export interface WalPlan {
  coverage: Coverage;
  /** Plain-language problem that makes the restore impossible or incomplete. */
  error?: string;
  warning?: string;
}

/** Whether the archive holds every segment the base backup needs, and how far replay can go. */
export function planWal(base: BaseRecord, archiveFiles: readonly string[]): WalPlan {
  const startSeg = segNoOf(parseLsn(base.startLsn), base.walSegmentSize);
  const endSeg = segNoOf(parseLsn(base.endLsn), base.walSegmentSize);
  const coverage = walCoverage(archiveFiles, base.timeline, startSeg, base.walSegmentSize);
  const reached = coverage.files.length;
  const needed = Number(endSeg - startSeg) + 1;
  const out: WalPlan = { coverage };
  // The base backup carries its own WAL (pg_basebackup -X stream), so a short archive still
  // restores to the end of the backup; a hole after it ends replay early.
  if (reached < needed) out.warning = `the WAL archive does not reach the end of base backup ${base.name} (${coverage.last ?? 'no segment'} of ${coverage.first}…): replay uses the WAL inside the backup`;
  if (coverage.gap) out.warning = `the WAL archive has a hole at ${coverage.gap}: replay stops there, later changes cannot be recovered from this archive`;
  return out;
}

export interface RecoverySettingsInput {
  target: RestoreTarget;
  /** Shell command PostgreSQL runs to fetch a segment: %f = file name, %p = destination. */
  restoreCommand: string;
  /** Replay along this timeline (`--timeline N`, one a later restore abandoned, say); default the latest. */
  timeline?: number | undefined;
}

/** `-c key=value` settings for the scratch server that replays WAL (passed on its command line, never persisted). */
export function recoverySettings(i: RecoverySettingsInput): Record<string, string> {
  const s: Record<string, string> = {
    restore_command: i.restoreCommand,
    recovery_target_timeline: i.timeline === undefined ? 'latest' : String(i.timeline),
    recovery_target_action: 'promote',
  };
  if (i.target.kind === 'time') {
    s.recovery_target_time = i.target.postgres;
    s.recovery_target_inclusive = 'true';
  }
  return s;
}

/** The history file of timeline `n` (`00000002.history`). Pure. */
export function historyFileName(n: number): string {
  return `${n.toString(16).toUpperCase().padStart(8, '0')}.history`;
}

/** The restore_command for a directory of staged WAL files (%f = file name, %p = destination). */
export function archiveRestoreCommand(dir: string): string {
  const q = `'${dir.replace(/\/$/, '').replace(/'/g, `'\\''`)}'`;
  return `cp ${q}/%f "%p"`;
}
