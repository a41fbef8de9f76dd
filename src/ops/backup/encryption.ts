/**
 * Encryption at rest with age (the `age-encryption` library): backup files are encrypted to the
 * configured public keys (`backups.encryption.recipients`) once verified, in the local backup
 * directory and off-site alike, so the server that writes them holds no key that can read them back.
 * Restores take the identity file.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Decrypter, Encrypter, identityToRecipient } from 'age-encryption';
import { UserError, errorMessage } from '../../util/errors.ts';
import { syncDir } from '../../util/fs-atomic.ts';

/** What every age file starts with. */
export const AGE_MAGIC = 'age-encryption.org/v1';
export const AGE_EXT = '.age';
export const IDENTITY_FILE_ENV = 'MODELSHIP_AGE_IDENTITY_FILE';
export const IDENTITY_ENV = 'MODELSHIP_AGE_IDENTITY';

const RECIPIENT_RE = /^age1[0-9a-z]{20,}$/;
const IDENTITY_RE = /^AGE-SECRET-KEY-(PQ-)?1[0-9A-Z]+$/;

/** An age public key (`age1…`, X25519 or post-quantum hybrid). Pure. */
export function isRecipient(s: string): boolean {
  return RECIPIENT_RE.test(s);
}

/** The identities in an age identity file's text (comments and blank lines skipped). Pure. */
export function parseIdentities(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    if (!IDENTITY_RE.test(line)) throw new Error('a line is neither a comment nor an AGE-SECRET-KEY-1… identity');
    out.push(line);
  }
  return out;
}

/**
 * The identities a restore decrypts with: `--identity FILE`, else $MODELSHIP_AGE_IDENTITY_FILE,
 * else $MODELSHIP_AGE_IDENTITY (the key itself). Empty when none is given.
 */
export async function loadIdentities(file: string | undefined, env: NodeJS.ProcessEnv): Promise<string[]> {
  const path = file ?? env[IDENTITY_FILE_ENV];
  if (path) {
    const text = await readFile(path, 'utf8').catch((err: unknown) => {
      throw new UserError(`cannot read the age identity file ${path}: ${errorMessage(err)}`, { hint: 'pass the file age-keygen wrote (the private key whose public key is in backups.encryption.recipients)', exitCode: 2 });
    });
    try {
      const ids = parseIdentities(text);
      if (ids.length === 0) throw new Error('it holds no identity');
      return ids;
    } catch (err) {
      throw new UserError(`${path} is not an age identity file: ${errorMessage(err)}`, { hint: 'an identity file has lines like AGE-SECRET-KEY-1… (age-keygen -o key.txt)', exitCode: 2 });
    }
  }
  const inline = env[IDENTITY_ENV];
  if (inline) {
    try {
      return parseIdentities(inline);
    } catch (err) {
      throw new UserError(`$${IDENTITY_ENV} is not an age identity: ${errorMessage(err)}`, { exitCode: 2 });
    }
  }
  return [];
}

/** The public key of an identity (for messages and tests). */
export async function recipientOf(identity: string): Promise<string> {
  return identityToRecipient(identity);
}

export interface StreamedFile {
  /** Bytes written. */
  size: number;
  /** sha256 of the bytes written. */
  sha256: string;
  /** sha256 of the bytes read. */
  sourceSha256: string;
  sourceSize: number;
}

function hashing(h: ReturnType<typeof createHash>, count: { n: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      count.n += chunk.length;
      cb(null, chunk);
    },
  });
}

async function streamThrough(src: string, dst: string, transform: ((input: WebReadableStream<Uint8Array>) => Promise<WebReadableStream<Uint8Array>>) | null): Promise<StreamedFile> {
  const inHash = createHash('sha256');
  const outHash = createHash('sha256');
  const inCount = { n: 0 };
  const outCount = { n: 0 };
  const source = createReadStream(src, { highWaterMark: 1 << 20 }).pipe(hashing(inHash, inCount));
  const out = createWriteStream(dst, { flags: 'wx', mode: 0o600 });
  let created = false;
  out.once('open', () => (created = true));
  try {
    const body = transform ? Readable.fromWeb(await transform(Readable.toWeb(source) as WebReadableStream<Uint8Array>)) : source;
    await pipeline(body, hashing(outHash, outCount), out);
    const fh = await open(dst, 'r+');
    await fh.sync().finally(() => fh.close());
  } catch (err) {
    source.destroy();
    out.destroy();
    // Only a file this call created (wx) is removed.
    if (created) await rm(dst, { force: true }).catch(() => undefined);
    throw err;
  }
  return { size: outCount.n, sha256: outHash.digest('hex'), sourceSha256: inHash.digest('hex'), sourceSize: inCount.n };
}

