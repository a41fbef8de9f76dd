/**
 * `modelship build`: builds the API image from templates/Dockerfile through the Docker Engine API.
 * The build context (the built project, no node_modules) is streamed as a tar; dependencies are
 * installed inside the image with `npm ci`, optionally trusting a CA bundle (`--ca-file`) for
 * networks behind a TLS-intercepting proxy.
 */
import { createReadStream } from 'node:fs';
import { access, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Docker from 'dockerode';
import { execa } from 'execa';
import tar from 'tar-stream';
import { UserError } from '../util/errors.ts';
import { PACKAGE_ROOT } from '../util/paths.ts';
import { VERSION } from '../version.ts';
import { MS_LABEL } from '../stack/names.ts';
import { engineUnreachable } from '../docker/engine.ts';

export const CONTEXT_ENTRIES = ['package.json', 'package-lock.json', 'bin', 'dist', 'templates', 'models', 'migrations'] as const;

export interface BuildOptions {
  tag: string;
  baseImage?: string;
  caFile?: string;
  noCache?: boolean;
  /** Extra tags besides `tag` (version and git commit are added automatically). */
  extraTags?: string[];
  onLine?: (line: string) => void;
}

export interface BuildResult {
  imageId: string;
  tags: string[];
  durationMs: number;
}

async function gitCommit(): Promise<string | null> {
  const r = await execa('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: PACKAGE_ROOT, reject: false });
  return r.exitCode === 0 ? r.stdout.trim() : null;
}

async function addTree(pack: tar.Pack, abs: string, rel: string): Promise<void> {
  const st = await stat(abs);
  if (st.isDirectory()) {
    for (const name of (await readdir(abs)).sort()) await addTree(pack, path.join(abs, name), `${rel}/${name}`);
    return;
  }
  if (!st.isFile()) return;
  await new Promise<void>((resolve, reject) => {
    const entry = pack.entry({ name: rel, size: st.size, mode: st.mode & 0o777, mtime: new Date(0) }, (err) => (err ? reject(err) : resolve()));
    createReadStream(abs).on('error', reject).pipe(entry);
  });
}

/** The build context as a tar stream (Dockerfile + the built project + the optional CA). */
export async function buildContext(caFile?: string): Promise<PassThrough> {
  try {
    await access(path.join(PACKAGE_ROOT, 'dist', 'cli', 'main.js'));
  } catch {
    throw new UserError('the project is not built (dist/ is missing)', { hint: 'run `npm run build` (or scripts/setup.sh) first' });
  }
  let ca = '';
  if (caFile) {
    try {
      ca = await readFile(caFile, 'utf8');
    } catch (err) {
      throw new UserError(`cannot read --ca-file ${caFile}: ${(err as Error).message}`, { exitCode: 2 });
    }
    if (!ca.includes('BEGIN CERTIFICATE')) throw new UserError(`--ca-file ${caFile} holds no PEM certificate`, { exitCode: 2 });
  }
  const pack = tar.pack();
  const out = new PassThrough();
  pack.pipe(out);
  void (async () => {
    try {
      pack.entry({ name: 'Dockerfile', mtime: new Date(0) }, await readFile(path.join(PACKAGE_ROOT, 'templates', 'Dockerfile')));
      pack.entry({ name: '.modelship-ca.pem', mtime: new Date(0) }, ca);
      for (const e of CONTEXT_ENTRIES) await addTree(pack, path.join(PACKAGE_ROOT, e), e);
      pack.finalize();
    } catch (err) {
      out.destroy(err as Error);
    }
  })();
  return out;
}

export async function buildImage(docker: Docker, opts: BuildOptions): Promise<BuildResult> {
  const t0 = performance.now();
  const commit = await gitCommit();
  const repo = opts.tag.replace(/:[^/:]+$/, '');
  const tags = [...new Set([opts.tag, `${repo}:${VERSION}`, ...(commit ? [`${repo}:${VERSION}-${commit}`] : []), ...(opts.extraTags ?? [])])];
  const context = await buildContext(opts.caFile);
  let stream: NodeJS.ReadableStream;
  try {
    stream = await docker.buildImage(context as unknown as NodeJS.ReadableStream, {
      t: tags,
      buildargs: opts.baseImage ? { BASE_IMAGE: opts.baseImage } : {},
      labels: { [MS_LABEL.image]: 'api', [MS_LABEL.version]: VERSION, ...(commit ? { [MS_LABEL.commit]: commit } : {}) },
      nocache: opts.noCache === true,
      rm: true,
      forcerm: true,
    } as unknown as Docker.ImageBuildOptions);
  } catch (err) {
    throw engineUnreachable(err);
  }
  let imageId = '';
  let failure: string | null = null;
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (err: Error | null) => (err ? reject(err) : resolve()),
      (ev: { stream?: string; error?: string; errorDetail?: { message?: string }; aux?: { ID?: string } }) => {
        if (ev.stream) for (const l of ev.stream.split('\n')) if (l.trim()) opts.onLine?.(l);
        if (ev.aux?.ID) imageId = ev.aux.ID;
        if (ev.error) failure = ev.errorDetail?.message ?? ev.error;
      },
    );
  }).catch((err: Error) => {
    failure ??= err.message;
  });
  if (failure) {
    throw new UserError(`image build failed: ${failure}`, {
      hint: /npm|ENOTFOUND|certificate|EAI_AGAIN|self.signed/i.test(failure)
        ? 'behind a TLS-intercepting proxy? pass its CA bundle with --ca-file /etc/ssl/certs/ca-certificates.crt'
        : 'the build output above shows the failing step',
    });
  }
  if (!imageId) imageId = (await docker.getImage(opts.tag).inspect()).Id;
  return { imageId, tags, durationMs: Math.round(performance.now() - t0) };
}

/** Exposed for tests: the list of files a build would send. */
export async function contextFiles(): Promise<string[]> {
  const extract = tar.extract();
  const names: string[] = [];
  extract.on('entry', (h, s, next) => {
    names.push(h.name);
    s.on('end', next);
    s.resume();
  });
  await pipeline(await buildContext(), extract);
  return names;
}
