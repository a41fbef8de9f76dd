/**
 * Point-in-time recovery against a real PostgreSQL (a throwaway Debian cluster): the scheduler
 * streams WAL and takes a base backup, a writer commits numbered rows, the data directory is
 * destroyed, and `restore --to-latest` / `--to-time` bring back exactly what they promise.
 * With backups.encryption.recipients set, as here: nothing in the backup directory but the segment
 * being filled holds a row in plain, and no restore runs without the identity.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Decrypter, generateIdentity, identityToRecipient } from 'age-encryption';
import pg from 'pg';
import { runCli } from '../../helpers/cli.ts';
import { spawnCli, waitFor, type Child } from '../db/pg.ts';
import { freePort, makeCluster, type Cluster } from './cluster.ts';

let cl: Cluster;
let proj: string;
let cfg: string;
const DB = 'pitrdb';
/** In every row (the column's default): a file that holds it holds rows in plain. */
const MARKER = 'ROW-MARKER-c0ffee-plain';
let identity: string;
let keyFile: string;

const cli = (args: string[]) => runCli(['--config', cfg, ...args], { env: { ...process.env, NO_COLOR: '1' } });
const dbFlags = () => ['--direct', '--database-url', cl.url(DB)];

async function q<T extends object>(text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: cl.url(DB) });
  await c.connect();
  try {
    return (await c.query(text, params)).rows as T[];
  } finally {
    await c.end();
  }
}

before(async () => {
  cl = await makeCluster();
  cl.start();
  const admin = new pg.Client({ connectionString: cl.url('postgres') });
  await admin.connect();
  await admin.query(`create database ${DB}`);
  await admin.end();
  await q(`create table t (n int primary key, at timestamptz not null default clock_timestamp(), note text not null default '${MARKER}')`);
  proj = path.join(cl.root, 'proj');
  mkdirSync(proj);
  cfg = path.join(proj, 'modelship.config.yaml');
  identity = await generateIdentity();
  keyFile = path.join(cl.root, 'age-key.txt');
  writeFileSync(keyFile, `# test key\n${identity}\n`, { mode: 0o600 });
  writeFileSync(
    cfg,
    ['version: 1', 'project: pitrtest', 'tls:', '  mode: off', 'postgres:', `  database: ${DB}`, '  user: postgres', 'backups:', '  dir: ./backups', '  pitr:', '    enabled: true', '  encryption:', `    recipients: [${await identityToRecipient(identity)}]`, ''].join('\n'),
  );
  writeFileSync(
    path.join(proj, '.env'),
    `SECRET_KEY=${'k'.repeat(40)}\nPOSTGRES_PASSWORD=${cl.password}\nREDIS_PASSWORD=${'r'.repeat(24)}\nGRAFANA_ADMIN_PASSWORD=${'g'.repeat(20)}\nREPLICATION_PASSWORD=repl-pass-0123456789\n`,
    { mode: 0o600 },
  );
});

after(() => cl?.cleanup());

interface WalStatus {
  lastBase: { name: string } | null;
  lag: { connected: boolean; bytes: number | null; seconds: number | null } | null;
  archive: { segments: number; newest: string | null };
}

