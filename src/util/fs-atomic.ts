/** Durable file writes: temp name in the same directory, fsync, rename, fsync the directory. */
import { open, readdir, rename, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/** `.NAME.<random>.tmp` beside `file`: same directory (so the rename is atomic), hidden, unique. */
export function tempPathFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Writes `content` under a temp name beside `file`, fsynced, and returns that name; the caller
 * renames it into place (several files at once, as a backup and its manifest) or removes it. On
 * failure nothing is left behind.
 */
export async function writeTemp(file: string, content: string | Uint8Array, mode = 0o644): Promise<string> {
  const tmp = tempPathFor(file);
  let fh;
  try {
    fh = await open(tmp, 'wx', mode);
    await fh.writeFile(content);
    await fh.chmod(mode);
    await fh.sync();
    await fh.close();
    fh = undefined;
  } catch (err) {
    await fh?.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  return tmp;
}

export async function writeFileAtomic(file: string, content: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  const tmp = await writeTemp(file, content, mode);
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dir);
}

export async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r').catch(() => undefined);
  if (!d) return;
  try {
    await d.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  } finally {
    await d.close();
  }
}

/**
 * fsync of every file and directory under `root` (what `pg_basebackup` does at its end unless
 * `--no-sync`), a few at a time so the device's queue stays busy.
 */
export async function syncTree(root: string, parallel = 8): Promise<void> {
  const entries = await readdir(root, { withFileTypes: true, recursive: true });
  const files = entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
  const dirs = [root, ...entries.filter((e) => e.isDirectory()).map((e) => path.join(e.parentPath, e.name))];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const f = await open(files[next++]!, 'r');
      try {
        await f.sync();
      } finally {
        await f.close();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, parallel) }, worker));
  // Children's entries first, then the directories that hold them.
  for (const d of dirs.reverse()) await syncDir(d);
}
