import type { Command } from 'commander';
import { action, type RunEnvironment } from '../context.ts';
import { openDb, withDbFlags } from './db-flags.ts';
import { formatBytes } from '../../util/size.ts';
import { connectionsReport, sizeReport, slowQueries, vacuum } from '../../ops/db/maintenance.ts';
import { migrate } from '../../db/migrate.ts';
import type { SqlSession } from '../../postgres/session.ts';
import { UserError, UsageError, errorMessage } from '../../util/errors.ts';
import { hintFor } from '../../postgres/errors.ts';
import type { CommandContext } from '../context.ts';

interface Flags {
  direct?: boolean;
  databaseUrl?: string;
}

async function withSession<T>(ctx: CommandContext, flags: Flags, fn: (s: SqlSession, info: { poolSize: number; database: string }) => Promise<T>): Promise<T> {
  const { settings, target } = await openDb(ctx, flags);
  let s: SqlSession;
  try {
    s = await target.connect({ appName: 'modelship db' });
  } catch (err) {
    throw new UserError(`cannot connect to ${target.describe}: ${errorMessage(err)}`, { hint: hintFor(errorMessage(err)), cause: err });
  }
  try {
    return await fn(s, { poolSize: settings.poolSize, database: target.database });
  } finally {
    await s.end();
    await target.close();
  }
}

function int(text: string, name: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${name} must be a whole number from ${min} to ${max}, got ${text}`);
  return n;
}

export function register(program: Command, runEnv: RunEnvironment): void {
  const db = program.command('db').description('database maintenance and reports: vacuum, size, connections, slow-queries, migrate');

  withDbFlags(db.command('vacuum'), { dir: false })
    .description('VACUUM the database (or one table); --analyze refreshes planner statistics too')
    .option('--analyze', 'VACUUM (ANALYZE)', false)
    .option('--table <name>', 'only this table')
    .action(
      action(runEnv, async (ctx, opts: Flags & { analyze: boolean; table?: string }) => {
        const r = await withSession(ctx, opts, (s) => vacuum(s, { analyze: opts.analyze, table: opts.table }));
        if (ctx.out.json) ctx.out.data(r);
        else ctx.out.out(`${r.statement}: done in ${(r.durationMs / 1000).toFixed(1)}s`);
      }),
    );

  withDbFlags(db.command('size'), { dir: false })
    .description('database size and the largest tables')
    .option('--limit <n>', 'tables to show', '10')
    .action(
      action(runEnv, async (ctx, opts: Flags & { limit: string }) => {
        const r = await withSession(ctx, opts, (s) => sizeReport(s, int(opts.limit, '--limit', 1, 1000)));
        if (ctx.out.json) {
          ctx.out.data({ ok: true, ...r });
          return;
        }
        ctx.out.out(`${r.database}: ${r.size}`);
        const w = Math.max(5, ...r.tables.map((t) => t.table.length));
        if (r.tables.length) ctx.out.out(`${'TABLE'.padEnd(w)}  ${'TOTAL'.padStart(10)}  ${'INDEXES'.padStart(10)}  ROWS (est.)`);
        for (const t of r.tables) ctx.out.out(`${t.table.padEnd(w)}  ${formatBytes(t.bytes).padStart(10)}  ${formatBytes(t.indexBytes).padStart(10)}  ${t.rowsEstimate}`);
      }),
    );

  withDbFlags(db.command('connections'), { dir: false })
    .description('connections by state against max_connections and the configured pool size')
    .action(
      action(runEnv, async (ctx, opts: Flags) => {
        const r = await withSession(ctx, opts, (s, info) => connectionsReport(s, info.poolSize));
        if (ctx.out.json) {
          ctx.out.data({ ok: true, ...r });
          return;
        }
        ctx.out.out(`${r.total} of ${r.maxConnections} connections (${r.percentOfMax}% of max_connections, ${r.percentOfPool}% of one pool of ${r.poolSize})`);
        for (const b of r.byState) ctx.out.out(`  ${b.state.padEnd(30)} ${b.count}`);
        if (r.percentOfMax >= 80) ctx.out.warn('above 80% of max_connections: lower postgres.poolSize or raise postgres.tuning.maxConnections');
      }),
    );

  withDbFlags(db.command('slow-queries'), { dir: false })
    .description('slowest statements by mean time (pg_stat_statements)')
    .option('--limit <n>', 'statements to show', '10')
    .action(
      action(runEnv, async (ctx, opts: Flags & { limit: string }) => {
        const rows = await withSession(ctx, opts, (s) => slowQueries(s, int(opts.limit, '--limit', 1, 1000)));
        if (ctx.out.json) {
          ctx.out.data({ ok: true, queries: rows });
          return;
        }
        if (!rows.length) ctx.out.info('no statements recorded yet');
        for (const q of rows) ctx.out.out(`${q.meanMs.toFixed(1).padStart(10)} ms mean  ${String(q.calls).padStart(8)} calls  ${q.query.slice(0, 160)}`);
      }),
    );

  withDbFlags(db.command('migrate'), { dir: false })
    .description('apply pending schema migrations (each in a transaction, under an advisory lock)')
    .option('--dry-run', 'list pending migrations only', false)
    .action(
      action(runEnv, async (ctx, opts: Flags & { dryRun: boolean }) => {
        const r = await withSession(ctx, opts, (s) => migrate(s, { dryRun: opts.dryRun }));
        if (ctx.out.json) {
          ctx.out.data(r);
          return;
        }
        if (r.dryRun) ctx.out.out(r.pending.length ? `pending: ${r.pending.join(', ')}` : 'up to date');
        else ctx.out.out(r.applied.length ? `applied: ${r.applied.join(', ')}` : `up to date (${r.alreadyApplied.length} applied)`);
      }),
    );
}
