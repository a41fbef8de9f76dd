/**
 * API keys: `ms_<id>_<secret>`. Only sha256(key) is stored; the id finds the row, then the hashes
 * are compared with crypto.timingSafeEqual. Used by the server (verify) and `modelship keys`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Pool } from 'pg';
import { UserError, errorMessage } from '../util/errors.ts';

export interface KeyRecord {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

const KEY_RE = /^ms_([a-z0-9]{12})_([A-Za-z0-9_-]{32,})$/;

export function generateKey(): { id: string; key: string } {
  const id = randomBytes(9).toString('base64url').toLowerCase().replace(/[^a-z0-9]/g, '').padEnd(12, '0').slice(0, 12);
  const secret = randomBytes(32).toString('base64url');
  return { id, key: `ms_${id}_${secret}` };
}

export function hashKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

export function keyId(key: string): string | undefined {
  return KEY_RE.exec(key)?.[1];
}

/** Constant-time comparison of a presented key with a stored hash. */
export function keyMatches(presented: string, storedHash: Uint8Array): boolean {
  const h = hashKey(presented);
  return storedHash.length === h.length && timingSafeEqual(h, storedHash);
}

/** Bearer token from an Authorization header, or undefined. */
export function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

/**
 * Where `modelship keys` reads and writes: a pg Pool (the server, `--direct`, inside a container) or
 * a database session of the ops layer (the stack's postgres container through the engine's exec API).
 */
export type KeyDb = Pick<Pool, 'query'> | { query<T extends object>(sql: string, params?: unknown[]): Promise<T[]>; exec(sql: string, params?: unknown[]): Promise<void> };

async function rows<T extends object>(db: KeyDb, sql: string, params: unknown[]): Promise<T[]> {
  if ('exec' in db) return db.query<T>(sql, params);
  return (await db.query(sql, params)).rows as T[];
}

async function statement(db: KeyDb, sql: string, params: unknown[]): Promise<void> {
  if ('exec' in db) await db.exec(sql, params);
  else await db.query(sql, params);
}

const iso = (v: Date | string | null): string | null => (v === null ? null : new Date(v).toISOString());

export async function createKey(db: KeyDb, name: string): Promise<{ key: string; record: KeyRecord }> {
  const { id, key } = generateKey();
  await statement(db, "INSERT INTO api_keys (id, name, key_hash) VALUES ($1, $2, decode($3, 'hex'))", [id, name, hashKey(key).toString('hex')]);
  const r = await rows<{ created_at: Date | string }>(db, 'SELECT created_at FROM api_keys WHERE id = $1', [id]);
  return { key, record: { id, name, createdAt: iso(r[0]!.created_at)!, lastUsedAt: null, revokedAt: null } };
}

export async function listKeys(db: KeyDb): Promise<KeyRecord[]> {
  const r = await rows<{ id: string; name: string; created_at: Date | string; last_used_at: Date | string | null; revoked_at: Date | string | null }>(
    db,
    'SELECT id, name, created_at, last_used_at, revoked_at FROM api_keys ORDER BY created_at, id',
    [],
  );
  return r.map((x) => ({ id: x.id, name: x.name, createdAt: iso(x.created_at)!, lastUsedAt: iso(x.last_used_at), revokedAt: iso(x.revoked_at) }));
}

/** Revokes by id (or the whole key, or its name when unique). Returns the record, or undefined if none matched. */
export async function revokeKey(db: KeyDb, ref: string): Promise<KeyRecord | { ambiguous: string[] } | undefined> {
  const id = keyId(ref) ?? ref;
  let r = await rows<{ id: string }>(db, 'SELECT id FROM api_keys WHERE id = $1', [id]);
  if (r.length === 0) {
    r = await rows<{ id: string }>(db, 'SELECT id FROM api_keys WHERE name = $1', [ref]);
    if (r.length > 1) return { ambiguous: r.map((x) => x.id) };
    if (r.length === 0) return undefined;
  }
  await statement(db, 'UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1', [r[0]!.id]);
  return (await listKeys(db)).find((k) => k.id === r[0]!.id);
}

/**
 * A human error for a failed key operation (pg errors carry a SQLSTATE; errors from psql in the
 * container carry only the message): read-only mode, a missing table, an unreachable server.
 */
