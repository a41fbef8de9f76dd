/** SQL quoting, for the container's psql (which has no bind parameters) and for identifiers. Pure. */

export function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

export function quoteLiteral(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v instanceof Date) return `'${v.toISOString()}'`;
  return `'${String(v).replace(/'/g, "''")}'`;
}

/** `$1…` placeholders replaced by quoted literals. */
export function interpolate(sql: string, params: readonly unknown[] = []): string {
  return sql.replace(/\$(\d+)/g, (_m, n: string) => quoteLiteral(params[Number(n) - 1]));
}
