/**
 * npm run bench:backup — `modelship backup --direct` against plain `pg_dump -Fc -f` on a generated
 * database, side by side in one run, then the restore time; then container mode (the default of
 * `modelship backup`: pg_dump inside the stack's postgres container, streamed through the Docker
 * exec API, verified by reading the archive back through it) against plain
 * `docker exec … pg_dump -Fc > file` on the same data in a postgres container.
 *
 *   BENCH_DB_MB=1024 (default)   size of the generated table data
 *   BENCH_MODES=direct,container,pitr which modes to run (default all three; pitr: bench/pitr.ts)
 *   BENCH_PG_IMAGE               postgres image for container mode (default modelship-standin/postgres:16)
 *   DATABASE_URL_TEST            server to use (default postgres://postgres:postgres@127.0.0.1:5432/postgres)
 *   BENCH_ROUNDS=3               rounds of each (alternating); the best of each is compared
 *   BENCH_KEEP=1                 keep the generated database for another run
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { takeBackup } from '../src/ops/backup/backup.ts';
import { containerTarget } from '../src/postgres/container.ts';
import { directTarget } from '../src/postgres/direct.ts';

const admin = process.env.DATABASE_URL_TEST ?? 'postgres://postgres:postgres@127.0.0.1:5432/postgres';
const mb = Number(process.env.BENCH_DB_MB ?? 1024);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const modes = (process.env.BENCH_MODES ?? 'direct,container,pitr').split(',').map((m) => m.trim());
const db = `modelship_bench_${mb}mb`;
const cli = fileURLToPath(new URL('../test/integration/db/modelship-src.ts', import.meta.url));
const urlOf = (name: string) => {
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return u.toString();
};

async function q(url: string, text: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(text);
  } finally {
    await c.end();
  }
}

function time(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): void {
  const r = spawnSync(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr.toString().trim().slice(-400)}`);
}

/** The generated data: ~300-byte rows (ids, timestamps, a jsonb document, hex text that compresses about 2:1). */
function generateSql(start: number, end: number): string {
  return `insert into events select g, timestamptz '2026-01-01' + g * interval '1 second', (array['view','click','buy','refund'])[1 + g % 4],
         jsonb_build_object('user', g % 10007, 'score', (g * 37) % 1000, 'tags', jsonb_build_array('a' || g % 13, 'b' || g % 7)),
         md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) || md5((g * 31)::text)
       from generate_series(${start}, ${end}) g`;
}
const CREATE_SQL = 'create table events (id bigint primary key, at timestamptz not null, kind text not null, doc jsonb, body text)';
const rowsFor = (megabytes: number) => Math.round((megabytes * 1024 * 1024) / 330);
const best = (xs: number[]) => Math.min(...xs);
const fmt = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' / ');
let failed = false;