export function keyStoreError(err: unknown, where: string): Error {
  if (err instanceof UserError) return err;
  const code = (err as { code?: string }).code;
  const msg = errorMessage(err);
  if (code === '25006' || /read-only transaction/i.test(msg)) {
    return new UserError(`the database is read-only (emergency read-only mode is on): API keys cannot be created or revoked now`, {
      hint: 'listing keys still works; turn writes back on with `modelship emergency read-only off`, then run this again',
      cause: err,
    });
  }
  if (code === '42P01' || /relation "api_keys" does not exist/i.test(msg)) return new UserError('the api_keys table does not exist', { hint: 'run `modelship db migrate` first', cause: err });
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === '28P01' || code === '3D000' || /connect|password authentication/i.test(msg)) {
    return new UserError(`cannot reach PostgreSQL (${where}): ${msg}`, { hint: 'check that the stack is up (`modelship status`) and DATABASE_URL / --database-url', cause: err });
  }
  return new UserError(`the API key operation failed on ${where}: ${msg}`, { hint: 'read the PostgreSQL error above; `modelship status` shows whether the database is healthy', cause: err });
}

export type AuthResult = { ok: true; keyId: string | null } | { ok: false; status: 401 | 403 | 503; reason: string };

/**
 * Checks presented keys: static keys from MODELSHIP_API_KEYS, then PostgreSQL. A verified key is
 * trusted for `cacheMs`; when PostgreSQL is unreachable, a key verified before stays usable so
 * classification keeps answering (readiness reports the database problem).
 */
export class KeyAuthenticator {
  readonly #static: Buffer[];
  readonly #pool: Pool | undefined;
  readonly #cacheMs: number;
  readonly #known = new Map<string, { result: AuthResult; at: number }>();
  readonly #touched = new Map<string, number>();

  constructor(opts: { staticKeys: string[]; pool?: Pool | undefined; cacheMs: number }) {
    this.#static = opts.staticKeys.map(hashKey);
    this.#pool = opts.pool;
    this.#cacheMs = opts.cacheMs;
  }

  forget(): void {
    this.#known.clear();
  }

  async check(presented: string | undefined): Promise<AuthResult> {
    if (!presented) return { ok: false, status: 401, reason: 'missing API key: send Authorization: Bearer <key>' };
    if (presented.length > 512) return { ok: false, status: 401, reason: 'invalid API key' };
    const h = hashKey(presented);
    let staticHit = false;
    for (const s of this.#static) staticHit = timingSafeEqual(h, s) || staticHit; // check every one: no early exit
    if (staticHit) return { ok: true, keyId: null };
    const id = keyId(presented);
    if (!id || !this.#pool) return { ok: false, status: 401, reason: 'invalid API key' };
    const cacheKey = h.toString('hex');
    const cached = this.#known.get(cacheKey);
    if (cached && Date.now() - cached.at < this.#cacheMs) return cached.result;
    let result: AuthResult;
    try {
      const r = await this.#pool.query<{ key_hash: Buffer; revoked_at: Date | null }>('SELECT key_hash, revoked_at FROM api_keys WHERE id = $1', [id]);
      const row = r.rows[0];
      if (!row || !keyMatches(presented, row.key_hash)) result = { ok: false, status: 401, reason: 'invalid API key' };
      else if (row.revoked_at) result = { ok: false, status: 403, reason: 'this API key was revoked' };
      else result = { ok: true, keyId: id };
    } catch {
      if (cached) return cached.result;
      return { ok: false, status: 503, reason: 'cannot verify the API key: the database is unreachable' };
    }
    this.#known.set(cacheKey, { result, at: Date.now() });
    if (this.#known.size > 10_000) this.#known.delete(this.#known.keys().next().value!);
    if (result.ok) this.#touch(id);
    return result;
  }

  #touch(id: string): void {
    const last = this.#touched.get(id) ?? 0;
    if (Date.now() - last < 60_000 || !this.#pool) return;
    this.#touched.set(id, Date.now());
    this.#pool.query('UPDATE api_keys SET last_used_at = now() WHERE id = $1', [id]).catch(() => {});
  }
}
