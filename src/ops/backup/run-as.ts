/**
 * The scheduler container starts as root only to make the backup directory writable for the user
 * it then runs as: a bind mount the engine created is root-owned 0755, whatever the image says.
 * `resolveUser` is pure; `prepareAndDrop` is the I/O (chown of that directory and of what root left
 * in it, then setuid).
 */
import { chown, lchown, lstat, mkdir, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { UserError, errorMessage } from '../../util/errors.ts';

export interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

/** `node`, `1000`, `1000:1000` or `node:node` against /etc/passwd and /etc/group text. */
export function resolveUser(spec: string, passwd: string, group: string): RunAs {
  const [u = '', g] = spec.split(':');
  const users = passwd.split('\n').map((l) => l.split(':')).filter((f) => f.length >= 4);
  const groups = group.split('\n').map((l) => l.split(':')).filter((f) => f.length >= 3);
  const numeric = /^\d+$/;
  const byUser = users.find((f) => f[0] === u) ?? (numeric.test(u) ? users.find((f) => f[2] === u) : undefined);
  let uid: number;
  let gid: number;
  let name: string;
  if (byUser) {
    uid = Number(byUser[2]);
    gid = Number(byUser[3]);
    name = byUser[0]!;
  } else if (numeric.test(u)) {
    uid = Number(u);
    gid = uid;
    name = u;
  } else {
    throw new UserError(`--run-as ${spec}: no user "${u}" in this image's /etc/passwd`, { exitCode: 2, hint: 'give a numeric uid[:gid] instead (e.g. 1000:1000)' });
  }
  if (g !== undefined && g !== '') {
    const byGroup = groups.find((f) => f[0] === g);
    if (byGroup) gid = Number(byGroup[2]);
    else if (numeric.test(g)) gid = Number(g);
    else throw new UserError(`--run-as ${spec}: no group "${g}" in this image's /etc/group`, { exitCode: 2, hint: 'give a numeric gid instead' });
  }
  return { uid, gid, name };
}

/** Whether `uid`/`gids` may create files in a directory with this owner and mode. Pure. */
export function dirWritableBy(st: { uid: number; gid: number; mode: number }, uid: number, gids: readonly number[]): boolean {
  if (uid === 0) return true;
  if (st.uid === uid) return (st.mode & 0o300) === 0o300;
  if (gids.includes(st.gid)) return (st.mode & 0o030) === 0o030;
  return (st.mode & 0o003) === 0o003;
}

/**
 * As root: every entry below `dir` that the user does not own becomes theirs. A backup or a restore
 * run as root on the host (a disaster recovery from the remote, say) leaves root-owned 0700
 * directories there — the WAL archive, the off-site queue — that the scheduler, once it is no
 * longer root, could not write: archiving would stop right after the recovery. Returns how many
 * entries changed hands and how many could not (a root-squashed network mount).
 */
export async function handOverTree(dir: string, user: Pick<RunAs, 'uid' | 'gid'>): Promise<{ changed: number; failed: number }> {
  let changed = 0;
  let failed = 0;
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const p = path.join(e.parentPath, e.name);
    const st = await lstat(p).catch(() => null);
    if (!st || st.uid === user.uid) continue;
    try {
      await lchown(p, user.uid, user.gid);
      changed++;
    } catch {
      failed++;
    }
  }
  return { changed, failed };
}

/**
 * As root: create `dir`, hand it to the user when that user could not write it, then become that
 * user for good. Not root: nothing to do (the health check reports an unwritable directory).
 * Returns what was changed, for the log.
 */
export async function prepareAndDrop(dir: string, spec: string): Promise<{ user: RunAs | null; changed: string | null }> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return { user: null, changed: null };
  const [passwd, group] = await Promise.all([readFile('/etc/passwd', 'utf8').catch(() => ''), readFile('/etc/group', 'utf8').catch(() => '')]);
  const user = resolveUser(spec, passwd, group);
  let changed: string | null = null;
  try {
    await mkdir(dir, { recursive: true });
    const st = await stat(dir);
    if (!dirWritableBy(st, user.uid, [user.gid])) {
      await chown(dir, user.uid, user.gid);
      changed = `${dir} was owned by ${st.uid}:${st.gid} mode ${(st.mode & 0o777).toString(8)}, not writable by ${user.name} (uid ${user.uid}): now owned by ${user.uid}:${user.gid}`;
    }
    const below = await handOverTree(dir, user);
    if (below.changed + below.failed > 0) {
      const note = `${below.changed} entr${below.changed === 1 ? 'y' : 'ies'} below ${dir} not owned by ${user.name} handed over${below.failed ? `; ${below.failed} could not be (chown refused)` : ''}`;
      changed = changed ? `${changed}; ${note}` : note;
    }
  } catch (err) {
    // A read-only or foreign mount: the health check says so once running as the user.
    changed = `could not prepare ${dir}: ${errorMessage(err)}`;
  }
  process.setgroups?.([user.gid]);
  process.setgid?.(user.gid);
  process.setuid?.(user.uid);
  return { user, changed };
}