if (modes.includes('direct')) {
  const exists = (await q(admin, `select 1 from pg_database where datname = '${db}'`)).rowCount === 1;
  if (!exists) {
    console.error(`generating ${db} (~${mb} MB of table data)…`);
    await q(admin, `create database ${db}`);
    // ~300-byte rows: ids, timestamps, a jsonb document, a text blob of hex (compresses about 2:1).
    await q(urlOf(db), CREATE_SQL);
    const rows = rowsFor(mb);
    const chunk = 200_000;
    const t0 = performance.now();
    for (let start = 1; start <= rows; start += chunk) {
      const end = Math.min(rows, start + chunk - 1);
      await q(urlOf(db), generateSql(start, end));
    }
    await q(urlOf(db), 'create index events_at on events (at)');
    await q(urlOf(db), 'vacuum analyze events');
    console.error(`generated in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
  }
  const size = (await q(urlOf(db), `select pg_database_size(current_database())::bigint as b`)).rows[0].b as string;

  const dir = mkdtempSync(path.join(os.tmpdir(), 'modelship-bench-'));
  const u = new URL(urlOf(db));
  const pgEnv = { PGPASSWORD: decodeURIComponent(u.password) };
  const bare = `postgresql://${u.username}@${u.host}/${db}`;
  const plain: number[] = [];
  const ours: number[] = [];
  const oursCli: number[] = [];
  let dumpBytes = 0;
  let ourFile = '';
  try {
    for (let i = 0; i < rounds; i++) {
      const f = path.join(dir, `plain-${i}.dump`);
      plain.push(time(() => run('pg_dump', ['-Fc', '--no-password', '-f', f, `--dbname=${bare}`], pgEnv)));
      dumpBytes = statSync(f).size;
      rmSync(f);
      const d = path.join(dir, `ours-${i}`);
      const t0 = performance.now();
      const r = await takeBackup(directTarget(urlOf(db), process.env), { dir: d, waitMs: 0 });
      ours.push((performance.now() - t0) / 1000);
      ourFile = r.path;
      const dc = path.join(dir, `cli-${i}`);
      oursCli.push(time(() => run(process.execPath, [cli, '--config', path.join(dir, 'none.yaml'), 'backup', '--direct', '--database-url', urlOf(db), '--dir', dc, '--no-prune'])));
      rmSync(dc, { recursive: true, force: true });
    }
    const restoreDb = `${db}_restored`;
    await q(admin, `drop database if exists ${restoreDb}`);
    const restore = time(() => run(process.execPath, [cli, '--config', path.join(dir, 'none.yaml'), '--yes', 'restore', ourFile, '--target-db', restoreDb, '--direct', '--database-url', urlOf(db)]));
    await q(admin, `drop database if exists ${restoreDb}`);
    await q(admin, `create database ${restoreDb}`);
    const plainRestore = time(() => run('pg_restore', ['--single-transaction', '--exit-on-error', '--no-password', `--dbname=postgresql://${u.username}@${u.host}/${restoreDb}`, ourFile], pgEnv));
    await q(admin, `drop database if exists ${restoreDb}`);

    const ratio = best(ours) / best(plain);
    console.log(`database ${db}: ${(Number(size) / 1024 / 1024).toFixed(0)} MB on disk, archive ${(dumpBytes / 1024 / 1024).toFixed(0)} MB`);
    console.log(`pg_dump -Fc -f          ${fmt(plain)} s  (best ${best(plain).toFixed(2)} s)`);
    console.log(`modelship backup        ${fmt(ours)} s  (best ${best(ours).toFixed(2)} s; lock, table count, pg_dump, pg_restore --list, a full read back (pg_restore -f /dev/null) beside the sha256, fsync, manifest)`);
    console.log(`  as a CLI process      ${fmt(oursCli)} s  (best ${best(oursCli).toFixed(2)} s; adds node start-up and loading every command module)`);
    console.log(`ratio                   ${ratio.toFixed(3)}  (target <= 1.15) ${ratio <= 1.15 ? 'OK' : 'OVER'}`);
    console.log(`modelship restore       ${restore.toFixed(2)} s  (verify + fresh database + pg_restore --single-transaction + table check + rename)`);
    console.log(`plain pg_restore        ${plainRestore.toFixed(2)} s  (--single-transaction --exit-on-error into an empty database)`);
    if (ratio > 1.15) failed = true;

  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (process.env.BENCH_KEEP !== '1') await q(admin, `drop database if exists ${db}`);
  }
}

if (modes.includes('container')) {
  const image = process.env.BENCH_PG_IMAGE ?? 'modelship-standin/postgres:16';
  const project = `msbench${process.pid}`;
  const docker = (args: string[]) => {
    const r = spawnSync('docker', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr.toString().trim()}`);
    return r.stdout.toString().trim();
  };
  // No network needed: everything goes through the exec API, as on a stack whose postgres publishes nothing.
  const cid = docker(['run', '-d', '--network', 'none', '--shm-size', '256m', '--label', `org.modelship.project=${project}`, '--label', 'org.modelship.service=postgres', '-e', 'POSTGRES_USER=bench', '-e', 'POSTGRES_PASSWORD=bench', '-e', 'POSTGRES_DB=bench', image]);
  const cdir = mkdtempSync(path.join(os.tmpdir(), 'modelship-bench-c-'));
  try {
    for (let i = 0; i < 120; i++) {
      if (spawnSync('docker', ['exec', cid, 'pg_isready', '-U', 'bench', '-d', 'bench', '-h', '127.0.0.1']).status === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const psql = (sql: string) => docker(['exec', cid, 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-U', 'bench', '-d', 'bench', '-Atc', sql]);
    console.error(`generating ~${mb} MB in container ${cid.slice(0, 12)}…`);
    const t0 = performance.now();
    psql(CREATE_SQL);
    const rows = rowsFor(mb);
    for (let start = 1; start <= rows; start += 200_000) psql(generateSql(start, Math.min(rows, start + 199_999)));
    psql('create index events_at on events (at)');
    psql('vacuum analyze events');
    console.error(`generated in ${((performance.now() - t0) / 1000).toFixed(1)}s`);
    const csize = Number(psql('select pg_database_size(current_database())'));
    const target = await containerTarget({ project, database: 'bench', user: 'bench', password: 'bench', env: process.env });
    const plainC: number[] = [];
    const oursC: number[] = [];
    let archive = 0;
    for (let i = 0; i < rounds; i++) {
      const f = path.join(cdir, `plain-${i}.dump`);
      const fd = openSync(f, 'wx');
      plainC.push(
        time(() => {
          const r = spawnSync('docker', ['exec', cid, 'pg_dump', '-Fc', '-U', 'bench', '-d', 'bench'], { stdio: ['ignore', fd, 'pipe'] });
          if (r.status !== 0) throw new Error(`docker exec pg_dump: ${r.stderr.toString()}`);
        }),
      );
      closeSync(fd);
      archive = statSync(f).size;
      rmSync(f);
      const t1 = performance.now();
      const r = await takeBackup(target, { dir: path.join(cdir, `ours-${i}`), waitMs: 0 });
      oursC.push((performance.now() - t1) / 1000);
      if (!r.manifest.verified || r.manifest.mode !== 'container') throw new Error('container-mode backup not verified');
      rmSync(path.join(cdir, `ours-${i}`), { recursive: true, force: true });
    }
    const ratio = best(oursC) / best(plainC);
    console.log(`container ${cid.slice(0, 12)} (${image}): ${(csize / 1024 / 1024).toFixed(0)} MB on disk, archive ${(archive / 1024 / 1024).toFixed(0)} MB`);
    console.log(`docker exec pg_dump -Fc > file   ${fmt(plainC)} s  (best ${best(plainC).toFixed(2)} s)`);
    console.log(`modelship backup (container)     ${fmt(oursC)} s  (best ${best(oursC).toFixed(2)} s; + pg_restore --list and a full read back through the exec API, sha256, fsync, manifest)`);
    console.log(`ratio                            ${ratio.toFixed(3)}  (target <= 1.25: verification reads the archive back through the engine) ${ratio <= 1.25 ? 'OK' : 'OVER'}`);
    if (ratio > 1.25) failed = true;
  } finally {
    rmSync(cdir, { recursive: true, force: true });
    spawnSync('docker', ['rm', '-f', '-v', cid], { stdio: 'ignore' });
  }
}
if (modes.includes('pitr')) {
  const { runPitrBench } = await import('./pitr.ts');
  if (!(await runPitrBench())) failed = true;
}
process.exitCode = failed ? 1 : 0;
