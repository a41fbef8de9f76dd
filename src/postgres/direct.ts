/**
 * The database reached directly through a URL (`--direct`): SQL through node-postgres, archives
 * through this host's pg_dump/pg_restore.
 */
import pg from 'pg';
import { ToolError } from './errors.ts';
import type { DbTarget } from './session.ts';
import { findPgTool, runProcess, type ProcResult } from './tools.ts';
import { databaseOf, redactUrl, splitPassword, withDatabase } from './url.ts';

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
      await ok('pg_dump', runProcess(findPgTool('pg_dump', env), ['-Fc', '--no-password', '-f', file, `--dbname=${bareUrl}`], { env: toolEnv, signal }));
    },
    async list(file) {
      return (await ok('pg_restore --list', runProcess(findPgTool('pg_restore', env), ['--list', file], { env: toolEnv, captureStdout: true }))).stdout;
    },
    async readAll(file, signal) {
      await ok('pg_restore (reading the whole archive)', runProcess(findPgTool('pg_restore', env), ['-f', '/dev/null', file], { env: toolEnv, signal }));
    },
    async restore(file, db, signal) {
      await ok(
        'pg_restore',
        runProcess(findPgTool('pg_restore', env), ['--single-transaction', '--exit-on-error', '--no-password', `--dbname=${withDatabase(bareUrl, db)}`, file], { env: toolEnv, signal }),
      );
    },
    async dumpVersion() {
      return (await ok('pg_dump --version', runProcess(findPgTool('pg_dump', env), ['--version'], { env: toolEnv, captureStdout: true }))).stdout.trim();
    },
    async close() {},
  };
}
