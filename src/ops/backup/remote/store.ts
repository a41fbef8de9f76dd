/**
 * An off-site object store as the backup code sees it: keys (`/`-separated paths under the remote's
 * prefix) holding whole files. Two kinds: S3-compatible (s3.ts) and SFTP (sftp.ts).
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface RemoteObject {
  key: string;
  size: number;
}

export interface RemoteStore {
  /** `s3://bucket/prefix (endpoint …)`, `sftp://user@host:port/path`: used in every message. */
  readonly describe: string;
  /** Uploads a whole file; the key appears only once complete. */
  put(key: string, file: string, size: number): Promise<void>;
  putText(key: string, text: string): Promise<void>;
  /** A stream of the object's bytes; null when there is no such key. */
  read(key: string): Promise<Readable | null>;
  getText(key: string): Promise<string | null>;
  /** Objects under a key prefix (recursively). */
  list(prefix: string): Promise<RemoteObject[]>;
  remove(key: string): Promise<void>;
  close(): Promise<void>;
}

/** Size and sha256 of what the remote holds under `key`, read back in full (null: no such key). */
export async function remoteDigest(store: RemoteStore, key: string): Promise<{ size: number; sha256: string } | null> {
  const body = await store.read(key);
  if (!body) return null;
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of body) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, sha256: h.digest('hex') };
}

/** Downloads `key` into the new file `dst`, returning its size and sha256 (null: no such key). */
export async function download(store: RemoteStore, key: string, dst: string): Promise<{ size: number; sha256: string } | null> {
  const body = await store.read(key);
  if (!body) return null;
  const h = createHash('sha256');
  let size = 0;
  body.on('data', (c: Buffer) => {
    h.update(c);
    size += c.length;
  });
  try {
    await pipeline(body, createWriteStream(dst, { flags: 'wx', mode: 0o600 }));
    const fh = await open(dst, 'r+');
    await fh.sync().finally(() => fh.close());
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') await rm(dst, { force: true }).catch(() => undefined);
    throw err;
  }
  return { size, sha256: h.digest('hex') };
}
