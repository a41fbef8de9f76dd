/**
 * Emergency read-only: `ALTER DATABASE … SET default_transaction_read_only`, then end idle sessions
 * so new ones pick the setting up. Idempotent. It is not a security boundary: any session may turn
 * it off for itself; it stops the application's ordinary writes.
 */
import { quoteIdent } from '../../postgres/quote.ts';
import type { SqlSession } from '../../postgres/session.ts';

export interface ReadOnlyStatus {
  database: string;
  readOnly: boolean;
  /** Sessions still open that started before the switch (they keep their old default until they reconnect). */
  sessions: number;
}

export async function readOnlyStatus(s: SqlSession, database: string): Promise<ReadOnlyStatus> {
  const rows = await s.query<{ setting: string }>(
    `select unnest(r.setconfig) as setting from pg_db_role_setting r join pg_database d on d.oid = r.setdatabase where d.datname = $1 and r.setrole = 0`,
    [database],
  );
  const on = rows.some((r) => /^default_transaction_read_only=(on|true|1|yes)$/i.test(r.setting));
  const n = await s.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [database]);
  return { database, readOnly: on, sessions: Number(n[0]?.n ?? 0) };
}

export async function setReadOnly(s: SqlSession, database: string, on: boolean): Promise<ReadOnlyStatus & { changed: boolean; terminated: number }> {
  // This session may itself have started read-only (the switch is already on): lift it for us only.
  await s.exec('set session default_transaction_read_only = off');
  const before = await readOnlyStatus(s, database);
  if (on) await s.exec(`alter database ${quoteIdent(database)} set default_transaction_read_only = on`);
  else await s.exec(`alter database ${quoteIdent(database)} reset default_transaction_read_only`);
  // Idle sessions would keep their old default: end them (the application's pool reconnects).
  // Busy ones finish their statement; they pick the setting up on their next connection.
  const t = await s.query<{ n: number }>(
    `select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
      where datname = $1 and pid <> pg_backend_pid() and state in ('idle', 'idle in transaction', 'idle in transaction (aborted)')`,
    [database],
  );
  const after = await readOnlyStatus(s, database);
  return { ...after, changed: before.readOnly !== on, terminated: Number(t[0]?.n ?? 0) };
}
