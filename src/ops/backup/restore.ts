/**
 * Restore: only a verified file, always into a fresh database first (single transaction, stop on
 * the first error), then swapped in by renames. A failed restore leaves the live database untouched.
 */
import path from 'node:path';
import { writeFileAtomic } from '../../util/fs-atomic.ts';
import { UserError, errorMessage } from '../../util/errors.ts';
import { acquireBackupLock, describeHolder } from './lock.ts';
import { manifestText } from './manifest.ts';
import { manifestFileFor, utcStamp, VERIFY_STATE_FILE } from './naming.ts';
import { backupFileStat, readManifestFor, tableCount, verifyBackup, type Log, type VerifyResult } from './backup.ts';
import { requireIdentities } from './encryption.ts';
import { rm } from 'node:fs/promises';
import { copyDatabaseSettingsSql, databaseSettings, swapDatabasesSql } from './db-swap.ts';
import { hintFor, ToolError } from '../../postgres/errors.ts';
import { quoteIdent } from '../../postgres/quote.ts';
import type { DbTarget, SqlSession } from '../../postgres/session.ts';

export interface RestoreOptions {
  file: string;
  /** Restore into this database instead of the live one. */
  targetDb?: string | undefined;
  verifyOnly?: boolean;
  waitMs: number;
  log?: Log;
  signal?: AbortSignal;
  now?: () => Date;
  /** Called before an existing database is replaced; return false to stop. */
  confirm?: (question: string) => Promise<boolean>;
  /**
   * Restore a file that has no manifest or checksum (an off-site copy): the archive checks
   * (`pg_restore --list`, every data block read) still run; what was skipped is logged and returned.
   */
  trustUnverified?: boolean;
  /** age identities, for a backup sealed with backups.encryption.recipients. */
  identities?: readonly string[];
}

export interface RestoreResult {
  ok: true;
  file: string;
  verifyOnly: boolean;
  database: string | null;
  previous: string | null;
  tables: number;
  durationMs: number;
  verify: VerifyResult;
  /** Checks waived by --trust-unverified (empty for a verified backup). */
  skipped: string[];
  /** Per-database settings carried over from the database that was replaced (read-only mode among them). */
  settingsKept: string[];
}

/** A database name of at most 63 bytes: `<base>_<suffix>`. */
export function derivedDbName(base: string, suffix: string): string {
  const room = 63 - suffix.length - 1;
  return `${Buffer.from(base).subarray(0, Math.max(1, room)).toString('utf8').replace(/\uFFFD+$/, '')}_${suffix}`;
}

async function databaseExists(s: SqlSession, name: string): Promise<boolean> {
  return (await s.query('select 1 from pg_database where datname = $1', [name])).length > 0;
}

async function maintenanceSession(target: DbTarget): Promise<SqlSession> {
  try {
    return await target.connect({ database: 'postgres', appName: 'modelship restore' });
  } catch (err) {
    throw new UserError(`cannot connect to the maintenance database "postgres" on ${target.describe}: ${errorMessage(err)}`, {
      hint: hintFor(errorMessage(err)) ?? 'restore needs a role that may create, rename and drop databases',
      cause: err,
    });
  }
}

