/** CLI wiring for point-in-time recovery: `backup base`, `backup wal`, and `restore --to-time/--to-latest`. */
import path from 'node:path';
import type { Command } from 'commander';
import { action, type CommandContext, type RunEnvironment } from '../context.ts';
import { openDb, withDbFlags } from './db-flags.ts';
import { confirm } from '../prompt.ts';
import { withSignals } from '../signals.ts';
import { formatBytes } from '../../util/size.ts';
import { loadSettings, type DbFlags } from '../../ops/backup/context.ts';
import { listBaseBackups } from '../../ops/backup/pitr/base-backup.ts';
import type { PitrLayout } from '../../ops/backup/pitr/layout.ts';
import type { RestoreTarget } from '../../ops/backup/pitr/plan.ts';
import { restorePitrLocal } from '../../ops/backup/pitr/restore-local.ts';
import { restorePitrStack } from '../../ops/backup/pitr/restore-stack.ts';
import { openStack } from '../../ops/stack.ts';
import { formatProblem } from '../../config/load.ts';
import { baseBackupNow, pitrStatus, prunePitr, replicationFor } from '../../ops/backup/pitr/service.ts';
import { pitrSettings } from '../../ops/backup/pitr/settings.ts';
import { parseTargetTime } from '../../ops/backup/pitr/target-time.ts';
import { UsageError, UserError } from '../../util/errors.ts';
import { loadIdentities } from '../../ops/backup/encryption.ts';

export interface PitrRestoreFlags extends DbFlags {
  toTime?: string;
  toLatest?: boolean;
  checkSql?: string;
  pgdata?: string;
  verifyOnly?: boolean;
  targetDb?: string;
  identity?: string;
  timeline?: string;
}

/** `--timeline N`: a positive integer (the hex of a history file's name is accepted too: 0000000A). */
export function timelineOf(flags: PitrRestoreFlags): number | undefined {
  if (flags.timeline === undefined) return undefined;
  const t = flags.timeline.trim();
  const n = /^\d+$/.test(t) ? Number(t) : /^[0-9A-Fa-f]{8}$/.test(t) ? parseInt(t, 16) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--timeline ${flags.timeline}: not a timeline number (1, 2, 3…; \`modelship backup wal\` and the archive's NNNNNNNN.history files show them)`);
  return n;
}

export function restoreTargetOf(flags: PitrRestoreFlags): RestoreTarget | null {
  if (flags.toTime !== undefined && flags.toLatest) throw new UsageError('pass --to-time or --to-latest, not both');
  if (flags.toLatest) return { kind: 'latest' };
  if (flags.toTime === undefined) return null;
  const t = parseTargetTime(flags.toTime);
  if (!t.ok) throw new UsageError(`--to-time ${t.error}`);
  return { kind: 'time', date: t.date, postgres: t.postgres };
}

/** `layout`: where the base backups and WAL are (a staging copy fetched from the remote); default the backup directory's. */
export async function pitrRestore(ctx: CommandContext, target: RestoreTarget, flags: PitrRestoreFlags, layout?: PitrLayout): Promise<void> {
  if (flags.targetDb) throw new UsageError('--target-db restores one database from a dump; a point-in-time restore recovers the whole cluster');
  const identities = await loadIdentities(flags.identity, ctx.env);
  const timeline = timelineOf(flags);
  if (!flags.direct) {
    await pitrRestoreStack(ctx, target, flags, { identities, timeline, layout });
    return;
  }
  const { settings, target: db } = await openDb(ctx, flags);
  await db.close();
  const p = pitrSettings(settings, ctx.env);
  if (!flags.pgdata) throw new UsageError('--direct point-in-time restores need --pgdata DIR: the data directory to rebuild (kept aside, not deleted)');
  const r = await withSignals(() =>
    restorePitrLocal({
      layout: layout ?? p.layout,
      target,
      pgdata: path.resolve(ctx.cwd, flags.pgdata!),
      database: settings.database,
      user: settings.user,
      checkSql: flags.checkSql,
      verifyOnly: flags.verifyOnly === true,
      env: ctx.env,
      log: (l) => ctx.out.info(l),
      confirm: (q) => confirm(ctx, q),
      identities,
      timeline,
    }),
  );
  if (ctx.out.json) {
    ctx.out.data(r);
    return;
  }
  const to = r.recoveredTo ? `recovered to ${r.recoveredTo}` : 'recovered to the end of the base backup';
  if (r.verifyOnly) ctx.out.out(`restore rehearsal passed: base ${r.base} + WAL, ${to}, ${r.tables} tables, ${(r.durationMs / 1000).toFixed(1)}s (nothing swapped)`);
  else {
    ctx.out.out(`restored ${r.pgdata} from base ${r.base} + WAL, ${to}${r.previous ? `; the previous directory is kept as ${r.previous}` : ''}`);
    ctx.out.info('start the server now, then take a base backup (`modelship backup base`): the restored server runs on a new timeline');
  }
}

