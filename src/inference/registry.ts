import { cp, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { closest } from '../config/did-you-mean.ts';
import { UserError } from '../util/errors.ts';
import { ModelNotFoundError } from './errors.ts';
import { loadManifest, type ModelManifest, type Task } from './manifest.ts';
import { loadHfModel } from './hf-model.ts';
import { isHubSpec } from './hub/repo-ref.ts';

/**
 * Where models come from: the bundled `models/` directory of the package, plus models registered
 * with `modelship models add` (recorded in `<data dir>/models.json`, by reference or copied).
 * Data dir: `MODELSHIP_DATA_DIR`, else `$XDG_DATA_HOME/modelship`, else `~/.local/share/modelship`.
 */

/** `models/` of the package, from src/inference or dist/inference alike. */
export const BUNDLED_MODELS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'models');

export const DEFAULT_MODEL: Record<Task, string> = {
  'image-classification': 'content-safety',
  'object-detection': 'objects',
  'text-classification': 'sentiment',
};

export interface ModelEntry {
  name: string;
  dir: string;
  source: 'bundled' | 'user';
  manifest: ModelManifest;
  labels: string[];
}

export interface RegistryOptions {
  env?: NodeJS.ProcessEnv;
  bundledDir?: string;
}

export function dataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MODELSHIP_DATA_DIR) return path.resolve(env.MODELSHIP_DATA_DIR);
  const base = env.XDG_DATA_HOME ? env.XDG_DATA_HOME : path.join(env.HOME ?? os.homedir(), '.local', 'share');
  return path.join(base, 'modelship');
}

/**
 * One registered model. A Hugging Face layout model (`layout: "huggingface"`) has no
 * manifest.json: its manifest is derived from its files each time it is loaded (hf-layout.ts),
 * with the variant and name chosen at `models add`; `hub` records the Hub repo and commit it came from.
 */
export interface UserModelRef {
  name: string;
  dir: string;
  layout?: 'huggingface';
  variant?: string;
  task?: Task;
  hub?: { spec: string; repo: string; commit: string; license?: string; pipelineTag?: string; sha256?: Record<string, string> };
}

export interface UserRegistryFile {
  models: UserModelRef[];
}

/** The manifest and labels of a registered model, whichever layout it has. */
export async function loadModelRef(ref: Pick<UserModelRef, 'dir' | 'layout' | 'variant' | 'hub' | 'name' | 'task'>): Promise<{ manifest: ModelManifest; labels: string[] }> {
  if (ref.layout !== 'huggingface') return loadManifest(ref.dir);
  const source = ref.hub ? { kind: 'hub' as const, ...ref.hub } : undefined;
  if (ref.hub && !(await stat(ref.dir).then((s) => s.isDirectory(), () => false))) {
    // Someone cleaned the Hub cache (huggingface-cli delete-cache, rm -rf ~/.cache/huggingface).
    throw new UserError(`${ref.hub.spec} is no longer in the Hub cache (${ref.dir} is gone)`, { hint: `download it again: modelship models add ${ref.hub.spec} --force${ref.name ? ` --name ${ref.name}` : ''}` });
  }
  return loadHfModel(ref.dir, { variant: ref.variant, name: ref.name, task: ref.task }, source);
}

export async function readUserRegistry(env: NodeJS.ProcessEnv): Promise<UserRegistryFile> {
  const file = path.join(dataDir(env), 'models.json');
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as UserRegistryFile;
    if (!Array.isArray(parsed.models)) throw new Error('"models" must be an array');
    return parsed;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { models: [] };
    throw new UserError(`cannot read the model registry ${file}: ${(err as Error).message}`, { hint: 'fix or delete that file' });
  }
}

