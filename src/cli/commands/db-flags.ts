/** Flags shared by the database commands (backup, restore, db, emergency, schedule) and small helpers. */
import type { Command } from 'commander';
import type { CommandContext } from '../context.ts';
import { loadSettings, openTarget, type DbFlags, type OpsSettings } from '../../ops/backup/context.ts';
import { parseDurationMs } from '../../util/duration.ts';
import type { DbTarget } from '../../postgres/session.ts';
import { formatProblem } from '../../config/load.ts';
import { UsageError } from '../../util/errors.ts';

export function withDbFlags(cmd: Command, opts: { dir?: boolean } = {}): Command {
  cmd
    .option('--direct', 'connect straight to PostgreSQL (DATABASE_URL / --database-url) instead of through the stack\'s postgres container')
    .option('--database-url <url>', 'with --direct: postgres://user:pass@host:5432/db (default: env DATABASE_URL, else built from the config)');
  if (opts.dir !== false) cmd.option('--dir <dir>', 'backup directory (default: backups.dir from the config)');
  return cmd;
}

export async function openDb(ctx: CommandContext, flags: DbFlags): Promise<{ settings: OpsSettings; target: DbTarget }> {
  const settings = await loadSettings(ctx.global.config, ctx.global.envFile, flags, ctx.env, ctx.cwd);
  for (const w of settings.loaded?.warnings ?? []) ctx.out.warn(formatProblem(w, false));
  const target = await openTarget(settings, flags, ctx.env);
  return { settings, target };
}

export function waitMs(text: string | undefined, fallback = 0): number {
  if (text === undefined) return fallback;
  const ms = parseDurationMs(text);
  if (ms === null) throw new UsageError(`--wait ${text}: expected a duration such as 0s, 30s, 10m or 1h`);
  return ms;
}
