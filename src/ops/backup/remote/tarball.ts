/** A base backup directory as one file for the remote (tar, through tar-stream), and back. */
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readlink, symlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';

/** Writes `dir`'s tree into the new file `dst` (names relative to `dir`). */
export async function tarDirectory(dir: string, dst: string): Promise<void> {
  const pack = tar.pack();
  const written = pipeline(pack, createWriteStream(dst, { flags: 'wx', mode: 0o600 }));
  try {
    const entries = (await readdir(dir, { recursive: true })).map((e) => String(e)).sort();
    for (const rel of entries) {
      const full = path.join(dir, rel);
      const st = await lstat(full);
      const common = { name: rel, mode: st.mode & 0o7777, mtime: st.mtime };
      if (st.isDirectory()) pack.entry({ ...common, type: 'directory' });
      else if (st.isSymbolicLink()) pack.entry({ ...common, type: 'symlink', linkname: await readlink(full) });
      else if (st.isFile()) {
        await new Promise<void>((resolve, reject) => {
          const entry = pack.entry({ ...common, size: st.size }, (err) => (err ? reject(err) : resolve()));
          pipeline(createReadStream(full), entry).catch(reject);
        });
      }
    }
    pack.finalize();
    await written;
  } catch (err) {
    pack.destroy(err as Error);
    await written.catch(() => undefined);
    throw err;
  }
}

/** Unpacks a tar file into `dir` (created), refusing any entry that would land outside it. */
export async function untarInto(file: string, dir: string): Promise<number> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const extract = tar.extract();
  const source = pipeline(createReadStream(file), extract);
  // Awaited at the end; a refusal mid-way tears it down and must not surface as an unhandled rejection.
  source.catch(() => undefined);
  let n = 0;
  const dirs: Array<{ p: string; mode: number; mtime: Date }> = [];
  for await (const entry of extract) {
    const h = entry.header;
    const target = path.resolve(dir, h.name);
    if (target !== dir && !target.startsWith(`${dir}${path.sep}`)) throw new Error(`the archive holds a path outside its directory: ${h.name}`);
    if (h.type === 'directory') {
      await mkdir(target, { recursive: true, mode: 0o700 });
      dirs.push({ p: target, mode: h.mode ?? 0o700, mtime: h.mtime ?? new Date() });
      entry.resume();
    } else if (h.type === 'symlink') {
      await symlink(h.linkname ?? '', target);
      entry.resume();
    } else if (h.type === 'file') {
      await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
      await pipeline(entry, createWriteStream(target, { flags: 'wx', mode: h.mode ?? 0o600 }));
      if (h.mtime) await utimes(target, h.mtime, h.mtime);
      n++;
    } else entry.resume();
  }
  await source;
  for (const d of dirs.reverse()) {
    await chmod(d.p, d.mode);
    await utimes(d.p, d.mtime, d.mtime);
  }
  return n;
}