async function walStatus(): Promise<WalStatus> {
  const r = await cli(['--json', 'backup', 'wal', ...dbFlags()]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as WalStatus;
}

async function startScheduler(): Promise<{ child: Child; metrics: number }> {
  const metrics = await freePort();
  const child = spawnCli(['--config', cfg, 'schedule', ...dbFlags(), '--metrics-port', String(metrics)]);
  try {
    await waitFor(
      async () => {
        if (child.proc.exitCode !== null) throw new Error('scheduler exited');
        const s = await walStatus();
        return s.lastBase && s.lag?.connected ? s : null;
      },
      120_000,
      'a base backup and a streaming receiver',
    );
  } catch (err) {
    child.proc.kill('SIGKILL');
    throw new Error(`${(err as Error).message}; scheduler said: ${child.stdout()}${child.stderr()}`, { cause: err });
  }
  return { child, metrics };
}

async function stopScheduler(c: Child): Promise<void> {
  c.proc.kill('SIGTERM');
  const e = await c.exit;
  assert.equal(e.code, 0, c.stdout() + c.stderr());
}

interface Commit {
  n: number;
  before: number;
  after: number;
}

/** Commits rows 1, 2, 3… one per transaction, ~every 8 ms, until told to stop or the server dies. */
function startWriter(from = 1): { commits: Commit[]; stop: () => Promise<void> } {
  const commits: Commit[] = [];
  let stopping = false;
  const done = (async () => {
    const c = new pg.Client({ connectionString: cl.url(DB) });
    c.on('error', () => undefined);
    await c.connect();
    for (let n = from; !stopping && n < from + 100_000; n++) {
      const t0 = Date.now();
      try {
        await c.query('insert into t (n) values ($1)', [n]);
      } catch {
        break;
      }
      commits.push({ n, before: t0, after: Date.now() });
      await new Promise((r) => setTimeout(r, 8));
    }
    await c.end().catch(() => undefined);
  })();
  return {
    commits,
    stop: async () => {
      stopping = true;
      await done;
    },
  };
}

/** Every file under `dir`, relative. */
function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as Array<{ isFile(): boolean; parentPath: string; name: string }>)
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

async function decrypted(file: string): Promise<Buffer> {
  const d = new Decrypter();
  d.addIdentity(identity);
  return Buffer.from(await d.decrypt(readFileSync(file)));
}

function rowsIn(dir: string): Promise<{ n: number; max: number }> {
  cl.start(dir);
  return q<{ n: number; max: number | null }>('select count(*)::int as n, coalesce(max(n), 0)::int as max from t').then((r) => ({ n: r[0]!.n, max: r[0]!.max ?? 0 }));
}

