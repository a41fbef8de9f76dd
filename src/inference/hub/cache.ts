import { lstat, mkdir, open, readFile, readlink, rename, rm, stat, symlink, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../../util/fs-atomic.ts';
import { UserError } from '../../util/errors.ts';
import { isCommitHash, repoFolderName } from '../../config/hub-ref.ts';

/**
 * The Hugging Face Hub cache, laid out as huggingface_hub lays it out so that Python tools and
 * modelship share one copy of each file:
 *
 *   <cache>/models--ORG--NAME/blobs/<etag>            the file's bytes (etag = sha256 for LFS files, git sha1 otherwise)
 *   <cache>/models--ORG--NAME/blobs/<etag>.incomplete  a transfer in progress (resumed with Range)
 *   <cache>/models--ORG--NAME/snapshots/<commit>/<path> relative symlink to ../../blobs/<etag>
 *   <cache>/models--ORG--NAME/refs/<revision>         the commit a branch or tag pointed to when last resolved
 *   <cache>/.locks/models--ORG--NAME/<etag>.lock       held while one process downloads that blob
 *
 * Root: HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE (its older name), else HUGGINGFACE_CACHE_DIR,
 * else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
 */

function expandHome(p: string, env: NodeJS.ProcessEnv): string {
  if (p === '~' || p.startsWith('~/')) return path.join(env.HOME ?? os.homedir(), p.slice(1));
  return p;
}

export function hfHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HOME) return path.resolve(expandHome(env.HF_HOME, env));
  const xdg = env.XDG_CACHE_HOME ? expandHome(env.XDG_CACHE_HOME, env) : path.join(env.HOME ?? os.homedir(), '.cache');
  return path.resolve(xdg, 'huggingface');
}

export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.HF_HUB_CACHE || env.HUGGINGFACE_HUB_CACHE || env.HUGGINGFACE_CACHE_DIR;
  if (explicit) return path.resolve(expandHome(explicit, env));
  return path.join(hfHome(env), 'hub');
}

/**
 * A repository path from the Hub's file list, checked before it becomes a path on disk: a hostile
 * or broken mirror must not make us write outside the snapshot folder.
 */
export function safeRepoPath(rel: string): string {
  const parts = rel.split('/');
  if (rel.length === 0 || rel.length > 1024 || rel.startsWith('/') || rel.includes('\\') || rel.includes('\0') || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new UserError(`the Hub listed an unsafe file path ${JSON.stringify(rel)}`, { hint: 'the endpoint (HF_ENDPOINT) is not behaving like the Hub; check the mirror' });
  }
  return rel;
}

/** An etag the Hub reported, checked before it names a file: sha256 (64 hex) or git sha1 (40 hex). */
export function safeEtag(etag: string): string {
  if (!/^[0-9a-f]{40}$|^[0-9a-f]{64}$/.test(etag)) {
    throw new UserError(`the Hub reported an unusable ETag ${JSON.stringify(etag)}`, { hint: 'expected a sha256 or git sha1; the endpoint (HF_ENDPOINT) may not be a Hub mirror' });
  }
  return etag;
}

export class RepoCache {
  readonly root: string;
  readonly repo: string;
  readonly dir: string;

  constructor(root: string, repo: string) {
    this.root = root;
    this.repo = repo;
    this.dir = path.join(root, repoFolderName(repo));
  }

  blobPath(etag: string): string {
    return path.join(this.dir, 'blobs', safeEtag(etag));
  }

  snapshotDir(commit: string): string {
    if (!isCommitHash(commit)) throw new UserError(`not a commit hash: ${JSON.stringify(commit)}`, { hint: 'the endpoint (HF_ENDPOINT) did not report a 40-hex commit' });
    return path.join(this.dir, 'snapshots', commit);
  }

  lockPath(etag: string): string {
    return path.join(this.root, '.locks', repoFolderName(this.repo), `${safeEtag(etag)}.lock`);
  }

  private refFile(revision: string): string {
    const rel = safeRepoPath(revision);
    return path.join(this.dir, 'refs', rel);
  }

