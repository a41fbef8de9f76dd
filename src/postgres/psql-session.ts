/** One long-lived psql inside the container: a real session (advisory locks hold), queries answered as JSON. */
import type Docker from 'dockerode';
import { execInContainer } from '../docker/exec.ts';
import { lastLines } from './errors.ts';
import { interpolate } from './quote.ts';
import type { SqlSession } from './session.ts';

export async function psqlSession(docker: Docker, id: string, env: string[], conn: string[]): Promise<SqlSession> {
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
