import { UsageError } from '../util/errors.ts';

/**
 * `hf:ORG/NAME[@REVISION]`: a model repository on the Hugging Face Hub (or a mirror of it).
 * Pure parsing and naming; no I/O.
 */
export interface HubRef {
  /** `ORG/NAME` as the Hub spells it (case kept: the Hub is case-insensitive, the cache is not). */
  repo: string;
  /** A branch, tag, `refs/pr/N` or a 40-hex commit; `main` when not given. */
  revision: string;
  /** Whether the user named the revision (so messages can say "main (default)"). */
  explicitRevision: boolean;
}

export const HF_PREFIX = 'hf:';
const PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const COMMIT = /^[0-9a-f]{40}$/;

export function isHubSpec(text: string): boolean {
  return text.startsWith(HF_PREFIX);
}

export function isCommitHash(revision: string): boolean {
  return COMMIT.test(revision);
}

/** Why `text` is not a valid `hf:` reference, or undefined when it is. Shared by the CLI and the config schema. */
export function hubSpecProblem(text: string): string | undefined {
  if (!isHubSpec(text)) return `expected "hf:ORG/NAME[@REVISION]"`;
  const body = text.slice(HF_PREFIX.length);
  const at = body.indexOf('@');
  const repo = at === -1 ? body : body.slice(0, at);
  const revision = at === -1 ? 'main' : body.slice(at + 1);
  const parts = repo.split('/');
  if (parts.length !== 2) return `"${repo}" is not ORG/NAME (a Hub model id has exactly one "/", e.g. hf:Xenova/resnet-50)`;
  for (const p of parts) {
    if (!PART.test(p)) return `"${p}" in "${repo}": a Hub name uses letters, digits, ".", "_" and "-" and starts with a letter or digit`;
    if (p.length > 96) return `"${p}" in "${repo}": a Hub name has at most 96 characters`;
    if (p.includes('--') || p.includes('..')) return `"${p}" in "${repo}": "--" and ".." are not allowed in Hub names`;
    if (p.endsWith('.') || p.endsWith('-')) return `"${p}" in "${repo}": a Hub name does not end with "." or "-"`;
  }
  if (at !== -1 && revision.length === 0) return `empty revision after "@" (name a branch, a tag or a commit, e.g. @main)`;
  if (revision.length > 255 || /[\s\\~^:?*[\]]|\.\.|\/\/|^\/|\/$|\.lock$|@\{/.test(revision)) {
    return `revision "${revision}" is not a valid git branch, tag or commit name`;
  }
  return undefined;
}

/** Parses `hf:ORG/NAME[@REVISION]`; a malformed one is a usage error naming what is wrong. */
export function parseHubRef(text: string): HubRef {
  const problem = hubSpecProblem(text);
  if (problem) throw new UsageError(`${text}: ${problem}`, 'write the model as hf:ORG/NAME or hf:ORG/NAME@REVISION, e.g. hf:Xenova/resnet-50@main');
  const body = text.slice(HF_PREFIX.length);
  const at = body.indexOf('@');
  return at === -1 ? { repo: body, revision: 'main', explicitRevision: false } : { repo: body.slice(0, at), revision: body.slice(at + 1), explicitRevision: true };
}

export function formatHubRef(ref: HubRef): string {
  return `${HF_PREFIX}${ref.repo}${ref.explicitRevision ? `@${ref.revision}` : ''}`;
}

/** The cache folder huggingface_hub uses for a model repo: `models--ORG--NAME`. */
export function repoFolderName(repo: string): string {
  return `models--${repo.split('/').join('--')}`;
}

/**
 * The modelship model name for a Hub repo when the user gives none: the repo's NAME, lower-cased,
 * with anything the manifest name rule refuses turned into "-" (`Xenova/resnet-50` → `resnet-50`).
 */
export function defaultModelName(repo: string): string {
  const name = (repo.split('/')[1] ?? repo).toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '');
  return name.slice(0, 64) || 'model';
}
