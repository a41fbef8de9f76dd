/** Flags shared by the database commands (backup, restore, db, emergency, schedule) and small helpers. */
import { createInterface } from 'node:readline/promises';
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

/** Yes with --yes; a question on a terminal; otherwise exit 2 (never hang a script). */
export async function confirm(ctx: CommandContext, question: string): Promise<boolean> {
  if (ctx.global.yes) return true;
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new UsageError(`${question.replace(/\?.*$/, '')}: needs confirmation`, 'no terminal to ask on: pass --yes to confirm');
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const a = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(a.trim());
  } finally {
    rl.close();
  }
}

/** An AbortSignal fired by SIGINT/SIGTERM while `fn` runs (so pg_dump stops and temp files go). */
export async function withSignals<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSig = (): void => ac.abort();
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  try {
    return await fn(ac.signal);
  } finally {
    process.removeListener('SIGINT', onSig);
    process.removeListener('SIGTERM', onSig);
  }
}
