/**
 * Taking, listing, verifying and pruning backups. A backup counts only once it is complete on disk
 * under its final name with a checksum and a manifest, and `pg_restore --list` read it back with the
 * server's table count. Any failure leaves no file behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { syncDir, writeFileAtomic } from '../../util/fs-atomic.ts';
import { UserError, errorMessage } from '../../util/errors.ts';
import { acquireBackupLock, describeHolder, type LockHolder } from './lock.ts';
import { countListedTables, manifestText, parseManifest, MANIFEST_FORMAT, type Manifest } from './manifest.ts';
import {
  backupFileName,
  DUMP_EXT,
  manifestFileFor,
  parseBackupFileName,
  parseShaLine,
  parseTempFileName,
  shaFileFor,
  shaLine,
  tempFileFor,
} from './naming.ts';
import { planRetention, type RetentionDecision, type RetentionPolicy } from './retention.ts';
import { hintFor, ToolError, type DbTarget, type SqlSession } from './target.ts';

export type Log = (line: string) => void;

/** Tables pg_dump writes: ordinary and partitioned, outside system schemas, not owned by an extension. */
export const TABLE_COUNT_SQL = `select count(*)::int as n from pg_class c join pg_namespace n on n.oid = c.relnamespace
  where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_toast%'
    and n.nspname not like 'pg\\_temp%'
    and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')`;

export async function tableCount(s: SqlSession): Promise<number> {
  const rows = await s.query<{ n: number }>(TABLE_COUNT_SQL);
  return Number(rows[0]?.n ?? 0);
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function fsyncFile(file: string): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes temp files left by dead runs of this host (a crash or kill -9 mid-dump). */
export async function sweepStaleTemps(dir: string): Promise<string[]> {
  const removed: string[] = [];
  const host = os.hostname().replace(/[^A-Za-z0-9_-]/g, '_');
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    const t = parseTempFileName(f);
    if (!t || t.host !== host || t.pid === process.pid || pidAlive(t.pid)) continue;
    await rm(path.join(dir, f), { force: true });
    removed.push(f);
  }
  return removed;
}

export interface BackupOptions {
  dir: string;
  waitMs: number;
  tag?: string | undefined;
  /** `emergency backup`: never wait for the lock; go ahead (pg_dump takes its own snapshot). */
  emergency?: boolean;
  retention?: RetentionPolicy | undefined;
  log?: Log;
  signal?: AbortSignal;
  now?: () => Date;
}

export interface BackupResult {
  ok: true;
  file: string;
  path: string;
  manifest: Manifest;
  lock: { acquired: boolean; heldBy: LockHolder | null };
  pruned: RetentionDecision[];
}

