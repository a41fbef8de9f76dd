/**
 * What modelship records beside each base backup (`base.json`), and the two files pg_basebackup
 * writes that it is built from: `backup_label` (start LSN, timeline) and `backup_manifest` (the WAL
 * range the backup needs). Pure.
 */
import { z } from 'zod';
import { parseLsn } from './wal.ts';

export const BASE_FORMAT = 'modelship-pitr-base/1';

const Lsn = z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/);

export const BaseRecordSchema = z.object({
  format: z.literal(BASE_FORMAT),
  name: z.string().min(1),
  startedAt: z.iso.datetime(),
  /** When pg_basebackup returned: the backup is consistent from here on (a safe lower bound for --to-time). */
  finishedAt: z.iso.datetime(),
  timeline: z.int().positive(),
  startLsn: Lsn,
  endLsn: Lsn,
  startWalFile: z.string().regex(/^[0-9A-F]{24}$/),
  walSegmentSize: z.int().positive(),
  serverVersion: z.string(),
  serverVersionNum: z.int().positive(),
  toolVersion: z.string(),
  sizeBytes: z.int().nonnegative(),
  durationMs: z.number().nonnegative(),
  /** Of which pg_verifybackup (absent in records written before it was kept). */
  verifyMs: z.number().nonnegative().optional(),
  manifestSha256: z.string().regex(/^[a-f0-9]{64}$/),
  verified: z.boolean(),
  verifiedAt: z.iso.datetime().optional(),
  /** pg_verifybackup also parsed the WAL (needs pg_waldump next to it). */
  walParsed: z.boolean(),
  verifyError: z.string().optional(),
  /**
   * Sealed with age after verification: `data/` was replaced by ENCRYPTED_BASE_FILE, a tar of the
   * base backup directory as verified (this record without this field, and `data/`).
   */
  encryption: z
    .object({
      file: z.string().min(1),
      recipients: z.array(z.string()).min(1),
      size: z.int().nonnegative(),
      sha256: z.string().regex(/^[a-f0-9]{64}$/),
      plainSize: z.int().nonnegative(),
      plainSha256: z.string().regex(/^[a-f0-9]{64}$/),
    })
    .optional(),
});

/** The sealed base backup's one file, beside base.json. */
export const ENCRYPTED_BASE_FILE = 'base.tar.age';

export type BaseRecord = z.infer<typeof BaseRecordSchema>;

export function parseBaseRecord(text: string): { ok: true; record: BaseRecord } | { ok: false; error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `base.json is not JSON: ${(err as Error).message}` };
  }
  const r = BaseRecordSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    return { ok: false, error: `invalid base.json: ${i ? `${i.path.join('.') || '(root)'}: ${i.message}` : 'unknown'}` };
  }
  return { ok: true, record: r.data };
}

export interface BackupLabel {
  startLsn: string;
  startWalFile: string;
  timeline: number;
}

/** `START WAL LOCATION: 0/2000028 (file 000000010000000000000002)` … `START TIMELINE: 1`. */
export function parseBackupLabel(text: string): BackupLabel {
  const loc = /^START WAL LOCATION: ([0-9A-F]+\/[0-9A-F]+) \(file ([0-9A-F]{24})\)$/m.exec(text);
  const tli = /^START TIMELINE: (\d+)$/m.exec(text);
  if (!loc) throw new Error('backup_label has no START WAL LOCATION line');
  return { startLsn: loc[1]!, startWalFile: loc[2]!, timeline: tli ? Number(tli[1]) : parseInt(loc[2]!.slice(0, 8), 16) };
}

export interface ManifestWalRange {
  timeline: number;
  startLsn: string;
  endLsn: string;
}

/** The `WAL-Ranges` of a backup_manifest (JSON, PostgreSQL 13+). */
export function manifestWalRanges(manifestText: string): ManifestWalRange[] {
  const m = JSON.parse(manifestText) as { 'WAL-Ranges'?: Array<{ Timeline: number; 'Start-LSN': string; 'End-LSN': string }> };
  const ranges = m['WAL-Ranges'];
  if (!Array.isArray(ranges) || ranges.length === 0) throw new Error('backup_manifest has no WAL-Ranges');
  return ranges.map((r) => {
    parseLsn(r['Start-LSN']);
    parseLsn(r['End-LSN']);
    return { timeline: r.Timeline, startLsn: r['Start-LSN'], endLsn: r['End-LSN'] };
  });
}