test('restore --to-latest after the data directory is destroyed: every row committed more than 1 s before is back; --to-time is exact', async () => {
  const s1 = await startScheduler();
  const w = startWriter();
  await new Promise((r) => setTimeout(r, 3000));
  const m = await fetch(`http://127.0.0.1:${s1.metrics}/metrics`).then((r) => r.text());
  assert.match(m, /^modelship_pitr_wal_receiver_up 1$/m);
  assert.match(m, /^modelship_pitr_last_rehearsal_ok 0$/m, "no rehearsal yet: 0");
  assert.match(m, /^modelship_pitr_last_base_backup_timestamp_seconds \d+/m);
  const lagSec = Number(/^modelship_pitr_wal_lag_seconds (\S+)$/m.exec(m)?.[1]);
  assert.ok(lagSec >= 0 && lagSec < 1, `archive lag under load ${lagSec}s`);
  const dump = await cli(['--json', 'backup', ...dbFlags()]);
  assert.equal(dump.code, 0, dump.stderr);
  const dumped = JSON.parse(dump.stdout) as { path: string; manifest: { encryption?: { plainSha256: string } } };
  await new Promise((r) => setTimeout(r, 1500));

  // Destroy: the server dies mid-write (immediate shutdown = no checkpoint) and its directory goes.
  const destroyedAt = Date.now();
  cl.crash();
  await w.stop();
  rmSync(cl.data, { recursive: true, force: true });
  await stopScheduler(s1.child);
  const committed = w.commits;
  const highest = committed.at(-1)!.n;
  const mustHave = committed.filter((c) => c.after < destroyedAt - 1000).at(-1)!.n;

  // Encrypted at rest: the dump, the base backup and every complete WAL segment; only the segment
  // pg_receivewal was filling is plain. History files hold LSNs only.
  const backups = path.join(proj, 'backups');
  const files = filesUnder(backups);
  const plainRows = files.filter((f) => !f.endsWith('.partial') && readFileSync(path.join(backups, f)).includes(MARKER));
  assert.deepEqual(plainRows, [], 'no file but the .partial holds a row in plain');
  const walFiles = files.filter((f) => /^pitr\/wal\/[0-9A-F]{24}/.test(f));
  assert.ok(walFiles.some((f) => f.endsWith('.age')), `sealed WAL segments: ${walFiles.join(' ')}`);
  assert.deepEqual(walFiles.filter((f) => !f.endsWith('.age') && !f.endsWith('.partial')), [], 'every complete segment is sealed');
  assert.ok(files.some((f) => /^pitr\/base\/\d{8}T\d{6}Z\/base\.tar\.age$/.test(f)) && !files.some((f) => /^pitr\/base\/[^/]+\/data\//.test(f)), 'the base backup is one sealed file');
  assert.ok(!readFileSync(dumped.path).includes('PGDMP'), 'the dump is sealed');
  const plainDump = await decrypted(dumped.path);
  assert.equal(createHash('sha256').update(plainDump).digest('hex'), dumped.manifest.encryption?.plainSha256, 'decrypted, the dump is byte-identical to what pg_dump wrote');
  assert.equal(plainDump.subarray(0, 5).toString(), 'PGDMP');
  const verifyNoKey = await cli(['--json', 'backup', 'verify', dumped.path, ...dbFlags()]);
  assert.equal(verifyNoKey.code, 0, verifyNoKey.stderr);
  assert.match(verifyNoKey.stdout, /needs --identity/);

  // Without the identity every restore is refused before anything is built.
  const noKey = await cli(['--yes', 'restore', '--to-latest', ...dbFlags(), '--pgdata', cl.data]);
  assert.equal(noKey.code, 2, noKey.stderr);
  assert.match(noKey.stderr, /is encrypted \(age\) and no identity was given.*nothing was changed/);
  assert.match(noKey.stderr, /--identity FILE/);
  assert.ok(!existsSync(cl.data) && readdirSync(path.dirname(cl.data)).every((f) => !f.includes('.restore-')), 'nothing was built');
  const noKeyDump = await cli(['--yes', 'restore', dumped.path, '--verify-only', ...dbFlags()]);
  assert.equal(noKeyDump.code, 2, noKeyDump.stderr);
  assert.match(noKeyDump.stderr, /is encrypted \(age\) and no identity was given/);

  const r = await cli(['--yes', '--json', 'restore', '--to-latest', ...dbFlags(), '--pgdata', cl.data, '--check-sql', 'select count(*) > 0 from t', '--identity', keyFile]);
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout) as { verifyOnly: boolean; previous: string | null; tables: number; recoveredTo: string };
  assert.equal(res.verifyOnly, false);
  assert.equal(res.previous, null, 'nothing to keep: the directory was gone');
  assert.equal(res.tables, 1);
  const got = await rowsIn(cl.data);
  console.log(`to-latest: highest committed ${highest}, restored ${got.max} (${got.n} rows); every row committed >1 s before the destruction (≤ ${mustHave}) must be there`);
  assert.ok(got.max >= mustHave, `restored up to ${got.max}, committed ${mustHave} more than 1 s before the destruction`);
  assert.equal(got.n, got.max, 'no holes');
  const dumpTest = await cli(['--json', 'restore', dumped.path, '--verify-only', ...dbFlags(), '--identity', keyFile]);
  assert.equal(dumpTest.code, 0, dumpTest.stderr);
  assert.equal((JSON.parse(dumpTest.stdout) as { tables: number }).tables, 1, 'the decrypted dump restores');

  // The archive resumes on the restored server's new timeline, and a base backup for it is taken.
  const s2 = await startScheduler();
  const w2 = startWriter(got.max + 1);
  await new Promise((r2) => setTimeout(r2, 1500));
  await w2.stop();
  const st = await waitFor(async () => {
    const s = await walStatus();
    return s.lag?.connected && s.lag.bytes === 0 ? s : null;
  }, 30_000, 'the receiver to catch up on the new timeline');
  assert.match(st.archive.newest ?? '', /^00000002/, 'streaming on timeline 2');
  await stopScheduler(s2.child);
  cl.stop();

  // --to-time: a moment between two commits of the first run; exactly the rows up to it.
  const k = committed.findIndex((c, i) => i > 20 && committed[i + 1] && committed[i + 1]!.before - c.after >= 3);
  assert.ok(k > 0);
  const T = new Date(committed[k]!.after + Math.floor((committed[k + 1]!.before - committed[k]!.after) / 2));
  const want = committed[k]!.n;
  const rehearse = await cli(['--json', 'restore', '--to-time', T.toISOString(), '--verify-only', ...dbFlags(), '--pgdata', cl.data, '--identity', keyFile, '--check-sql', `select count(*) = ${want} and max(n) = ${want} from t`]);
  assert.equal(rehearse.code, 0, rehearse.stderr);
  const wrong = await cli(['restore', '--to-time', T.toISOString(), '--verify-only', ...dbFlags(), '--pgdata', cl.data, '--identity', keyFile, '--check-sql', `select max(n) = ${want + 1} from t`]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /--check-sql returned false on the recovered database; nothing was changed/);
  const doctorish = await cli(['--json', 'backup', 'wal']);
  assert.equal((JSON.parse(doctorish.stdout) as { rehearsal: { ok: boolean } }).rehearsal.ok, false, 'the failed rehearsal is recorded');

  const tdir = path.join(cl.root, 'data-at-t');
  const rt = await runCli(['--config', cfg, '--yes', 'restore', '--to-time', T.toISOString(), ...dbFlags(), '--pgdata', tdir], { env: { ...process.env, NO_COLOR: '1', MODELSHIP_AGE_IDENTITY_FILE: keyFile } });
  assert.equal(rt.code, 0, rt.stderr);
  const atT = await rowsIn(tdir);
  console.log(`to-time ${T.toISOString()}: expected rows 1..${want}, restored ${atT.n} rows, max ${atT.max}`);
  assert.deepEqual(atT, { n: want, max: want });
  cl.stop(tdir);

  // That restore abandoned timeline 2: --timeline 2 replays along it to a moment that exists only there.
  const c2 = w2.commits;
  const k2 = c2.findIndex((c, i) => i > 5 && c2[i + 1] && c2[i + 1]!.before - c.after >= 3);
  assert.ok(k2 > 0, 'a gap between two commits on timeline 2');
  const T2 = new Date(c2[k2]!.after + Math.floor((c2[k2 + 1]!.before - c2[k2]!.after) / 2));
  const want2 = c2[k2]!.n;
  const onTl2 = await cli(['restore', '--to-time', T2.toISOString(), '--timeline', '2', '--verify-only', ...dbFlags(), '--pgdata', cl.data, '--identity', keyFile, '--check-sql', `select count(*) = ${want2} and max(n) = ${want2} from t`]);
  assert.equal(onTl2.code, 0, onTl2.stderr);
  console.log(`--timeline 2 --to-time ${T2.toISOString()}: rows 1..${want2} as committed on the abandoned timeline 2`);
  const noTl = await cli(['restore', '--to-latest', '--timeline', '9', '--verify-only', ...dbFlags(), '--pgdata', cl.data, '--identity', keyFile]);
  assert.equal(noTl.code, 2);
  assert.match(noTl.stderr, /--timeline 9: the archive has no 00000009\.history/);
});

test('usage errors: no zone, both targets, a file with a target; a time before every base backup', async () => {
  const noZone = await cli(['restore', '--to-time', '2026-12-01 10:14:05', ...dbFlags(), '--pgdata', cl.data]);
  assert.equal(noZone.code, 2);
  assert.match(noZone.stderr, /has no time zone: add one, e\.g\. "2026-12-01 10:14:05\+00"/);
  const both = await cli(['restore', '--to-time', '2026-12-01 10:14:05+00', '--to-latest', ...dbFlags()]);
  assert.equal(both.code, 2);
  const early = await cli(['restore', '--to-time', '2001-01-01 00:00:00+00', ...dbFlags(), '--pgdata', cl.data, '--verify-only']);
  assert.equal(early.code, 1);
  assert.match(early.stderr, /no base backup was complete at 2001-01-01 00:00:00\.000000\+00/);
});
