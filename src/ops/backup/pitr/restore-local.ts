/**
 * Point-in-time restore of a data directory on this host (`restore --direct --pgdata DIR`): the
 * chosen base backup is copied into a new directory beside DIR, a scratch server (private socket,
 * no TCP, trust only for that socket) replays WAL from the archive up to the target and is checked;
 * only then is DIR renamed aside (kept) and the new directory renamed into its place.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, copyFile, cp, lchown, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { UserError, errorMessage } from '../../../util/errors.ts';
import { utcStamp } from '../naming.ts';
import { lastLines } from '../../../postgres/errors.ts';
import { TABLE_COUNT_SQL } from '../backup.ts';
import { setAsideAbandonedWal } from './abandoned-wal.ts';
import { listBaseBackups, unsealBase, type Log } from './base-backup.ts';
import { AGE_EXT, decryptFile, requireIdentities } from '../encryption.ts';
import type { BaseRecord } from './base-record.ts';
import type { PitrLayout } from './layout.ts';
import { pinForRestore } from './pins.ts';
import { archiveRestoreCommand, chooseBase, historyFileName, planWal, recoverySettings, type Lineage, type RestoreTarget } from './plan.ts';
import { writeRehearsal } from './rehearsal.ts';
import { findPgTool } from '../../../postgres/tools.ts';
import { toolVersion } from './tools.ts';
import { isHistoryFile, parseHistory, parseLsn, parseSegmentName, plainWalName, segNoOf } from './wal.ts';
import { checkReplayVersion } from './versions.ts';
import { pidAlive } from '../../../util/process.ts';
import { formatBytes } from '../../../util/size.ts';

export interface PitrRestoreOptions {
  layout: PitrLayout;
  target: RestoreTarget;
  /** The data directory to replace (direct mode). */
  pgdata: string;
  database: string;
  user: string;
  checkSql?: string | undefined;
  verifyOnly: boolean;
  env: NodeJS.ProcessEnv;
  log?: Log;
  now?: () => Date;
  /** Longest WAL replay allowed before giving up. */
  replayTimeoutMs?: number;
  confirm?: (question: string) => Promise<boolean>;
  /** age identities, for an archive sealed with backups.encryption.recipients. */
  identities?: readonly string[];
  /** `--timeline N`: replay along timeline N instead of the latest (a timeline a later restore abandoned). */
  timeline?: number | undefined;
}

export interface PitrRestoreResult {
  ok: true;
  verifyOnly: boolean;
  base: string;
  target: string;
  /** Commit time of the last transaction replayed (null: none after the base backup). */
  recoveredTo: string | null;
  tables: number;
  checkSql: { sql: string; result: unknown } | null;
  durationMs: number;
  pgdata: string | null;
  previous: string | null;
  walSetAside: string[];
  warnings: string[];
}

export function describeTarget(t: RestoreTarget): string {
  return t.kind === 'latest' ? 'latest' : t.postgres;
}

/** The check SQL passes when it runs and its first row's first column is not false/null/0. Pure. */
export function checkSqlPassed(rows: Array<Record<string, unknown>>): boolean {
  if (rows.length === 0) return true;
  const v = Object.values(rows[0]!)[0];
  return !(v === false || v === null || v === 0 || v === '0' || v === 'f' || v === 'false');
}

export interface ScratchServer {
  socketDir: string;
  port: number;
  exited: Promise<{ code: number | null; signal: string | null; log: string }>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** A postgres on `dataDir` reachable only through a private unix socket, with recovery settings on its command line. */
export async function startScratchServer(dataDir: string, settings: Record<string, string>, env: NodeJS.ProcessEnv, owner: { uid: number; gid: number } | null = null): Promise<ScratchServer> {
  const socketDir = await mkdtemp(path.join(os.tmpdir(), 'modelship-pitr-sock-'));
  await chmod(socketDir, 0o700);
  const hba = path.join(socketDir, 'pg_hba.conf');
  await writeFile(hba, 'local all all trust\n', { mode: 0o600 });
  if (owner) await chownTree(socketDir, owner);
  const port = await freePort();
  const args = ['-D', dataDir];
  const all: Record<string, string> = {
    port: String(port),
    listen_addresses: '',
    unix_socket_directories: socketDir,
    hba_file: hba,
    archive_mode: 'off',
    ssl: 'off',
    logging_collector: 'off',
    log_destination: 'stderr',
    hot_standby: 'on',
    ...settings,
  };
  for (const [k, v] of Object.entries(all)) args.push('-c', `${k}=${v}`);
  const child = spawn(findPgTool('postgres', env), args, { env, stdio: ['ignore', 'ignore', 'pipe'], cwd: dataDir, ...(owner ? { uid: owner.uid, gid: owner.gid } : {}) });
  let log = '';
  child.stderr?.on('data', (b: Buffer) => {
    log += b.toString('utf8');
    if (log.length > 65536) log = log.slice(-65536);
  });
  const exited = new Promise<{ code: number | null; signal: string | null; log: string }>((resolve) => {
    child.on('error', (err) => resolve({ code: null, signal: null, log: `${log}\n${err.message}` }));
    child.on('close', (code, signal) => resolve({ code, signal, log }));
  });
  return {
    socketDir,
    port,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      const t = setTimeout(() => child.kill('SIGKILL'), 60_000);
      await exited;
      clearTimeout(t);
      await rm(socketDir, { recursive: true, force: true });
    },
  };
}

