/**
 * API keys: `ms_<id>_<secret>`. Only sha256(key) is stored; the id finds the row, then the hashes
 * are compared with crypto.timingSafeEqual. Used by the server (verify) and `modelship keys`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Pool } from 'pg';

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

export async function createKey(pool: Pool, name: string): Promise<{ key: string; record: KeyRecord }> {
  const { id, key } = generateKey();
  const r = await pool.query<{ created_at: Date }>('INSERT INTO api_keys (id, name, key_hash) VALUES ($1, $2, $3) RETURNING created_at', [id, name, hashKey(key)]);
  return { key, record: { id, name, createdAt: r.rows[0]!.created_at.toISOString(), lastUsedAt: null, revokedAt: null } };
}

export async function listKeys(pool: Pool): Promise<KeyRecord[]> {
  const r = await pool.query<{ id: string; name: string; created_at: Date; last_used_at: Date | null; revoked_at: Date | null }>(
    'SELECT id, name, created_at, last_used_at, revoked_at FROM api_keys ORDER BY created_at, id',
  );
  return r.rows.map((x) => ({ id: x.id, name: x.name, createdAt: x.created_at.toISOString(), lastUsedAt: x.last_used_at?.toISOString() ?? null, revokedAt: x.revoked_at?.toISOString() ?? null }));
}

/** Revokes by id (or the whole key, or its name when unique). Returns the record, or undefined if none matched. */
export async function revokeKey(pool: Pool, ref: string): Promise<KeyRecord | { ambiguous: string[] } | undefined> {
  const id = keyId(ref) ?? ref;
  let r = await pool.query<{ id: string }>('SELECT id FROM api_keys WHERE id = $1', [id]);
  if (r.rowCount === 0) {
    r = await pool.query<{ id: string }>('SELECT id FROM api_keys WHERE name = $1', [ref]);
    if ((r.rowCount ?? 0) > 1) return { ambiguous: r.rows.map((x) => x.id) };
    if (r.rowCount === 0) return undefined;
  }
  await pool.query('UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1', [r.rows[0]!.id]);
  return (await listKeys(pool)).find((k) => k.id === r.rows[0]!.id);
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