/** Encrypts `src` to `recipients` into the new file `dst` (streamed; any size). */
export async function encryptFile(src: string, dst: string, recipients: readonly string[]): Promise<StreamedFile> {
  if (recipients.length === 0) throw new Error('encryptFile needs at least one recipient');
  const e = new Encrypter();
  for (const r of recipients) e.addRecipient(r);
  return streamThrough(src, dst, async (input) => (await e.encrypt(input as unknown as ReadableStream<Uint8Array>)) as unknown as WebReadableStream<Uint8Array>);
}

/** Copies `src` to the new file `dst`, hashing both sides (the unencrypted path of the same pipeline). */
export async function copyHashed(src: string, dst: string): Promise<StreamedFile> {
  return streamThrough(src, dst, null);
}

/** Whether a file starts like an age file. */
export async function isAgeFile(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(AGE_MAGIC.length);
    await fh.read(head, 0, head.length, 0);
    return head.toString('latin1') === AGE_MAGIC;
  } finally {
    await fh.close();
  }
}

/**
 * Decrypts `src` into the new file `dst` with `identities`. `what` names the backup in errors: a
 * missing or wrong identity, and a damaged file (age authenticates every 64 KiB chunk), are said so.
 */
export async function decryptFile(src: string, dst: string, identities: readonly string[], what: string): Promise<StreamedFile> {
  if (identities.length === 0) {
    throw new UserError(`${what} is encrypted (age) and no identity was given to decrypt it`, {
      hint: `pass --identity FILE (the age private key whose public key is in backups.encryption.recipients), or set ${IDENTITY_FILE_ENV}`,
      exitCode: 2,
    });
  }
  const d = new Decrypter();
  for (const i of identities) d.addIdentity(i);
  try {
    return await streamThrough(src, dst, async (input) => (await d.decrypt(input as unknown as ReadableStream<Uint8Array>)) as unknown as WebReadableStream<Uint8Array>);
  } catch (err) {
    const msg = errorMessage(err);
    if (/no identity matched/i.test(msg)) {
      throw new UserError(`cannot decrypt ${what}: none of the given identities is one of its recipients`, {
        hint: 'pass the identity file whose public key was in backups.encryption.recipients when this backup was written',
        cause: err,
      });
    }
    throw new UserError(`cannot decrypt ${what}: ${msg}`, { hint: 'the encrypted file is damaged (age authenticates every chunk): use another copy or an older backup', cause: err });
  }
}

/** What a file sealed in place records: the encrypted bytes on disk and the plain bytes they hold. */
export interface SealedFile {
  /** The `.age` file now on disk. */
  file: string;
  size: number;
  sha256: string;
  plainSize: number;
  plainSha256: string;
}

/**
 * Replaces the plain file `plain` by `<plain>.age` (encrypted to `recipients`): written under a temp
 * name, fsynced, renamed, the directory synced, and only then the plain file removed. A crash at any
 * point leaves the plain file, or the complete `.age` file (and maybe the plain one still beside it).
 */
export async function sealFile(plain: string, recipients: readonly string[]): Promise<SealedFile> {
  const dst = `${plain}${AGE_EXT}`;
  const tmp = path.join(path.dirname(plain), `.${path.basename(dst)}.${process.pid}.tmp`);
  await rm(tmp, { force: true });
  const r = await encryptFile(plain, tmp, recipients);
  await rename(tmp, dst);
  await syncDir(path.dirname(plain));
  await rm(plain, { force: true });
  return { file: dst, size: r.size, sha256: r.sha256, plainSize: r.sourceSize, plainSha256: r.sourceSha256 };
}

/** A temp file left by a sealFile that did not finish (`.<name>.age.<pid>.tmp`). Pure. */
export function parseSealTemp(file: string): { pid: number } | null {
  const m = /^\..+\.age\.(\d+)\.tmp$/.exec(file);
  return m ? { pid: Number(m[1]) } : null;
}

/** Refuses, before anything is built, a restore of encrypted backups without an identity. */
export function requireIdentities(identities: readonly string[], what: string): void {
  if (identities.length > 0) return;
  throw new UserError(`${what} is encrypted (age) and no identity was given to decrypt it; nothing was changed`, {
    hint: `pass --identity FILE (the age private key whose public key is in backups.encryption.recipients), or set ${IDENTITY_FILE_ENV}`,
    exitCode: 2,
  });
}