export async function takeBackup(target: DbTarget, o: BackupOptions): Promise<BackupResult> {
  const log = o.log ?? (() => undefined);
  const now = o.now ?? (() => new Date());
  await mkdir(o.dir, { recursive: true });
  for (const f of await sweepStaleTemps(o.dir)) log(`removed a temp file left by a dead run: ${f}`);

  const lock = await acquireBackupLock(target, {
    what: o.emergency ? 'emergency backup' : 'backup',
    waitMs: o.emergency ? 0 : o.waitMs,
    proceedIfHeld: o.emergency === true,
    onWait: (h) => log(`waiting up to ${Math.round(o.waitMs / 1000)}s for ${describeHolder(h)}`),
  });
  if (!lock.acquired) log(`another backup is running (${describeHolder(lock.holder)}); emergency backup goes ahead anyway`);

  let tmp: string | null = null;
  let session: SqlSession | null = null;
  try {
    session = await target.connect({ appName: 'modelship backup' }).catch((err: unknown) => {
      throw new UserError(`cannot connect to ${target.describe}: ${errorMessage(err)}`, { hint: hintFor(errorMessage(err)), cause: err });
    });
    const serverVersion = String((await session.query<{ v: string }>('select current_setting($1) as v', ['server_version']))[0]?.v ?? '');
    const tablesBefore = await tableCount(session);
    const pgDumpVersion = await target.dumpVersion();

    let started = now();
    let final = path.join(o.dir, backupFileName(target.database, started));
    // Two backups in the same second (an emergency one beside a scheduled one): take the next second.
    for (let i = 0; await exists(final); i++) {
      if (i >= 5) throw new UserError(`${final} already exists`, { hint: 'another backup is being written under the same name: run again' });
      await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
      started = now();
      final = path.join(o.dir, backupFileName(target.database, started));
    }
    tmp = tempFileFor(final, os.hostname(), process.pid, randomBytes(4).toString('hex'));
    log(`dumping ${target.describe} → ${path.basename(final)}`);
    const t0 = performance.now();
    try {
      await target.dump(tmp, o.signal);
    } catch (err) {
      if (o.signal?.aborted) throw new UserError('backup interrupted: no backup file was kept', { cause: err });
      if (err instanceof ToolError) throw new UserError(`backup failed, no backup file was kept: ${err.message}`, { hint: hintFor(err.failure.stderr), cause: err });
      const msg = errorMessage(err);
      throw new UserError(`backup failed, no backup file was kept: ${msg}`, { hint: hintFor(msg), cause: err });
    }
    const st = await stat(tmp).catch(() => null);
    if (!st || st.size === 0) throw new UserError('backup failed: pg_dump produced an empty archive; no backup file was kept', { hint: 'check the pg_dump output above and the server log' });
    const head = Buffer.alloc(5);
    const fh = await open(tmp, 'r');
    await fh.read(head, 0, 5, 0).finally(() => fh.close());
    if (head.toString('latin1') !== 'PGDMP') throw new UserError('backup failed: the file is not a pg_dump custom-format archive; no backup file was kept');
    await fsyncFile(tmp);

    let listing: string;
    try {
      listing = await target.list(tmp);
    } catch (err) {
      throw new UserError(`backup failed verification (pg_restore --list could not read it); no backup file was kept: ${errorMessage(err)}`);
    }
    const listed = countListedTables(listing);
    const tablesAfter = await tableCount(session);
    if (listed !== tablesBefore && listed !== tablesAfter) {
      throw new UserError(`backup failed verification: the archive holds ${listed} tables, the server has ${tablesBefore}; no backup file was kept`, {
        hint: 'tables created or dropped during the dump can cause this: run the backup again',
      });
    }
    const sha256 = await sha256File(tmp);
    const durationMs = Math.round(performance.now() - t0);
    // link + unlink instead of rename: never replaces a backup that appeared under the same name.
    for (let i = 0; ; i++) {
      try {
        await link(tmp, final);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || i >= 5) throw err;
        started = new Date(started.getTime() + 1000);
        final = path.join(o.dir, backupFileName(target.database, started));
      }
    }
    await rm(tmp, { force: true });
    tmp = null;
    await syncDir(o.dir);
    await writeFileAtomic(shaFileFor(final), shaLine(sha256, final));
    const verifiedAt = now().toISOString();
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      file: path.basename(final),
      database: target.database,
      createdAt: started.toISOString(),
      sizeBytes: st.size,
      durationMs,
      serverVersion,
      pgDumpVersion,
      tableCount: listed,
      sha256,
      mode: target.mode,
      ...(o.tag ? { tag: o.tag } : {}),
      verified: true,
      verifiedAt,
    };
    // The manifest is written last: it is what makes the file count as a backup.
    await writeFileAtomic(manifestFileFor(final), manifestText(manifest));

    let pruned: RetentionDecision[] = [];
    if (o.retention) {
      pruned = (await prune(o.dir, o.retention, { database: target.database, dryRun: false })).filter((d) => d.action === 'delete');
      for (const d of pruned) log(`pruned ${d.file}`);
    }
    return { ok: true, file: path.basename(final), path: final, manifest, lock: { acquired: lock.acquired, heldBy: lock.holder }, pruned };
  } finally {
    if (tmp) await rm(tmp, { force: true });
    await session?.end();
    await lock.release();
  }
}

export interface BackupEntry {
  file: string;
  path: string;
  database: string;
  createdAt: string;
  sizeBytes: number;
  manifestValid: boolean;
  manifestError?: string;
  verified: boolean;
  verifiedAt?: string | undefined;
  restoreTestedAt?: string | undefined;
  tag?: string | undefined;
  tableCount?: number;
  manifest?: Manifest;
}

export async function readManifestFor(dumpPath: string): Promise<{ ok: true; manifest: Manifest } | { ok: false; error: string }> {
  let text: string;
  try {
    text = await readFile(manifestFileFor(dumpPath), 'utf8');
  } catch {
    return { ok: false, error: 'no manifest' };
  }
  return parseManifest(text, path.basename(dumpPath));
}

/** Backups in a directory, newest first. */
export async function listBackups(dir: string, database?: string): Promise<{ backups: BackupEntry[]; temps: string[] }> {
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw new UserError(`cannot read the backup directory ${dir}: ${err.message}`);
  });
  const backups: BackupEntry[] = [];
  const temps: string[] = [];
  for (const name of names) {
    if (parseTempFileName(name)) {
      temps.push(name);
      continue;
    }
    const parsed = parseBackupFileName(name);
    if (!parsed || (database && parsed.database !== database)) continue;
    const p = path.join(dir, name);
    const st = await stat(p).catch(() => null);
    if (!st?.isFile()) continue;
    const m = await readManifestFor(p);
    backups.push({
      file: name,
      path: p,
      database: parsed.database,
      createdAt: parsed.at.toISOString(),
      sizeBytes: st.size,
      manifestValid: m.ok,
      ...(m.ok ? {} : { manifestError: m.error }),
      verified: m.ok && m.manifest.verified && m.manifest.sizeBytes === st.size,
      ...(m.ok
        ? { verifiedAt: m.manifest.verifiedAt, restoreTestedAt: m.manifest.restoreTestedAt, tag: m.manifest.tag, tableCount: m.manifest.tableCount, manifest: m.manifest }
        : {}),
    });
  }
  backups.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  return { backups, temps };
}

