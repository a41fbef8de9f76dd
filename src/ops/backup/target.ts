/**
 * Where the database is: the stack's postgres container (Docker exec API) or a server reached
 * directly through a URL (`--direct`). Both give the same operations: SQL sessions, dump to a file,
 * list an archive, restore an archive into a database.
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import type Docker from 'dockerode';
import { connectDocker, findServiceContainer } from '../../docker/client.ts';
import { execInContainer } from '../../docker/exec.ts';
import { UserError } from '../../util/errors.ts';
import { SERVICE } from '../../stack/names.ts';

export interface SqlSession {
  /** Rows of one SELECT (`$1…` parameters). */
  query<T extends object = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** A statement without rows (ALTER, VACUUM, DDL, INSERT/UPDATE with `$1…` parameters). */
  exec(sql: string, params?: unknown[]): Promise<void>;
  end(): Promise<void>;
}

export interface ToolFailure {
  exitCode: number | null;
  signal: string | null;
  stderr: string;
}

export interface DbTarget {
  mode: 'direct' | 'container';
  database: string;
  user: string;
  /** Where, for messages (never a password). */
  describe: string;
  connect(opts?: { database?: string; appName?: string }): Promise<SqlSession>;
  /** pg_dump -Fc of `database` into `file` (created by the callee). Throws a ToolError. */
  dump(file: string, signal?: AbortSignal): Promise<void>;
  /** `pg_restore --list` of a local archive (reads the header and table of contents). Throws a ToolError. */
  list(file: string): Promise<string>;
  /**
   * Reads the whole archive with `pg_restore -f /dev/null`: every data block is read and
   * decompressed (zlib checks each one), so a truncated or damaged archive fails. Throws a ToolError.
   */
  readAll(file: string, signal?: AbortSignal): Promise<void>;
  /** pg_restore --single-transaction --exit-on-error into an existing empty database. */
  restore(file: string, database: string, signal?: AbortSignal): Promise<void>;
  /** Version of the pg_dump that writes the archive. */
  dumpVersion(): Promise<string>;
  close(): Promise<void>;
}

export class ToolError extends Error {
  readonly failure: ToolFailure;
  constructor(what: string, failure: ToolFailure) {
    const last = lastLines(failure.stderr, 4);
    const how = failure.signal ? `killed by ${failure.signal}` : `exit code ${failure.exitCode}`;
    super(`${what} failed (${how})${last ? `: ${last}` : ''}`);
    this.name = 'ToolError';
    this.failure = failure;
  }
}

export function lastLines(text: string, n: number): string {
  return text.trim().split('\n').filter(Boolean).slice(-n).join(' | ');
}

/** A next step for the common pg_dump/pg_restore/connection failures. */
export function hintFor(text: string): string | undefined {
  if (/password authentication failed|no password supplied/i.test(text)) return 'check the password: the .env key named by secrets.postgresPassword, DATABASE_URL or --database-url';
  if (/server version mismatch/i.test(text)) return 'the pg_dump on this host is older than the server: install a matching postgresql-client, set MODELSHIP_PG_BIN, or drop --direct to run pg_dump inside the postgres container';
  if (/No space left on device|ENOSPC/i.test(text)) return 'the backup disk is full: free space (older backups go through `modelship backup prune`) or point --dir / backups.dir elsewhere';
  if (/Connection refused|ECONNREFUSED|could not connect|terminating connection|server closed the connection|connection to server .* failed/i.test(text)) return 'is PostgreSQL running and reachable? `modelship status`, or check DATABASE_URL';
  if (/does not exist/i.test(text) && /database/i.test(text)) return 'check the database name (postgres.database in the config, or the path of DATABASE_URL)';
  return undefined;
}

// --- URLs ------------------------------------------------------------------------------------------

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

export function splitPassword(url: string): { url: string; password: string | undefined } {
  const u = new URL(url);
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  u.password = '';
  return { url: u.toString(), password };
}

