import { UserError } from '../../util/errors.ts';
import { safeRepoPath } from './cache.ts';
import { hubHttpError, hubRequest, readBody, type HubSettings } from './http.ts';
import { formatHubRef, isCommitHash, type HubRef } from '../../config/hub-ref.ts';

/** One file of a Hub repository at a commit, as the model info API lists it. */
export interface RepoFile {
  path: string;
  /** Bytes of the real file (the LFS object's size for LFS files). */
  size: number | undefined;
  /** The cache's blob name: the LFS sha256, else the git blob sha1; undefined when the listing has neither. */
  etag: string | undefined;
  lfs: boolean;
}

export interface RepoInfo {
  id: string;
  commit: string;
  private: boolean;
  gated: false | string;
  files: RepoFile[];
  license: string | undefined;
  pipelineTag: string | undefined;
  libraryName: string | undefined;
}

const HEX64 = /^[0-9a-f]{64}$/;
const HEX40 = /^[0-9a-f]{40}$/;

function optSize(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

/**
 * The model info JSON (`GET /api/models/ORG/NAME/revision/REV?blobs=true`), checked field by
 * field: what a mirror leaves out stays undefined, what it gets wrong is an error, never a guess.
 */
export function parseRepoInfo(raw: unknown, ref: HubRef): RepoInfo {
  const bad = (why: string) => new UserError(`${formatHubRef(ref)}: the Hub's model info is not usable: ${why}`, { hint: 'the endpoint (HF_ENDPOINT) is not behaving like the Hub; check the mirror' });
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('expected a JSON object');
  const o = raw as Record<string, unknown>;
  const commit = o.sha;
  if (typeof commit !== 'string' || !isCommitHash(commit)) throw bad(`"sha" is ${JSON.stringify(commit)}, not a 40-hex commit`);
  if (!Array.isArray(o.siblings)) throw bad('"siblings" (the file list) is missing');
  const files: RepoFile[] = [];
  for (const s of o.siblings as unknown[]) {
    if (typeof s !== 'object' || s === null || typeof (s as { rfilename?: unknown }).rfilename !== 'string') throw bad('a "siblings" entry has no "rfilename"');
    const e = s as { rfilename: string; size?: unknown; blobId?: unknown; lfs?: unknown };
    const lfs = typeof e.lfs === 'object' && e.lfs !== null ? (e.lfs as { sha256?: unknown; size?: unknown }) : undefined;
    if (lfs && lfs.sha256 !== undefined && (typeof lfs.sha256 !== 'string' || !HEX64.test(lfs.sha256))) throw bad(`${e.rfilename}: lfs.sha256 is not a sha256`);
    const blobId = typeof e.blobId === 'string' && HEX40.test(e.blobId) ? e.blobId : undefined;
    files.push({
      path: safeRepoPath(e.rfilename),
      size: optSize(lfs?.size) ?? optSize(e.size),
      etag: lfs ? (lfs.sha256 as string | undefined) : blobId,
      lfs: lfs !== undefined,
    });
  }
  const card = typeof o.cardData === 'object' && o.cardData !== null ? (o.cardData as { license?: unknown }) : {};
  const tags = Array.isArray(o.tags) ? (o.tags as unknown[]).filter((t): t is string => typeof t === 'string') : [];
  const license = typeof card.license === 'string' ? card.license : tags.find((t) => t.startsWith('license:'))?.slice('license:'.length);
  return {
    id: typeof o.id === 'string' ? o.id : ref.repo,
    commit,
    private: o.private === true,
    gated: typeof o.gated === 'string' ? o.gated : false,
    files,
    license,
    pipelineTag: typeof o.pipeline_tag === 'string' ? o.pipeline_tag : undefined,
    libraryName: typeof o.library_name === 'string' ? o.library_name : undefined,
  };
}

export function infoUrl(settings: HubSettings, ref: HubRef): string {
  const [org, name] = ref.repo.split('/') as [string, string];
  return `${settings.endpoint}/api/models/${encodeURIComponent(org)}/${encodeURIComponent(name)}/revision/${encodeURIComponent(ref.revision)}?blobs=true`;
}

export function resolveUrl(settings: HubSettings, repo: string, commit: string, file: string): string {
  const [org, name] = repo.split('/') as [string, string];
  return `${settings.endpoint}/${encodeURIComponent(org)}/${encodeURIComponent(name)}/resolve/${encodeURIComponent(commit)}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

/** The repository's commit and file list at `ref.revision`, from the model info API. */
export async function fetchRepoInfo(settings: HubSettings, ref: HubRef): Promise<RepoInfo> {
  const res = await hubRequest(settings, infoUrl(settings, ref), { ref }, { headers: { accept: 'application/json' } });
  if (res.status !== 200) throw await hubHttpError(settings, res, { ref });
  const text = await readBody(res.body, 32 * 1024 * 1024);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new UserError(`${formatHubRef(ref)}: the model info from ${settings.endpoint} is not JSON`, { hint: 'HF_ENDPOINT must point at the Hub or a mirror of its API (/api/models/…), not at a web page' });
  }
  return parseRepoInfo(raw, ref);
}
