/**
 * What a restore carries over and how it swaps databases: the replaced database's own settings
 * (`ALTER DATABASE … SET`, emergency read-only mode among them; pg_dump archives do not hold them),
 * and the single-statement swap. The SQL builders are pure.
 */
import { quoteIdent, quoteLiteral } from '../../postgres/quote.ts';
import type { SqlSession } from '../../postgres/session.ts';

export interface DatabaseSetting {
  /** Empty for a setting of the database itself; a role name for `ALTER ROLE … IN DATABASE`. */
  role: string;
  /** `name=value` as PostgreSQL stores it in pg_db_role_setting. */
  setting: string;
}

/** Settings whose stored value is already a SQL list (identifiers or strings separated by commas). */
const LIST_SETTINGS = new Set(['search_path', 'temp_tablespaces', 'session_preload_libraries', 'local_preload_libraries']);

export async function databaseSettings(s: SqlSession, database: string): Promise<DatabaseSetting[]> {
  const rows = await s.query<{ role: string | null; setting: string }>(
    `select r.rolname as role, unnest(x.setconfig) as setting
       from pg_db_role_setting x join pg_database d on d.oid = x.setdatabase left join pg_roles r on r.oid = x.setrole
      where d.datname = $1 order by r.rolname nulls first`,
    [database],
  );
  return rows.map((r) => ({ role: r.role ?? '', setting: r.setting }));
}

/** `ALTER DATABASE|ROLE … SET name = value` for one stored setting; null for one that cannot be parsed. */
export function settingSql(database: string, x: DatabaseSetting): string | null {
  const eq = x.setting.indexOf('=');
  if (eq <= 0) return null;
  const name = x.setting.slice(0, eq);
  const value = x.setting.slice(eq + 1);
  if (!/^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)*$/.test(name)) return null;
  const v = LIST_SETTINGS.has(name.toLowerCase()) && value.trim() !== '' ? value : quoteLiteral(value);
  const who = x.role ? `role ${quoteIdent(x.role)} in database ${quoteIdent(database)}` : `database ${quoteIdent(database)}`;
  return `alter ${who} set ${name} = ${v}`;
}

export function copyDatabaseSettingsSql(database: string, settings: readonly DatabaseSetting[]): string[] {
  return settings.map((x) => settingSql(database, x)).filter((x): x is string => x !== null);
}

/**
 * One statement (one transaction): end every other session on `live`, rename `live` to `previous`
 * and `scratch` to `live`. Either all of it commits or none of it does.
 */
export function swapDatabasesSql(live: string, scratch: string, previous: string): string {
  const tag = '$modelship_swap$';
  const lit = (s: string) => quoteLiteral(s);
  return [
    `do ${tag}`,
    'begin',
    `  perform pg_terminate_backend(pid) from pg_stat_activity where datname = ${lit(live)} and pid <> pg_backend_pid();`,
    `  execute ${lit(`alter database ${quoteIdent(live)} rename to ${quoteIdent(previous)}`)};`,
    `  execute ${lit(`alter database ${quoteIdent(scratch)} rename to ${quoteIdent(live)}`)};`,
    'end',
    tag,
  ].join('\n');
}
