/**
 * The PITR operations the CLI and the scheduler call: open the replication side from the settings,
 * take a base backup, apply retention, report the archive's state.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../../../util/errors.ts';
import { resolveDatabaseUrl, type DbFlags, type OpsSettings } from '../context.ts';
import type { DbTarget, SqlSession } from '../../../postgres/session.ts';
import { listBaseBackups, takeBaseBackup, type Log } from './base-backup.ts';
import type { BaseRecord } from './base-record.ts';
import { readRehearsal, type Rehearsal } from './rehearsal.ts';
import { livePins, readPins } from './pins.ts';
import { planPitrRetention, type PitrRetentionPlan } from './retention.ts';
import { baseOnLineage } from './plan.ts';
import { latestLineage } from './restore-local.ts';
import { receiverLag, slotState, type ReceiverLag, type SlotState } from './role.ts';
import { requirePassword, type PitrSettings } from './settings.ts';
import { replicationConn, type ReplicationConn } from './tools.ts';
import { isHistoryFile, parseSegmentName } from './wal.ts';
import type { PitrFacts } from '../../status-model.ts';

export const RECEIVER_APP = 'modelship_pitr';

export function replicationFor(s: OpsSettings, p: PitrSettings, flags: DbFlags, env: NodeJS.ProcessEnv, appName = RECEIVER_APP): ReplicationConn {
  if (!flags.direct) {
    throw new UserError('WAL streaming and base backups connect to PostgreSQL directly', {
      hint: `run them where the server is reachable: in the stack they run in the db-backup service (docker exec ${s.project}-db-backup modelship backup base --direct --dir /var/backups/modelship), or pass --direct --database-url`,
      exitCode: 2,
    });
  }
  const url = resolveDatabaseUrl(flags, env, s.loaded);
  if (!url) throw new UserError('--direct needs a database URL', { hint: 'pass --database-url or set DATABASE_URL', exitCode: 2 });
  return replicationConn(url, p.replicationUser, requirePassword(p), env, appName);
}

export async function baseBackupNow(target: DbTarget, conn: ReplicationConn, p: PitrSettings, o: { log?: Log; signal?: AbortSignal; prune?: boolean }): Promise<{ record: BaseRecord; pruned: PitrRetentionPlan | null }> {
  const session = await target.connect({ appName: 'modelship base backup' });
  try {
    const record = await takeBaseBackup({ layout: p.layout, conn, session, recipients: p.recipients, ...(o.log ? { log: o.log } : {}), ...(o.signal ? { signal: o.signal } : {}) });
    const pruned = o.prune === false ? null : await prunePitr(p, { dryRun: false, ...(o.log ? { log: o.log } : {}) });
    return { record, pruned };
  } finally {
    await session.end();
  }
}

export async function prunePitr(p: PitrSettings, o: { dryRun: boolean; log?: Log }): Promise<PitrRetentionPlan> {
  const bases = await listBaseBackups(p.layout);
  const wal = await readdir(p.layout.wal).catch(() => [] as string[]);
  const lineage = await latestLineage(p.layout.wal);
  const pinned = livePins(await readPins(p.layout), new Date());
  const plan = planPitrRetention(
    bases.map((b) => ({
      name: b.name,
      finishedAt: b.record ? new Date(b.record.finishedAt) : null,
      verified: b.record?.verified === true,
      startLsn: b.record?.startLsn ?? null,
      walSegmentSize: b.record?.walSegmentSize ?? 16 * 1024 * 1024,
      onLineage: b.record ? baseOnLineage(b.record, lineage) : true,
      pinned: pinned.has(b.name),
    })),
    wal,
    p.keepBaseBackups,
  );
  if (!o.dryRun) {
    for (const b of plan.bases) {
      if (b.action !== 'delete') continue;
      await rm(path.join(p.layout.base, b.name), { recursive: true, force: true });
      o.log?.(`pruned base backup ${b.name} (${b.reason})`);
    }
    for (const f of plan.wal.delete) await rm(path.join(p.layout.wal, f), { force: true });
    if (plan.wal.delete.length) o.log?.(`pruned ${plan.wal.delete.length} WAL segment(s) older than base backup ${plan.wal.keepFrom}`);
  }
  return plan;
}

export interface ArchiveFacts {
  segments: number;
  bytes: number;
  newest: string | null;
  /** mtime of the newest segment (the partial one while streaming). */
  newestAt: string | null;
}

export async function archiveFacts(walDir: string): Promise<ArchiveFacts> {
  let segments = 0;
  let bytes = 0;
  let newest: string | null = null;
  let newestAt = 0;
  for (const f of await readdir(walDir).catch(() => [] as string[])) {
    if (!parseSegmentName(f) && !isHistoryFile(f)) continue;
    const st = await stat(path.join(walDir, f)).catch(() => null);
    if (!st) continue;
    if (parseSegmentName(f)) segments++;
    bytes += st.size;
    if (parseSegmentName(f) && (newest === null || f.replace('.partial', '') > newest.replace('.partial', ''))) newest = f;
    if (st.mtimeMs > newestAt) newestAt = st.mtimeMs;
  }
  return { segments, bytes, newest, newestAt: newestAt ? new Date(newestAt).toISOString() : null };
}

export interface PitrStatus {
  enabled: boolean;
  lastBase: { name: string; finishedAt: string; verified: boolean; sizeBytes: number } | null;
  baseBackups: number;
  archive: ArchiveFacts;
  slot: SlotState | null;
  lag: ReceiverLag | null;
  rehearsal: Rehearsal | null;
}

/** Everything `status` shows about PITR; the server side only when a session is given. */
export async function pitrStatus(p: Pick<PitrSettings, 'enabled' | 'slot' | 'layout'>, session: SqlSession | null): Promise<PitrStatus> {
  const bases = await listBaseBackups(p.layout);
  const newest = bases.find((b) => b.record?.verified);
  return {
    enabled: p.enabled,
    lastBase: newest?.record ? { name: newest.name, finishedAt: newest.record.finishedAt, verified: true, sizeBytes: newest.record.sizeBytes } : null,
    baseBackups: bases.length,
    archive: await archiveFacts(p.layout.wal),
    slot: session ? await slotState(session, p.slot) : null,
    lag: session ? await receiverLag(session, RECEIVER_APP) : null,
    rehearsal: await readRehearsal(p.layout.rehearsal),
  };
}

/** What `status` shows of PITR, from pitrStatus. Pure. The remote part is filled by the off-site copier when configured. */
export function pitrFactsOf(st: PitrStatus, sessionRead: boolean): PitrFacts {
  return {
    lastBase: st.lastBase,
    archive: !sessionRead ? null : st.lag ? { connected: st.lag.connected, lagSeconds: st.lag.seconds, lagBytes: st.lag.connected ? st.lag.bytes : (st.slot?.retainedBytes ?? null) } : null,
    lastRehearsal: st.rehearsal ? { at: st.rehearsal.at, ok: st.rehearsal.ok, ...(st.rehearsal.error ? { error: st.rehearsal.error } : {}) } : null,
    remote: null,
  };
}
