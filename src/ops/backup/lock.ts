/**
 * One backup/restore at a time per database: a PostgreSQL advisory lock held by a session for the
 * whole run. It works the same from a laptop (`--direct`), from the db-backup container and through
 * the Docker exec API, and it dies with its holder (no stale lock file after a crash or Ctrl-C).
 * The session lives in the maintenance database so a restore can rename the live one under it.
 */
import os from 'node:os';
import { UserError, errorMessage } from '../../util/errors.ts';
import { hintFor } from '../../postgres/errors.ts';
import type { DbTarget, SqlSession } from '../../postgres/session.ts';

/** 'modl' as a 32-bit key: the lock's first key; the second is hashtext('backup:<db>'). */
export const LOCK_CLASS = 0x6d6f646c;

export interface LockHolder {
  pid: number;
  applicationName: string;
  startedAt: string | null;
  clientAddr: string | null;
}

export interface HeldLock {
  /** false when `emergency backup` went ahead while another run held the lock. */
  acquired: boolean;
  holder: LockHolder | null;
  release(): Promise<void>;
}

export function describeHolder(h: LockHolder | null): string {
  if (!h) return 'another modelship run (holder not visible: it may have just finished)';
  return `"${h.applicationName || 'unnamed session'}" (server pid ${h.pid}${h.startedAt ? `, started ${h.startedAt}` : ''}${h.clientAddr ? ` from ${h.clientAddr}` : ''})`;
}

async function openLockSession(target: DbTarget, appName: string): Promise<SqlSession> {
  try {
    return await target.connect({ database: 'postgres', appName });
  } catch (first) {
    if (hintFor(errorMessage(first))?.startsWith('check the password')) throw connectError(target, first);
    // Managed servers may forbid the maintenance database: lock in the target database instead.
    return target.connect({ appName }).catch((err: unknown) => {
      throw connectError(target, err);
    });
  }
}

function connectError(target: DbTarget, err: unknown): UserError {
  const msg = errorMessage(err);
  return new UserError(`cannot connect to ${target.describe}: ${msg}`, { hint: hintFor(msg) ?? 'check that PostgreSQL is running and the URL or config is right', cause: err });
}

export async function lockHolder(s: SqlSession, database: string): Promise<LockHolder | null> {
  const rows = await s.query<{ pid: number; application_name: string; started: string | null; client: string | null }>(
    `select a.pid, a.application_name, to_char(a.backend_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as started, host(a.client_addr) as client
       from pg_locks l join pg_stat_activity a on a.pid = l.pid
      where l.locktype = 'advisory' and l.granted and l.classid = $1::int::oid and l.objid = hashtext($2)::oid and l.objsubid = 2
      limit 1`,
    [LOCK_CLASS, `backup:${database}`],
  );
  const r = rows[0];
  return r ? { pid: Number(r.pid), applicationName: r.application_name, startedAt: r.started, clientAddr: r.client } : null;
}

export async function acquireBackupLock(
  target: DbTarget,
  opts: { what: string; waitMs: number; proceedIfHeld?: boolean; onWait?: (holder: LockHolder | null) => void },
): Promise<HeldLock> {
  const appName = `modelship ${opts.what} (${os.hostname()} pid ${process.pid})`.slice(0, 63);
  const s = await openLockSession(target, appName);
  const key = `backup:${target.database}`;
  const tryLock = async (): Promise<boolean> => {
    const rows = await s.query<{ ok: boolean }>('select pg_try_advisory_lock($1::int, hashtext($2)) as ok', [LOCK_CLASS, key]);
    return rows[0]?.ok === true;
  };
  try {
    const deadline = Date.now() + opts.waitMs;
    let told = false;
    for (;;) {
      if (await tryLock()) {
        return {
          acquired: true,
          holder: null,
          async release() {
            await s.query('select pg_advisory_unlock($1::int, hashtext($2)) as ok', [LOCK_CLASS, key]).catch(() => undefined);
            await s.end();
          },
        };
      }
      const holder = await lockHolder(s, target.database);
      if (opts.proceedIfHeld) {
        await s.end();
        return { acquired: false, holder, release: async () => undefined };
      }
      if (Date.now() >= deadline) {
        await s.end();
        throw new UserError(`another backup or restore of ${target.database} is running: ${describeHolder(holder)}`, {
          hint: opts.waitMs > 0 ? `it did not finish within the wait: try again later or pass a longer --wait (e.g. --wait 30m)` : 'wait for it to finish, or pass --wait 30m to queue behind it',
          details: { holder },
        });
      }
      if (!told) {
        opts.onWait?.(holder);
        told = true;
      }
      await new Promise((r) => setTimeout(r, Math.min(500, Math.max(10, deadline - Date.now()))));
    }
  } catch (err) {
    await s.end();
    throw err;
  }
}
