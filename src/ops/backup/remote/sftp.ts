/**
 * The SFTP remote (ssh2): a directory on an SSH server. Uploads go to a temp name and are renamed
 * (POSIX rename), so a key appears only complete. The host key is checked when backups.remote.hostKey
 * is set (`SHA256:…`, as `ssh-keygen -lf` prints it).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import localPath from 'node:path';
import path from 'node:path/posix';
import { Client, type SFTPWrapper } from 'ssh2';
import type { RemoteObject, RemoteStore } from './store.ts';

export interface SftpOptions {
  user: string;
  host: string;
  port: number;
  path: string;
  identityFile: string;
  /** The key's bytes when already read (the scheduler reads them before dropping root). */
  privateKey?: Buffer | undefined;
  hostKey?: string | undefined;
  describe: string;
  readyTimeoutMs?: number;
}

const NO_SUCH_FILE = 2;

function p<T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
}

function isNoSuchFile(err: unknown): boolean {
  return (err as { code?: number }).code === NO_SUCH_FILE;
}

// Long because: the store object's methods (put, get, list, stat, delete) share one SFTP connection
// and its reconnect state; each method is short.
export function sftpStore(o: SftpOptions): RemoteStore {
  let conn: Promise<{ client: Client; sftp: SFTPWrapper }> | null = null;
  const made = new Set<string>();
  const open = new Set<Promise<void>>();
  const connect = (): Promise<{ client: Client; sftp: SFTPWrapper }> => {
    conn ??= (async () => {
      const privateKey = o.privateKey ?? (await readFile(o.identityFile));
      const client = new Client();
      await new Promise<void>((resolve, reject) => {
        let hostKeyBad: string | null = null;
        client.once('ready', () => resolve());
        client.once('error', (err) => reject(hostKeyBad ? Object.assign(new Error(hostKeyBad), { level: 'host-key' }) : err));
        client.connect({
          host: o.host,
          port: o.port,
          username: o.user,
          privateKey,
          readyTimeout: o.readyTimeoutMs ?? 20_000,
          ...(o.hostKey
            ? {
                hostVerifier: (key: Buffer) => {
                  const fp = `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
                  if (fp === o.hostKey) return true;
                  hostKeyBad = `host key mismatch: ${o.host} offered ${fp}, backups.remote.hostKey is ${o.hostKey}`;
                  return false;
                },
              }
            : {}),
        });
      });
      client.on('error', () => (conn = null));
      client.on('close', () => (conn = null));
      const sftp = await p<SFTPWrapper>((cb) => client.sftp(cb));
      return { client, sftp };
    })().catch((err: unknown) => {
      conn = null;
      throw err;
    });
    return conn;
  };
  const full = (rel: string) => path.join(o.path, rel);
  const mkdirs = async (sftp: SFTPWrapper, dir: string): Promise<void> => {
    if (made.has(dir) || dir === '/' || dir === '.') return;
    const st = await p((cb) => sftp.stat(dir, cb)).catch(() => null);
    if (!st) {
      await mkdirs(sftp, path.dirname(dir));
      await p((cb) => sftp.mkdir(dir, cb)).catch(async (err: unknown) => {
        // Another uploader made it meanwhile.
        if (!(await p((cb) => sftp.stat(dir, cb)).catch(() => null))) throw err;
      });
    }
    made.add(dir);
  };
  const placeAt = async (sftp: SFTPWrapper, tmp: string, dst: string) => {
    await p((cb) => sftp.ext_openssh_rename(tmp, dst, cb)).catch(async () => {
      // No posix-rename extension: SFTP v3 rename refuses an existing target.
      await p((cb) => sftp.unlink(dst, cb)).catch(() => undefined);
      await p((cb) => sftp.rename(tmp, dst, cb));
    });
  };
  const tmpOf = (dst: string) => path.join(path.dirname(dst), `.${path.basename(dst)}.${randomBytes(4).toString('hex')}.tmp`);
  return {
    describe: o.describe,
    async put(rel, file) {
      const { sftp } = await connect();
      const dst = full(rel);
      await mkdirs(sftp, path.dirname(dst));
      const tmp = tmpOf(dst);
      try {
        await p((cb) => sftp.fastPut(file, tmp, cb));
        await placeAt(sftp, tmp, dst);
      } catch (err) {
        await p((cb) => sftp.unlink(tmp, cb)).catch(() => undefined);
        throw err;
      }
    },
    async putText(rel, text) {
      const { sftp } = await connect();
      const dst = full(rel);
      await mkdirs(sftp, path.dirname(dst));
      const tmp = tmpOf(dst);
      await p((cb) => sftp.writeFile(tmp, text, cb));
      await placeAt(sftp, tmp, dst);
    },
    async read(rel) {
      const { sftp } = await connect();
      const st = await p((cb) => sftp.stat(full(rel), cb)).catch((err: unknown) => {
        if (isNoSuchFile(err)) return null;
        throw err;
      });
      if (!st) return null;
      // fastGet reads with many requests in flight; a read stream has one, and was 3x slower than
      // the upload (1 MB/s on a loaded host): the object lands in a private temp file, streamed from there.
      const tmp = await mkdtemp(localPath.join(tmpdir(), 'modelship-sftp-'));
      const local = localPath.join(tmp, 'object');
      try {
        await p((cb) => sftp.fastGet(full(rel), local, cb));
      } catch (err) {
        await rm(tmp, { recursive: true, force: true });
        throw err;
      }
      const rs = createReadStream(local);
      rs.once('close', () => void rm(tmp, { recursive: true, force: true }).catch(() => undefined));
      return rs;
    },
    async getText(rel) {
      const { sftp } = await connect();
      try {
        return (await p<Buffer>((cb) => sftp.readFile(full(rel), cb))).toString('utf8');
      } catch (err) {
        if (isNoSuchFile(err)) return null;
        throw err;
      }
    },
    async list(prefix) {
      const { sftp } = await connect();
      const out: RemoteObject[] = [];
      // A prefix ends at a directory boundary here (the callers' prefixes are directories).
      const walk = async (dir: string): Promise<void> => {
        const entries = await p<Array<{ filename: string; attrs: { size: number; isDirectory(): boolean } }>>((cb) => sftp.readdir(dir, cb)).catch((err: unknown) => {
          if (isNoSuchFile(err)) return [];
          throw err;
        });
        for (const e of entries) {
          const f = path.join(dir, e.filename);
          if (e.attrs.isDirectory()) await walk(f);
          else if (!e.filename.startsWith('.')) out.push({ key: path.relative(o.path, f), size: e.attrs.size });
        }
      };
      await walk(full(prefix.replace(/\/+$/, '')));
      return out;
    },
    async remove(rel) {
      const { sftp } = await connect();
      await p((cb) => sftp.unlink(full(rel), cb)).catch((err: unknown) => {
        if (!isNoSuchFile(err)) throw err;
      });
    },
    async close() {
      await Promise.race([Promise.all(open), new Promise((r) => setTimeout(r, 5000).unref())]);
      const c = await conn?.catch(() => null);
      conn = null;
      c?.client.end();
    },
  };
}
