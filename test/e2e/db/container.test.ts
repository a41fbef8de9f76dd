// Backup, verify, restore, read-only and migrations through the Docker exec API against a postgres
// container labelled like the stack's (stand-in image from scripts/images.sh).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { containerTarget } from '../../../src/postgres/container.ts';
import { takeBackup, verifyBackup } from '../../../src/ops/backup/backup.ts';
import { restoreBackup } from '../../../src/ops/backup/restore.ts';
import { readOnlyStatus, setReadOnly } from '../../../src/ops/db/emergency.ts';

const IMAGE = process.env.MODELSHIP_PG_IMAGE ?? 'modelship-standin/postgres:16';
const project = `mse2e${Math.random().toString(36).slice(2, 8)}`;
let cid = '';
const hasImage = (() => {
  try {
    execFileSync('docker', ['image', 'inspect', IMAGE], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const dir = mkdtempSync(path.join(os.tmpdir(), 'modelship-e2e-db-'));

before(async () => {
  if (!hasImage) return;
  cid = execFileSync('docker', ['run', '-d', '--label', `org.modelship.project=${project}`, '--label', 'org.modelship.service=postgres', '-e', 'POSTGRES_PASSWORD=pw', '-e', 'POSTGRES_USER=ms', '-e', 'POSTGRES_DB=msdb', IMAGE]).toString().trim();
  for (let i = 0; i < 60; i++) {
    try {
      execFileSync('docker', ['exec', cid, 'pg_isready', '-U', 'ms', '-d', 'msdb', '-h', '127.0.0.1'], { stdio: 'ignore' });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  execFileSync('docker', ['exec', cid, 'psql', '-U', 'ms', '-d', 'msdb', '-qc', 'create table a (id int primary key, t text); insert into a select g, md5(g::text) from generate_series(1, 5000) g; create table b (id int references a(id)); insert into b values (1), (2);']);
});
after(() => {
  if (cid) execFileSync('docker', ['rm', '-f', cid], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
});

test('container mode: backup, verify, restore with swap, read-only', { skip: hasImage ? false : `image ${IMAGE} not built (scripts/images.sh)` }, async () => {
  const t = await containerTarget({ project, database: 'msdb', user: 'ms', password: 'pw', env: process.env });
  const r = await takeBackup(t, { dir, waitMs: 0 });
  assert.equal(r.manifest.mode, 'container');
  assert.equal(r.manifest.tableCount, 2);
  assert.equal((await verifyBackup(t, r.path)).ok, true);
  const s = await t.connect();
  await s.exec('delete from b');
  await s.end();
  const rr = await restoreBackup(t, { file: r.path, waitMs: 0 });
  assert.equal(rr.database, 'msdb');
  assert.match(rr.previous ?? '', /^msdb_pre_restore_/);
  const s2 = await t.connect();
  assert.equal((await s2.query<{ n: number }>('select count(*)::int as n from b'))[0]!.n, 2);
  await s2.end();
  const m = await t.connect({ database: 'postgres' });
  assert.equal((await setReadOnly(m, 'msdb', true)).readOnly, true);
  assert.equal((await readOnlyStatus(m, 'msdb')).readOnly, true);
  assert.equal((await setReadOnly(m, 'msdb', false)).readOnly, false);
  await m.end();
});

test('container mode: no container for the project is a clear error', async () => {
  await assert.rejects(containerTarget({ project: 'no-such-stack-xyz', database: 'x', user: 'x', password: undefined, env: process.env }), /no running postgres container for stack "no-such-stack-xyz"/);
});
