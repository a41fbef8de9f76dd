import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import { deriveHfManifest, readmeLicense, type Derivation, type HfLayoutInput, type HfLayoutOptions } from './hf-layout.ts';
import { formatIssues, validateManifest, type ModelManifest } from './manifest.ts';

/**
 * The I/O around hf-layout.ts: read a Hugging Face layout directory (a checkout, an export, or a
 * snapshot in the Hub cache), derive its manifest, validate it like any manifest.json.
 */

const MAX_FILES = 5000;

/** Repository-relative paths of the files under `dir` (symlinks followed: Hub snapshots are symlinks). */
export async function listRepoFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(rel: string, depth: number): Promise<void> {
    if (depth > 6 || out.length >= MAX_FILES) return;
    const entries = await readdir(path.join(dir, rel), { withFileTypes: true });
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(r, depth + 1);
      else if (e.isFile() || e.isSymbolicLink()) out.push(r);
    }
  }
  await walk('', 0);
  return out.sort();
}

async function readJson(dir: string, file: string, files: readonly string[]): Promise<unknown> {
  if (!files.includes(file)) return undefined;
  const p = path.join(dir, file);
  let text: string;
  try {
    text = await readFile(p, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read ${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UserError(`${p}: not valid JSON: ${(err as Error).message}`, { hint: 'the file is damaged or was saved by hand; re-download it' });
  }
}

/** What deriveHfManifest needs, read from a directory. */
export async function readHfLayout(dir: string, source: HfLayoutInput['source'] = { kind: 'dir', dir }): Promise<HfLayoutInput> {
  const files = await listRepoFiles(dir);
  const readme = files.includes('README.md') ? await readFile(path.join(dir, 'README.md'), 'utf8').catch(() => '') : '';
  return {
    files,
    config: await readJson(dir, 'config.json', files),
    preprocessor: await readJson(dir, 'preprocessor_config.json', files),
    tokenizerConfig: await readJson(dir, 'tokenizer_config.json', files),
    readmeLicense: readmeLicense(readme),
    source,
  };
}

export interface HfModel {
  manifest: ModelManifest;
  labels: string[];
  derivation: Derivation;
}

/** Derives and validates the manifest of the Hugging Face layout model in `dir`. */
export async function loadHfModel(dir: string, opts: HfLayoutOptions = {}, source?: HfLayoutInput['source']): Promise<HfModel> {
  const input = await readHfLayout(dir, source);
  const derivation = deriveHfManifest(input, opts);
  const missing = derivation.requiredFiles.filter((f) => !input.files.includes(f));
  if (missing.length) throw new UserError(`${dir}: missing ${missing.join(', ')}`, { hint: 'copy the whole model repository (or download it again with modelship models add hf:ORG/NAME)' });
  const result = validateManifest(derivation.manifest);
  if (!result.ok) {
    throw new UserError(`the manifest derived from ${dir} is not valid:\n${formatIssues('(derived manifest)', result.issues)}`, {
      hint: 'write a manifest.json in the directory to say what the files do not (see README: Models)',
      details: result.issues,
    });
  }
  const labels = derivation.manifest.labels as string[];
  return { manifest: result.manifest, labels, derivation };
}
