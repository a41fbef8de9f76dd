/**
 * Reading and writing files inside a named volume through the Docker archive API, via a
 * never-started helper container: works on a remote engine too, needs no shell in any image.
 */
import { PassThrough, type Readable } from 'node:stream';
import type Docker from 'dockerode';
import tar from 'tar-stream';
import { MS_LABEL } from '../stack/names.ts';

export async function readArchiveFile(container: Docker.Container, file: string): Promise<string | null> {
  let stream: Readable;
  try {
    stream = (await container.getArchive({ path: file })) as unknown as Readable;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return null;
    throw err;
  }
  const extract = tar.extract();
  let content: string | null = null;
  await new Promise<void>((resolve, reject) => {
    extract.on('entry', (_header, s, next) => {
      const chunks: Buffer[] = [];
      s.on('data', (b: unknown) => {
        chunks.push(b as Buffer);
      });
      s.on('end', () => {
        content ??= Buffer.concat(chunks).toString('utf8');
        next();
      });
      s.resume();
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
    stream.pipe(extract);
  });
  return content;
}

/** Writes files (paths relative to `dir`, directories created as needed) or symlinks. */
export async function writeArchiveFiles(container: Docker.Container, dir: string, files: Array<{ name: string; content: string; mode?: number; symlink?: string }>): Promise<void> {
  const pack = tar.pack();
  const dirs = new Set<string>();
  for (const f of files) {
    const parts = f.name.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  for (const d of [...dirs].sort()) pack.entry({ name: d, type: 'directory', mode: 0o755 });
  for (const f of files) {
    if (f.symlink) pack.entry({ name: f.name, type: 'symlink', linkname: f.symlink });
    else pack.entry({ name: f.name, mode: f.mode ?? 0o644 }, f.content);
  }
  pack.finalize();
  const pass = new PassThrough();
  pack.pipe(pass);
  await container.putArchive(pass, { path: dir });
}

/** Runs `fn` with a never-started container that mounts `volume` at `mountPoint`. */
export async function withVolume<T>(docker: Docker, volume: string, mountPoint: string, image: string, fn: (c: Docker.Container) => Promise<T>): Promise<T> {
  const c = await docker.createContainer({
    Image: image,
    Entrypoint: [],
    Cmd: ['true'],
    Labels: { [MS_LABEL.internal]: 'volume-files' },
    HostConfig: { Binds: [`${volume}:${mountPoint}`], NetworkMode: 'none' },
  });
  try {
    return await fn(c);
  } finally {
    await c.remove({ force: true }).catch(() => undefined);
  }
}