/** Who the restored server runs as: never root (PostgreSQL refuses); the old directory's owner, else `postgres`. */
export async function serverOwner(pgdata: string): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  for (const p of [pgdata, path.dirname(pgdata)]) {
    const st = await stat(p).catch(() => null);
    if (st && st.uid !== 0) return { uid: st.uid, gid: st.gid };
  }
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  const line = passwd.split('\n').find((l) => l.startsWith('postgres:'));
  if (line) {
    const [, , uid, gid] = line.split(':');
    return { uid: Number(uid), gid: Number(gid) };
  }
  throw new UserError('PostgreSQL does not run as root and there is no postgres user to run the restored server as', { hint: 'run the restore as the database\'s OS user, or create a postgres user' });
}

async function chownTree(dir: string, owner: { uid: number; gid: number }): Promise<void> {
  await chown(dir, owner.uid, owner.gid);
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) await lchown(path.join(e.parentPath, e.name), owner.uid, owner.gid);
}

/**
 * The WAL replay may need, in the order it is looked for: history files, and every segment from
 * the base backup's start on, from the archive first, then from segments earlier restores set
 * aside. The full segment wins over the partial one in the same directory.
 */
export async function planStageWal(layout: PitrLayout, base: BaseRecord): Promise<Array<{ from: string; name: string }>> {
  const startSeg = segNoOf(parseLsn(base.startLsn), base.walSegmentSize);
  const dirs = [layout.wal, ...(await readdir(layout.root).catch(() => [] as string[])).filter((d) => d.startsWith('wal-abandoned-')).sort().reverse().map((d) => path.join(layout.root, d))];
  const staged = new Map<string, string>();
  for (const dir of dirs) {
    for (const f of await readdir(dir).catch(() => [] as string[])) {
      const seg = parseSegmentName(f, base.walSegmentSize);
      const wanted = isHistoryFile(f) || (seg !== null && seg.segNo >= startSeg && seg.timeline >= base.timeline);
      if (!wanted) continue;
      const key = plainWalName(f);
      if (staged.has(key)) continue;
      if (f.endsWith('.partial') && (existsSync(path.join(dir, key)) || existsSync(path.join(dir, `${key}${AGE_EXT}`)))) continue;
      staged.set(key, path.join(dir, f));
    }
  }
  return [...staged].map(([name, from]) => ({ from, name }));
}

/** Copies the planned WAL into `stage` (readable by the server's user, whatever the archive's owner). */
export async function stageWal(layout: PitrLayout, base: BaseRecord, stage: string, identities: readonly string[] = []): Promise<number> {
  const copies = await planStageWal(layout, base);
  await materializeWal(copies, stage, identities);
  return copies.length;
}

/** Puts each planned WAL file into `stage` under its segment name: copied, or decrypted when sealed (`.age`). */
export async function materializeWal(copies: ReadonlyArray<{ from: string; name: string }>, stage: string, identities: readonly string[]): Promise<void> {
  await mkdir(stage, { recursive: true, mode: 0o700 });
  const put = (from: string, to: string) => (from.endsWith(AGE_EXT) ? decryptFile(from, to, identities, `WAL segment ${path.basename(from)}`).then(() => undefined) : copyFile(from, to));
  for (const c of copies) {
    const to = path.join(stage, c.name);
    // The archive moves on while a restore plans: the receiver renames the segment it fills once it
    // is complete, and the sealer then encrypts it. A file gone by now is its successor.
    const full = c.from.replace(/\.partial$/, '');
    const tries = c.from.endsWith(AGE_EXT) ? [c.from] : c.from.endsWith('.partial') ? [c.from, full, `${full}${AGE_EXT}`] : [c.from, `${c.from}${AGE_EXT}`];
    for (let i = 0; ; i++) {
      try {
        await put(tries[i]!, to);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || i === tries.length - 1) throw err;
      }
    }
  }
}

