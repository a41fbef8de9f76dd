/**
 * The scheduler container starts as root only to make the backup directory writable for the user
 * it then runs as: a bind mount the engine created is root-owned 0755, whatever the image says.
 * `resolveUser` is pure; `prepareAndDrop` is the I/O (chown of that one directory, then setuid).
 */
import { chown, mkdir, readFile, stat } from 'node:fs/promises';
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
  } catch (err) {
    // A read-only or foreign mount: the health check says so once running as the user.
    changed = `could not prepare ${dir}: ${errorMessage(err)}`;
  }
  process.setgroups?.([user.gid]);
  process.setgid?.(user.gid);
  process.setuid?.(user.uid);
  return { user, changed };
}
