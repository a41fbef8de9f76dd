/** How a PostgreSQL program's failure reads: what failed, how it ended, its last lines, a next step. */

export interface ToolFailure {
  exitCode: number | null;
  signal: string | null;
  stderr: string;
}

export class ToolError extends Error {
  readonly failure: ToolFailure;
  constructor(what: string, failure: ToolFailure) {
    const last = lastLines(failure.stderr, 4);
    const how = failure.signal ? `killed by ${failure.signal}` : `exit code ${failure.exitCode}`;
    super(`${what} failed (${how})${last ? `: ${last}` : ''}`);
    this.name = 'ToolError';
    this.failure = failure;
  }
}

export function lastLines(text: string, n: number): string {
  return text.trim().split('\n').filter(Boolean).slice(-n).join(' | ');
}

/** A next step for the common pg_dump/pg_restore/connection failures. */
export function hintFor(text: string): string | undefined {
  if (/password authentication failed|no password supplied/i.test(text)) return 'check the password: the .env key named by secrets.postgresPassword, DATABASE_URL or --database-url';
  if (/server version mismatch/i.test(text)) return 'the pg_dump on this host is older than the server: install a matching postgresql-client, set MODELSHIP_PG_BIN, or drop --direct to run pg_dump inside the postgres container';
  if (/No space left on device|ENOSPC/i.test(text)) return 'the backup disk is full: free space (older backups go through `modelship backup prune`) or point --dir / backups.dir elsewhere';
  if (/Connection refused|ECONNREFUSED|could not connect|terminating connection|server closed the connection|connection to server .* failed/i.test(text)) return 'is PostgreSQL running and reachable? `modelship status`, or check DATABASE_URL';
  if (/does not exist/i.test(text) && /database/i.test(text)) return 'check the database name (postgres.database in the config, or the path of DATABASE_URL)';
  return undefined;
}
