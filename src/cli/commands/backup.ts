import path from 'node:path';
import type { Command } from 'commander';
import { action, type CommandContext, type RunEnvironment } from '../context.ts';
import { openDb, waitMs, withDbFlags } from './db-flags.ts';
import { confirm } from '../prompt.ts';
import { withSignals } from '../signals.ts';
import { backupFileStat, listBackups, prune, takeBackup, verifyBackup, type BackupResult } from '../../ops/backup/backup.ts';
import { loadSettings } from '../../ops/backup/context.ts';
import { cronLine } from '../../ops/backup/naming.ts';
import { refuseSealedWithoutIdentity, restoreBackup } from '../../ops/backup/restore.ts';
import { loadIdentities } from '../../ops/backup/encryption.ts';
import { encryptionRecipients } from '../../ops/backup/remote/settings.ts';
import { directTarget } from '../../postgres/direct.ts';
import { UsageError, UserError } from '../../util/errors.ts';
import { formatBytes } from '../../util/size.ts';
import { pitrRestore, registerPitr, restoreTargetOf, type PitrRestoreFlags } from './pitr.ts';
import { columns } from '../../util/table.ts';
import { printRemoteList, pruneRemote, registerRemote, verifyRemote, withRemoteDump, withRemotePitr, withRemoteUrl, type RemoteFlags } from './remote.ts';

interface Flags {
  direct?: boolean;
  databaseUrl?: string;
  dir?: string;
  wait?: string;
}

export function printBackup(ctx: CommandContext, r: BackupResult): void {
  if (ctx.out.json) {
    ctx.out.data(r);
    return;
  }
  ctx.out.out(r.path);
  const m = r.manifest;
  ctx.out.info(`${formatBytes(m.sizeBytes)}, ${m.tableCount} tables, ${(m.durationMs / 1000).toFixed(1)}s, sha256 ${m.sha256.slice(0, 12)}…, verified (pg_restore --list)${m.encryption ? ', encrypted (age)' : ''}${m.tag ? `, tag ${m.tag}` : ''}`);
  if (r.pruned.length) ctx.out.info(`retention removed ${r.pruned.length} old backup${r.pruned.length === 1 ? '' : 's'}: ${r.pruned.map((p) => p.file).join(', ')}`);
}

