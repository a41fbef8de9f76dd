/**
 * The PITR part of `npm run bench:backup`, on a throwaway cluster (Debian's initdb, a free port):
 *   1. a modelship base backup (pg_basebackup --no-sync, then pg_verifybackup while the files are
 *      flushed, + record) against plain `pg_basebackup -Fp -X stream -c fast` (and the same with
 *      --no-sync, to show the flush's share), alternating, best of BENCH_ROUNDS;
 *   2. WAL archive lag under a write load: every 200 ms the server's current LSN is noted and the
 *      time until pg_receivewal (as modelship runs it) reports it flushed is measured; p50/p99;
 *   3. restore --to-latest of the destroyed cluster: time until the recovered copy is checked and in place.
 *   BENCH_PITR_MB=1024 size of the generated data; BENCH_ROUNDS=3; BENCH_LOAD_SECONDS=20.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { makeCluster, PG_BIN } from '../test/integration/pitr/cluster.ts';
import { directTarget } from '../src/postgres/direct.ts';
import { pitrLayout } from '../src/ops/backup/pitr/layout.ts';
import { takeBaseBackup } from '../src/ops/backup/pitr/base-backup.ts';
import { WalReceiver } from '../src/ops/backup/pitr/receiver.ts';
import { restorePitrLocal } from '../src/ops/backup/pitr/restore-local.ts';
import { replicationConn } from '../src/ops/backup/pitr/tools.ts';
import { parseLsn } from '../src/ops/backup/pitr/wal.ts';

export async function runPitrBench(): Promise<boolean> {
  const mb = Number(process.env.BENCH_PITR_MB ?? process.env.BENCH_DB_MB ?? 1024);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const loadSeconds = Number(process.env.BENCH_LOAD_SECONDS ?? 20);
  const cl = await makeCluster();
  const env = { ...process.env, MODELSHIP_PG_BIN: PG_BIN };
  try {
    cl.start();
    const url = cl.url('bench');
    const q = async (text: string, u = url) => {
      const c = new pg.Client({ connectionString: u });
      await c.connect();
      try {
        return await c.query(text);
      } finally {
        await c.end();
      }
    };
    await q('create database bench', cl.url('postgres'));
    await q('create table events (id bigint primary key, at timestamptz not null, doc jsonb, body text)');
    const rows = Math.round((mb * 1024 * 1024) / 330);
    console.error(`pitr: generating ~${mb} MB…`);
    for (let s = 1; s <= rows; s += 200_000) {
      await q(`insert into events select g, timestamptz '2026-01-01' + g * interval '1 second', jsonb_build_object('u', g % 10007, 's', (g * 37) % 1000),
               md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) || md5((g * 31)::text) from generate_series(${s}, ${Math.min(rows, s + 199_999)}) g`);
    }
    await q('checkpoint');
    const size = Number((await q("select pg_database_size('bench') as s")).rows[0].s);
    await q("create role bench_repl with login replication password 'bench-repl-pass'", cl.url('postgres'));
    const conn = replicationConn(cl.url('bench'), 'bench_repl', 'bench-repl-pass', env);
    const layout = pitrLayout(path.join(cl.root, 'backups'));
    mkdirSync(layout.wal, { recursive: true });
    const receiver = new WalReceiver({ conn, slot: 'bench', walDir: layout.wal, log: () => undefined });
    receiver.start();

    // 1. base backups, side by side
    const plain: number[] = [];
    const plainNoSync: number[] = [];
    const ours: number[] = [];
    const verifies: number[] = [];
    const target = directTarget(url, env);
    for (let i = 0; i < rounds; i++) {
      const d = path.join(cl.root, `plain-${i}`);
      const t0 = performance.now();
      const r = spawnSync(path.join(PG_BIN, 'pg_basebackup'), ['-d', conn.conninfo, '-D', d, '-Fp', '-X', 'stream', '-c', 'fast', '--no-password'], { env: conn.env, stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.status !== 0) throw new Error(`pg_basebackup: ${r.stderr.toString()}`);
      plain.push((performance.now() - t0) / 1000);
      rmSync(d, { recursive: true, force: true });
      const tn = performance.now();
      const rn = spawnSync(path.join(PG_BIN, 'pg_basebackup'), ['-d', conn.conninfo, '-D', d, '-Fp', '-X', 'stream', '-c', 'fast', '--no-sync', '--no-password'], { env: conn.env, stdio: ['ignore', 'ignore', 'pipe'] });
      if (rn.status !== 0) throw new Error(`pg_basebackup --no-sync: ${rn.stderr.toString()}`);
      plainNoSync.push((performance.now() - tn) / 1000);
      rmSync(d, { recursive: true, force: true });
      const s = await target.connect();
      const t1 = performance.now();
      const rec = await takeBaseBackup({ layout, conn, session: s, log: () => undefined });
      ours.push((performance.now() - t1) / 1000);
      verifies.push((rec.verifyMs ?? 0) / 1000);
      await s.end();
      if (i < rounds - 1) rmSync(path.join(layout.base, rec.name), { recursive: true, force: true });
    }
    const best = (xs: number[]) => Math.min(...xs);
    const ratio = best(ours) / best(plain);

    // 2. archive lag under load: 4 writers committing small transactions as fast as they can
    let stop = false;
    let commits = 0;
    const writers = [0, 1, 2, 3].map(async (w) => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query('create table if not exists load_' + w + ' (id bigserial primary key, v text)');
      while (!stop) {
        await c.query(`insert into load_${w} (v) select md5(g::text) from generate_series(1, 20) g`);
        commits++;
      }
      await c.end();
    });
    const mon = new pg.Client({ connectionString: url });
    await mon.connect();
    const lags: number[] = [];
    const until = Date.now() + loadSeconds * 1000;
    while (Date.now() < until) {
      const lsn = parseLsn((await mon.query('select pg_current_wal_lsn()::text as l')).rows[0].l);
      const t0 = performance.now();
      for (let i = 0; i < 1000; i++) {
        const r = await mon.query("select flush_lsn::text as f from pg_stat_replication where application_name = 'modelship_pitr'");
        if (r.rows[0] && parseLsn(r.rows[0].f) >= lsn) break;
        await new Promise((res) => setTimeout(res, 5));
      }
      lags.push((performance.now() - t0) / 1000);
      await new Promise((res) => setTimeout(res, 200));
    }
    stop = true;
    await Promise.all(writers);
    await mon.end();
    lags.sort((a, b) => a - b);
    const pct = (p: number) => lags[Math.min(lags.length - 1, Math.floor((p / 100) * lags.length))]!;

    // 3. destroy and restore to latest
    await new Promise((res) => setTimeout(res, 500));
    cl.crash();
    await receiver.stop();
    rmSync(cl.data, { recursive: true, force: true });
    const t2 = performance.now();
    const r = await restorePitrLocal({ layout, target: { kind: 'latest' }, pgdata: cl.data, database: 'bench', user: 'postgres', verifyOnly: false, env });
    const restoreSecs = (performance.now() - t2) / 1000;

    const fmt = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' / ');
    console.log(`PITR, database ${(size / 1048576).toFixed(0)} MB`);
    console.log(`pg_basebackup -Fp -X stream   ${fmt(plain)} s  (best ${best(plain).toFixed(2)} s)`);
    console.log(`  the same with --no-sync     ${fmt(plainNoSync)} s  (best ${best(plainNoSync).toFixed(2)} s: the copy without the final flush)`);
    console.log(`modelship base backup         ${fmt(ours)} s  (best ${best(ours).toFixed(2)} s; --no-sync copy, then pg_verifybackup of every file while the files are flushed, base.json)`);
    console.log(`  of which pg_verifybackup    ${fmt(verifies)} s  (overlapping the flush)`);
    console.log(`ratio                         ${ratio.toFixed(3)}  (target <= 1.15) ${ratio <= 1.15 ? 'OK' : 'OVER'}`);
    console.log(`WAL archive lag under load    p50 ${(pct(50) * 1000).toFixed(0)} ms, p99 ${(pct(99) * 1000).toFixed(0)} ms, max ${(lags.at(-1)! * 1000).toFixed(0)} ms over ${lags.length} samples, ${commits} commits in ${loadSeconds}s (target p99 <= 1 s) ${pct(99) <= 1 ? 'OK' : 'OVER'}`);
    console.log(`restore --to-latest           ${restoreSecs.toFixed(2)} s  (copy base, stage WAL, replay, promote, check ${r.tables} tables, swap)`);
    return ratio <= 1.15 && pct(99) <= 1;
  } finally {
    cl.cleanup();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = (await runPitrBench()) ? 0 : 1;