async function terminateOthers(s: SqlSession, db: string): Promise<number> {
  const rows = await s.query<{ n: number }>('select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [db]);
  return Number(rows[0]?.n ?? 0);
}

/** Refuses a backup sealed with age when no identity was given (before anything connects or is built). */
export async function refuseSealedWithoutIdentity(file: string, identities: readonly string[]): Promise<void> {
  const m = await readManifestFor(file);
  if (m.ok && m.manifest.encryption) requireIdentities(identities, `backup ${path.basename(file)}`);
}

/** The backup passes `backup verify` (or, with --trust-unverified, the archive checks alone); else a refusal naming why. */
async function requireVerified(target: DbTarget, o: RestoreOptions, now: () => Date, log: (l: string) => void): Promise<VerifyResult> {
  await backupFileStat(o.file);
  await refuseSealedWithoutIdentity(o.file, o.identities ?? []);
  const verify = await verifyBackup(target, o.file, { record: true, now, trustUnverified: o.trustUnverified === true, identities: o.identities ?? [], keepPlain: true });
  if (!verify.ok) {
    throw new UserError(`refusing to restore ${path.basename(o.file)}: it is not verified (${verify.error ?? 'no manifest'})`, {
      hint: /no manifest|nothing to compare/.test(verify.error ?? '')
        ? 'a copy without its manifest: pass --trust-unverified to restore it on the archive checks alone (pg_restore --list and a full read still run)'
        : 'pick a backup that `modelship backup verify FILE` passes (`modelship backup list` shows them)',
      details: { checks: verify.checks },
    });
  }
  for (const line of verify.skipped) log(`--trust-unverified: skipped ${line}`);
  return verify;
}

/** pg_restore into the fresh database, then its table count against the manifest's (or the archive's). */
async function restoreAndCheck(target: DbTarget, o: RestoreOptions, archive: string, scratch: string, live: string, expectedTables: number, fromManifest: boolean): Promise<{ tables: number; durationMs: number }> {
  const t0 = performance.now();
  try {
    await target.restore(archive, scratch, o.signal);
  } catch (err) {
    const detail = err instanceof ToolError ? err.message : errorMessage(err);
    throw new UserError(`restore failed, ${o.verifyOnly ? 'the test database was dropped' : `the live database ${live} is untouched`}: ${detail}`, {
      hint: hintFor(detail) ?? 'the archive may need objects (roles, extensions) this server lacks: read the pg_restore error above',
      cause: err,
    });
  }
  const durationMs = Math.round(performance.now() - t0);
  const check = await target.connect({ database: scratch, appName: 'modelship restore check' });
  const tables = await tableCount(check).finally(() => check.end());
  if (tables !== expectedTables) {
    throw new UserError(
      `restore check failed: ${tables} tables restored, the ${fromManifest ? 'manifest records' : 'archive lists'} ${expectedTables}; ${o.verifyOnly ? 'nothing changed' : `the live database ${live} is untouched`}`,
    );
  }
  return { tables, durationMs };
}

/** The replaced database's own settings, copied onto the new one; what was kept, for the report. */
async function carrySettings(s: SqlSession, live: string, scratch: string, log: (l: string) => void): Promise<string[]> {
  const settings = await databaseSettings(s, live);
  for (const sql of copyDatabaseSettingsSql(scratch, settings)) await s.exec(sql);
  const kept = settings.map((x) => (x.role ? `${x.setting} (role ${x.role})` : x.setting));
  for (const x of kept) log(`kept the database setting ${x}`);
  return kept;
}

/** The swap itself, retried while sessions reconnect to the live database in between; returns the kept previous name. */
async function swapIn(s: SqlSession, live: string, scratch: string, previousName: string, log: (l: string) => void): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      await s.exec(swapDatabasesSql(live, scratch, previousName));
      return previousName;
    } catch (err) {
      if (attempt >= 10 || !/being accessed by other users/i.test(errorMessage(err))) throw err;
      log(`sessions reconnected to ${live} during the swap; trying again (${attempt}/10)`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** No live database yet: the new one just takes the name. */
async function renameIn(s: SqlSession, scratch: string, live: string): Promise<null> {
  await s.exec(`alter database ${quoteIdent(scratch)} rename to ${quoteIdent(live)}`);
  return null;
}

export async function restoreBackup(target: DbTarget, o: RestoreOptions): Promise<RestoreResult> {
  const log = o.log ?? (() => undefined);
  const now = o.now ?? (() => new Date());
  const verify = await requireVerified(target, o, now, log);
  try {
    return await restoreVerified(target, o, verify, verify.plain ?? o.file, now, log);
  } finally {
    if (verify.plain) await rm(verify.plain, { force: true }).catch(() => undefined);
  }
}

/** The restore proper, from `archive` (the backup, or its decrypted temp copy). */
async function restoreVerified(target: DbTarget, o: RestoreOptions, verify: VerifyResult, archive: string, now: () => Date, log: (l: string) => void): Promise<RestoreResult> {
  const manifest = verify.manifest;
  const fileName = path.basename(o.file);
  const expectedTables = manifest?.tableCount ?? verify.tableCount ?? 0;
  const live = o.targetDb ?? target.database;
  const stamp = utcStamp(now()).toLowerCase();
  const scratch = derivedDbName(live, `restore_${stamp}`);
  const previousName = derivedDbName(live, `pre_restore_${stamp}`);

  const lock = await acquireBackupLock(target, {
    what: o.verifyOnly ? 'restore test' : 'restore',
    waitMs: o.waitMs,
    onWait: (h) => log(`waiting for ${describeHolder(h)}`),
  });
  const s = await maintenanceSession(target).catch(async (err: unknown) => {
    await lock.release();
    throw err;
  });
  let created = false;
  let swapped = false;
  try {
    const liveExists = o.verifyOnly ? false : await databaseExists(s, live);
    if (liveExists && o.confirm) {
      const what = o.targetDb ? `database ${live}` : `the live database ${live}`;
      if (!(await o.confirm(`replace ${what} with ${fileName}${manifest ? ` (${manifest.createdAt})` : ' (unverified copy)'}? The current one is kept as ${previousName}.`))) {
        throw new UserError('restore cancelled; nothing changed', { exitCode: 1 });
      }
    }
    log(`restoring ${fileName} into a fresh database ${scratch}`);
    await s.exec(`create database ${quoteIdent(scratch)} template template0`);
    created = true;
    const { tables, durationMs } = await restoreAndCheck(target, o, archive, scratch, live, expectedTables, manifest !== undefined && manifest !== null);

    if (o.verifyOnly) {
      await dropDatabase(s, scratch);
      created = false;
      const at = now().toISOString();
      if (manifest) await writeFileAtomic(manifestFileFor(o.file), manifestText({ ...manifest, restoreTestedAt: at }));
      await writeFileAtomic(
        path.join(path.dirname(o.file), VERIFY_STATE_FILE),
        `${JSON.stringify({ lastRestoreTest: { at, ok: true, file: fileName, database: manifest?.database ?? live, tables, durationMs } }, null, 2)}\n`,
      );
      log(`test restore of ${fileName} passed: ${tables} tables in ${(durationMs / 1000).toFixed(1)}s; test database dropped`);
      return { ok: true, file: fileName, verifyOnly: true, database: null, previous: null, tables, durationMs, verify, skipped: verify.skipped, settingsKept: [] };
    }

    // The replaced database's own settings (emergency read-only mode, search_path, timeouts) are
    // not in a pg_dump archive: carry them over before the new database takes the name.
    const settingsKept = liveExists ? await carrySettings(s, live, scratch, log) : [];

    // Swap in one statement, one transaction: end the sessions on the live database and rename both.
    // The rename takes the database's exclusive lock (new sessions wait, then reconnect to the new
    // one) and waits up to 5 s for the ended sessions to go. Nothing is committed in between, so a
    // restore killed at any moment leaves either the old database or the new one under the live
    // name, always accepting connections.
    const previous = liveExists ? await swapIn(s, live, scratch, previousName, log) : await renameIn(s, scratch, live);
    swapped = true;
    created = false;
    log(`restored ${fileName} into ${live}${previous ? `; the previous database is kept as ${previous}` : ''}`);
    return { ok: true, file: fileName, verifyOnly: false, database: live, previous, tables, durationMs, verify, skipped: verify.skipped, settingsKept };
  } finally {
    if (created && !swapped) await dropDatabase(s, scratch).catch((err: unknown) => log(`could not drop ${scratch}: ${errorMessage(err)} (drop it by hand)`));
    await s.end();
    await lock.release();
  }
}

async function dropDatabase(s: SqlSession, name: string): Promise<void> {
  await terminateOthers(s, name);
  await s.exec(`drop database if exists ${quoteIdent(name)}`);
}
