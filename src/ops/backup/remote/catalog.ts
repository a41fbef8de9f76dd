/**
 * What goes off-site and under which key, the record stored beside each copy, and the retry delay.
 * Pure.
 *
 *   dumps/<file>.dump[.age]             a verified pg_dump backup
 *   pitr/base/<name>.tar[.age]          a verified base backup (its directory, tarred)
 *   pitr/wal/<segment>[.age]            a complete WAL segment or timeline history file
 *   pitr/wal/<segment>.partial[.age]    the segment pg_receivewal is filling, re-copied when it
 *                                       grows (removed once the complete segment is off-site)
 *   <any of the above, no .age>.meta.json  the record: sizes and sha256 of the stored and of the
 *                                       plain bytes, and the backup's manifest / base.json. Written
 *                                       last, after the upload was read back: its presence is the
 *                                       commit point of a copy.
 */
import { z } from 'zod';
import { ManifestSchema } from '../manifest.ts';
import { BaseRecordSchema } from '../pitr/base-record.ts';

export type RemoteKind = 'dump' | 'base' | 'wal';
export const META_EXT = '.meta.json';
export const REMOTE_FORMAT = 'modelship-remote/1';

export function relForDump(file: string): string {
  return `dumps/${file}`;
}
export function relForBase(name: string): string {
  return `pitr/base/${name}.tar`;
}
export function relForWal(file: string): string {
  return `pitr/wal/${file}`;
}

export function kindOfRel(rel: string): RemoteKind | null {
  if (/^dumps\/[^/]+$/.test(rel)) return 'dump';
  if (/^pitr\/base\/\d{8}T\d{6}Z\.tar$/.test(rel)) return 'base';
  if (/^pitr\/wal\/([0-9A-F]{24}(\.partial)?|[0-9A-F]{8}\.history)$/.test(rel)) return 'wal';
  return null;
}

/** The object key a copy is stored under (`.age` when encrypted). */
export function isPartialRel(rel: string): boolean {
  return rel.endsWith('.partial');
}

export function storedKey(rel: string, encrypted: boolean): string {
  return encrypted ? `${rel}.age` : rel;
}

export function metaKey(rel: string): string {
  return `${rel}${META_EXT}`;
}

export const RemoteMetaSchema = z.object({
  format: z.literal(REMOTE_FORMAT),
  rel: z.string().min(1),
  kind: z.enum(['dump', 'base', 'wal']),
  key: z.string().min(1),
  encrypted: z.boolean(),
  recipients: z.array(z.string()).optional(),
  /** What the remote holds: the encrypted bytes when encrypted. */
  size: z.int().nonnegative(),
  sha256: z.string().regex(/^[a-f0-9]{64}$/),
  /** Absent for a WAL segment sealed in the backup directory before it was copied (age authenticates it). */
  plainSize: z.int().nonnegative().optional(),
  plainSha256: z.string().regex(/^[a-f0-9]{64}$/).optional(),
  uploadedAt: z.iso.datetime(),
  manifest: ManifestSchema.optional(),
  base: BaseRecordSchema.optional(),
});

export type RemoteMeta = z.infer<typeof RemoteMetaSchema>;

export function parseRemoteMeta(text: string): { ok: true; meta: RemoteMeta } | { ok: false; error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `not JSON: ${(err as Error).message}` };
  }
  const r = RemoteMetaSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    return { ok: false, error: `invalid record: ${i ? `${i.path.join('.') || '(root)'}: ${i.message}` : 'unknown'}` };
  }
  return { ok: true, meta: r.data };
}

/** Seconds before attempt `attempts + 1`: doubling from the interval, at most 5 minutes. */
export function retryDelaySeconds(attempts: number, intervalSeconds: number): number {
  return Math.min(300, intervalSeconds * 2 ** Math.max(0, attempts - 1));
}

/** The queue entry's file name: ordered by time, then by key. */
export function queueFileName(enqueuedAtMs: number, rel: string): string {
  return `${String(enqueuedAtMs).padStart(14, '0')}-${rel.replace(/\//g, '__')}.json`;
}

/** Seconds the oldest pending copy has waited (0 when nothing is pending). */
export function remoteLagSeconds(enqueuedAt: readonly string[], nowMs: number): number {
  if (enqueuedAt.length === 0) return 0;
  const oldest = Math.min(...enqueuedAt.map((t) => Date.parse(t)));
  return Math.max(0, (nowMs - oldest) / 1000);
}
