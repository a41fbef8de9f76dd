/**
 * A throwaway PostgreSQL cluster for the PITR tests: Debian's initdb + pg_ctl on a free 127.0.0.1
 * port, in a temp directory, run as the `postgres` user when the tests run as root. Never the
 * system server on 5432.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const PG_BIN = process.env.MODELSHIP_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

function pgUser(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('tests run as root but there is no postgres user to run the cluster');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

export interface Cluster {
  root: string;
  data: string;
  port: number;
  password: string;
  url(db?: string): string;
  start(data?: string): void;
  /** `pg_ctl stop -m immediate`: like pulling the plug. */
  crash(): void;
  stop(data?: string): void;
  cleanup(): void;
}

function run(cmd: string, args: string[], owner: { uid: number; gid: number } | null): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...(owner ? { uid: owner.uid, gid: owner.gid } : {}), cwd: '/' });
  if (r.status !== 0) throw new Error(`${path.basename(cmd)} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

export async function makeCluster(): Promise<Cluster> {
  const owner = pgUser();
  const root = mkdtempSync(path.join(os.tmpdir(), 'modelship-pitr-'));
  if (owner) chownSync(root, owner.uid, owner.gid);
  const data = path.join(root, 'data');
  const port = await freePort();
  const password = 'pitr-super-pass';
  const pw = path.join(root, 'pw');
  writeFileSync(pw, `${password}\n`, { mode: 0o600 });
  if (owner) chownSync(pw, owner.uid, owner.gid);
  run(path.join(PG_BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${pw}`, '-E', 'UTF8', '--locale=C'], owner);
  rmSync(pw);
  let current = data;
  const opts = () => `-p ${port} -c listen_addresses=127.0.0.1 -k ${root} -c wal_level=replica -c max_wal_senders=10 -c max_replication_slots=10 -c fsync=on`;
  return {
    root,
    data,
    port,
    password,
    url: (db = 'postgres') => `postgres://postgres:${password}@127.0.0.1:${port}/${db}`,
    start(dir = data) {
      current = dir;
      run(path.join(PG_BIN, 'pg_ctl'), ['-D', dir, '-o', opts(), '-l', path.join(root, `${path.basename(dir)}.log`), '-w', '-t', '60', 'start'], owner);
    },
    crash() {
      run(path.join(PG_BIN, 'pg_ctl'), ['-D', current, '-m', 'immediate', 'stop'], owner);
    },
    stop(dir = current) {
      if (existsSync(path.join(dir, 'postmaster.pid'))) run(path.join(PG_BIN, 'pg_ctl'), ['-D', dir, '-m', 'fast', '-w', 'stop'], owner);
    },
    cleanup() {
      for (const d of [current, data]) {
        try {
          if (existsSync(path.join(d, 'postmaster.pid'))) execFileSync(path.join(PG_BIN, 'pg_ctl'), ['-D', d, '-m', 'immediate', 'stop'], { stdio: 'ignore', ...(owner ? { uid: owner.uid, gid: owner.gid } : {}) });
        } catch {
          // already down
        }
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}
