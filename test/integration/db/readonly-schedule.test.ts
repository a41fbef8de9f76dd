import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { runCli } from '../../helpers/cli.ts';
import { runScheduler } from '../../../src/ops/backup/schedule.ts';
import { migrate } from '../../../src/db/migrate.ts';
import { directTarget } from '../../../src/postgres/direct.ts';
import { createDb, dropDbs, randomName, seed, spawnCli, sql, tempDir, urlFor, waitFor } from './pg.ts';

const db = randomName('mst_ro');
const tmp = tempDir();
const cfg = path.join(tmp.dir, 'none.yaml');
const ro = (state: string) => runCli(['--config', cfg, '--json', 'emergency', 'read-only', state, '--direct', '--database-url', urlFor(db)]);

before(async () => {
  await createDb(db);
  await seed(db, 50);
});
after(async () => {
  await dropDbs(db);
  tmp.cleanup();
});

test('read-only on: writes fail, reads work, idle sessions are ended; idempotent; off restores writes', async () => {
  const idle = new pg.Client({ connectionString: urlFor(db) });
  idle.on('error', () => undefined);
  await idle.connect();
  const on = await ro('on');
  assert.equal(on.code, 0, on.stderr);
  const j = JSON.parse(on.stdout) as { readOnly: boolean; changed: boolean; terminated: number };
  assert.deepEqual([j.readOnly, j.changed], [true, true]);
  assert.ok(j.terminated >= 1);
  await assert.rejects(idle.query('select 1'), 'the idle session was ended');

  await assert.rejects(sql(urlFor(db), "insert into users (email) values ('new@x.test')"), /read-only transaction/);
  assert.equal((await sql<{ n: number }>(urlFor(db), 'select count(*)::int as n from users'))[0]!.n, 50);

  const again = await ro('on');
  assert.equal((JSON.parse(again.stdout) as { changed: boolean; readOnly: boolean }).changed, false);
  const st = await ro('status');
  assert.equal((JSON.parse(st.stdout) as { readOnly: boolean }).readOnly, true);
  const human = await runCli(['--config', cfg, 'emergency', 'read-only', 'status', '--direct', '--database-url', urlFor(db)]);
  assert.match(human.stdout, /READ-ONLY/);

  // backups still work on a read-only database
  const b = await runCli(['--config', cfg, 'backup', '--direct', '--database-url', urlFor(db), '--dir', path.join(tmp.dir, 'ro-backups')]);
  assert.equal(b.code, 0, b.stderr);

  const off = await ro('off');
  assert.equal(off.code, 0, off.stderr);
  assert.equal((JSON.parse(off.stdout) as { readOnly: boolean }).readOnly, false);
  await sql(urlFor(db), "insert into users (email) values ('new@x.test')");
  const bad = await ro('maybe');
  assert.equal(bad.code, 2);
});

test('migrations: applied once, in a transaction, recorded; a failing one rolls back; an edited one is refused', async () => {
  const dir = mkdtempSync(path.join(tmp.dir, 'mig-'));
  writeFileSync(path.join(dir, '0001_one.sql'), 'create table m1 (id int primary key);');
  writeFileSync(path.join(dir, '0002_two.sql'), "insert into m1 values (1); create table m2 (x int); select 1/0;");
  const t = directTarget(urlFor(db), process.env);
  const s = await t.connect();
  try {
    await assert.rejects(migrate(s, { dir }), /0002_two.sql failed and was rolled back: division by zero/);
    assert.equal((await s.query('select version from schema_migrations')).length, 1);
    assert.equal((await s.query("select to_regclass('m2') as r"))[0]!.r, null);
    writeFileSync(path.join(dir, '0002_two.sql'), 'insert into m1 values (1);');
    const r = await migrate(s, { dir });
    assert.deepEqual(r.applied, ['0002_two.sql']);
    const again = await migrate(s, { dir });
    assert.deepEqual(again.applied, []);
    writeFileSync(path.join(dir, '0001_one.sql'), 'create table m1 (id bigint primary key);');
    await assert.rejects(migrate(s, { dir }), /changed after it was applied/);
  } finally {
    await s.end();
  }
});