// Long because: the commander declaration of `backup` and its subcommands (flags, help text), one short action each.
export function register(program: Command, runEnv: RunEnvironment): void {
  const backup = withDbFlags(program.command('backup'))
    .description('take a verified PostgreSQL backup (pg_dump -Fc) now; subcommands list, verify and prune them')
    .option('--wait <duration>', 'wait this long for a running backup/restore to finish (0s, 30s, 10m)', '0s')
    .option('--tag <tag>', 'label recorded in the manifest')
    .option('--no-prune', 'keep every old backup this time (retention runs after each verified backup by default)')
    .option('--print-cron', 'print a crontab line for system cron instead of backing up', false)
    .action(
      action(runEnv, async (ctx, opts: Flags & { tag?: string; prune: boolean; printCron: boolean }) => {
        if (opts.printCron) {
          const s = await loadSettings(ctx.global.config, ctx.global.envFile, opts, ctx.env, ctx.cwd);
          const line = cronLine({
            schedule: s.schedules.backup,
            configFile: s.configFile ?? ctx.global.config,
            bin: process.argv[1] ? path.resolve(process.argv[1]) : 'modelship',
            dir: opts.dir ? s.dir : undefined,
            direct: opts.direct === true,
            logFile: path.join(s.dir, 'backup.log'),
          });
          if (ctx.out.json) ctx.out.data({ ok: true, schedule: s.schedules.backup, timezone: 'UTC', line: line.split('\n').at(-1), crontab: line });
          else ctx.out.out(line);
          return;
        }
        const { settings, target } = await openDb(ctx, opts);
        try {
          const r = await withSignals((signal) =>
            takeBackup(target, {
              dir: settings.dir,
              waitMs: waitMs(opts.wait),
              tag: opts.tag,
              retention: opts.prune ? settings.retention : undefined,
              recipients: encryptionRecipients(settings),
              log: (l) => ctx.out.info(l),
              signal,
            }),
          );
          printBackup(ctx, r);
        } finally {
          await target.close();
        }
      }),
    );

  const list = withRemoteUrl(withDbFlags(backup.command('list'), {}));
  list
    .description('list backups, newest first, with size, tables and verification; --remote: what the off-site remote holds')
    .option('--remote', 'list the off-site copies (backups.remote) instead of the backup directory', false)
    .action(
      action(runEnv, async (ctx, own: Flags & RemoteFlags) => {
        const opts = { ...own, ...(list.optsWithGlobals() as Flags & RemoteFlags) };
        const s = await loadSettings(ctx.global.config, ctx.global.envFile, opts, ctx.env, ctx.cwd);
        if (opts.remote || opts.remoteUrl) {
          await printRemoteList(ctx, s, opts);
          return;
        }
        const { backups, temps } = await listBackups(s.dir);
        if (ctx.out.json) {
          ctx.out.data({ ok: true, dir: s.dir, backups: backups.map(({ manifest: _m, ...b }) => b), tempFiles: temps });
          return;
        }
        if (backups.length === 0) {
          ctx.out.info(`no backups in ${s.dir}`);
          return;
        }
        const rows = backups.map((b) => [
          b.file,
          formatBytes(b.sizeBytes),
          b.tableCount === undefined ? '-' : String(b.tableCount),
          b.verified ? `yes ${b.verifiedAt?.slice(0, 16).replace('T', ' ') ?? ''}` : b.manifestValid ? 'FAILED' : `NO (${b.manifestError ?? 'no manifest'})`,
          b.restoreTestedAt ? b.restoreTestedAt.slice(0, 16).replace('T', ' ') : '-',
          b.tag ?? '',
        ]);
        const head = ['FILE', 'SIZE', 'TABLES', 'VERIFIED (UTC)', 'RESTORE-TESTED', 'TAG'];
        for (const l of columns([head, ...rows])) ctx.out.out(l);
        if (temps.length) ctx.out.warn(`${temps.length} temp file${temps.length === 1 ? '' : 's'} from an unfinished run: ${temps.join(', ')} (removed by the next backup on this host)`);
      }),
    );

  const verify = withRemoteUrl(withDbFlags(backup.command('verify')));
  verify
    .description('check backups: sha256 against the manifest, pg_restore --list, every data block read back, table count; --remote: every off-site copy read back against its recorded sha256')
    .argument('[file]', 'backup file (default: with --all, every backup)')
    .option('--all', 'verify every backup in the directory', false)
    .option('--remote', 'verify every off-site copy (dumps, base backups, WAL) instead', false)
    .option('--identity <file>', 'age identity file: an encrypted backup is also decrypted and read back in full (without it: its sha256 only)')
    .action(
      action(runEnv, async (ctx, file: string | undefined, own: Flags & RemoteFlags & { all: boolean; identity?: string }) => {
        const opts = { ...own, ...(verify.optsWithGlobals() as Flags & RemoteFlags & { all: boolean; identity?: string }) };
        const identities = await loadIdentities(opts.identity, ctx.env);
        if (opts.remote || opts.remoteUrl) {
          if (file) throw new UsageError('--remote verifies every off-site copy: drop the file argument');
          return verifyRemote(ctx, await loadSettings(ctx.global.config, ctx.global.envFile, opts, ctx.env, ctx.cwd), opts);
        }
        if (!file && !opts.all) throw new UsageError('name a backup file or pass --all');
        if (file && opts.all) throw new UsageError('pass a file or --all, not both');
        const s = await loadSettings(ctx.global.config, ctx.global.envFile, opts, ctx.env, ctx.cwd);
        const files = file ? [path.resolve(ctx.cwd, file)] : (await listBackups(s.dir)).backups.map((b) => b.path);
        if (files.length === 0) throw new UserError(`no backups in ${s.dir}`, { hint: 'take one with `modelship backup`' });
        const { target } = await openDb(ctx, opts).catch(() => ({ target: null }));
        // pg_restore --list needs no server: without a reachable target, use the local pg_restore.
        const lister = target ?? directTarget('postgres://localhost/postgres', ctx.env);
        const results = [];
        for (const f of files) {
          const r = await verifyBackup(lister, f, { identities });
          results.push(r);
          if (!ctx.out.json) {
            if (r.ok && r.skipped.length && r.encrypted) ctx.out.out(`ok      ${path.basename(f)}  (encrypted: ${r.checks.filter((c) => !c.skipped).map((c) => c.detail).join(', ')}; pass --identity to decrypt and read it back)`);
            else if (r.ok) ctx.out.out(`ok      ${path.basename(f)}  (${r.checks.map((c) => c.detail).join(', ')})`);
            else ctx.out.out(`FAILED  ${path.basename(f)}  ${r.error}`);
          }
        }
        const bad = results.filter((r) => !r.ok);
        if (ctx.out.json) ctx.out.data({ ok: bad.length === 0, results: results.map(({ manifest: _m, ...r }) => r) });
        else if (bad.length) ctx.out.error(`${bad.length} of ${results.length} backup${results.length === 1 ? '' : 's'} failed verification: do not rely on them; take a new backup now`);
        return bad.length ? 1 : 0;
      }),
    );

  const pruneCmd = withRemoteUrl(withDbFlags(backup.command('prune')));
  pruneCmd
    .description('apply the retention policy (daily/weekly/monthly) now; --dry-run shows what would go; --remote: on the off-site copies')
    .option('--dry-run', 'delete nothing, print the plan', false)
    .option('--remote', 'apply it to the off-site copies (dumps, base backups and the WAL they need) instead', false)
    .action(
      action(runEnv, async (ctx, own: Flags & RemoteFlags & { dryRun: boolean }) => {
        const opts = { ...own, ...(pruneCmd.optsWithGlobals() as Flags & RemoteFlags & { dryRun: boolean }) };
        const s = await loadSettings(ctx.global.config, ctx.global.envFile, opts, ctx.env, ctx.cwd);
        if (opts.remote || opts.remoteUrl) {
          await pruneRemote(ctx, s, opts, opts.dryRun);
          return;
        }
        const plan = await prune(s.dir, s.retention, { dryRun: true });
        const del = plan.filter((d) => d.action === 'delete');
        let deleted = false;
        if (!opts.dryRun && del.length > 0) {
          if (!(await confirm(ctx, `delete ${del.length} backup${del.length === 1 ? '' : 's'} outside the retention policy?`))) throw new UserError('nothing deleted');
          await prune(s.dir, s.retention, { dryRun: false });
          deleted = true;
        }
        if (ctx.out.json) {
          ctx.out.data({ ok: true, dryRun: opts.dryRun, policy: s.retention, decisions: plan, deleted: deleted ? del.map((d) => d.file) : [] });
          return;
        }
        for (const d of plan) ctx.out.out(`${d.action === 'keep' ? 'keep  ' : opts.dryRun ? 'would delete' : 'delete'}  ${d.file}  (${d.reasons.join(', ')})`);
        ctx.out.info(`policy: ${s.retention.daily} daily, ${s.retention.weekly} weekly, ${s.retention.monthly} monthly; ${del.length} to delete${opts.dryRun ? ' (dry run)' : ''}`);
      }),
    );

  registerPitr(backup, runEnv);
  registerRemote(backup, runEnv);

  withRemoteUrl(withDbFlags(program.command('restore')))
    .description('restore a verified backup into a fresh database, then swap it in (the old one is kept); --to-time/--to-latest: point-in-time recovery')
    .argument('[file]', 'backup file (.dump); omit with --to-time / --to-latest')
    .option('--target-db <name>', 'restore into this database instead of the live one')
    .option('--verify-only', 'full test restore into a throwaway database (or data directory), then drop it', false)
    .option('--wait <duration>', 'wait this long for a running backup/restore', '0s')
    .option('--trust-unverified', 'restore a file without its manifest/checksum (an off-site copy): pg_restore --list and a full read still run; what is skipped is printed', false)
    .option('--to-time <timestamp>', 'point-in-time recovery up to this moment, with a zone: "2026-12-01 10:14:05+00"')
    .option('--to-latest', 'point-in-time recovery of everything the WAL archive holds', false)
    .option('--timeline <n>', 'with --to-time/--to-latest: replay along timeline N (one a later restore abandoned) instead of the latest')
    .option('--check-sql <sql>', 'with --to-time/--to-latest: a query run on the recovered database; a false/0/null first column fails the restore')
    .option('--pgdata <dir>', 'with --direct --to-time/--to-latest: the data directory to rebuild (the server stopped; the old one is kept)')
    .option('--from-remote', 'fetch the backup (FILE is its name; default the newest) or the base backup and WAL from backups.remote, checked against the sha256 recorded at upload', false)
    .option('--identity <file>', 'age identity file that decrypts encrypted copies (default: $MODELSHIP_AGE_IDENTITY_FILE)')
    .action(
      action(runEnv, async (ctx, file: string | undefined, opts: Flags & PitrRestoreFlags & RemoteFlags & { targetDb?: string; verifyOnly: boolean; trustUnverified: boolean }) => {
        const fromRemote = opts.fromRemote === true || opts.remoteUrl !== undefined;
        const pitrTarget = restoreTargetOf(opts);
        if (pitrTarget) {
          if (file) throw new UsageError('--to-time/--to-latest restore from base backups and WAL: drop the file argument');
          if (fromRemote) {
            const settings = await loadSettings(ctx.global.config, ctx.global.envFile, opts, ctx.env, ctx.cwd);
            await withRemotePitr(ctx, settings, opts, pitrTarget, (layout) => pitrRestore(ctx, pitrTarget, opts, layout));
          } else await pitrRestore(ctx, pitrTarget, opts);
          return;
        }
        if (!file && !fromRemote) throw new UsageError('name a backup file, or pass --to-time / --to-latest');
        if (opts.checkSql || opts.pgdata || opts.timeline) throw new UsageError('--check-sql, --pgdata and --timeline apply to --to-time / --to-latest');
        if (opts.verifyOnly && opts.targetDb) throw new UsageError('--verify-only restores into a throwaway database: drop --target-db');
        // A directory or a missing file is refused before anything connects.
        if (!fromRemote) await backupFileStat(path.resolve(ctx.cwd, file!));
        const identities = await loadIdentities(opts.identity, ctx.env);
        // A sealed backup without the identity is refused before anything connects.
        if (!fromRemote) await refuseSealedWithoutIdentity(path.resolve(ctx.cwd, file!), identities);
        const { settings, target } = await openDb(ctx, opts);
        const run = (local: string) =>
          withSignals((signal) =>
            restoreBackup(target, {
              file: local,
              targetDb: opts.targetDb,
              verifyOnly: opts.verifyOnly,
              waitMs: waitMs(opts.wait),
              log: (l) => ctx.out.info(l),
              signal,
              confirm: (q) => confirm(ctx, q),
              trustUnverified: opts.trustUnverified,
              identities,
            }),
          );
        try {
          const r = fromRemote ? await withRemoteDump(ctx, settings, opts, file, run) : await run(path.resolve(ctx.cwd, file!));
          if (ctx.out.json) ctx.out.data({ ...r, verify: { ok: r.verify.ok, checks: r.verify.checks } });
          else if (r.verifyOnly) ctx.out.out(`restore test passed: ${r.file}, ${r.tables} tables, ${(r.durationMs / 1000).toFixed(1)}s`);
          else ctx.out.out(`restored ${r.file} into ${r.database}${r.previous ? ` (previous database kept as ${r.previous}; drop it when satisfied)` : ''}`);
        } finally {
          await target.close();
        }
      }),
    );
}
