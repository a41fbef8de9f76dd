import type { Command } from 'commander';
import { encryptionRecipients } from '../../ops/backup/remote/settings.ts';
import { action, type RunEnvironment } from '../context.ts';
import { openDb, waitMs, withDbFlags } from './db-flags.ts';
import { withSignals } from '../signals.ts';
import { listBackups, takeBackup, verifyBackup } from '../../ops/backup/backup.ts';
import { restoreBackup } from '../../ops/backup/restore.ts';
import { runScheduler, type Job } from '../../ops/backup/schedule.ts';
import { vacuum } from '../../ops/db/maintenance.ts';
import { UsageError, UserError, errorMessage } from '../../util/errors.ts';
import { probeWritableDir } from '../../ops/backup/dir.ts';
import { prepareAndDrop } from '../../ops/backup/run-as.ts';
import { startScheduledPitr } from '../../ops/backup/pitr/scheduled.ts';
import type { OpsSettings } from '../../ops/backup/context.ts';
import type { DbTarget } from '../../postgres/session.ts';
import { pitrSettings } from '../../ops/backup/pitr/settings.ts';
import { remoteWithKey } from '../../ops/backup/remote/settings.ts';
import { startScheduledRemote } from '../../ops/backup/remote/scheduled.ts';

interface Opts {
  direct?: boolean;
  databaseUrl?: string;
  dir?: string;
  metricsPort?: string;
  backupSchedule?: string;
  vacuumSchedule?: string;
  verifySchedule?: string;
  backupOnStart: boolean;
  wait: string;
  baseSchedule?: string;
  runAs?: string;
}

/** The database jobs on their schedules: backup (with retention), VACUUM ANALYZE, verify + a test restore of the newest. */
function scheduledJobs(settings: OpsSettings, target: DbTarget, opts: Opts, wait: number): Job[] {
  return [
    {
      name: 'backup',
      cron: opts.backupSchedule ?? settings.schedules.backup,
      run: async () => {
        const r = await takeBackup(target, { dir: settings.dir, waitMs: wait, retention: settings.retention, tag: 'scheduled', recipients: encryptionRecipients(settings) });
        return { file: r.file, sizeBytes: r.manifest.sizeBytes, tables: r.manifest.tableCount, pruned: r.pruned.map((p) => p.file) };
      },
    },
    {
      name: 'vacuum',
      cron: opts.vacuumSchedule ?? settings.schedules.vacuum,
      run: async () => {
        const s = await target.connect({ appName: 'modelship schedule vacuum' });
        try {
          const r = await vacuum(s, { analyze: true });
          return { statement: r.statement };
        } finally {
          await s.end();
        }
      },
    },
    {
      name: 'verify',
      cron: opts.verifySchedule ?? settings.schedules.verify,
      run: async () => {
        const { backups } = await listBackups(settings.dir, target.database);
        const failed: string[] = [];
        for (const b of backups) if (!(await verifyBackup(target, b.path)).ok) failed.push(b.file);
        const newest = (await listBackups(settings.dir, target.database)).backups.find((b) => b.verified);
        let restoreTested: string | null = null;
        // A sealed backup needs the identity, which this server must not hold: its checksums were checked above.
        if (newest && !newest.manifest?.encryption) {
          await restoreBackup(target, { file: newest.path, verifyOnly: true, waitMs: wait });
          restoreTested = newest.file;
        }
        if (failed.length) throw new Error(`${failed.length} backup(s) failed verification: ${failed.join(', ')}`);
        return { checked: backups.length, restoreTested, ...(newest?.manifest?.encryption ? { restoreTestSkipped: 'encrypted: run `modelship restore FILE --verify-only --identity KEY` where the key is' } : {}) };
      },
    },
  ];
}

