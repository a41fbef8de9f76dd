/**
 * Retention on the remote, by the same rules as the backup directory (backups.retention for dumps,
 * backups.pitr.keepBaseBackups for base backups and the WAL they need), planned from the remote's
 * own records: never from what is missing locally, so a lost server cannot empty its remote.
 */
import path from 'node:path';
import { planPitrRetention, type PitrRetentionPlan } from '../pitr/retention.ts';
import { planRetention, type RetentionDecision, type RetentionPolicy } from '../retention.ts';
import { metaKey, type RemoteMeta } from './catalog.ts';
import { listRemote, readMeta } from './fetch.ts';
import type { RemoteStore } from './store.ts';

export interface RemotePrunePlan {
  dumps: RetentionDecision[];
  pitr: PitrRetentionPlan;
  /** Record keys (rel) to delete. */
  delete: string[];
}

export async function planRemotePrune(store: RemoteStore, policy: RetentionPolicy, keepBaseBackups: number): Promise<RemotePrunePlan> {
  const l = await listRemote(store);
  const byDb = new Map<string, RemoteMeta[]>();
  for (const d of l.dumps) if (d.manifest) byDb.set(d.manifest.database, [...(byDb.get(d.manifest.database) ?? []), d]);
  const dumps: RetentionDecision[] = [];
  for (const list of byDb.values()) {
    dumps.push(...planRetention(list.map((d) => ({ file: path.basename(d.rel), createdAt: new Date(d.manifest!.createdAt), manifestValid: true, verified: d.manifest!.verified, pinned: d.manifest!.tag === 'emergency' })), policy));
  }
  const pitr = planPitrRetention(
    l.bases.map((b) => ({ name: path.basename(b.rel, '.tar'), finishedAt: b.base ? new Date(b.base.finishedAt) : null, verified: b.base?.verified === true, startLsn: b.base?.startLsn ?? null, walSegmentSize: b.base?.walSegmentSize ?? 16 * 1024 * 1024 })),
    l.wal,
    keepBaseBackups,
  );
  const del = [
    ...dumps.filter((d) => d.action === 'delete').map((d) => `dumps/${d.file}`),
    ...pitr.bases.filter((b) => b.action === 'delete').map((b) => `pitr/base/${b.name}.tar`),
    ...pitr.wal.delete.map((f) => `pitr/wal/${f}`),
  ];
  return { dumps, pitr, delete: del };
}

/** Deletes what the plan says: each record first (the copy stops counting), then its bytes. */
export async function applyRemotePrune(store: RemoteStore, plan: RemotePrunePlan): Promise<number> {
  let n = 0;
  for (const rel of plan.delete) {
    const meta = await readMeta(store, rel).catch(() => null);
    await store.remove(metaKey(rel));
    if (meta) await store.remove(meta.key);
    n++;
  }
  return n;
}
