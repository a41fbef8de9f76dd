/** What callers hold: a SQL session and a database target, the same in both modes (direct, container). */

export interface SqlSession {
  /** Rows of one SELECT (`$1…` parameters). */
  query<T extends object = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** A statement without rows (ALTER, VACUUM, DDL, INSERT/UPDATE with `$1…` parameters). */
  exec(sql: string, params?: unknown[]): Promise<void>;
  end(): Promise<void>;
}

/**
 * Where the database is: the stack's postgres container (Docker exec API, `container.ts`) or a
 * server reached directly through a URL (`--direct`, `direct.ts`). Both give the same operations:
 * SQL sessions, dump to a file, list an archive, restore an archive into a database.
 */
export interface DbTarget {
  mode: 'direct' | 'container';
  database: string;
  user: string;
  /** Where, for messages (never a password). */
  describe: string;
  connect(opts?: { database?: string; appName?: string }): Promise<SqlSession>;
  /** pg_dump -Fc of `database` into `file` (created by the callee). Throws a ToolError. */
  dump(file: string, signal?: AbortSignal): Promise<void>;
  /** `pg_restore --list` of a local archive (reads the header and table of contents). Throws a ToolError. */
  list(file: string): Promise<string>;
  /**
   * Reads the whole archive with `pg_restore -f /dev/null`: every data block is read and
   * decompressed (zlib checks each one), so a truncated or damaged archive fails. Throws a ToolError.
   */
  readAll(file: string, signal?: AbortSignal): Promise<void>;
  /** pg_restore --single-transaction --exit-on-error into an existing empty database. */
  restore(file: string, database: string, signal?: AbortSignal): Promise<void>;
  /** Version of the pg_dump that writes the archive. */
  dumpVersion(): Promise<string>;
  close(): Promise<void>;
}