// Long because: the commander declaration of `schedule` (flags, help text) and its one action, which
// wires the scheduler's jobs, the PITR receiver and the off-site copies under one signal bridge.
export function register(program: Command, runEnv: RunEnvironment): void {
  withDbFlags(program.command('schedule'))
    .description('run backups, VACUUM ANALYZE and verification on their cron schedules (UTC) until SIGTERM; JSON-line logs')
    .option('--metrics-port <port>', 'serve /health and /metrics on this port')
    .option('--backup-schedule <cron>', 'override backups.schedule')
    .option('--vacuum-schedule <cron>', 'override backups.vacuumSchedule')
    .option('--verify-schedule <cron>', 'override backups.verifySchedule')
    .option('--base-schedule <cron>', 'override backups.pitr.baseSchedule')
    .option('--backup-on-start', 'take a backup right after starting', false)
    .option('--wait <duration>', 'how long a scheduled backup waits for a running one', '10m')
    .option('--run-as <user>', 'started as root: make the backup directory writable for this user (name or uid[:gid]), then run as it')
    .action(
      action(runEnv, async (ctx, opts: Opts) => {
        let port: number | undefined;
        if (opts.metricsPort !== undefined) {
          port = Number(opts.metricsPort);
          if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--metrics-port must be a port number, got ${opts.metricsPort}`);
        }
        const { settings, target } = await openDb(ctx, opts);
        const wait = waitMs(opts.wait);
        const jsonLine = (e: Record<string, unknown>) => ctx.out.out(JSON.stringify({ time: new Date().toISOString(), ...e }));
        // The SFTP key is readable by root only (a 0600 host file, a 0400 swarm secret): read before dropping to --run-as.
        const { remoteCfg, keyProblem } = await remoteWithKey(settings, ctx.env, jsonLine);
        if (opts.runAs) {
          const r = await prepareAndDrop(settings.dir, opts.runAs);
          if (r.changed) jsonLine({ level: 'warn', event: 'backup directory prepared', detail: r.changed });
          if (r.user) jsonLine({ level: 'info', event: 'running as', user: r.user.name, uid: r.user.uid, gid: r.user.gid });
        }
        // An unwritable backup directory makes /health fail with the reason (and the engine's health check with it).
        const problems = async (): Promise<string[]> => {
          const key = keyProblem ? [keyProblem] : [];
          try {
            await probeWritableDir(settings.dir);
            return key;
          } catch (err) {
            const where = ctx.env.MODELSHIP_ROLE === 'scheduler' ? ` (${settings.dir} is backups.dir of the host, mounted)` : '';
            return [...key, `${errorMessage(err)}${where}${err instanceof UserError && err.hint ? `; fix: ${err.hint}` : ''}`];
          }
        };
        const jobs = scheduledJobs(settings, target, opts, wait);
        const newest = (await listBackups(settings.dir, target.database)).backups.find((b) => b.verified);
        const pitr = await startScheduledPitr(settings, opts, ctx.env, target, jsonLine, opts.baseSchedule);
        if (pitr) jobs.push(...pitr.jobs);
        const remote = remoteCfg ? startScheduledRemote(settings.dir, remoteCfg, jsonLine, { policy: settings.retention, keepBaseBackups: pitrSettings(settings, ctx.env).keepBaseBackups }) : null;
        if (remote) {
          // A new dump or base backup goes off-site at once, not at the next interval.
          for (const j of jobs) {
            if (j.name !== 'backup' && j.name !== 'base') continue;
            const run = j.run;
            j.run = async () => {
              const r = await run();
              remote.kick();
              return r;
            };
          }
          jsonLine({ level: 'info', event: 'off-site copies', remote: remoteCfg!.describe, encrypted: remoteCfg!.recipients.length > 0, intervalSeconds: remoteCfg!.intervalSeconds });
        }
        const onSignal = (sig: string): void => ctx.out.info(JSON.stringify({ time: new Date().toISOString(), level: 'info', event: 'signal', signal: sig }));
        try {
          await withSignals(
            async (signal) => {
              try {
                await runScheduler({
                  jobs,
                  metricsPort: port,
                  log: jsonLine,
                  problems,
                  signal,
                  lastBackupSuccess: newest?.verifiedAt ? Date.parse(newest.createdAt) / 1000 : undefined,
                  runOnStart: [...(opts.backupOnStart ? ['backup'] : []), ...(pitr?.runOnStart ?? [])],
                  ...(pitr || remote
                    ? {
                        extendMetrics: (registry) => {
                          pitr?.extendMetrics(registry);
                          remote?.extendMetrics(registry);
                        },
                      }
                    : {}),
                });
              } finally {
                // still under the handlers: a signal now does not kill the receiver or an upload halfway
                await pitr?.stop();
                await remote?.stop();
              }
            },
            { signals: ['SIGTERM', 'SIGINT'], onSignal, persistent: true },
          );
        } finally {
          await target.close();
        }
      }),
    );
}
