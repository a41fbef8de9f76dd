/**
 * Point-in-time recovery inside `modelship schedule` (the db-backup service): make sure the
 * replication role exists with the `.env` password, keep pg_receivewal streaming, take a base backup
 * on backups.pitr.baseSchedule (and at once when there is no verified one), export the gauges.
 */
import type { Registry } from 'prom-client';
import { errorMessage } from '../../../util/errors.ts';
import type { DbFlags, OpsSettings } from '../context.ts';
import type { Job } from '../schedule.ts';
import type { DbTarget, SqlSession } from '../../../postgres/session.ts';
import { listBaseBackups } from './base-backup.ts';
import { registerPitrMetrics } from './metrics.ts';
import { WalReceiver } from './receiver.ts';
import { startWalSealer } from './wal-seal.ts';
import { ensureReplicationRole } from './role.ts';
import { baseBackupNow, RECEIVER_APP, replicationFor } from './service.ts';
import { pitrSettings, requirePassword } from './settings.ts';
import { toolVersion } from './tools.ts';
import { checkToolVersion } from './versions.ts';
import { serverFacts } from './base-backup.ts';
import { UserError } from '../../../util/errors.ts';

export interface ScheduledPitr {
  jobs: Job[];
  runOnStart: string[];
  extendMetrics: (registry: Registry) => void;
  stop: () => Promise<void>;
}

export async function startScheduledPitr(
  settings: OpsSettings,
  flags: DbFlags,
  env: NodeJS.ProcessEnv,
  target: DbTarget,
  log: (entry: Record<string, unknown>) => void,
  baseCron?: string,
): Promise<ScheduledPitr | null> {
  const p = pitrSettings(settings, env);
  if (!p.enabled) return null;
  const conn = replicationFor(settings, p, flags, env, RECEIVER_APP);
  const baseConn = replicationFor(settings, p, flags, env, 'modelship_base_backup');
  const s = await target.connect({ appName: 'modelship schedule pitr' });
  let timeline = 1;
  try {
    const facts = await serverFacts(s);
    for (const tool of ['pg_receivewal', 'pg_basebackup']) {
      const vc = checkToolVersion(tool, await toolVersion(tool, env), facts.versionNum, 'the db-backup image');
      if (!vc.ok) throw new UserError(vc.error, { hint: vc.hint });
    }
    const how = await ensureReplicationRole(s, p.replicationUser, requirePassword(p));
    log({ level: 'info', event: 'replication role ready', role: p.replicationUser, action: how });
    const tl = await s.query<{ t: number }>('select timeline_id::int as t from pg_control_checkpoint()');
    timeline = Number(tl[0]?.t ?? 1);
  } finally {
    await s.end();
  }
  const receiver = new WalReceiver({ conn, slot: p.slot, walDir: p.layout.wal, log });
  receiver.start();
  const sealer = p.recipients.length > 0 ? startWalSealer(p.layout.wal, p.recipients, log) : null;
  let metricsSession: SqlSession | null = null;
  const session = async (): Promise<SqlSession | null> => {
    if (metricsSession) return metricsSession;
    metricsSession = await target.connect({ appName: 'modelship pitr metrics' }).catch((err: unknown) => {
      log({ level: 'warn', event: 'pitr metrics: no database session', error: errorMessage(err) });
      return null;
    });
    return metricsSession;
  };
  // No verified base backup yet, or none on the server's timeline (it was restored): take one now.
  const haveBase = (await listBaseBackups(p.layout)).some((b) => b.record?.verified && b.record.timeline >= timeline);
  return {
    jobs: [
      {
        name: 'base',
        cron: baseCron ?? p.baseSchedule,
        run: async () => {
          const r = await baseBackupNow(target, baseConn, p, {});
          return { base: r.record.name, sizeBytes: r.record.sizeBytes, startLsn: r.record.startLsn, prunedBases: r.pruned?.bases.filter((b) => b.action === 'delete').map((b) => b.name) ?? [], prunedWal: r.pruned?.wal.delete.length ?? 0 };
        },
      },
    ],
    runOnStart: haveBase ? [] : ['base'],
    extendMetrics: (registry) =>
      registerPitrMetrics(registry, p, receiver, async () => {
        const s2 = await session();
        if (!s2) return null;
        // A dead session (server restarted) is replaced on the next scrape.
        return s2.query('select 1').then(
          () => s2,
          async () => {
            metricsSession = null;
            await s2.end().catch(() => undefined);
            return session();
          },
        );
      }),
    stop: async () => {
      await receiver.stop();
      await sealer?.stop();
      await metricsSession?.end().catch(() => undefined);
    },
  };
}