test('db migrate applies the shipped migrations once', async () => {
  const fresh = await createDb(randomName('mst_mig'));
  try {
    const args = ['--config', cfg, '--json', 'db', 'migrate', '--direct', '--database-url', urlFor(fresh)];
    const dry = await runCli([...args, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.ok((JSON.parse(dry.stdout) as { pending: string[] }).pending.includes('0001_initial.sql'));
    const r = await runCli(args);
    assert.equal(r.code, 0, r.stderr);
    assert.ok((JSON.parse(r.stdout) as { applied: string[] }).applied.includes('0001_initial.sql'));
    const again = await runCli(args);
    assert.deepEqual((JSON.parse(again.stdout) as { applied: string[] }).applied, []);
  } finally {
    await dropDbs(fresh);
  }
});

test('scheduler: never overlaps a job with itself, exports metrics, waits for the running job on stop', async () => {
  const ac = new AbortController();
  const logs: Record<string, unknown>[] = [];
  let concurrent = 0;
  let maxConcurrent = 0;
  let port = 0;
  const done = runScheduler({
    jobs: [
      {
        name: 'backup',
        cron: '* * * * * *',
        run: async () => {
          concurrent++;
          maxConcurrent = Math.max(maxConcurrent, concurrent);
          await new Promise((r) => setTimeout(r, 2200));
          concurrent--;
          return { file: 'x.dump' };
        },
      },
    ],
    metricsPort: 0,
    metricsHost: '127.0.0.1',
    log: (e) => logs.push(e),
    signal: ac.signal,
    onListening: (p) => (port = p),
  });
  await waitFor(async () => logs.some((l) => l.event === 'done'), 8000, 'a run to finish');
  await waitFor(async () => logs.some((l) => l.event === 'skipped'), 8000, 'an overlapping tick to be skipped');
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  assert.match(metrics, /^modelship_backup_last_success_timestamp_seconds \d+/m);
  assert.match(metrics, /^modelship_backup_last_duration_seconds 2\.\d+/m);
  assert.match(metrics, /^modelship_backup_failures_total 0/m);
  const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { ok: boolean };
  assert.equal(health.ok, true);
  // stop while a run is going: the run finishes first
  await waitFor(async () => concurrent === 1, 4000, 'a run in progress');
  ac.abort();
  const { states } = await done;
  assert.equal(concurrent, 0);
  assert.equal(maxConcurrent, 1);
  assert.ok(states.backup!.skipped >= 1);
  assert.equal(logs.at(-1)!.event, 'scheduler stopped');
});

test('modelship schedule: a real backup on schedule, JSON lines, metrics, clean exit on SIGTERM', async () => {
  const dir = path.join(tmp.dir, 'sched');
  mkdirSync(dir);
  const port = 19000 + Math.floor(Math.random() * 5000);
  const child = spawnCli(['--config', cfg, 'schedule', '--direct', '--database-url', urlFor(db), '--dir', dir, '--metrics-port', String(port), '--backup-on-start', '--backup-schedule', '0 0 1 1 *']);
  try {
    await waitFor(async () => child.stdout().includes('"event":"done"'), 20_000, 'the start-up backup');
    const lines = child.stdout().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const done = lines.find((l) => l.event === 'done')!;
    assert.equal(done.ok, true, JSON.stringify(done));
    assert.equal(done.job, 'backup');
    assert.ok(readdirSync(dir).some((f) => f.endsWith('.dump')));
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^modelship_backup_last_success_timestamp_seconds \d/m);
  } finally {
    child.proc.kill('SIGTERM');
  }
  const exit = await child.exit;
  assert.equal(exit.code, 0, child.stderr());
  assert.match(child.stdout(), /"event":"scheduler stopped"/);
});

test('backup --print-cron prints a crontab line', async () => {
  const r = await runCli(['--config', cfg, 'backup', '--print-cron', '--direct', '--database-url', urlFor(db), '--dir', tmp.dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^CRON_TZ=UTC$/m);
  assert.match(r.stdout, /^0 2 \* \* \* \S+ backup --config \S+ --direct --dir \S+ >> \S+backup\.log 2>&1$/m);
});