/** Whether the restore of `base` reads sealed files (the base backup, or WAL it needs), so the identity is needed. */
export async function needsIdentity(layout: PitrLayout, base: BaseRecord): Promise<boolean> {
  if (base.encryption) return true;
  return (await planStageWal(layout, base)).some((c) => c.from.endsWith(AGE_EXT));
}

function fatalOf(log: string): string {
  const lines = log.split('\n').filter((l) => /FATAL|PANIC|ERROR/.test(l));
  return lastLines(lines.join('\n') || log, 3);
}

/** What a scratch server that exited during WAL replay says, as an error for humans. Pure. */
export function replayFailure(log: string): UserError {
  if (/recovery ended before configured recovery target was reached/.test(log)) {
    return new UserError('the WAL archive ends before the requested --to-time: nothing was changed', {
      hint: 'pick an earlier --to-time, or --to-latest to recover everything the archive holds',
    });
  }
  return new UserError(`WAL replay failed, nothing was changed: ${fatalOf(log)}`, { hint: 'the server log above says why; `modelship backup list` shows the base backups and the archive' });
}

/** Waits until the scratch server has finished recovery and been promoted. */
export async function waitPromoted(srv: ScratchServer, user: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: { code: number | null; log: string } | null = null;
  void srv.exited.then((e) => (exited = e));
  let lastErr = '';
  while (Date.now() < deadline) {
    if (exited) throw replayFailure((exited as { log: string }).log);
    const c = new pg.Client({ host: srv.socketDir, port: srv.port, user, database: 'postgres', application_name: 'modelship restore check' });
    c.on('error', () => undefined);
    try {
      await c.connect();
      const r = await c.query<{ rec: boolean }>('select pg_is_in_recovery() as rec');
      if (r.rows[0]?.rec === false) return;
    } catch (err) {
      lastErr = errorMessage(err);
    } finally {
      await c.end().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new UserError(`WAL replay did not finish within ${Math.round(timeoutMs / 1000)}s; nothing was changed${lastErr ? ` (last: ${lastErr})` : ''}`);
}

export interface RestoredFacts {
  tables: number;
  recoveredTo: string | null;
  checkSql: { sql: string; result: unknown } | null;
}

export async function checkRestored(q: (sql: string, db: string) => Promise<Array<Record<string, unknown>>>, database: string, checkSql: string | undefined): Promise<RestoredFacts> {
  const dbs = await q('select datname from pg_database', 'postgres');
  if (!dbs.some((r) => r.datname === database)) {
    throw new UserError(`restore check failed: the recovered cluster has no database ${database}; nothing was changed`, { hint: 'is this the right backup directory?' });
  }
  const ts = await q('select pg_last_xact_replay_timestamp()::text as t', 'postgres');
  const n = await q(TABLE_COUNT_SQL, database);
  let check: RestoredFacts['checkSql'] = null;
  if (checkSql) {
    let rows: Array<Record<string, unknown>>;
    try {
      rows = await q(checkSql, database);
    } catch (err) {
      throw new UserError(`--check-sql failed on the recovered database: ${errorMessage(err)}; nothing was changed`);
    }
    if (!checkSqlPassed(rows)) throw new UserError(`--check-sql returned ${JSON.stringify(Object.values(rows[0]!)[0])} on the recovered database; nothing was changed`);
    check = { sql: checkSql, result: rows[0] ? Object.values(rows[0])[0] : null };
  }
  return { tables: Number(n[0]?.n ?? 0), recoveredTo: (ts[0]?.t as string | null) ?? null, checkSql: check };
}

async function runningPostmaster(dir: string): Promise<number | null> {
  const text = await readFile(path.join(dir, 'postmaster.pid'), 'utf8').catch(() => null);
  if (!text) return null;
  const pid = Number(text.split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 && pidAlive(pid) ? pid : null;
}

/** The newest timeline the archive has a history file for, and its ancestry (null: timeline 1 only). */
export async function latestLineage(walDir: string): Promise<Lineage | null> {
  const newest = (await readdir(walDir).catch(() => [] as string[])).filter(isHistoryFile).sort().at(-1);
  if (!newest) return null;
  const text = await readFile(path.join(walDir, newest), 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    return { timeline: parseInt(newest.slice(0, 8), 16), history: parseHistory(text) };
  } catch {
    return null;
  }
}

/** Timeline `n` and its ancestry, from its history file in the archive (timeline 1 has none). */
export async function timelineLineage(walDir: string, n: number): Promise<Lineage> {
  if (n === 1) return { timeline: 1, history: [] };
  const file = historyFileName(n);
  const text = await readFile(path.join(walDir, file), 'utf8').catch(() => null);
  if (text === null) {
    const known = (await readdir(walDir).catch(() => [] as string[])).filter(isHistoryFile).map((f) => parseInt(f.slice(0, 8), 16));
    throw new UserError(`--timeline ${n}: the archive has no ${file}`, { hint: `timelines the archive knows: 1${known.length ? `, ${known.sort((a, b) => a - b).join(', ')}` : ''}`, exitCode: 2 });
  }
  return { timeline: n, history: parseHistory(text) };
}

export async function chooseAndPlan(layout: PitrLayout, target: RestoreTarget, timeline?: number): Promise<{ base: BaseRecord; data: string; dir: string; warnings: string[] }> {
  const bases = await listBaseBackups(layout);
  const choice = chooseBase(
    bases.map((b) => ({ name: b.name, record: b.record, ...(b.problem ? { problem: b.problem } : {}) })),
    target,
    timeline === undefined ? await latestLineage(layout.wal) : await timelineLineage(layout.wal, timeline),
  );
  if (!choice.ok) throw new UserError(choice.error, { hint: choice.hint });
  const entry = bases.find((b) => b.name === choice.base.name)!;
  const enc = choice.base.encryption;
  if (enc ? !existsSync(path.join(entry.dir, enc.file)) : !existsSync(path.join(entry.data, 'backup_manifest'))) {
    throw new UserError(`base backup ${entry.name} has no ${enc ? enc.file : 'data directory or manifest'}`, { hint: 'pick another (delete this one by hand)' });
  }
  const wal = planWal(choice.base, await readdir(layout.wal).catch(() => [] as string[]));
  return { base: choice.base, data: entry.data, dir: entry.dir, warnings: wal.warning ? [wal.warning] : [] };
}

/** The scratch data directory: the base backup's copy, set up to recover, with its WAL staged beside it. */
async function prepareScratch(layout: PitrRestoreOptions['layout'], base: Parameters<typeof stageWal>[1], src: { data: string; dir: string }, scratch: string, stage: string, pgdata: string, identities: readonly string[]): Promise<{ walFiles: number; owner: Awaited<ReturnType<typeof serverOwner>> }> {
  if (base.encryption) await unsealBase(src.dir, base, identities, scratch);
  else await cp(src.data, scratch, { recursive: true, errorOnExist: true, force: false, preserveTimestamps: true });
  await chmod(scratch, 0o700);
  // A base backup from a Debian-style cluster keeps its config in /etc: the server needs a file here.
  if (!existsSync(path.join(scratch, 'postgresql.conf'))) await writeFile(path.join(scratch, 'postgresql.conf'), '', { mode: 0o600 });
  await rm(path.join(scratch, 'backup_manifest'), { force: true });
  await writeFile(path.join(scratch, 'recovery.signal'), '', { mode: 0o600 });
  const walFiles = await stageWal(layout, base, stage, identities);
  const owner = await serverOwner(pgdata);
  if (owner) {
    await chownTree(scratch, owner);
    await chownTree(stage, owner);
  }
  return { walFiles, owner };
}

/** A throwaway server on the scratch directory replays to the target and promotes; then what it holds is checked. */
async function replayAndCheck(o: PitrRestoreOptions, scratch: string, stage: string, owner: Awaited<ReturnType<typeof serverOwner>>): Promise<RestoredFacts> {
  const srv = await startScratchServer(scratch, recoverySettings({ target: o.target, restoreCommand: archiveRestoreCommand(stage), timeline: o.timeline }), o.env, owner);
  try {
    await waitPromoted(srv, o.user, o.replayTimeoutMs ?? 6 * 3600_000);
    return await checkRestored(
      async (sql, db) => {
        const c = new pg.Client({ host: srv.socketDir, port: srv.port, user: o.user, database: db, application_name: 'modelship restore check' });
        c.on('error', () => undefined);
        await c.connect();
        try {
          return (await c.query(sql)).rows as Array<Record<string, unknown>>;
        } finally {
          await c.end().catch(() => undefined);
        }
      },
      o.database,
      o.checkSql,
    );
  } finally {
    await srv.stop();
  }
}

export async function restorePitrLocal(o: PitrRestoreOptions): Promise<PitrRestoreResult> {
  const log = o.log ?? (() => undefined);
  const now = o.now ?? (() => new Date());
  const t0 = performance.now();
  const { base, data, dir, warnings } = await chooseAndPlan(o.layout, o.target, o.timeline);
  if (await needsIdentity(o.layout, base)) requireIdentities(o.identities ?? [], `base backup ${base.name} and its WAL`);
  for (const w of warnings) log(`warning: ${w}`);
  const dataMajor = base.encryption ? Math.floor(base.serverVersionNum / 10000) : Number((await readFile(path.join(data, 'PG_VERSION'), 'utf8')).trim());
  const vc = checkReplayVersion(dataMajor, await toolVersion('postgres', o.env), `this host's postgres (${findPgTool('postgres', o.env)})`);
  if (!vc.ok) throw new UserError(vc.error, { hint: vc.hint });

  const pgdata = path.resolve(o.pgdata);
  const parent = path.dirname(pgdata);
  if (!existsSync(parent)) throw new UserError(`${parent} does not exist`, { hint: 'create the parent directory of --pgdata first' });
  const stamp = utcStamp(now());
  const scratch = `${pgdata}.restore-${stamp}`;
  const previous = `${pgdata}.pre-restore-${stamp}`;
  const stage = `${scratch}.wal`;
  if (!o.verifyOnly && existsSync(pgdata)) {
    const pid = await runningPostmaster(pgdata);
    if (pid) throw new UserError(`a PostgreSQL server (pid ${pid}) is running on ${pgdata}`, { hint: 'stop it first (pg_ctl -D … stop -m fast); the restore is proven on a copy before anything is swapped' });
    if (o.confirm && !(await o.confirm(`replace ${pgdata} with base ${base.name} + WAL to ${describeTarget(o.target)}? The current directory is kept as ${previous}.`))) {
      throw new UserError('restore cancelled; nothing changed');
    }
  }
  let keep = false;
  const unpin = await pinForRestore(o.layout, stamp, base.name, warnings);
  try {
    log(`copying base backup ${base.name} (${formatBytes(base.sizeBytes)}) → ${scratch}`);
    const { walFiles: n, owner } = await prepareScratch(o.layout, base, { data, dir }, scratch, stage, pgdata, o.identities ?? []);
    log(`replaying ${n} WAL file(s) from ${o.layout.wal} to ${describeTarget(o.target)}`);
    const facts = await replayAndCheck(o, scratch, stage, owner);
    const durationMs = Math.round(performance.now() - t0);
    log(`recovered to ${facts.recoveredTo ?? 'the end of the base backup'}: ${facts.tables} tables in ${o.database}${facts.checkSql ? `, --check-sql gave ${JSON.stringify(facts.checkSql.result)}` : ''}`);
    if (o.verifyOnly) {
      await writeRehearsal(o.layout.rehearsal, { at: now().toISOString(), ok: true, base: base.name, target: describeTarget(o.target), recoveredTo: facts.recoveredTo, tables: facts.tables, durationMs });
      return { ok: true, verifyOnly: true, base: base.name, target: describeTarget(o.target), recoveredTo: facts.recoveredTo, tables: facts.tables, checkSql: facts.checkSql, durationMs, pgdata: null, previous: null, walSetAside: [], warnings };
    }
    const hadLive = existsSync(pgdata);
    if (hadLive) {
      const pid = await runningPostmaster(pgdata);
      if (pid) throw new UserError(`a PostgreSQL server (pid ${pid}) started on ${pgdata} during the restore; nothing was swapped`, { hint: 'stop it and run the restore again' });
      await rename(pgdata, previous);
    }
    await rename(scratch, pgdata);
    keep = true;
    const aside = await setAsideAbandonedWal(o.layout.wal, pgdata, path.join(o.layout.root, `wal-abandoned-${stamp}`), base.walSegmentSize);
    if (aside.moved.length) log(`moved ${aside.moved.length} WAL segment(s) of the abandoned timeline aside to pitr/wal-abandoned-${stamp}`);
    return {
      ok: true,
      verifyOnly: false,
      base: base.name,
      target: describeTarget(o.target),
      recoveredTo: facts.recoveredTo,
      tables: facts.tables,
      checkSql: facts.checkSql,
      durationMs,
      pgdata,
      previous: hadLive ? previous : null,
      walSetAside: aside.moved,
      warnings,
    };
  } catch (err) {
    if (o.verifyOnly) {
      await writeRehearsal(o.layout.rehearsal, { at: now().toISOString(), ok: false, base: base.name, target: describeTarget(o.target), recoveredTo: null, tables: 0, durationMs: Math.round(performance.now() - t0), error: errorMessage(err) }).catch(() => undefined);
    }
    throw err;
  } finally {
    await unpin();
    await rm(stage, { recursive: true, force: true });
    if (!keep && (await stat(scratch).catch(() => null))) await rm(scratch, { recursive: true, force: true });
  }
}
