/**
 * Taking, listing, verifying and pruning backups. A backup counts only once it is complete on disk
 * under its final name with a checksum and a manifest, and `pg_restore --list` read it back with the
 * server's table count. Any failure leaves no file behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { syncDir, writeFileAtomic, writeTemp } from '../../util/fs-atomic.ts';
import { fsError, fsHint, isFsCode, probeWritableDir } from './dir.ts';
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
import { planOrphans, planRetention, type DirFile, type RetentionDecision, type RetentionPolicy } from './retention.ts';
import { hintFor, ToolError } from '../../postgres/errors.ts';
import type { DbTarget, SqlSession } from '../../postgres/session.ts';
import { pidAlive } from '../../util/process.ts';
import { decryptFile, encryptFile } from './encryption.ts';

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
  /** backups.encryption.recipients: the verified archive is sealed with age before it gets its name. */
  recipients?: readonly string[] | undefined;
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

/** Files this run created under final names: removed again unless the backup completes. */
class Written {
  readonly #files: string[] = [];
  add(file: string): void {
    this.#files.push(file);
  }
  /** Manifest first: a half-removed backup must never look valid. */
  async removeAll(): Promise<void> {
    for (const f of this.#files.slice().reverse()) await rm(f, { force: true }).catch(() => undefined);
    this.#files.length = 0;
  }
  forget(): void {
    this.#files.length = 0;
  }
}

/** Writes `content` under a temp name beside `final`, fsynced; returns the temp path. */
async function writeTempOrFail(final: string, content: string): Promise<string> {
  try {
    return await writeTemp(final, content);
  } catch (err) {
    throw fsError(err, 'backup failed, no backup file was kept: writing', (err as NodeJS.ErrnoException).path ?? final);
  }
}

/** link(2) never replaces a file that appeared under the same name (another backup). */
async function linkNoReplace(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (err) {
    if (isFsCode(err, 'EEXIST')) throw err;
    throw fsError(err, 'backup failed, no backup file was kept: linking', to);
  }
}

/** What a failed pg_dump means for the operator: interrupted, a full or read-only disk, or the tool's own message. */
function dumpFailure(err: unknown, tmp: string, o: BackupOptions): Error {
  if (o.signal?.aborted) return new UserError('backup interrupted: no backup file was kept', { cause: err });
  if (err instanceof ToolError) {
    // pg_dump writing the file itself (--direct): name the file and the disk, as for our own writes.
    const code = /No space left on device/i.test(err.failure.stderr) ? 'ENOSPC' : /Disk quota exceeded/i.test(err.failure.stderr) ? 'EDQUOT' : /Read-only file system/i.test(err.failure.stderr) ? 'EROFS' : /could not open output file.*Permission denied/i.test(err.failure.stderr) ? 'EACCES' : null;
    if (code) return new UserError(`backup failed, no backup file was kept: writing ${tmp}: ${err.message}`, { hint: fsHint(code, o.dir), cause: err });
    return new UserError(`backup failed, no backup file was kept: ${err.message}`, { hint: hintFor(err.failure.stderr), cause: err });
  }
  if (isFsCode(err, 'ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'EIO')) return fsError(err, 'backup failed, no backup file was kept: writing', tmp);
  const msg = errorMessage(err);
  return new UserError(`backup failed, no backup file was kept: ${msg}`, { hint: hintFor(msg), cause: err });
}

/** The dumped file is a non-empty pg_dump custom-format archive, synced to disk. */
async function checkArchive(tmp: string): Promise<{ size: number }> {
  const st = await stat(tmp).catch(() => null);
  if (!st || st.size === 0) throw new UserError('backup failed: pg_dump produced an empty archive; no backup file was kept', { hint: 'check the pg_dump output above and the server log' });
  const head = Buffer.alloc(5);
  const fh = await open(tmp, 'r');
  await fh.read(head, 0, 5, 0).finally(() => fh.close());
  if (head.toString('latin1') !== 'PGDMP') throw new UserError('backup failed: the file is not a pg_dump custom-format archive; no backup file was kept');
  await fsyncFile(tmp).catch((err: unknown) => {
    throw fsError(err, 'backup failed, no backup file was kept: syncing', tmp);
  });
  return st;
}

/**
 * Verification: the table of contents (table count), every data block read back (pg_restore
 * -f /dev/null), and the sha256 of exactly the bytes on disk, the latter two side by side.
 */
async function verifyArchive(target: DbTarget, session: SqlSession, dumpFile: string, tablesBefore: number, signal: AbortSignal | undefined): Promise<{ sha256: string; listed: number }> {
  const verifyFail = (what: string) => (err: unknown) => {
    if (signal?.aborted) throw new UserError('backup interrupted: no backup file was kept', { cause: err });
    throw new UserError(`backup failed verification (${what}); no backup file was kept: ${errorMessage(err)}`, { hint: hintFor(errorMessage(err)) ?? 'the archive on disk is damaged or incomplete: run the backup again and check the disk', cause: err });
  };
  const listing = await target.list(dumpFile).catch(verifyFail('pg_restore --list could not read it'));
  const [sha256] = await Promise.all([sha256File(dumpFile), target.readAll(dumpFile, signal).catch(verifyFail('pg_restore could not read every data block'))]);
  const listed = countListedTables(listing);
  const tablesAfter = await tableCount(session);
  if (listed !== tablesBefore && listed !== tablesAfter) {
    throw new UserError(`backup failed verification: the archive holds ${listed} tables, the server has ${tablesBefore}; no backup file was kept`, {
      hint: 'tables created or dropped during the dump can cause this: run the backup again',
    });
  }
  return { sha256, listed };
}

/**
 * Commit. Everything is first written in full under temp names (a full disk fails here, with
 * nothing under a final name). Then the checksum and the manifest get their final names and the
 * dump is linked last: the dump's name appearing is the commit point, so a kill at any moment
 * leaves either a complete backup or no .dump at all (sidecars without a dump are swept).
 */
async function commitFiles(
  dir: string,
  tmp: string,
  firstFinal: string,
  firstStarted: Date,
  database: string,
  manifestFor: (file: string, started: Date) => Manifest,
  sha256: string,
  written: Written,
  temps: string[],
): Promise<{ final: string; manifest: Manifest }> {
  let final = firstFinal;
  let started = firstStarted;
  let manifest = manifestFor(final, started);
  for (let i = 0; ; i++) {
    const shaTmp = await writeTempOrFail(shaFileFor(final), shaLine(sha256, final));
    temps.push(shaTmp);
    const manTmp = await writeTempOrFail(manifestFileFor(final), manifestText(manifest));
    temps.push(manTmp);
    try {
      await linkNoReplace(shaTmp, shaFileFor(final));
      written.add(shaFileFor(final));
      await linkNoReplace(manTmp, manifestFileFor(final));
      written.add(manifestFileFor(final));
      await syncDir(dir);
      await linkNoReplace(tmp, final);
      written.add(final);
      await syncDir(dir);
      return { final, manifest };
    } catch (err) {
      await written.removeAll();
      if (!isFsCode(err, 'EEXIST') || i >= 5) throw isFsCode(err, 'EEXIST') ? new UserError(`${final} already exists`, { hint: 'another backup is being written under the same name: run again' }) : err;
      // Another backup took this second: the next one.
      started = new Date(started.getTime() + 1000);
      final = path.join(dir, backupFileName(database, started));
      manifest = manifestFor(final, started);
    } finally {
      for (const t of temps.splice(0)) await rm(t, { force: true }).catch(() => undefined);
    }
  }
}

/** Encrypts the verified archive `plain` (sha256 `plainSha256`) into the new temp file `dst`, then removes `plain`. */
async function sealArchive(plain: string, plainSha256: string, dst: string, recipients: readonly string[]): Promise<{ file: string; size: number; sha256: string }> {
  let r;
  try {
    r = await encryptFile(plain, dst, recipients);
  } catch (err) {
    throw fsError(err, 'backup failed, no backup file was kept: encrypting into', dst);
  }
  if (r.sourceSha256 !== plainSha256) throw new UserError('backup failed: the archive changed between its verification and its encryption; no backup file was kept', { hint: 'something else writes into the backup directory: check it, then run again' });
  await rm(plain, { force: true });
  return { file: dst, size: r.size, sha256: r.sha256 };
}

/** Retention after a backup: the backup itself is complete and stays, so a retention problem is logged, not thrown. */
async function pruneAfterBackup(dir: string, retention: NonNullable<BackupOptions['retention']>, database: string, log: (l: string) => void): Promise<RetentionDecision[]> {
  try {
    const pruned = (await prune(dir, retention, { database, dryRun: false })).filter((d) => d.action === 'delete');
    for (const d of pruned) log(`pruned ${d.file}`);
    return pruned;
  } catch (err) {
    log(`retention did not run: ${errorMessage(fsError(err, 'pruning', dir, dir))}`);
    return [];
  }
}

/** The backup's start time and a file name nobody has taken yet. */
async function freeBackupName(dir: string, database: string, now: () => Date): Promise<{ started: Date; final: string }> {
  let started = now();
  let final = path.join(dir, backupFileName(database, started));
  // Two backups in the same second (an emergency one beside a scheduled one): take the next second.
  for (let i = 0; await exists(final); i++) {
    if (i >= 5) throw new UserError(`${final} already exists`, { hint: 'another backup is being written under the same name: run again' });
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
    started = now();
    final = path.join(dir, backupFileName(database, started));
  }
  return { started, final };
}

// Long because: the dump, its verification, its sealing (backups.encryption) and the commit share the
// temp files and the half-written names the finally block removes on any failure.
export async function takeBackup(target: DbTarget, o: BackupOptions): Promise<BackupResult> {
  const log = o.log ?? (() => undefined);
  const now = o.now ?? (() => new Date());
  // Before pg_dump runs: the directory must take a new file (full disk, /proc, wrong owner).
  await probeWritableDir(o.dir);
  for (const f of await sweepStaleTemps(o.dir)) log(`removed a temp file left by a dead run: ${f}`);

  const lock = await acquireBackupLock(target, {
    what: o.emergency ? 'emergency backup' : 'backup',
    waitMs: o.emergency ? 0 : o.waitMs,
    proceedIfHeld: o.emergency === true,
    onWait: (h) => log(`waiting up to ${Math.round(o.waitMs / 1000)}s for ${describeHolder(h)}`),
  });
  if (!lock.acquired) log(`another backup is running (${describeHolder(lock.holder)}); emergency backup goes ahead anyway`);

  let tmp: string | null = null;
  let sealedTmp: string | null = null;
  const temps: string[] = [];
  const written = new Written();
  let session: SqlSession | null = null;
  try {
    session = await target.connect({ appName: 'modelship backup' }).catch((err: unknown) => {
      throw new UserError(`cannot connect to ${target.describe}: ${errorMessage(err)}`, { hint: hintFor(errorMessage(err)), cause: err });
    });
    const serverVersion = String((await session.query<{ v: string }>('select current_setting($1) as v', ['server_version']))[0]?.v ?? '');
    const tablesBefore = await tableCount(session);
    const pgDumpVersion = await target.dumpVersion();
    const named = await freeBackupName(o.dir, target.database, now);
    const started = named.started;
    let final = named.final;
    tmp = tempFileFor(final, os.hostname(), process.pid, randomBytes(4).toString('hex'));
    log(`dumping ${target.describe} → ${path.basename(final)}`);
    const t0 = performance.now();
    const dumpTo = tmp;
    await target.dump(dumpTo, o.signal).catch((err: unknown) => {
      throw dumpFailure(err, dumpTo, o);
    });
    const st = await checkArchive(dumpTo);

    const verified = await verifyArchive(target, session, dumpTo, tablesBefore, o.signal);
    const listed = verified.listed;
    // Sealed once verified: the plain archive never gets a final name, and its temp file goes now.
    if (o.recipients?.length) sealedTmp = tempFileFor(final, os.hostname(), process.pid, randomBytes(4).toString('hex'));
    const sealed = sealedTmp ? await sealArchive(dumpTo, verified.sha256, sealedTmp, o.recipients!) : null;
    const onDisk = sealed ? sealed.file : dumpTo;
    const sha256 = sealed ? sealed.sha256 : verified.sha256;
    const durationMs = Math.round(performance.now() - t0);
    const verifiedAt = now().toISOString();
    const manifestFor = (file: string, at: Date): Manifest => ({
      format: MANIFEST_FORMAT,
      file: path.basename(file),
      database: target.database,
      createdAt: at.toISOString(),
      sizeBytes: sealed ? sealed.size : st.size,
      durationMs,
      serverVersion,
      pgDumpVersion,
      tableCount: listed,
      sha256,
      mode: target.mode,
      ...(o.tag ? { tag: o.tag } : {}),
      verified: true,
      verifiedAt,
      ...(sealed ? { encryption: { recipients: [...o.recipients!], plainSizeBytes: st.size, plainSha256: verified.sha256 } } : {}),
    });

    const committed = await commitFiles(o.dir, onDisk, final, started, target.database, manifestFor, sha256, written, temps);
    final = committed.final;
    const manifest = committed.manifest;
    written.forget();
    await rm(tmp, { force: true }).catch(() => undefined);
    tmp = null;
    if (sealedTmp) await rm(sealedTmp, { force: true }).catch(() => undefined);
    sealedTmp = null;
    await syncDir(o.dir);

    const pruned = o.retention ? await pruneAfterBackup(o.dir, o.retention, target.database, log) : [];
    return { ok: true, file: path.basename(final), path: final, manifest, lock: { acquired: lock.acquired, heldBy: lock.holder }, pruned };
  } catch (err) {
    await written.removeAll();
    throw err;
  } finally {
    for (const t of temps) await rm(t, { force: true }).catch(() => undefined);
    if (tmp) await rm(tmp, { force: true }).catch(() => undefined);
    if (sealedTmp) await rm(sealedTmp, { force: true }).catch(() => undefined);
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

export interface VerifyCheck {
  name: string;
  ok: boolean;
  detail: string;
  /** A check that could not run (no manifest to compare with) and was waived by --trust-unverified. */
  skipped?: boolean;
}

export interface VerifyResult {
  file: string;
  ok: boolean;
  checks: VerifyCheck[];
  error?: string;
  manifest?: Manifest;
  /** Checks waived by `trustUnverified`, for the operator to read. */
  skipped: string[];
  /** Tables in the archive's table of contents, when it could be read. */
  tableCount?: number;
  /** The backup is sealed with age (its manifest says so). */
  encrypted: boolean;
  /** With `keepPlain`: the decrypted archive, a temp file beside the backup the caller removes. */
  plain?: string;
}

/** Refuses what cannot be a backup file before anything reads it: a directory, a missing file. */
export async function backupFileStat(file: string): Promise<{ size: number }> {
  const st = await stat(file).catch((err: unknown) => {
    throw fsError(err, 'cannot read the backup', file);
  });
  if (st.isDirectory()) throw new UserError(`${file} is a directory, not a backup file`, { hint: `pick one of its .dump files: \`modelship backup list --dir ${file}\``, exitCode: 2 });
  if (!st.isFile()) throw new UserError(`${file} is not a regular file`, { hint: 'pass a .dump file written by `modelship backup` or pg_dump -Fc', exitCode: 2 });
  return { size: st.size };
}

/**
 * Checksum (manifest and .sha256) + `pg_restore --list` + every data block read back + table count.
 * Records the outcome in the manifest. With `trustUnverified`, a file without a manifest or checksum
 * (an off-site copy) passes on the archive checks alone; what was skipped is listed.
 */
export async function verifyBackup(
  target: Pick<DbTarget, 'list' | 'readAll'>,
  file: string,
  opts: { record?: boolean; now?: () => Date; trustUnverified?: boolean; identities?: readonly string[]; keepPlain?: boolean } = {},
): Promise<VerifyResult> {
  const checks: VerifyCheck[] = [];
  const fail = (name: string, detail: string) => checks.push({ name, ok: false, detail });
  const pass = (name: string, detail: string) => checks.push({ name, ok: true, detail });
  const skip = (name: string, detail: string) => checks.push({ name, ok: true, detail, skipped: true });
  const st = await stat(file).catch(() => null);
  if (st?.isDirectory()) return { file, ok: false, checks: [{ name: 'exists', ok: false, detail: 'is a directory' }], error: `${file} is a directory, not a backup file`, skipped: [], encrypted: false };
  if (!st?.isFile()) return { file, ok: false, checks: [{ name: 'exists', ok: false, detail: 'no such file' }], error: `${file}: no such file`, skipped: [], encrypted: false };
  const m = await readManifestFor(file);
  const trust = opts.trustUnverified === true;
  if (m.ok) pass('manifest', 'valid');
  else if (trust && m.error === 'no manifest') skip('manifest', 'none beside the file (--trust-unverified)');
  else fail('manifest', m.error);
  const [sha, shaText] = await Promise.all([sha256File(file), readFile(shaFileFor(file), 'utf8').catch(() => null)]);
  const shaExpected = shaText ? parseShaLine(shaText) : null;
  if (m.ok && m.manifest.sha256 !== sha) fail('checksum', `sha256 ${sha.slice(0, 12)}… differs from the manifest's ${m.manifest.sha256.slice(0, 12)}…: the file changed after the backup`);
  else if (shaExpected && shaExpected !== sha) fail('checksum', `sha256 differs from ${path.basename(shaFileFor(file))}`);
  else if (!m.ok && !shaExpected) {
    if (trust) skip('checksum', `nothing to compare with (no manifest, no .sha256); sha256 is ${sha.slice(0, 12)}…`);
    else fail('checksum', 'nothing to compare with (no manifest, no .sha256)');
  } else pass('checksum', `sha256 ${sha.slice(0, 12)}…${m.ok ? '' : ` matches ${path.basename(shaFileFor(file))}`}`);
  const enc = m.ok ? m.manifest.encryption : undefined;
  const plain = enc && checks.every((c) => c.ok) ? await openSealed(file, enc, opts.identities ?? [], pass, fail, skip) : enc ? null : file;
  let listed: number | null = null;
  try {
    if (plain) {
      try {
        listed = countListedTables(await target.list(plain));
        pass('pg_restore --list', `${listed} tables`);
      } catch (err) {
        fail('pg_restore --list', errorMessage(err));
      }
    }
    if (plain && listed !== null) {
      try {
        await target.readAll(plain);
        pass('data readable', 'pg_restore read every data block');
      } catch (err) {
        fail('data readable', errorMessage(err));
      }
    }
  } finally {
    if (plain && plain !== file && !(opts.keepPlain && checks.every((c) => c.ok))) await rm(plain, { force: true }).catch(() => undefined);
  }
  const kept = plain && plain !== file && opts.keepPlain && checks.every((c) => c.ok) ? plain : undefined;
  if (m.ok && listed !== null) {
    if (listed === m.manifest.tableCount) pass('table count', `${listed} as recorded`);
    else fail('table count', `${listed} in the archive, ${m.manifest.tableCount} recorded`);
  } else if (!m.ok && trust) skip('table count', 'no recorded count to compare with');
  const ok = checks.every((c) => c.ok);
  let manifest = m.ok ? m.manifest : undefined;
  // Without the identity only the checksums ran: nothing new to record about the archive itself.
  if (m.ok && opts.record !== false && (plain !== null || !ok)) {
    const at = (opts.now ?? (() => new Date()))().toISOString();
    const { verifyError: _drop, ...rest } = m.manifest;
    manifest = ok ? { ...rest, verified: true, verifiedAt: at } : { ...rest, verified: false, verifiedAt: at, verifyError: checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`).join('; ') };
    await writeFileAtomic(manifestFileFor(file), manifestText(manifest)).catch((err: unknown) => {
      throw fsError(err, 'recording the verification in', manifestFileFor(file));
    });
  }
  const firstBad = checks.find((c) => !c.ok);
  return {
    file,
    ok,
    checks,
    ...(firstBad ? { error: `${firstBad.name}: ${firstBad.detail}` } : {}),
    ...(manifest ? { manifest } : {}),
    skipped: checks.filter((c) => c.skipped).map((c) => `${c.name}: ${c.detail}`),
    ...(listed !== null ? { tableCount: listed } : {}),
    encrypted: enc !== undefined,
    ...(kept ? { plain: kept } : {}),
  };
}

/**
 * The decrypted archive of a sealed backup, as a temp file beside it, its sha256 checked against
 * the manifest's; null when there is no identity (the archive checks are then skipped) or it fails.
 */
async function openSealed(
  file: string,
  enc: NonNullable<Manifest['encryption']>,
  identities: readonly string[],
  pass: (n: string, d: string) => void,
  fail: (n: string, d: string) => void,
  skip: (n: string, d: string) => void,
): Promise<string | null> {
  if (identities.length === 0) {
    for (const n of ['decrypt', 'pg_restore --list', 'data readable', 'table count']) skip(n, 'encrypted (age): needs --identity');
    return null;
  }
  const plain = tempFileFor(file, os.hostname(), process.pid, randomBytes(4).toString('hex'));
  try {
    const r = await decryptFile(file, plain, identities, path.basename(file));
    if (r.sha256 !== enc.plainSha256 || r.size !== enc.plainSizeBytes) {
      fail('decrypt', `the decrypted archive (sha256 ${r.sha256.slice(0, 12)}…) is not the one pg_dump wrote (${enc.plainSha256.slice(0, 12)}…)`);
      await rm(plain, { force: true });
      return null;
    }
    pass('decrypt', `age, plain sha256 ${r.sha256.slice(0, 12)}… as recorded`);
    return plain;
  } catch (err) {
    await rm(plain, { force: true }).catch(() => undefined);
    fail('decrypt', errorMessage(err));
    return null;
  }
}

/** Applies the retention policy per database, and removes partial files no run will finish. Deletes nothing with `dryRun`. */
export async function prune(dir: string, policy: RetentionPolicy, o: { database?: string; dryRun: boolean; now?: number; graceMs?: number }): Promise<RetentionDecision[]> {
  const { backups } = await listBackups(dir, o.database);
  const byDb = new Map<string, BackupEntry[]>();
  for (const b of backups) byDb.set(b.database, [...(byDb.get(b.database) ?? []), b]);
  const out: RetentionDecision[] = [];
  const newestVerified = new Map<string, Date>();
  for (const [db, list] of byDb) {
    const plan = planRetention(
      list.map((b) => ({ file: b.file, createdAt: new Date(b.createdAt), manifestValid: b.manifestValid, verified: b.verified, pinned: b.tag === 'emergency' })),
      policy,
    );
    out.push(...plan);
    const nv = list.find((b) => b.verified);
    if (nv) newestVerified.set(db, new Date(nv.createdAt));
  }
  const files: DirFile[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const st = await stat(path.join(dir, name)).catch(() => null);
    if (st?.isFile()) files.push({ name, mtimeMs: st.mtimeMs });
  }
  const orphans = planOrphans(files, { now: o.now ?? Date.now(), graceMs: o.graceMs, database: o.database, newestVerified });
  // An orphaned dump is listed by planRetention as "no valid manifest: kept"; the orphan verdict wins.
  const orphanNames = new Set(orphans.map((d) => d.file));
  const decisions = [...out.filter((d) => !orphanNames.has(d.file)), ...orphans];
  if (!o.dryRun) {
    for (const d of decisions) {
      if (d.action !== 'delete') continue;
      const p = path.join(dir, d.file);
      if (parseBackupFileName(d.file)) {
        // Manifest first: a half-deleted backup must not look valid.
        await rm(manifestFileFor(p), { force: true });
        await rm(p, { force: true });
        await rm(shaFileFor(p), { force: true });
      } else await rm(p, { force: true });
    }
    if (decisions.some((d) => d.action === 'delete')) await syncDir(dir);
  }
  return decisions;
}

export { DUMP_EXT };
