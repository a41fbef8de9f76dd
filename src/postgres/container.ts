/**
 * The stack's postgres container, reached through the Docker exec API: pg_dump/pg_restore run
 * inside it with the archive streamed over the exec's stdio, SQL through a long-lived psql.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type Docker from 'dockerode';
import { connectDocker, findServiceContainer } from '../docker/client.ts';
import { execInContainer } from '../docker/exec.ts';
import { UserError } from '../util/errors.ts';
import { SERVICE } from '../stack/names.ts';
import { ToolError } from './errors.ts';
import { psqlSession } from './psql-session.ts';
import type { DbTarget } from './session.ts';

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