export function databaseOf(url: string): string {
  const u = new URL(url);
  const db = decodeURIComponent(u.pathname.replace(/^\//, ''));
  return db || decodeURIComponent(u.username) || 'postgres';
}

// --- quoting (for the container's psql, which has no bind parameters) -------------------------------

export function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

export function quoteLiteral(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v instanceof Date) return `'${v.toISOString()}'`;
  return `'${String(v).replace(/'/g, "''")}'`;
}

export function interpolate(sql: string, params: readonly unknown[] = []): string {
  return sql.replace(/\$(\d+)/g, (_m, n: string) => quoteLiteral(params[Number(n) - 1]));
}

// --- local processes -------------------------------------------------------------------------------

export interface ProcResult extends ToolFailure {
  stdout: string;
}

export function pgBin(tool: string, env: NodeJS.ProcessEnv): string {
  const dir = env.MODELSHIP_PG_BIN;
  return dir ? `${dir.replace(/\/$/, '')}/${tool}` : tool;
}

export function runProcess(cmd: string, args: string[], opts: { env: NodeJS.ProcessEnv; signal?: AbortSignal | undefined; stdinFile?: string; captureStdout?: boolean }): Promise<ProcResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env, stdio: [opts.stdinFile ? 'pipe' : 'ignore', opts.captureStdout ? 'pipe' : 'ignore', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    child.stderr?.on('data', (b: Buffer) => {
      stderr += b.toString('utf8');
      if (stderr.length > 65536) stderr = stderr.slice(-65536);
    });
    const onAbort = (): void => void child.kill('SIGTERM');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.stdinFile && child.stdin) {
      const src = createReadStream(opts.stdinFile);
      src.on('error', (err) => child.kill('SIGTERM') && (stderr += `\n${err.message}`));
      child.stdin.on('error', () => undefined);
      src.pipe(child.stdin);
    }
    child.on('error', (err: NodeJS.ErrnoException) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (err.code === 'ENOENT') reject(new UserError(`${cmd} not found on this host`, { hint: 'install postgresql-client (the same major version as the server or newer), or set MODELSHIP_PG_BIN to its bin directory' }));
      else reject(err);
    });
    child.on('close', (code, sig) => {
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ exitCode: code, signal: sig, stderr, stdout });
    });
  });
}

// --- direct ----------------------------------------------------------------------------------------

export function directTarget(databaseUrl: string, env: NodeJS.ProcessEnv): DbTarget {
  const database = databaseOf(databaseUrl);
  const { url: bareUrl, password } = splitPassword(databaseUrl);
  const user = decodeURIComponent(new URL(databaseUrl).username) || 'postgres';
  const toolEnv: NodeJS.ProcessEnv = { ...env, ...(password !== undefined ? { PGPASSWORD: password } : {}), PGAPPNAME: 'modelship' };
  const ok = async (what: string, p: Promise<ProcResult>): Promise<ProcResult> => {
    const r = await p;
    if (r.exitCode !== 0 || r.signal) throw new ToolError(what, r);
    return r;
  };
  return {
    mode: 'direct',
    database,
    user,
    describe: redactUrl(databaseUrl),
    async connect(o = {}) {
      const client = new pg.Client({ connectionString: o.database ? withDatabase(databaseUrl, o.database) : databaseUrl, application_name: o.appName ?? 'modelship' });
      client.on('error', () => undefined);
      await client.connect();
      return {
        async query<T extends object>(sql: string, params: unknown[] = []) {
          const r = await client.query(sql, params);
          return r.rows as T[];
        },
        async exec(sql: string, params?: unknown[]) {
          await (params && params.length > 0 ? client.query(sql, params) : client.query(sql));
        },
        async end() {
          await client.end().catch(() => undefined);
        },
      };
    },
    async dump(file, signal) {
      await ok('pg_dump', runProcess(pgBin('pg_dump', env), ['-Fc', '--no-password', '-f', file, `--dbname=${bareUrl}`], { env: toolEnv, signal }));
    },
    async list(file) {
      return (await ok('pg_restore --list', runProcess(pgBin('pg_restore', env), ['--list', file], { env: toolEnv, captureStdout: true }))).stdout;
    },
    async readAll(file, signal) {
      await ok('pg_restore (reading the whole archive)', runProcess(pgBin('pg_restore', env), ['-f', '/dev/null', file], { env: toolEnv, signal }));
    },
    async restore(file, db, signal) {
      await ok(
        'pg_restore',
        runProcess(pgBin('pg_restore', env), ['--single-transaction', '--exit-on-error', '--no-password', `--dbname=${withDatabase(bareUrl, db)}`, file], { env: toolEnv, signal }),
      );
    },
    async dumpVersion() {
      return (await ok('pg_dump --version', runProcess(pgBin('pg_dump', env), ['--version'], { env: toolEnv, captureStdout: true }))).stdout.trim();
    },
    async close() {},
  };
}