/** The stack's postgres: rebuilt beside the live data in its volume, proven, then swapped in. */
async function pitrRestoreStack(ctx: CommandContext, target: RestoreTarget, flags: PitrRestoreFlags, read: { identities: readonly string[]; timeline: number | undefined; layout: PitrLayout | undefined }): Promise<void> {
  const { identities, timeline, layout } = read;
  if (flags.pgdata) throw new UsageError('--pgdata applies with --direct (a data directory on this host); without it the stack\'s postgres volume is restored');
  if (flags.databaseUrl) throw new UsageError('--database-url only applies with --direct', 'add --direct');
  const settings = await loadSettings(ctx.global.config, ctx.global.envFile, flags, ctx.env, ctx.cwd);
  if (!settings.loaded) throw new UserError(`no config at ${ctx.global.config}: a restore of the stack needs it`, { hint: 'run in the stack directory, or pass --config', exitCode: 2 });
  for (const w of settings.loaded.warnings) ctx.out.warn(formatProblem(w, false));
  const p = pitrSettings(settings, ctx.env);
  const h = openStack(settings.loaded, ctx.env);
  const r = await withSignals(() =>
    restorePitrStack({
      h,
      // --from-remote: the staging copy fetched from the remote (the local backup directory may be gone).
      layout: layout ?? p.layout,
      target,
      database: settings.database,
      user: settings.user,
      checkSql: flags.checkSql,
      verifyOnly: flags.verifyOnly === true,
      log: (l) => ctx.out.info(l),
      confirm: (q) => confirm(ctx, q),
      identities,
      timeline,
    }),
  );
  for (const w of r.warnings) ctx.out.warn(w);
  if (ctx.out.json) {
    ctx.out.data(r);
    return;
  }
  const to = r.recoveredTo ? `recovered to ${r.recoveredTo}` : 'recovered to the end of the base backup';
  if (r.verifyOnly) {
    ctx.out.out(`restore rehearsal passed: base ${r.base} + WAL, ${to}, ${r.tables} tables, ${(r.durationMs / 1000).toFixed(1)}s (nothing swapped)`);
    return;
  }
  ctx.out.out(`restored the stack's postgres from base ${r.base} + WAL, ${to}, ${r.tables} tables; postgres was stopped ${(r.downtimeMs / 1000).toFixed(1)}s for the swap`);
  if (r.previous) ctx.out.info(`the replaced data directory is kept in volume ${r.volume} as ${r.previous} (delete it when satisfied: docker run --rm -v ${r.volume}:/v ${settings.loaded.config.images.postgres} rm -rf /v/${r.previous})`);
  ctx.out.info('the server runs on a new timeline; db-backup was restarted to stream it. Take a base backup soon (`modelship backup base`).');
}

