/**
 * A minimal migration runner: `migrations/NNNN_name.sql`, applied in order, each in its own
 * transaction together with its schema_migrations row, under an advisory lock so two processes
 * starting at once apply each migration once. An applied file that changed is an error.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError, errorMessage } from '../util/errors.ts';
import { interpolate } from '../postgres/quote.ts';
import type { SqlSession } from '../postgres/session.ts';

export const MIGRATE_LOCK = [0x6d6f646c, 0x6d696772] as const; // 'modl', 'migr'

export interface Migration {
  version: string;
  name: string;
  file: string;
  sql: string;
  checksum: string;
}

/** The shipped migrations/ folder (beside src/ or dist/). */
export function defaultMigrationsDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations');
}

/** `0001_initial.sql` → {version: '0001', name: 'initial'}; null for other files. Pure. */
export function parseMigrationName(file: string): { version: string; name: string } | null {
  const m = /^(\d{4,})_([a-z0-9_-]+)\.sql$/i.exec(file);
  return m ? { version: m[1]!, name: m[2]! } : null;
}

export async function readMigrations(dir: string): Promise<Migration[]> {
  const names = (await readdir(dir)).filter((f) => parseMigrationName(f)).sort();
  const out: Migration[] = [];
  for (const f of names) {
    const p = parseMigrationName(f)!;
    const sql = await readFile(path.join(dir, f), 'utf8');
    if (out.some((m) => m.version === p.version)) throw new UserError(`two migrations share version ${p.version}`, { hint: `rename ${f}` });
    out.push({ ...p, file: f, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  return out;
}

export interface MigrateResult {
  ok: true;
  applied: string[];
  pending: string[];
  alreadyApplied: string[];
  dryRun: boolean;
}

export async function migrate(s: SqlSession, o: { dir?: string; dryRun?: boolean } = {}): Promise<MigrateResult> {
  const migrations = await readMigrations(o.dir ?? defaultMigrationsDir());
  await s.exec('set session default_transaction_read_only = off');
  await s.query('select 1 as ok from (select pg_advisory_lock($1::int, $2::int)) l', [...MIGRATE_LOCK]);
  try {
    await s.exec(`create table if not exists schema_migrations (
      version text primary key, name text not null, checksum text not null, applied_at timestamptz not null default now())`);
    const done = new Map((await s.query<{ version: string; checksum: string; name: string }>('select version, name, checksum from schema_migrations')).map((r) => [r.version, r]));
    for (const m of migrations) {
      const d = done.get(m.version);
      if (d && d.checksum !== m.checksum) {
        throw new UserError(`migration ${m.file} changed after it was applied`, { hint: 'never edit an applied migration: add a new one that makes the change' });
      }
    }
    const pending = migrations.filter((m) => !done.has(m.version));
    const applied: string[] = [];
    if (!o.dryRun) {
      for (const m of pending) {
        try {
          await s.exec('begin');
          await s.exec(m.sql);
          await s.exec(interpolate('insert into schema_migrations (version, name, checksum) values ($1, $2, $3)', [m.version, m.name, m.checksum]));
          await s.exec('commit');
        } catch (err) {
          await s.exec('rollback').catch(() => undefined);
          throw new UserError(`migration ${m.file} failed and was rolled back: ${errorMessage(err)}`, { hint: 'fix the SQL (earlier migrations stay applied) and run `modelship db migrate` again' });
        }
        applied.push(m.file);
      }
    }
    return { ok: true, applied, pending: o.dryRun ? pending.map((m) => m.file) : [], alreadyApplied: migrations.filter((m) => done.has(m.version)).map((m) => m.file), dryRun: o.dryRun === true };
  } finally {
    await s.query('select pg_advisory_unlock($1::int, $2::int) as ok', [...MIGRATE_LOCK]).catch(() => undefined);
  }
}
