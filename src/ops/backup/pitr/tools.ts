/**
 * The PostgreSQL programs point-in-time recovery runs on this host (pg_basebackup, pg_receivewal,
 * pg_verifybackup, postgres): where they are and how to reach the server for replication.
 */
import { ToolError } from '../../../postgres/errors.ts';
import { findPgTool, runProcess, type ProcResult } from '../../../postgres/tools.ts';
import { splitPassword } from '../../../postgres/url.ts';

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