export function registerPitr(backup: Command, runEnv: RunEnvironment): void {
  const base = withDbFlags(backup.command('base'));
  base
    .description('take a verified base backup for point-in-time recovery now (pg_basebackup + pg_verifybackup)')
    .option('--no-prune', 'keep every old base backup and WAL segment this time')
    .action(
      action(runEnv, async (ctx, own: DbFlags & { prune: boolean }) => {
        const opts = { ...own, ...(base.optsWithGlobals() as DbFlags & { prune: boolean }) };
        const { settings, target } = await openDb(ctx, opts);
        try {
          const p = pitrSettings(settings, ctx.env);
          const conn = replicationFor(settings, p, opts, ctx.env, 'modelship_base_backup');
          const r = await withSignals((signal) => baseBackupNow(target, conn, p, { log: (l) => ctx.out.info(l), signal, prune: opts.prune }));
          if (ctx.out.json) ctx.out.data({ ok: true, base: r.record, pruned: r.pruned });
          else ctx.out.out(path.join(p.layout.base, r.record.name));
        } finally {
          await target.close();
        }
      }),
    );

  const wal = withDbFlags(backup.command('wal'));
  wal
    .description('point-in-time recovery state: base backups, the WAL archive, the slot and its lag, the last rehearsal')
    .option('--prune-now', 'apply retention to base backups and WAL now', false)
    .option('--dry-run', 'with --prune-now: delete nothing, print the plan', false)
    .action(
      action(runEnv, async (ctx, own: DbFlags & { pruneNow: boolean; dryRun: boolean }) => {
        const opts = { ...own, ...(wal.optsWithGlobals() as DbFlags & { pruneNow: boolean; dryRun: boolean }) };
        const settings = await loadSettings(ctx.global.config, ctx.global.envFile, opts, ctx.env, ctx.cwd);
        const p = pitrSettings(settings, ctx.env);
        if (opts.pruneNow) {
          const plan = await prunePitr(p, { dryRun: opts.dryRun, log: (l) => ctx.out.info(l) });
          if (ctx.out.json) ctx.out.data({ ok: true, dryRun: opts.dryRun, plan });
          else {
            for (const b of plan.bases) ctx.out.out(`${b.action === 'keep' ? 'keep  ' : opts.dryRun ? 'would delete' : 'delete'}  base ${b.name}  (${b.reason})`);
            ctx.out.out(`${opts.dryRun ? 'would delete' : 'deleted'} ${plan.wal.delete.length} WAL segment(s)${plan.wal.keepFrom ? ` older than base ${plan.wal.keepFrom}` : ''}`);
          }
          return;
        }
        let session = null;
        if (opts.direct || !settings.loaded) {
          const { target } = await openDb(ctx, opts).catch(() => ({ target: null }));
          session = target ? await target.connect({ appName: 'modelship wal status' }).catch(() => null) : null;
        }
        try {
          const st = await pitrStatus(p, session);
          const bases = await listBaseBackups(p.layout);
          if (ctx.out.json) {
            ctx.out.data({ ok: true, ...st, bases: bases.map((b) => ({ name: b.name, verified: b.record?.verified ?? false, finishedAt: b.record?.finishedAt ?? null, sizeBytes: b.record?.sizeBytes ?? null, problem: b.problem ?? null })) });
            return;
          }
          ctx.out.out(`point-in-time recovery: ${st.enabled ? 'enabled' : 'disabled (backups.pitr.enabled)'}`);
          for (const b of bases) ctx.out.out(`  base ${b.name}  ${b.record ? `${formatBytes(b.record.sizeBytes)}  finished ${b.record.finishedAt}  ${b.record.verified ? 'verified' : 'NOT VERIFIED'}` : `UNUSABLE (${b.problem})`}`);
          ctx.out.out(`  WAL archive: ${st.archive.segments} segment(s), ${formatBytes(st.archive.bytes)}, newest ${st.archive.newest ?? '-'} (${st.archive.newestAt ?? '-'})`);
          if (st.lag) ctx.out.out(`  receiver: ${st.lag.connected ? `streaming, ${st.lag.bytes ?? '?'} bytes / ${st.lag.seconds?.toFixed(3) ?? '?'} s behind` : 'NOT CONNECTED'}`);
          if (st.slot) ctx.out.out(`  slot: ${st.slot.exists ? `${st.slot.active ? 'active' : 'inactive'}, wal_status ${st.slot.walStatus ?? '-'}, retains ${formatBytes(st.slot.retainedBytes ?? 0)}` : 'missing'}`);
          ctx.out.out(`  last rehearsal: ${st.rehearsal ? `${st.rehearsal.at} ${st.rehearsal.ok ? 'passed' : `FAILED (${st.rehearsal.error ?? ''})`}` : 'never'}`);
        } finally {
          await session?.end();
        }
      }),
    );
}
