/**
 * The replication role and the slot: created on first use, the password kept in step with `.env`.
 * Needs the stack's superuser (POSTGRES_USER is one in the official image).
 */
import { UserError, errorMessage } from '../../../util/errors.ts';
import { quoteIdent, quoteLiteral } from '../../../postgres/quote.ts';
import type { SqlSession } from '../../../postgres/session.ts';

export async function ensureReplicationRole(s: SqlSession, user: string, password: string): Promise<'created' | 'updated'> {
  const rows = await s.query<{ n: number }>('select count(*)::int as n from pg_roles where rolname = $1', [user]);
  const exists = Number(rows[0]?.n ?? 0) > 0;
  const verb = exists ? 'alter' : 'create';
  try {
    // The password must not reach the server log, whatever log_statement says.
    await s.exec(`begin; set local log_statement = 'none'; ${verb} role ${quoteIdent(user)} with login replication password ${quoteLiteral(password)}; commit`);
  } catch (err) {
    await s.exec('rollback').catch(() => undefined);
    throw new UserError(`cannot ${verb} the replication role ${user}: ${errorMessage(err)}`, {
      hint: `run as a superuser: ${verb.toUpperCase()} ROLE ${user} WITH LOGIN REPLICATION PASSWORD '…' (the value of the .env key secrets.replicationPassword names)`,
      cause: err,
    });
  }
  return exists ? 'updated' : 'created';
}

export interface SlotState {
  exists: boolean;
  active: boolean;
  /** reserved / extended / unreserved / lost (PostgreSQL 13+). */
  walStatus: string | null;
  /** Bytes of WAL the server keeps for the slot (current LSN − restart_lsn). */
  retainedBytes: number | null;
  /** Bytes that can still be written before the slot is invalidated (null: no limit). */
  safeWalSize: number | null;
}

export async function slotState(s: SqlSession, slot: string): Promise<SlotState> {
  const rows = await s.query<{ active: boolean; wal_status: string | null; retained: string | null; safe: string | null }>(
    `select active, wal_status, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text as retained, safe_wal_size::text as safe
       from pg_replication_slots where slot_name = $1`,
    [slot],
  );
  const r = rows[0];
  if (!r) return { exists: false, active: false, walStatus: null, retainedBytes: null, safeWalSize: null };
  return { exists: true, active: r.active === true || String(r.active) === 't', walStatus: r.wal_status, retainedBytes: r.retained === null ? null : Number(r.retained), safeWalSize: r.safe === null ? null : Number(r.safe) };
}

export interface ReceiverLag {
  connected: boolean;
  /** current server LSN − what the archive has flushed. */
  bytes: number | null;
  /** pg_stat_replication.flush_lag (0 when idle and caught up). */
  seconds: number | null;
}

export async function receiverLag(s: SqlSession, appName: string): Promise<ReceiverLag> {
  const rows = await s.query<{ bytes: string | null; secs: number | null }>(
    `select pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn)::bigint::text as bytes, coalesce(extract(epoch from flush_lag), 0)::float8 as secs
       from pg_stat_replication where application_name = $1 order by backend_start desc limit 1`,
    [appName],
  );
  const r = rows[0];
  if (!r) return { connected: false, bytes: null, seconds: null };
  return { connected: true, bytes: r.bytes === null ? null : Math.max(0, Number(r.bytes)), seconds: r.secs === null ? null : Number(r.secs) };
}
