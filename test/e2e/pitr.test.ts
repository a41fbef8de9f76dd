/**
 * Point-in-time recovery from a deployed stack (backups.pitr.enabled in the config, nothing else):
 * the rendered postgres settings and pg_hba let the db-backup service's replication role in, it
 * streams WAL and takes a verified base backup; a writer commits numbered rows; the stack's
 * postgres container and its data volume are destroyed; the archive the stack wrote is restored
 * to the latest commit on this host (`restore --to-latest --direct --pgdata`) and every row
 * committed more than 1 s before the destruction is there.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { cleanup, docker, e2eSkip, ms, projectContainers, stackDir } from './helpers.ts';
import { freePort, makeCluster, type Cluster } from '../integration/pitr/cluster.ts';

const skip = (await e2eSkip()) || (existsSync('/usr/lib/postgresql/15/bin/postgres') ? false : 'SKIPPED: no local PostgreSQL 15 server binaries to replay WAL');
const pgPort = await freePort();
const s = await stackDir('pitr', `postgres: {publish: true, port: ${pgPort}}\nbackups:\n  pitr: {enabled: true}`);
const url = `postgres://modelship:e2e-pg-pass@127.0.0.1:${pgPort}/modelship`;
let local: Cluster | null = null;

before(async () => {
  if (skip) return;
  appendFileSync(path.join(s.dir, '.env'), 'REPLICATION_PASSWORD=e2e-repl-pass-0123456789\n');
  await cleanup(s);
  // The whole stack plus db-backup on a shared 2-core machine: the harness waits longer than ms()'s default.
  const r = await ms(s, ['deploy', '--timeout', '240s'], { timeoutMs: 540_000 });
  assert.equal(r.exitCode, 0, r.all);
});
after(async () => {
  local?.cleanup();
  if (!skip) await cleanup(s);
});

async function query<T>(text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query(text, params)).rows as T[];
  } finally {
    await c.end();
  }
}

test('a fresh deploy with backups.pitr.enabled streams WAL and takes a base backup; the archive restores every row after the volume is gone', { skip, timeout: 600_000 }, async () => {
  const wal = async () => JSON.parse((await ms(s, ['--json', 'backup', 'wal'])).stdout) as { lastBase: { name: string } | null; archive: { segments: number; newest: string | null } };
  let st = await wal();
  for (let i = 0; i < 240 && !st.lastBase; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    st = await wal();
  }
  const backupLogs = async () => {
    const c = (await projectContainers(s.project)).find((x) => x.Labels['com.docker.compose.service'] === 'db-backup');
    return c ? (await docker.getContainer(c.Id).logs({ stdout: true, stderr: true, tail: 40 })).toString('utf8') : 'no db-backup container';
  };
  assert.ok(st.lastBase, `no base backup from db-backup: ${await backupLogs()}`);
  const slot = await query<{ active: boolean }>("select active from pg_replication_slots where slot_name = 'modelship_pitr'");
  assert.equal(slot[0]?.active, true, `slot not streaming: ${await backupLogs()}`);

  await query('create table t (n int primary key)');
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  const commits: Array<{ n: number; at: number }> = [];
  const writing = (async () => {
    for (let n = 1; n < 100_000; n++) {
      try {
        await c.query('insert into t values ($1)', [n]);
      } catch {
        break;
      }
      commits.push({ n, at: Date.now() });
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  await new Promise((r) => setTimeout(r, 4000));
  // Destroy: the postgres container is killed mid-write and its data volume removed.
  const pgc = (await projectContainers(s.project)).find((x) => x.Labels['com.docker.compose.service'] === 'postgres')!;
  const destroyedAt = Date.now();
  await docker.getContainer(pgc.Id).remove({ force: true });
  await writing;
  await c.end().catch(() => undefined);
  const vol = `${s.project}_pgdata`;
  await docker.getVolume(vol).remove();
  const highest = commits.at(-1)!.n;
  const mustHave = commits.filter((x) => x.at < destroyedAt - 1000).at(-1)!.n;
  // The receiver keeps retrying; stop it so the archive is still while it is read.
  const bk = (await projectContainers(s.project)).find((x) => x.Labels['com.docker.compose.service'] === 'db-backup')!;
  await docker.getContainer(bk.Id).stop({ t: 30 });

  local = await makeCluster(); // only for its temp dir, port and postgres user; its own data is replaced
  const pgdata = path.join(local.root, 'restored');
  const r = await ms(s, ['--yes', '--json', 'restore', '--to-latest', '--direct', '--database-url', url, '--pgdata', pgdata, '--check-sql', `select count(*) >= ${mustHave} from t`]);
  assert.equal(r.exitCode, 0, r.all);
  local.start(pgdata);
  const lc = new pg.Client({ host: local.root, port: local.port, user: 'modelship', database: 'modelship' });
  await lc.connect();
  const got = (await lc.query<{ n: number; max: number }>('select count(*)::int as n, max(n)::int as max from t')).rows[0]!;
  await lc.end();
  local.stop(pgdata);
  console.log(`stack: highest committed ${highest}, restored ${got.max} (${got.n} rows); committed more than 1 s before the volume was dropped: ${mustHave}`);
  assert.ok(got.max >= mustHave);
  assert.equal(got.n, got.max, 'no holes');
});