  /** The commit a revision resolves to in the cache: the revision itself if it is a commit, else `refs/<revision>`. */
  async resolveRef(revision: string): Promise<string | undefined> {
    if (isCommitHash(revision)) return revision;
    try {
      const commit = (await readFile(this.refFile(revision), 'utf8')).trim();
      return isCommitHash(commit) ? commit : undefined;
    } catch {
      return undefined;
    }
  }

  async writeRef(revision: string, commit: string): Promise<void> {
    if (isCommitHash(revision)) return;
    // huggingface_hub writes the bare hash, no newline.
    await writeFileAtomic(this.refFile(revision), commit);
  }

  /** The size of a complete blob, or undefined when it is not in the cache. */
  async blobSize(etag: string): Promise<number | undefined> {
    try {
      const s = await stat(this.blobPath(etag));
      return s.isFile() ? s.size : undefined;
    } catch {
      return undefined;
    }
  }

  /** Whether `snapshots/<commit>/<file>` exists and leads to a readable file. */
  async snapshotHas(commit: string, file: string): Promise<boolean> {
    try {
      return (await stat(path.join(this.snapshotDir(commit), safeRepoPath(file)))).isFile();
    } catch {
      return false;
    }
  }

  /** Points `snapshots/<commit>/<file>` at `blobs/<etag>` with a relative symlink, replacing any older link. */
  async link(commit: string, file: string, etag: string): Promise<void> {
    const dest = path.join(this.snapshotDir(commit), safeRepoPath(file));
    await mkdir(path.dirname(dest), { recursive: true });
    const target = path.relative(path.dirname(dest), this.blobPath(etag));
    try {
      if ((await lstat(dest)).isSymbolicLink() && (await readlink(dest)) === target) return;
    } catch {
      // not there yet
    }
    const tmp = `${dest}.${process.pid}.tmp-link`;
    await rm(tmp, { force: true });
    await symlink(target, tmp);
    await rename(tmp, dest);
  }

  /** Moves a verified `.incomplete` file into place as `blobs/<etag>`. */
  async commitBlob(incomplete: string, etag: string): Promise<void> {
    await rename(incomplete, this.blobPath(etag));
  }

  incompletePath(etag: string): string {
    return `${this.blobPath(etag)}.incomplete`;
  }

  /**
   * Holds `.locks/…/<etag>.lock` while `fn` runs, so two processes sharing a cache (two API
   * replicas on one volume, or modelship beside a Python tool that honours the same file) do not
   * write one `.incomplete` at once. A lock left by a dead process on this host is taken over; a
   * live holder is waited for, at most `waitMs`.
   */
  async withBlobLock<T>(etag: string, waitMs: number, fn: () => Promise<T>): Promise<T> {
    const file = this.lockPath(etag);
    await mkdir(path.dirname(file), { recursive: true });
    const me = `${process.pid}@${os.hostname()}`;
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        const fh = await open(file, 'wx');
        await fh.writeFile(me);
        await fh.close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const holder = (await readFile(file, 'utf8').catch(() => '')).trim();
        const age = Date.now() - ((await stat(file).catch(() => undefined))?.mtimeMs ?? 0);
        // An empty lock is one being written right now, unless it has been empty for a while.
        if (holder === '' ? age > 10_000 : lockIsStale(holder)) {
          await unlink(file).catch(() => undefined);
          continue;
        }
        if (Date.now() >= deadline) {
          throw new UserError(`another process (${holder || 'unknown'}) is downloading ${this.repo} blob ${etag.slice(0, 12)}… into ${this.root}`, {
            hint: `wait for it to finish, or delete ${file} if that process is gone`,
          });
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    try {
      return await fn();
    } finally {
      await unlink(file).catch(() => undefined);
    }
  }
}

/** A lock naming a process of this host that no longer exists. Locks from other hosts are never judged stale. */
function lockIsStale(holder: string): boolean {
  const m = /^(\d+)@(.+)$/.exec(holder);
  if (!m) return true;
  if (m[2] !== os.hostname()) return false;
  try {
    process.kill(Number(m[1]), 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
