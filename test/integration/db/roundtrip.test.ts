import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { runCli } from '../../helpers/cli.ts';
import { createDb, dropDbs, pgDumpText, randomName, seed, sql, tempDir, urlFor } from './pg.ts';

const db = randomName('mst_rt');
const tmp = tempDir();
const cfg = path.join(tmp.dir, 'none.yaml'); // --direct with a URL needs no config file
const flags = (d = db) => ['--direct', '--database-url', urlFor(d), '--dir', tmp.dir];
const cli = (args: string[], d = db) => runCli(['--config', cfg, ...args, ...(args[0] === 'db' ? flags(d).slice(0, 3) : flags(d))]);

before(async () => {
  await createDb(db);
  await seed(db);
});
after(async () => {
  await dropDbs(db);
  tmp.cleanup();
});

let backupFile = '';
let original = '';

test('backup writes a verified archive, its sha256 and manifest, and nothing else', async () => {
  original = pgDumpText(db);
  const r = await cli(['backup', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { path: string; manifest: { tableCount: number; verified: boolean; sizeBytes: number; sha256: string; database: string } };
  backupFile = j.path;
  assert.equal(j.manifest.tableCount, 2);
  assert.equal(j.manifest.verified, true);
  assert.equal(j.manifest.database, db);
  const files = readdirSync(tmp.dir).sort();
  const stem = path.basename(backupFile, '.dump');
  assert.deepEqual(files, [`${stem}.dump`, `${stem}.manifest.json`, `${stem}.sha256`]);
  assert.match(stem, new RegExp(`^${db}-\\d{8}T\\d{6}Z$`));
  assert.equal(readFileSync(path.join(tmp.dir, `${stem}.sha256`), 'utf8'), `${j.manifest.sha256}  ${stem}.dump\n`);

  const list = await cli(['backup', 'list', '--json']);
  assert.equal(list.code, 0, list.stderr);
  const l = JSON.parse(list.stdout) as { backups: { file: string; verified: boolean }[] };
  assert.deepEqual(l.backups.map((b) => [b.file, b.verified]), [[`${stem}.dump`, true]]);

  const v = await cli(['backup', 'verify', backupFile]);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^ok /);
});

test('restore without --yes and without a terminal asks nothing and exits 2', async () => {
  const r = await cli(['restore', backupFile]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /pass --yes/);
  assert.equal((await sql(urlFor('postgres'), 'select 1 from pg_database where datname like $1', [`${db}\\_%`])).length, 0, 'no scratch database left');
});

test('round trip: damage the data, restore, and the dump equals the original; the old database is kept', async () => {
  await sql(urlFor(db), "delete from orders where id % 2 = 0; drop view big_orders; update users set mood = 'bad'");
  assert.notEqual(pgDumpText(db), original);
  const r = await cli(['--yes', 'restore', backupFile, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { database: string; previous: string; tables: number };
  assert.equal(j.database, db);
  assert.equal(j.tables, 2);
  assert.equal(pgDumpText(db), original);
  assert.match(j.previous, new RegExp(`^${db}_pre_restore_\\d{8}t\\d{6}z$`));
  assert.equal(Number((await sql<{ n: string }>(urlFor(j.previous), 'select count(*) as n from orders'))[0]!.n), 500, 'previous database kept as it was');
});

test('round trip: drop the database entirely, restore recreates it', async () => {
  await dropDbs(db);
  const r = await cli(['restore', backupFile]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(pgDumpText(db), original);
  // constraints came back and hold
  await assert.rejects(sql(urlFor(db), 'insert into orders (user_id, amount) values (999999, 1)'), /foreign key/);
  await assert.rejects(sql(urlFor(db), 'insert into orders (user_id, amount) values (1, -1)'), /check constraint/);
  assert.equal((await sql<{ v: string }>(urlFor(db), "select nextval('invoice_no')::text as v"))[0]!.v, '1235');
});

test('restore --target-db leaves the live database alone', async () => {
  const other = `${db}_copy`;
  const r = await cli(['restore', backupFile, '--target-db', other]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(pgDumpText(other), original);
});

test('restore --verify-only: full test restore, throwaway database dropped, time recorded', async () => {
  const r = await cli(['restore', backupFile, '--verify-only', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const left = await sql(urlFor('postgres'), 'select datname from pg_database where datname like $1', [`${db}\\_restore\\_%`]);
  assert.equal(left.length, 0);
  const state = JSON.parse(readFileSync(path.join(tmp.dir, '.modelship-verify.json'), 'utf8')) as { lastRestoreTest: { ok: boolean; file: string; tables: number } };
  assert.equal(state.lastRestoreTest.ok, true);
  assert.equal(state.lastRestoreTest.file, path.basename(backupFile));
  const m = JSON.parse(readFileSync(backupFile.replace(/\.dump$/, '.manifest.json'), 'utf8')) as { restoreTestedAt?: string };
  assert.ok(m.restoreTestedAt);
});

test('a corrupted archive is refused and the live database is untouched', async () => {
  const before = pgDumpText(db);
  const { copyFileSync, writeFileSync } = await import('node:fs');
  const stem = backupFile.replace(/\.dump$/, '');
  const bad = `${path.dirname(backupFile)}/${db}-20200101T000000Z`;
  copyFileSync(`${stem}.dump`, `${bad}.dump`);
  copyFileSync(`${stem}.manifest.json`, `${bad}.manifest.json`);
  writeFileSync(`${bad}.manifest.json`, readFileSync(`${bad}.manifest.json`, 'utf8').replace(path.basename(stem), path.basename(bad)));
  const buf = readFileSync(`${bad}.dump`);
  buf.fill(0x41, Math.floor(buf.length / 2), Math.floor(buf.length / 2) + 64);
  writeFileSync(`${bad}.dump`, buf);
  const r = await cli(['--yes', 'restore', `${bad}.dump`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /refusing to restore .*checksum/);
  assert.equal(pgDumpText(db), before);
  const v = await cli(['backup', 'verify', '--all']);
  assert.equal(v.code, 1);
  assert.match(v.stdout, /FAILED .*20200101T000000Z/);
  // A file that is not an archive at all, with no manifest
  writeFileSync(path.join(tmp.dir, `${db}-20200102T000000Z.dump`), 'not a dump');
  const r2 = await cli(['--yes', 'restore', path.join(tmp.dir, `${db}-20200102T000000Z.dump`)]);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /not verified/);
  // the broken files are listed, never pruned
  const p = await cli(['backup', 'prune', '--dry-run', '--json']);
  const plan = JSON.parse(p.stdout) as { decisions: { file: string; action: string }[] };
  for (const d of plan.decisions) if (d.file.includes('2020010')) assert.equal(d.action, 'keep');
});

test('a restore that fails half way rolls back and leaves the live database untouched', async () => {
  // An archive whose restore fails: it needs a role this server does not have.
  const src = randomName('mst_rf');
  await createDb(src);
  const role = randomName('mst_role');
  try {
    await sql(urlFor('postgres'), `create role ${role}`);
    await sql(urlFor(src), `create table t (id int primary key); insert into t values (1); create table t2 (id int); alter table t2 owner to ${role}`);
    const r = await cli(['backup', '--no-prune', '--json'], src);
    assert.equal(r.code, 0, r.stderr);
    const file = (JSON.parse(r.stdout) as { path: string }).path;
    await sql(urlFor(src), `alter table t2 owner to postgres`);
    await sql(urlFor('postgres'), `drop role ${role}`);
    await sql(urlFor(src), 'insert into t values (2)');
    const res = await cli(['--yes', 'restore', file], src);
    assert.equal(res.code, 1, res.stdout);
    assert.match(res.stderr, /restore failed, the live database .* is untouched/);
    assert.equal((await sql(urlFor(src), 'select count(*)::int as n from t'))[0]!.n, 2);
    assert.equal((await sql(urlFor('postgres'), 'select datname from pg_database where datname like $1', [`${src}\\_%`])).length, 0, 'scratch database dropped');
  } finally {
    await dropDbs(src);
    await sql(urlFor('postgres'), `drop role if exists ${role}`);
  }
});

test('db reports and maintenance', async () => {
  const size = await cli(['db', 'size', '--json']);
  assert.equal(size.code, 0, size.stderr);
  const s = JSON.parse(size.stdout) as { database: string; bytes: number; tables: { table: string }[] };
  assert.equal(s.database, db);
  assert.ok(s.bytes > 0);
  assert.deepEqual(s.tables.map((t) => t.table).sort(), ['public.orders', 'public.users']);
  const c = await cli(['db', 'connections', '--json']);
  assert.equal(c.code, 0, c.stderr);
  const cj = JSON.parse(c.stdout) as { total: number; maxConnections: number; byState: { state: string }[] };
  assert.ok(cj.total >= 1 && cj.maxConnections > 0);
  const v = await cli(['db', 'vacuum', '--analyze', '--table', 'orders']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /VACUUM \(ANALYZE\) public\.orders: done/);
  const nt = await cli(['db', 'vacuum', '--table', 'nope']);
  assert.equal(nt.code, 1);
  const sq = await cli(['db', 'slow-queries']);
  if (sq.code === 1) assert.match(sq.stderr, /pg_stat_statements .*(not installed|not loaded)[\s\S]*hint/);
  else assert.equal(sq.code, 0, sq.stderr);
});

test('wrong password: exit 1, a human message, no file', async () => {
  const t2 = tempDir();
  try {
    const u = new URL(urlFor(db));
    u.password = 'definitely-wrong';
    const r = await runCli(['--config', cfg, 'backup', '--direct', '--database-url', u.toString(), '--dir', t2.dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /password authentication failed/);
    assert.match(r.stderr, /hint: check the password/);
    assert.doesNotMatch(r.stderr, /definitely-wrong/);
    assert.deepEqual(readdirSync(t2.dir), []);
  } finally {
    t2.cleanup();
  }
});

test('exists', () => assert.ok(existsSync(backupFile)));
