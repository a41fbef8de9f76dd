/**
 * Restore: only a verified file, always into a fresh database first (single transaction, stop on
 * the first error), then swapped in by renames. A failed restore leaves the live database untouched.
 */
import path from 'node:path';
import { writeFileAtomic } from '../../util/fs-atomic.ts';
import { UserError, errorMessage } from '../../util/errors.ts';
import { acquireBackupLock, describeHolder } from './lock.ts';
import { manifestText, type Manifest } from './manifest.ts';
import { manifestFileFor, utcStamp, VERIFY_STATE_FILE } from './naming.ts';
import { tableCount, verifyBackup, type Log, type VerifyResult } from './backup.ts';
import { hintFor, quoteIdent, ToolError, type DbTarget, type SqlSession } from './target.ts';

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

export async function restoreBackup(target: DbTarget, o: RestoreOptions): Promise<RestoreResult> {
  const log = o.log ?? (() => undefined);
  const now = o.now ?? (() => new Date());
  const verify = await verifyBackup(target, o.file, { record: true, now });
  if (!verify.ok || !verify.manifest) {
    throw new UserError(`refusing to restore ${path.basename(o.file)}: it is not verified (${verify.error ?? 'no manifest'})`, {
      hint: 'pick a backup that `modelship backup verify FILE` passes (`modelship backup list` shows them)',
      details: { checks: verify.checks },
    });
  }
  const manifest: Manifest = verify.manifest;
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
      if (!(await o.confirm(`replace ${what} with ${manifest.file} (${manifest.createdAt})? The current one is kept as ${previousName}.`))) {
        throw new UserError('restore cancelled; nothing changed', { exitCode: 1 });
      }
    }
    log(`restoring ${manifest.file} into a fresh database ${scratch}`);
    await s.exec(`create database ${quoteIdent(scratch)} template template0`);
    created = true;
    const t0 = performance.now();
    try {
      await target.restore(o.file, scratch, o.signal);
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
    if (tables !== manifest.tableCount) {
      throw new UserError(`restore check failed: ${tables} tables restored, the manifest records ${manifest.tableCount}; ${o.verifyOnly ? 'nothing changed' : `the live database ${live} is untouched`}`);
    }

    if (o.verifyOnly) {
      await dropDatabase(s, scratch);
      created = false;
      const at = now().toISOString();
      await writeFileAtomic(manifestFileFor(o.file), manifestText({ ...manifest, restoreTestedAt: at }));
      await writeFileAtomic(
        path.join(path.dirname(o.file), VERIFY_STATE_FILE),
        `${JSON.stringify({ lastRestoreTest: { at, ok: true, file: manifest.file, database: manifest.database, tables, durationMs } }, null, 2)}\n`,
      );
      log(`test restore of ${manifest.file} passed: ${tables} tables in ${(durationMs / 1000).toFixed(1)}s; test database dropped`);
      return { ok: true, file: manifest.file, verifyOnly: true, database: null, previous: null, tables, durationMs, verify };
    }

    // Swap: no new sessions on the live database, end the current ones, rename both in one transaction.
    let previous: string | null = null;
    if (liveExists) {
      await s.exec(`alter database ${quoteIdent(live)} allow_connections false`);
      try {
        for (let attempt = 1; ; attempt++) {
          const n = await terminateOthers(s, live);
          if (n > 0) log(`ended ${n} session${n === 1 ? '' : 's'} on ${live}`);
          try {
            await s.exec(`begin; alter database ${quoteIdent(live)} rename to ${quoteIdent(previousName)}; alter database ${quoteIdent(scratch)} rename to ${quoteIdent(live)}; commit`);
            break;
          } catch (err) {
            await s.exec('rollback').catch(() => undefined);
            if (attempt >= 10) throw err;
            await new Promise((r) => setTimeout(r, 200));
          }
        }
      } finally {
        const current = (await databaseExists(s, previousName)) ? previousName : live;
        await s.exec(`alter database ${quoteIdent(current)} allow_connections true`).catch(() => undefined);
      }
      previous = previousName;
    } else {
      await s.exec(`alter database ${quoteIdent(scratch)} rename to ${quoteIdent(live)}`);
    }
    swapped = true;
    created = false;
    log(`restored ${manifest.file} into ${live}${previous ? `; the previous database is kept as ${previous}` : ''}`);
    return { ok: true, file: manifest.file, verifyOnly: false, database: live, previous, tables, durationMs, verify };
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