export async function writeUserRegistry(env: NodeJS.ProcessEnv, reg: UserRegistryFile): Promise<void> {
  const dir = dataDir(env);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'models.json');
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(reg, null, 2)}\n`);
  await rename(tmp, file);
}

export async function bundledNames(bundledDir: string): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  try {
    const entries = await readdir(bundledDir, { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** All known models; a broken one is listed with its error instead of hiding the others. */
export async function listModels(opts: RegistryOptions = {}): Promise<(ModelEntry | { name: string; dir: string; source: 'bundled' | 'user'; error: string; hint?: string })[]> {
  const env = opts.env ?? process.env;
  const bundledDir = opts.bundledDir ?? BUNDLED_MODELS_DIR;
  const out: (ModelEntry | { name: string; dir: string; source: 'bundled' | 'user'; error: string; hint?: string })[] = [];
  const refs = [
    ...(await bundledNames(bundledDir)).map((name) => ({ name, dir: path.join(bundledDir, name), source: 'bundled' as const })),
    ...(await readUserRegistry(env)).models.map((m) => ({ ...m, source: 'user' as const })),
  ];
  for (const ref of refs) {
    try {
      const { manifest, labels } = await loadModelRef(ref);
      out.push({ name: ref.name, dir: ref.dir, source: ref.source, manifest, labels });
    } catch (err) {
      out.push({ ...ref, error: (err as Error).message, ...(err instanceof UserError && err.hint ? { hint: err.hint } : {}) });
    }
  }
  return out;
}

export async function getModel(name: string, opts: RegistryOptions = {}): Promise<ModelEntry> {
  if (isHubSpec(name)) return (await import('./hf-registry.ts')).resolveHubModel(name, opts);
  const all = await listModels(opts);
  const found = all.find((m) => m.name === name);
  if (!found) {
    const guess = closest(name, all.map((m) => m.name));
    throw new ModelNotFoundError(name, `unknown model "${name}"`, { hint: guess ? `did you mean "${guess}"? (modelship models list)` : 'see `modelship models list`' });
  }
  if ('error' in found) throw new UserError(`model "${name}" is broken: ${found.error}`, { hint: found.hint ?? `fix ${found.dir}/manifest.json` });
  return found;
}

/** Checks that the files a manifest refers to exist. */
export async function checkModelFiles(dir: string, manifest: ModelManifest): Promise<string[]> {
  const problems: string[] = [];
  const must: string[] = [];
  if (manifest.runtime === 'tfjs' || manifest.runtime === 'onnx') {
    must.push(manifest.modelFile);
    if ('tokenizer' in manifest) {
      const t = manifest.tokenizer;
      if (t.type === 'word-index') must.push(t.vocab);
      else must.push(t.file, ...(t.config ? [t.config] : []));
    }
  }
  if (manifest.runtime === 'onnx' && manifest.tfjs) must.push(manifest.tfjs.modelFile);
  if (typeof manifest.labels === 'string') must.push(manifest.labels);
  if (manifest.license.file) must.push(manifest.license.file);
  for (const f of must) {
    try {
      await stat(path.join(dir, f));
    } catch {
      problems.push(`missing file ${f}`);
    }
  }
  if (manifest.runtime === 'onnx' && problems.length === 0) {
    // the model itself says what it takes: its inputs and outputs are checked against the manifest
    const { inspectOnnxModel } = await import('./onnx-runtime.ts');
    const problem = await inspectOnnxModel(dir, manifest);
    if (problem) problems.push(problem);
  }
  if (manifest.runtime === 'tfjs' && problems.length === 0) {
    try {
      const json = JSON.parse(await readFile(path.join(dir, manifest.modelFile), 'utf8')) as { weightsManifest?: { paths: string[] }[]; format?: string };
      for (const g of json.weightsManifest ?? []) {
        for (const p of g.paths) {
          try {
            await stat(path.join(dir, p));
          } catch {
            problems.push(`missing weight shard ${p} (named in ${manifest.modelFile})`);
          }
        }
      }
      if (json.format && json.format !== manifest.format) problems.push(`${manifest.modelFile} says format "${json.format}" but the manifest says "${manifest.format}"`);
    } catch (err) {
      problems.push(`${manifest.modelFile} is not readable JSON: ${(err as Error).message}`);
    }
  }
  return problems;
}

/** Registers a model directory (validated first). With `copy`, the files are copied into the data dir. */
export async function addModel(srcDir: string, opts: RegistryOptions & { copy?: boolean; force?: boolean } = {}): Promise<ModelEntry> {
  const env = opts.env ?? process.env;
  const abs = path.resolve(srcDir);
  const { manifest, labels } = await loadManifest(abs);
  const problems = await checkModelFiles(abs, manifest);
  if (problems.length) throw new UserError(`cannot add ${abs}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  const bundled = await bundledNames(opts.bundledDir ?? BUNDLED_MODELS_DIR);
  if (bundled.includes(manifest.name)) throw new UserError(`"${manifest.name}" is the name of a bundled model`, { hint: 'change "name" in the manifest' });
  const reg = await readUserRegistry(env);
  const existing = reg.models.find((m) => m.name === manifest.name);
  if (existing && !opts.force) throw new UserError(`a model named "${manifest.name}" is already registered (${existing.dir})`, { hint: 'use --force to replace it' });
  let dir = abs;
  if (opts.copy) {
    dir = path.join(dataDir(env), 'models', manifest.name);
    await mkdir(path.dirname(dir), { recursive: true });
    await cp(abs, dir, { recursive: true, force: true });
  }
  reg.models = [...reg.models.filter((m) => m.name !== manifest.name), { name: manifest.name, dir }];
  await writeUserRegistry(env, reg);
  return { name: manifest.name, dir, source: 'user', manifest, labels };
}
