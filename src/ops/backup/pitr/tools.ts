/**
 * The PostgreSQL programs point-in-time recovery runs on this host (pg_basebackup, pg_receivewal,
 * pg_verifybackup, postgres): where they are and how to reach the server for replication.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../../../util/errors.ts';
import { ToolError } from '../../../postgres/errors.ts';
import { runProcess, type ProcResult } from '../../../postgres/tools.ts';
import { splitPassword } from '../../../postgres/url.ts';

/**
 * MODELSHIP_PG_BIN, else PATH, else the newest /usr/lib/postgresql/N/bin (Debian installs
 * pg_verifybackup and the server there, not on PATH).
 */
export function findPgTool(tool: string, env: NodeJS.ProcessEnv, libRoot = '/usr/lib/postgresql'): string {
  if (env.MODELSHIP_PG_BIN) return path.join(env.MODELSHIP_PG_BIN, tool);
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, tool))) return path.join(dir, tool);
  }
  let versions: string[] = [];
  try {
    versions = readdirSync(libRoot).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  } catch {
    // no Debian layout
  }
  for (const v of versions) {
    const p = path.join(libRoot, v, 'bin', tool);
    if (existsSync(p)) return p;
  }
  throw new UserError(`${tool} not found on this host`, {
    hint: 'install the PostgreSQL client tools of the server\'s major version or newer (postgresql-client-N), or set MODELSHIP_PG_BIN to their bin directory',
  });
}

export async function toolVersion(tool: string, env: NodeJS.ProcessEnv): Promise<string> {
  const r = await runProcess(findPgTool(tool, env), ['--version'], { env, captureStdout: true });
  if (r.exitCode !== 0) throw new ToolError(`${tool} --version`, r);
  return r.stdout.trim();
}

export async function runTool(what: string, tool: string, args: string[], env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<ProcResult> {
  const r = await runProcess(findPgTool(tool, env), args, { env, signal, captureStdout: true });
  if (r.exitCode !== 0 || r.signal) throw new ToolError(what, r);
  return r;
}

export interface ReplicationConn {
  /** libpq keyword/value connection string without the password. */
  conninfo: string;
  /** Environment for the tools (PGPASSWORD when there is one). */
  env: NodeJS.ProcessEnv;
  user: string;
  describe: string;
}

function kv(k: string, v: string): string {
  return `${k}='${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** The replication connection to the server behind `databaseUrl`, as the replication role. */
export function replicationConn(databaseUrl: string, user: string, password: string | undefined, env: NodeJS.ProcessEnv, appName = 'modelship_pitr'): ReplicationConn {
  const u = new URL(splitPassword(databaseUrl).url);
  const host = decodeURIComponent(u.hostname.replace(/^\[|\]$/g, '')) || 'localhost';
  const port = u.port || '5432';
  const parts = [kv('host', host), kv('port', port), kv('user', user), kv('application_name', appName)];
  const sslmode = u.searchParams.get('sslmode');
  if (sslmode) parts.push(kv('sslmode', sslmode));
  return {
    conninfo: parts.join(' '),
    env: { ...env, ...(password ? { PGPASSWORD: password } : {}), PGCONNECT_TIMEOUT: env.PGCONNECT_TIMEOUT ?? '10' },
    user,
    describe: `${user}@${host}:${port}`,
  };
}
