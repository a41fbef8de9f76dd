/** VACUUM and the database reports (size, connections, slow queries). node-postgres or the container's psql. */
import { UserError, errorMessage } from '../../util/errors.ts';
import type { SqlSession } from '../../postgres/session.ts';

export async function vacuum(s: SqlSession, o: { analyze: boolean; table?: string | undefined }): Promise<{ ok: true; statement: string; durationMs: number }> {
  let target = '';
  if (o.table) {
    const rows = await s.query<{ q: string }>(
      `select quote_ident(n.nspname) || '.' || quote_ident(c.relname) as q from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r','m','p') and (c.oid = to_regclass($1) or (c.relname = $1 and n.nspname = current_schema())) limit 1`,
      [o.table],
    );
    if (!rows[0]) throw new UserError(`no table "${o.table}" in this database`, { hint: '`modelship db size` lists the largest tables' });
    target = ` ${rows[0].q}`;
  }
  const statement = `VACUUM${o.analyze ? ' (ANALYZE)' : ''}${target}`;
  const t0 = performance.now();
  await s.exec(statement);
  return { ok: true, statement, durationMs: Math.round(performance.now() - t0) };
}

export async function sizeReport(s: SqlSession, limit = 10) {
  const db = (await s.query<{ name: string; bytes: string; pretty: string }>('select current_database() as name, pg_database_size(current_database())::text as bytes, pg_size_pretty(pg_database_size(current_database())) as pretty'))[0]!;
  const tables = await s.query<{ table: string; total_bytes: string; total: string; table_bytes: string; index_bytes: string; rows_estimate: string }>(
    `select n.nspname || '.' || c.relname as table, pg_total_relation_size(c.oid)::text as total_bytes, pg_size_pretty(pg_total_relation_size(c.oid)) as total,
            pg_relation_size(c.oid)::text as table_bytes, pg_indexes_size(c.oid)::text as index_bytes, greatest(c.reltuples, 0)::bigint::text as rows_estimate
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r','m','p') and n.nspname not in ('pg_catalog','information_schema') and n.nspname not like 'pg\\_toast%'
      order by pg_total_relation_size(c.oid) desc limit $1`,
    [limit],
  );
  return {
    database: db.name,
    bytes: Number(db.bytes),
    size: db.pretty,
    tables: tables.map((t) => ({ table: t.table, bytes: Number(t.total_bytes), size: t.total, tableBytes: Number(t.table_bytes), indexBytes: Number(t.index_bytes), rowsEstimate: Number(t.rows_estimate) })),
  };
}

export async function connectionsReport(s: SqlSession, poolSize: number) {
  const max = Number((await s.query<{ v: string }>("select current_setting('max_connections') as v"))[0]?.v ?? 0);
  const reserved = Number((await s.query<{ v: string }>("select current_setting('superuser_reserved_connections') as v"))[0]?.v ?? 0);
  const rows = await s.query<{ state: string; n: number }>(
    `select coalesce(state, 'background') as state, count(*)::int as n from pg_stat_activity where backend_type = 'client backend' group by 1 order by 2 desc`,
  );
  const byDb = await s.query<{ database: string; n: number }>(
    `select coalesce(datname, '(none)') as database, count(*)::int as n from pg_stat_activity where backend_type = 'client backend' group by 1 order by 2 desc`,
  );
  const total = rows.reduce((a, r) => a + Number(r.n), 0);
  return {
    total,
    maxConnections: max,
    superuserReserved: reserved,
    percentOfMax: max ? Math.round((total / max) * 1000) / 10 : 0,
    poolSize,
    percentOfPool: poolSize ? Math.round((total / poolSize) * 1000) / 10 : 0,
    byState: rows.map((r) => ({ state: r.state, count: Number(r.n) })),
    byDatabase: byDb.map((r) => ({ database: r.database, count: Number(r.n) })),
  };
}

export async function slowQueries(s: SqlSession, limit: number) {
  const ext = await s.query('select 1 from pg_extension where extname = $1', ['pg_stat_statements']);
  if (ext.length === 0) {
    throw new UserError('pg_stat_statements is not installed in this database', {
      hint: 'add pg_stat_statements to postgres.extensions in the config (it is loaded through shared_preload_libraries; redeploy postgres), or run CREATE EXTENSION pg_stat_statements',
    });
  }
  try {
    const rows = await s.query<{ query: string; calls: string; total_ms: number; mean_ms: number; max_ms: number; rows: string }>(
      `select regexp_replace(query, '\\s+', ' ', 'g') as query, calls::text, round(total_exec_time::numeric, 2)::float8 as total_ms,
              round(mean_exec_time::numeric, 2)::float8 as mean_ms, round(max_exec_time::numeric, 2)::float8 as max_ms, rows::text
         from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())
        order by mean_exec_time desc limit $1`,
      [limit],
    );
    return rows.map((r) => ({ query: r.query, calls: Number(r.calls), totalMs: Number(r.total_ms), meanMs: Number(r.mean_ms), maxMs: Number(r.max_ms), rows: Number(r.rows) }));
  } catch (err) {
    const msg = errorMessage(err);
    if (/must be loaded via .?shared_preload_libraries/i.test(msg)) {
      throw new UserError('pg_stat_statements is installed but not loaded', { hint: 'the server needs shared_preload_libraries=pg_stat_statements (the stack sets it when the extension is in postgres.extensions): restart postgres' });
    }
    throw err;
  }
}
