import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { runCli } from '../../helpers/cli.ts';
import { LOCK_CLASS } from '../../../src/ops/backup/lock.ts';
import { createDb, dropDbs, randomName, seed, spawnCli, sql, tempDir, urlFor, waitFor } from './pg.ts';

const db = randomName('mst_fail');
const tmp = tempDir();
const cfg = path.join(tmp.dir, 'none.yaml');
const backup = (dir: string, extra: string[] = [], url = urlFor(db)) => runCli(['--config', cfg, 'backup', '--direct', '--database-url', url, '--dir', dir, ...extra]);
const dumpsIn = (dir: string) => readdirSync(dir).filter((f) => !f.startsWith('.modelship'));

before(async () => {
  await createDb(db);
  await seed(db, 200);
});
after(async () => {
  await dropDbs(db);
  tmp.cleanup();
});

/** Holds the backup lock of `db` from another session, as a running backup would. */
async function holdLock(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: urlFor('postgres'), application_name: 'test: a long backup' });
  await c.connect();
  const r = await c.query('select pg_try_advisory_lock($1::int, hashtext($2)) as ok', [LOCK_CLASS, `backup:${db}`]);
  assert.equal(r.rows[0].ok, true);
  return c;
}

test('a second backup exits 1 naming the holder; --wait queues behind it; emergency goes ahead, tagged', async () => {
  const dir = path.join(tmp.dir, 'lock');
  const holder = await holdLock();
  try {
    const r = await backup(dir, ['--wait', '0s']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /another backup or restore of mst_fail_\w+ is running: "test: a long backup" \(server pid \d+, started \d{4}-/);
    assert.match(r.stderr, /--wait/);
    assert.deepEqual(dumpsIn(dir), []);

    const waiting = backup(dir, ['--wait', '20s', '--json']);
    await new Promise((res) => setTimeout(res, 700));
    const em = await runCli(['--config', cfg, '--json', 'emergency', 'backup', '--direct', '--database-url', urlFor(db), '--dir', dir]);
    assert.equal(em.code, 0, em.stderr);
    assert.match(em.stderr, /emergency backup goes ahead/);
    const emj = JSON.parse(em.stdout) as { manifest: { tag: string }; lock: { acquired: boolean } };
    assert.equal(emj.manifest.tag, 'emergency');
    assert.equal(emj.lock.acquired, false);

    await holder.end(); // the "long backup" finishes
    const w = await waiting;
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stderr, /waiting up to 20s for "test: a long backup"/);
  } finally {
    await holder.end().catch(() => undefined);
  }
  const files = dumpsIn(dir).filter((f) => f.endsWith('.dump'));
  assert.equal(files.length, 2);
});

test('two backups at once: both complete, one after the other, under distinct names', async () => {
  const dir = path.join(tmp.dir, 'concurrent');
  const [a, b] = await Promise.all([backup(dir, ['--wait', '30s', '--no-prune', '--json']), backup(dir, ['--wait', '30s', '--no-prune', '--json'])]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const fa = (JSON.parse(a.stdout) as { file: string }).file;
  const fb = (JSON.parse(b.stdout) as { file: string }).file;
  assert.notEqual(fa, fb);
  const v = await runCli(['--config', cfg, 'backup', 'verify', '--all', '--dir', dir, '--direct', '--database-url', urlFor(db)]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
});

test('disk full: exit 1 with the reason, no file and no temp file left', { skip: process.getuid?.() !== 0 ? 'needs root for mount' : false }, async () => {
  const big = randomName('mst_big');
  await createDb(big);
  const mnt = path.join(tmp.dir, 'tiny');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
  try {
    // ~6 MB of incompressible data
    await sql(urlFor(big), `create table blobs (id int primary key, b bytea); insert into blobs select g, decode(string_agg(md5(g::text || random()::text), ''), 'hex') from generate_series(1, 3000) g, generate_series(1, 64) r group by g`);
    const r = await backup(mnt, [], urlFor(big));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /backup failed, no backup file was kept: .*No space left on device/);
    assert.match(r.stderr, /hint: the backup disk is full/);
    assert.deepEqual(readdirSync(mnt), []);
  } finally {
    execFileSync('umount', [mnt]);
    await dropDbs(big);
  }
});

test('interrupted (SIGTERM) mid-dump: exit 1, temp file removed', async () => {
  const dir = path.join(tmp.dir, 'sigterm');
  // pg_dump waits for a table lock held here, so the dump is reliably "in progress".
  const blocker = new pg.Client({ connectionString: urlFor(db) });
  await blocker.connect();
  await blocker.query('begin; lock table orders in access exclusive mode');
  try {
    const child = spawnCli(['--config', cfg, 'backup', '--direct', '--database-url', urlFor(db), '--dir', dir]);
    await waitFor(async () => (await sql(urlFor('postgres'), "select 1 from pg_stat_activity where datname = $1 and application_name = 'modelship' and wait_event_type = 'Lock'", [db])).length > 0, 15_000, 'pg_dump to block');
    assert.equal(readdirSync(dir).filter((f) => f.endsWith('.tmp')).length, 1, 'a temp file exists while dumping');
    child.proc.kill('SIGTERM');
    const exit = await child.exit;
    assert.equal(exit.code, 1, child.stderr());
    assert.match(child.stderr(), /backup interrupted: no backup file was kept/);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    await blocker.query('rollback');
    await blocker.end();
  }
});

test('server killed mid-dump (throwaway cluster): exit 1, no file', { skip: process.getuid?.() !== 0 ? 'needs root to run a cluster as postgres' : false }, async () => {
  const bin = execFileSync('pg_config', ['--bindir']).toString().trim();
  const base = path.join(tmp.dir, 'cluster');
  mkdirSync(base);
  chmodSync(tmp.dir, 0o755);
  execFileSync('chown', ['postgres', base]);
  const data = path.join(base, 'data');
  const port = String(56000 + Math.floor(Math.random() * 1000));
  const asPg = (cmd: string, args: string[]) => execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'pipe' });
  asPg(`${bin}/initdb`, ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8']);
  asPg(`${bin}/pg_ctl`, ['-D', data, '-o', `-p ${port} -k ${base} -c listen_addresses=127.0.0.1`, '-w', '-l', path.join(base, 'log'), 'start']);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const dir = path.join(tmp.dir, 'killed');
  let blocker: pg.Client | null = null;
  try {
    await sql(url, 'create table t (id int primary key, v text); insert into t select g, md5(g::text) from generate_series(1, 10000) g');
    blocker = new pg.Client({ connectionString: url });
    blocker.on('error', () => undefined);
    await blocker.connect();
    await blocker.query('begin; lock table t in access exclusive mode');
    const child = spawnCli(['--config', cfg, 'backup', '--direct', '--database-url', url, '--dir', dir]);
    await waitFor(async () => (await sql(url, "select 1 from pg_stat_activity where application_name = 'modelship' and wait_event_type = 'Lock'")).length > 0, 15_000, 'pg_dump to block');
    asPg(`${bin}/pg_ctl`, ['-D', data, '-m', 'immediate', 'stop']);
    const exit = await child.exit;
    assert.equal(exit.code, 1, child.stderr());
    assert.match(child.stderr(), /backup failed, no backup file was kept: pg_dump failed \(exit code 1\)/);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    await blocker?.end().catch(() => undefined);
    try {
      asPg(`${bin}/pg_ctl`, ['-D', data, '-m', 'immediate', 'stop']);
    } catch {
      // already stopped
    }
  }
});