export interface VerifyResult {
  file: string;
  ok: boolean;
  checks: { name: string; ok: boolean; detail: string }[];
  error?: string;
  manifest?: Manifest;
}

/** Checksum (manifest and .sha256) + `pg_restore --list` + table count. Records the outcome in the manifest. */
export async function verifyBackup(target: Pick<DbTarget, 'list'>, file: string, opts: { record?: boolean; now?: () => Date } = {}): Promise<VerifyResult> {
  const checks: VerifyResult['checks'] = [];
  const fail = (name: string, detail: string) => checks.push({ name, ok: false, detail });
  const pass = (name: string, detail: string) => checks.push({ name, ok: true, detail });
  const st = await stat(file).catch(() => null);
  if (!st?.isFile()) return { file, ok: false, checks: [{ name: 'exists', ok: false, detail: 'no such file' }], error: `${file}: no such file` };
  const m = await readManifestFor(file);
  if (m.ok) pass('manifest', 'valid');
  else fail('manifest', m.error);
  const sha = await sha256File(file);
  const shaText = await readFile(shaFileFor(file), 'utf8').catch(() => null);
  const shaExpected = shaText ? parseShaLine(shaText) : null;
  if (m.ok && m.manifest.sha256 !== sha) fail('checksum', `sha256 ${sha.slice(0, 12)}… differs from the manifest's ${m.manifest.sha256.slice(0, 12)}…: the file changed after the backup`);
  else if (shaExpected && shaExpected !== sha) fail('checksum', `sha256 differs from ${path.basename(shaFileFor(file))}`);
  else if (!m.ok && !shaExpected) fail('checksum', 'nothing to compare with (no manifest, no .sha256)');
  else pass('checksum', `sha256 ${sha.slice(0, 12)}…`);
  let listed: number | null = null;
  try {
    listed = countListedTables(await target.list(file));
    pass('pg_restore --list', `${listed} tables`);
  } catch (err) {
    fail('pg_restore --list', errorMessage(err));
  }
  if (m.ok && listed !== null) {
    if (listed === m.manifest.tableCount) pass('table count', `${listed} as recorded`);
    else fail('table count', `${listed} in the archive, ${m.manifest.tableCount} recorded`);
  }
  const ok = checks.every((c) => c.ok);
  let manifest = m.ok ? m.manifest : undefined;
  if (m.ok && opts.record !== false) {
    const at = (opts.now ?? (() => new Date()))().toISOString();
    const { verifyError: _drop, ...rest } = m.manifest;
    manifest = ok ? { ...rest, verified: true, verifiedAt: at } : { ...rest, verified: false, verifiedAt: at, verifyError: checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`).join('; ') };
    await writeFileAtomic(manifestFileFor(file), manifestText(manifest));
  }
  const firstBad = checks.find((c) => !c.ok);
  return { file, ok, checks, ...(firstBad ? { error: `${firstBad.name}: ${firstBad.detail}` } : {}), ...(manifest ? { manifest } : {}) };
}

/** Applies the retention policy per database. Deletes nothing with `dryRun`. */
export async function prune(dir: string, policy: RetentionPolicy, o: { database?: string; dryRun: boolean }): Promise<RetentionDecision[]> {
  const { backups } = await listBackups(dir, o.database);
  const byDb = new Map<string, BackupEntry[]>();
  for (const b of backups) byDb.set(b.database, [...(byDb.get(b.database) ?? []), b]);
  const out: RetentionDecision[] = [];
  for (const list of byDb.values()) {
    const plan = planRetention(
      list.map((b) => ({ file: b.file, createdAt: new Date(b.createdAt), manifestValid: b.manifestValid, verified: b.verified, pinned: b.tag === 'emergency' })),
      policy,
    );
    out.push(...plan);
  }
  if (!o.dryRun) {
    for (const d of out) {
      if (d.action !== 'delete') continue;
      const p = path.join(dir, d.file);
      // Manifest first: a half-deleted backup must not look valid.
      await rm(manifestFileFor(p), { force: true });
      await rm(p, { force: true });
      await rm(shaFileFor(p), { force: true });
    }
    if (out.some((d) => d.action === 'delete')) await syncDir(dir);
  }
  return out;
}

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export { DUMP_EXT };
