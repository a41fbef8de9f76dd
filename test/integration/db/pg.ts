/** Helpers for the database integration tests: throwaway databases on the test server, seed data, dumps. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { withDatabase } from '../../../src/postgres/url.ts';

export const ADMIN_URL = process.env.DATABASE_URL_TEST ?? 'postgres://postgres:postgres@127.0.0.1:5432/postgres';
export const CLI_SRC = fileURLToPath(new URL('./modelship-src.ts', import.meta.url));

export function urlFor(db: string): string {
  return withDatabase(ADMIN_URL, db);
}

export async function sql<T extends object = Record<string, unknown>>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text, params)).rows as T[];
  } finally {
    await c.end();
  }
}

export function randomName(prefix = 'mst'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

export async function createDb(name = randomName()): Promise<string> {
  await sql(ADMIN_URL, `create database "${name}"`);
  return name;
}

/** Drops a database and everything derived from it (`<name>_restore_*`, `<name>_pre_restore_*`). */
export async function dropDbs(prefix: string): Promise<void> {
  const rows = await sql<{ datname: string }>(ADMIN_URL, `select datname from pg_database where datname = $1 or datname like $2`, [prefix, `${prefix}\\_%`]);
  for (const r of rows) {
    await sql(ADMIN_URL, 'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [r.datname]);
    await sql(ADMIN_URL, `drop database if exists "${r.datname}"`);
  }
}

/** Tables with keys, foreign keys, checks, unique and partial indexes, an enum, a view, a sequence, jsonb and bytea. */
export async function seed(db: string, rows = 500): Promise<void> {
  await sql(
    urlFor(db),
    `create type mood as enum ('ok', 'meh', 'bad');
     create table users (id bigserial primary key, email text not null unique, mood mood not null default 'ok', created timestamptz not null default '2026-01-01');
     create table orders (id bigserial primary key, user_id bigint not null references users(id) on delete cascade,
                          amount numeric(10,2) not null check (amount >= 0), meta jsonb, blob bytea);
     create index orders_big on orders (amount) where amount > 100;
     create view big_orders as select * from orders where amount > 100;
     create sequence invoice_no start 1000;
     insert into users (email, mood) select 'u' || g || '@x.test', (array['ok','meh','bad']::mood[])[1 + g % 3] from generate_series(1, ${rows}) g;
     insert into orders (user_id, amount, meta, blob) select 1 + g % ${rows}, (g * 7 % 500)::numeric / 3, jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g)), decode(md5(g::text), 'hex')
       from generate_series(1, ${rows * 2}) g;
     select setval('invoice_no', 1234);`,
  );
}

export function pgDumpText(db: string): string {
  const u = new URL(urlFor(db));
  return execFileSync('pg_dump', ['--no-password', '-d', `postgresql://${u.username}@${u.host}/${db}`], { env: { ...process.env, PGPASSWORD: decodeURIComponent(u.password) }, maxBuffer: 1 << 28 }).toString('utf8')
    .split('\n')
    .filter((l) => !/^\\(un)?restrict /.test(l)) // pg_dump ≥ 15.14 adds a random key per run
    .join('\n');
}

export function tempDir(prefix = 'modelship-db-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Child {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The CLI as a real child process (from source), for signals and kills. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const proc = spawn(process.execPath, [CLI_SRC, ...args], { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('close', (code, signal) => resolve({ code, signal })));
  return { proc, stdout: () => out, stderr: () => err, exit };
}

export async function waitFor<T>(fn: () => Promise<T | null | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
