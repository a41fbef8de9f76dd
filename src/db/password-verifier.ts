/**
 * PostgreSQL password verifiers, pure: does a password match what `pg_authid.rolpassword` stores
 * (SCRAM-SHA-256 or md5), and the SCRAM-SHA-256 verifier to set for a new one. Setting a verifier
 * instead of the plain password keeps the secret out of the server's statement log.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

const SCRAM = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/;

/**
 * SASLprep as PostgreSQL applies it, for the passwords that occur in practice: ASCII is unchanged,
 * anything else is NFKC-normalised (PostgreSQL falls back to the raw bytes only for strings SASLprep
 * rejects, which generated secrets never are).
 */
function saslPrep(password: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(password) ? password : password.normalize('NFKC');
}

function scramKeys(password: string, salt: Buffer, iterations: number): { storedKey: Buffer; serverKey: Buffer } {
  const salted = pbkdf2Sync(saslPrep(password), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  return {
    storedKey: createHash('sha256').update(clientKey).digest(),
    serverKey: createHmac('sha256', salted).update('Server Key').digest(),
  };
}

/** The verifier PostgreSQL would store for `password` with password_encryption = scram-sha-256. */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const { storedKey, serverKey } = scramKeys(password, salt, iterations);
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

function same(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Whether logging in as `user` with `password` succeeds against the stored `verifier`:
 * true / false, or null when nothing comparable is stored (no password, or a format not known here).
 */
export function passwordMatches(verifier: string | null | undefined, user: string, password: string): boolean | null {
  if (!verifier) return null;
  const m = SCRAM.exec(verifier);
  if (m) {
    const { storedKey, serverKey } = scramKeys(password, Buffer.from(m[2]!, 'base64'), Number(m[1]));
    return same(storedKey, Buffer.from(m[3]!, 'base64')) && same(serverKey, Buffer.from(m[4]!, 'base64'));
  }
  if (/^md5[0-9a-f]{32}$/.test(verifier)) return verifier === `md5${createHash('md5').update(password + user).digest('hex')}`;
  // A plain-text password (PostgreSQL before 10 with password_encryption off).
  return null;
}
