import { cp, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { UsageError, UserError } from '../util/errors.ts';
import type { Derivation } from './hf-layout.ts';
import { isHfLayout } from './hf-layout.ts';
import { listRepoFiles, loadHfModel } from './hf-model.ts';
import { fetchHubSnapshot, type FetchOptions, type HubSnapshot } from './hub/snapshot.ts';
import { hubCacheDir } from './hub/cache.ts';
import { formatHubRef, parseHubRef } from '../config/hub-ref.ts';
import type { Task } from './manifest.ts';
import { BUNDLED_MODELS_DIR, bundledNames, checkModelFiles, dataDir, loadModelRef, readUserRegistry, writeUserRegistry, type ModelEntry, type RegistryOptions, type UserModelRef } from './registry.ts';

/**
 * Registering Hugging Face layout models: a directory (`models add DIR` without a manifest.json)
 * or a Hub repository (`models add hf:ORG/NAME[@REV]`), and resolving `hf:` names given where a
 * model name is expected (the config's models.image|text|detection, `--model`).
 */

export interface AddHfOptions extends RegistryOptions {
  variant?: string | undefined;
  name?: string | undefined;
  task?: Task | undefined;
  force?: boolean;
  copy?: boolean;
  onEvent?: FetchOptions['onEvent'];
}

export interface AddHfResult {
  entry: ModelEntry;
  derivation: Derivation;
  snapshot?: HubSnapshot;
}

/** Whether `dir` is a Hugging Face layout directory (config.json, no manifest.json). */
export async function looksLikeHfDir(dir: string): Promise<boolean> {
  try {
    if (!(await stat(dir)).isDirectory()) return false;
    return isHfLayout(await listRepoFiles(dir));
  } catch {
    return false;
  }
}

/** The same checks `models add` makes on a manifest directory: files present, and the ONNX model's own inputs and outputs against the derived manifest. */
async function check(where: string, dir: string, manifest: ModelEntry['manifest']): Promise<void> {
  const problems = await checkModelFiles(dir, manifest);
  if (problems.length) {
    throw new UserError(`cannot add ${where}:\n${problems.map((p) => `  - ${p}`).join('\n')}`, { hint: 'the manifest derived from the Hugging Face files does not fit the model; write a manifest.json beside the files to say what they do not' });
  }
}

async function register(ref: UserModelRef, opts: AddHfOptions): Promise<void> {
  const env = opts.env ?? process.env;
  const bundled = await bundledNames(opts.bundledDir ?? BUNDLED_MODELS_DIR);
  if (bundled.includes(ref.name)) throw new UserError(`"${ref.name}" is the name of a bundled model`, { hint: 'choose another with --name', exitCode: 2 });
  const reg = await readUserRegistry(env);
  const existing = reg.models.find((m) => m.name === ref.name);
  if (existing && !opts.force) throw new UserError(`a model named "${ref.name}" is already registered (${existing.hub?.spec ?? existing.dir})`, { hint: 'use --force to replace it, or --name to add this one beside it' });
  reg.models = [...reg.models.filter((m) => m.name !== ref.name), ref];
  await writeUserRegistry(env, reg);
}

function refOf(name: string, dir: string, opts: AddHfOptions, hub?: UserModelRef['hub']): UserModelRef {
  return { name, dir, layout: 'huggingface', ...(opts.variant ? { variant: opts.variant } : {}), ...(opts.task ? { task: opts.task } : {}), ...(hub ? { hub } : {}) };
}

/** `models add DIR` for a Hugging Face layout directory. */
export async function addHfDir(srcDir: string, opts: AddHfOptions = {}): Promise<AddHfResult> {
  const env = opts.env ?? process.env;
  const abs = path.resolve(srcDir);
  const first = await loadHfModel(abs, { variant: opts.variant, name: opts.name, task: opts.task });
  const name = first.manifest.name;
  let dir = abs;
  if (opts.copy) {
    dir = path.join(dataDir(env), 'models', name);
    await mkdir(path.dirname(dir), { recursive: true });
    // Only the files the model needs, with symlinks (a Hub snapshot) resolved to their bytes.
    for (const f of first.derivation.requiredFiles) await cp(path.join(abs, f), path.join(dir, f), { force: true, dereference: true });
  }
  const ref = refOf(name, dir, opts);
  const loaded = await loadModelRef(ref);
  await check(abs, dir, loaded.manifest);
  await register(ref, opts);
  return { entry: { name, dir, source: 'user', ...loaded }, derivation: first.derivation };
}

/** `models add hf:ORG/NAME[@REV]`: download what the model needs into the Hub cache and register the snapshot. */
export async function addHubModel(spec: string, opts: AddHfOptions = {}): Promise<AddHfResult> {
  if (opts.copy) throw new UsageError('--copy does not apply to hf: models', `the files stay in the Hub cache (${hubCacheDir(opts.env ?? process.env)}), shared with Python tools; set HF_HUB_CACHE to put it elsewhere`);
  const snapshot = await fetchHubSnapshot(spec, { env: opts.env, variant: opts.variant, name: opts.name, task: opts.task, onEvent: opts.onEvent });
  const ref = parseHubRef(spec);
  const hub: NonNullable<UserModelRef['hub']> = {
    spec: formatHubRef(ref),
    repo: ref.repo,
    commit: snapshot.commit,
    ...(snapshot.license ? { license: snapshot.license } : {}),
    ...(snapshot.pipelineTag ? { pipelineTag: snapshot.pipelineTag } : {}),
    ...(Object.keys(snapshot.sha256).length ? { sha256: snapshot.sha256 } : {}),
  };
  const probe = await loadHfModel(snapshot.dir, { variant: opts.variant, name: opts.name, task: opts.task }, { kind: 'hub', ...hub });
  const name = probe.manifest.name;
  const userRef = refOf(name, snapshot.dir, opts, hub);
  await check(snapshot.spec, snapshot.dir, probe.manifest);
  await register(userRef, opts);
  return { entry: { name, dir: snapshot.dir, source: 'user', manifest: probe.manifest, labels: probe.labels }, derivation: probe.derivation, snapshot };
}

const resolved = new Map<string, Promise<ModelEntry>>();

/**
 * An `hf:` name where a model name is expected. A model added under that exact spec is used as
 * added (pinned to the commit it was downloaded at); otherwise the repo is resolved and fetched
 * into the Hub cache, once per process (a server keeps what it loaded at start).
 */
export async function resolveHubModel(spec: string, opts: RegistryOptions = {}): Promise<ModelEntry> {
  const env = opts.env ?? process.env;
  const ref = parseHubRef(spec);
  const canonical = formatHubRef(ref);
  const reg = await readUserRegistry(env);
  const added = reg.models.find((m) => m.hub?.spec === canonical);
  if (added) {
    const loaded = await loadModelRef(added);
    return { name: added.name, dir: added.dir, source: 'user', ...loaded };
  }
  const key = `${hubCacheDir(env)}\0${canonical}`;
  let p = resolved.get(key);
  if (!p) {
    p = (async () => {
      const snap = await fetchHubSnapshot(canonical, { env });
      const source = { kind: 'hub' as const, spec: canonical, repo: ref.repo, commit: snap.commit, license: snap.license, pipelineTag: snap.pipelineTag, sha256: snap.sha256 };
      const m = await loadHfModel(snap.dir, {}, source);
      return { name: m.manifest.name, dir: snap.dir, source: 'user' as const, manifest: m.manifest, labels: m.labels };
    })();
    resolved.set(key, p);
    p.catch(() => resolved.delete(key));
  }
  return p;
}
