import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../../util/errors.ts';
import { deriveHfManifest, readmeLicense, type Derivation, type HfLayoutOptions } from '../hf-layout.ts';
import { chooseVariant } from '../hf-variant.ts';
import { hubCacheDir, RepoCache } from './cache.ts';
import { downloadFile, type DownloadEvent, type DownloadResult } from './download.ts';
import { hubSettings, type HubSettings } from './http.ts';
import { fetchRepoInfo, type RepoInfo } from './info.ts';
import { formatHubRef, parseHubRef, type HubRef } from '../../config/hub-ref.ts';

/**
 * `hf:ORG/NAME[@REV]` → a complete snapshot folder in the Hub cache holding exactly the files the
 * model needs (not every precision variant the repo carries): resolved online through the model
 * info API, or from the cache's refs when HF_HUB_OFFLINE=1 or the Hub cannot be reached.
 */

export interface HubSnapshot {
  ref: HubRef;
  spec: string;
  commit: string;
  dir: string;
  cacheRoot: string;
  /** Set when it came from the cache without asking the Hub, and why. */
  offline?: string;
  license?: string | undefined;
  pipelineTag?: string | undefined;
  sha256: Record<string, string>;
  downloads: DownloadResult[];
  derivation?: Derivation;
}

export interface FetchOptions extends HfLayoutOptions {
  env?: NodeJS.ProcessEnv;
  onEvent?: (e: DownloadEvent | { kind: 'info'; message: string }) => void;
}

const METADATA = ['config.json', 'preprocessor_config.json', 'tokenizer_config.json', 'README.md'];

async function fromCache(settings: HubSettings, cache: RepoCache, ref: HubRef, why: string): Promise<HubSnapshot | undefined> {
  const commit = await cache.resolveRef(ref.revision);
  if (!commit || !(await cache.snapshotHas(commit, 'config.json'))) return undefined;
  return { ref, spec: formatHubRef(ref), commit, dir: cache.snapshotDir(commit), cacheRoot: cache.root, offline: why, sha256: {}, downloads: [] };
}

export async function fetchHubSnapshot(spec: string, opts: FetchOptions = {}): Promise<HubSnapshot> {
  const env = opts.env ?? process.env;
  const ref = parseHubRef(spec);
  const settings = hubSettings(env);
  const cache = new RepoCache(hubCacheDir(env), ref.repo);
  const emit = opts.onEvent ?? (() => undefined);

  if (settings.offline) {
    const snap = await fromCache(settings, cache, ref, 'HF_HUB_OFFLINE is set');
    if (!snap) throw new UserError(`${formatHubRef(ref)} is not in the Hub cache (${cache.dir}) and HF_HUB_OFFLINE is set`, { hint: 'download it once with network access (modelship models add hf:…), or unset HF_HUB_OFFLINE' });
    return snap;
  }

  let info: RepoInfo;
  try {
    info = await fetchRepoInfo(settings, ref);
  } catch (err) {
    // Only an unreachable Hub falls back to the cache; a refusal (404, 401, gated) is the answer.
    const unreachable = err instanceof UserError && /cannot reach/.test(err.message);
    if (unreachable) {
      const snap = await fromCache(settings, cache, ref, `the Hub could not be reached (${(err as Error).message})`);
      if (snap) {
        emit({ kind: 'info', message: `${formatHubRef(ref)}: ${snap.offline}; using the cached snapshot ${snap.commit.slice(0, 12)}` });
        return snap;
      }
    }
    throw err;
  }

  // Refuse a repo without an ONNX file before downloading anything.
  const paths = info.files.map((f) => f.path);
  const choice = chooseVariant(paths, opts.variant);
  if (!choice.ok) deriveHfManifest({ files: paths, config: {}, source: { kind: 'hub', spec: formatHubRef(ref), repo: ref.repo, commit: info.commit } }, opts);

  const downloads: DownloadResult[] = [];
  const byPath = new Map(info.files.map((f) => [f.path, f]));
  const get = async (p: string) => {
    const f = byPath.get(p);
    if (!f) throw new UserError(`${formatHubRef(ref)}: ${p} is not in the repository`);
    downloads.push(await downloadFile(settings, cache, ref, info.commit, f, emit));
  };
  for (const m of METADATA) if (byPath.has(m)) await get(m);
  if (!byPath.has('config.json')) {
    throw new UserError(`${formatHubRef(ref)} has no config.json, so it is not a Hugging Face transformers layout`, { hint: 'download its files yourself, write a manifest.json beside the .onnx file, and use modelship models add DIR' });
  }
  const dir = cache.snapshotDir(info.commit);
  const read = async (p: string) => (byPath.has(p) ? JSON.parse(await readFile(path.join(dir, p), 'utf8')) as unknown : undefined);
  const sha256: Record<string, string> = {};
  for (const f of info.files) if (f.lfs && f.etag) sha256[f.path] = f.etag;
  const readme = byPath.has('README.md') ? await readFile(path.join(dir, 'README.md'), 'utf8').catch(() => '') : '';
  let derivation: Derivation;
  try {
    derivation = deriveHfManifest({
      files: paths,
      config: await read('config.json'),
      preprocessor: await read('preprocessor_config.json'),
      tokenizerConfig: await read('tokenizer_config.json'),
      readmeLicense: readmeLicense(readme),
      source: { kind: 'hub', spec: formatHubRef(ref), repo: ref.repo, commit: info.commit, license: info.license, pipelineTag: info.pipelineTag, sha256 },
    }, opts);
  } catch (err) {
    if (err instanceof SyntaxError) throw new UserError(`${formatHubRef(ref)}: a configuration file is not valid JSON: ${err.message}`);
    throw err;
  }
  for (const p of derivation.requiredFiles) if (!downloads.some((d) => d.file === p)) await get(p);
  await cache.writeRef(ref.revision, info.commit);
  return { ref, spec: formatHubRef(ref), commit: info.commit, dir, cacheRoot: cache.root, license: info.license, pipelineTag: info.pipelineTag, sha256, downloads, derivation };
}