// --- container -------------------------------------------------------------------------------------

export async function containerTarget(opts: { project: string; database: string; user: string; password: string | undefined; env: NodeJS.ProcessEnv }): Promise<DbTarget> {
  const docker = connectDocker(opts.env);
  const info = await findServiceContainer(docker, opts.project, SERVICE.postgres);
  return containerTargetFor(docker, info.Id, (info.Names[0] ?? info.Id.slice(0, 12)).replace(/^\//, ''), opts);
}

export function containerTargetFor(docker: Docker, id: string, name: string, opts: { database: string; user: string; password: string | undefined }): DbTarget {
  const env = [`PGAPPNAME=modelship`, ...(opts.password !== undefined ? [`PGPASSWORD=${opts.password}`] : [])];
  const conn = (db: string) => ['-U', opts.user, '-d', db];
  const run = async (what: string, cmd: string[], io: { stdinFile?: string; stdoutFile?: string; capture?: boolean; signal?: AbortSignal | undefined }): Promise<string> => {
    const h = await execInContainer(docker, id, cmd, { env, stdin: io.stdinFile !== undefined });
    let out = '';
    let stdoutTask: Promise<unknown> = Promise.resolve();
    // A failed write (a full disk) closes the exec, so the process inside stops instead of blocking.
    if (io.stdoutFile)
      stdoutTask = pipeline(h.stdout, createWriteStream(io.stdoutFile, { flags: 'wx', mode: 0o600 })).catch((err: unknown) => {
        h.close();
        throw err;
      });
    else if (io.capture) h.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    else h.stdout.resume();
    // stdin: the tool may stop reading before the end (pg_restore --list reads only the table of
    // contents) and exit; the write then fails with EPIPE. The exit code decides, not the write.
    let stdinError: Error | null = null;
    const src = io.stdinFile && h.stdin ? createReadStream(io.stdinFile, { highWaterMark: 1 << 20 }) : null;
    const stdinTask = src && h.stdin ? pipeline(src, h.stdin).catch((err: Error) => void (stdinError = err)) : Promise.resolve();
    const onAbort = (): void => {
      // Ending the exec session does not kill the process inside; pg_* exit when their stdio closes.
      h.stdout.destroy(new Error('aborted'));
      h.close();
    };
    io.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const [r] = await Promise.all([h.done, stdoutTask]);
      // The process has exited: whatever it did not read goes nowhere.
      if (src && !src.closed) src.destroy(new Error('the process exited'));
      await stdinTask;
      if (r.exitCode !== 0) throw new ToolError(what, { exitCode: r.exitCode, signal: null, stderr: r.stderr });
      const readErr = stdinError as NodeJS.ErrnoException | null;
      if (readErr && readErr.code !== undefined && /^E(ACCES|ISDIR|NOENT|IO)$/.test(readErr.code)) {
        throw new UserError(`${what}: cannot read ${io.stdinFile}: ${readErr.message}`, { cause: readErr });
      }
    } finally {
      io.signal?.removeEventListener('abort', onAbort);
    }
    return out;
  };
  return {
    mode: 'container',
    database: opts.database,
    user: opts.user,
    describe: `container ${name} (database ${opts.database})`,
    connect: (o = {}) => psqlSession(docker, id, [...env.filter((e) => !e.startsWith('PGAPPNAME=')), `PGAPPNAME=${o.appName ?? 'modelship'}`], conn(o.database ?? opts.database)),
    async dump(file, signal) {
      await run('pg_dump', ['pg_dump', '-Fc', ...conn(opts.database)], { stdoutFile: file, signal });
    },
    async list(file) {
      return run('pg_restore --list', ['pg_restore', '--list'], { stdinFile: file, capture: true });
    },
    async readAll(file, signal) {
      await run('pg_restore (reading the whole archive)', ['pg_restore', '-f', '/dev/null'], { stdinFile: file, signal });
    },
    async restore(file, db, signal) {
      await run('pg_restore', ['pg_restore', '--single-transaction', '--exit-on-error', ...conn(db)], { stdinFile: file, signal });
    },
    async dumpVersion() {
      return (await run('pg_dump --version', ['pg_dump', '--version'], { capture: true })).trim();
    },
    async close() {},
  };
}

/** One long-lived psql inside the container: a real session (advisory locks hold), queries answered as JSON. */
async function psqlSession(docker: Docker, id: string, env: string[], conn: string[]): Promise<SqlSession> {
  const h = await execInContainer(docker, id, ['psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=0', ...conn], { env, stdin: true });
  let buf = '';
  let errBuf = '';
  let waiter: { marker: string; resolve: (v: { out: string; err: string }) => void; reject: (e: Error) => void } | null = null;
  let closed: Error | null = null;
  const check = (): void => {
    if (!waiter) return;
    const idx = buf.indexOf(`${waiter.marker}\n`);
    if (idx >= 0) {
      const out = buf.slice(0, idx);
      buf = buf.slice(idx + waiter.marker.length + 1);
      const err = errBuf;
      errBuf = '';
      const w = waiter;
      waiter = null;
      w.resolve({ out, err });
    }
  };
  h.stdout.on('data', (b: Buffer) => {
    buf += b.toString('utf8');
    check();
  });
  h.stderr.on('data', (b: Buffer) => (errBuf += b.toString('utf8')));
  void h.done.then(
    (r) => {
      closed = new Error(`psql in the container ended (exit ${r.exitCode}): ${lastLines(r.stderr || errBuf, 3)}`);
      waiter?.reject(closed);
    },
    (e: Error) => {
      closed = e;
      waiter?.reject(e);
    },
  );
  let n = 0;
  const send = (sql: string): Promise<string> => {
    if (closed) return Promise.reject(closed);
    const marker = `__modelship_${++n}_${Date.now()}__`;
    return new Promise<{ out: string; err: string }>((resolve, reject) => {
      waiter = { marker, resolve, reject };
      h.stdin!.write(`${sql.trim().replace(/;\s*$/, '')};\n\\echo ${marker}\n`);
    }).then(({ out, err }) => {
      const e = /(ERROR|FATAL):\s+([^\n]*)/.exec(err);
      if (e) throw new Error(e[2]);
      return out;
    });
  };
  // Fail fast on a bad connection: psql exits and the first query rejects.
  await send('select 1');
  return {
    async query<T extends object>(sql: string, params: unknown[] = []) {
      const out = await send(`select replace(coalesce(json_agg(q), '[]'::json)::text, E'\\n', ' ') from (${interpolate(sql, params)}) q`);
      return JSON.parse(out.trim() || '[]') as T[];
    },
    async exec(sql: string, params: unknown[] = []) {
      await send(params.length > 0 ? interpolate(sql, params) : sql);
    },
    async end() {
      if (!closed) h.stdin?.end();
      await h.done.catch(() => undefined);
    },
  };
}
