/**
 * The PostgreSQL client programs on this host (pg_dump, pg_restore, …), run through execa: stderr
 * kept (its tail, for the message), stdout captured only when asked, SIGTERM when the signal aborts.
 * A failure is returned, not thrown: callers turn it into a ToolError with their own wording.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { UserError } from '../util/errors.ts';
import type { ToolFailure } from './errors.ts';

export interface ProcResult extends ToolFailure {
  stdout: string;
}

/**
 * Where a PostgreSQL program is: `MODELSHIP_PG_BIN/tool`, else PATH, else the newest
 * /usr/lib/postgresql/N/bin (Debian installs pg_verifybackup and the server there, not on PATH).
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
  throw new UserError(`${tool} not found on this host`, { hint: NOT_FOUND_HINT });
}

const NOT_FOUND_HINT = 'install the PostgreSQL client tools of the server\'s major version or newer (postgresql-client-N), or set MODELSHIP_PG_BIN to their bin directory';

/** stderr beyond this is dropped from the front: the last lines carry the reason. */
const STDERR_TAIL = 65536;

export async function runProcess(cmd: string, args: string[], opts: { env: NodeJS.ProcessEnv; signal?: AbortSignal | undefined; captureStdout?: boolean }): Promise<ProcResult> {
  const child = execa(cmd, args, {
    env: opts.env,
    extendEnv: false,
    stdin: 'ignore',
    stdout: opts.captureStdout ? 'pipe' : 'ignore',
    buffer: { stdout: opts.captureStdout === true, stderr: false },
    stripFinalNewline: false,
    reject: false,
    ...(opts.signal ? { cancelSignal: opts.signal } : {}),
    killSignal: 'SIGTERM',
    // execa's cleanup installs signal-exit's SIGTERM/SIGINT listeners, which re-raise the signal
    // when they are the last ones left: the CLI's own handler (withSignals, a `once` listener) is
    // then gone and the process dies by the signal instead of removing its temp file and exiting 1.
    // The abort signal is how a caller stops the program.
    cleanup: false,
  });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString('utf8');
    if (stderr.length > STDERR_TAIL) stderr = stderr.slice(-STDERR_TAIL);
  });
  const r = await child;
  if (r.code === 'ENOENT') {
    throw new UserError(`${cmd} not found on this host`, { hint: NOT_FOUND_HINT });
  }
  if (r.exitCode === undefined && r.signal === undefined) throw new Error(`${cmd}: ${r.shortMessage}`, { cause: r.cause });
  return { exitCode: r.exitCode ?? null, signal: r.signal ?? null, stderr, stdout: typeof r.stdout === 'string' ? r.stdout : '' };
}
