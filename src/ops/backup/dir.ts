/**
 * The backup directory as a place to write: a located, hinted error for every file-system failure
 * (a full disk, a read-only mount, a directory that belongs to someone else), and a probe that
 * proves the directory takes a new file before pg_dump runs.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { UserError, errorMessage } from '../../util/errors.ts';

const CODE_TEXT: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory',
  EIO: 'input/output error',
};

function whoAmI(): string {
  const uid = process.getuid?.();
  const gid = process.getgid?.();
  return uid === undefined ? 'this user' : `uid ${uid}${gid === undefined ? '' : ` gid ${gid}`}`;
}

/** What to do about a file-system error code, for the backup directory `dir`. */
export function fsHint(code: string | undefined, dir: string): string | undefined {
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return `the backup disk is full (${dir}): free space (older backups go through \`modelship backup prune\`) or point --dir / backups.dir at a bigger disk`;
    case 'EACCES':
    case 'EPERM':
      return `${dir} is not writable by ${whoAmI()}: \`chown ${process.getuid?.() ?? '<uid>'} ${dir}\` (or chmod it), or point --dir / backups.dir elsewhere`;
    case 'EROFS':
      return `${dir} is on a read-only file system: point --dir / backups.dir at a writable disk`;
    case 'ENOENT':
    case 'ENOTDIR':
      return `${dir} is not a directory that can hold files: point --dir / backups.dir at a real directory`;
    case 'EIO':
      return `the disk holding ${dir} reports I/O errors: check it (dmesg) before trusting any backup on it`;
    default:
      return undefined;
  }
}

/** `writing /b/x.dump: no space left on device (ENOSPC)` with a hint; other errors pass through unchanged. */
export function fsError(err: unknown, action: string, file: string, dir = path.dirname(file), prefix = ''): Error {
  if (err instanceof UserError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (!code || !/^E[A-Z]+$/.test(code)) return err instanceof Error ? err : new Error(errorMessage(err));
  const text = CODE_TEXT[code] ?? errorMessage(err).replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
  const hint = fsHint(code, dir);
  return new UserError(`${prefix}${action} ${file}: ${text} (${code})`, { ...(hint ? { hint } : {}), cause: err, details: { code, file } });
}

/** True when `err` is a file-system error with one of `codes`. */
export function isFsCode(err: unknown, ...codes: string[]): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && codes.includes(code);
}

export interface DirProbe {
  dir: string;
  freeBytes: number | null;
}

/**
 * Creates `dir` if needed and proves a file can be created, written, synced and removed in it.
 * Throws a located UserError (ENOSPC, EACCES, EROFS, /proc …).
 */
export async function probeWritableDir(dir: string): Promise<DirProbe> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw fsError(err, 'cannot create the backup directory', dir, dir);
  }
  const st = await stat(dir).catch((err: unknown) => {
    throw fsError(err, 'cannot read the backup directory', dir, dir);
  });
  if (!st.isDirectory()) throw new UserError(`the backup directory ${dir} is not a directory`, { hint: 'point --dir / backups.dir at a directory' });
  const probe = path.join(dir, `.modelship-probe-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  let fh;
  try {
    fh = await open(probe, 'wx', 0o600);
    await fh.write(Buffer.from('modelship write probe\n'));
    await fh.sync();
  } catch (err) {
    throw fsError(err, 'cannot write to the backup directory:', probe, dir);
  } finally {
    await fh?.close().catch(() => undefined);
    await rm(probe, { force: true }).catch(() => undefined);
  }
  const fs = await statfs(dir).catch(() => null);
  return { dir, freeBytes: fs ? Number(fs.bavail) * Number(fs.bsize) : null };
}
