import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../../util/errors.ts';
import type { RepoCache } from './cache.ts';
import { safeEtag } from './cache.ts';
import { hubHttpError, hubRequest, type HubSettings } from './http.ts';
import { resolveUrl, type RepoFile } from './info.ts';
import { formatHubRef, type HubRef } from '../../config/hub-ref.ts';

/**
 * One file from the Hub into the cache: resumed from its `.incomplete` with a Range request,
 * size and checksum checked against what the Hub reported before it becomes a blob.
 */

export interface DownloadEvent {
  file: string;
  kind: 'cached' | 'start' | 'resume' | 'retry' | 'done';
  bytes?: number;
  size?: number | undefined;
  reason?: string;
}

export interface DownloadResult {
  file: string;
  etag: string;
  size: number;
  /** Bytes that crossed the network this time (0 on a cache hit). */
  transferred: number;
  cached: boolean;
}

/** `W/"abc"` or `"abc"` → `abc`, as huggingface_hub normalises ETags. */
export function normalizeEtag(v: string | undefined): string | undefined {
  if (!v) return undefined;
  return v.replace(/^W\//, '').replace(/^"(.*)"$/, '$1').trim() || undefined;
}

/** `bytes 100-199/200` → start 100; undefined when the header is missing or malformed. */
export function contentRangeStart(v: string | undefined): number | undefined {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(v ?? '');
  return m ? Number(m[1]) : undefined;
}

/** The checksum an etag stands for: sha256 of the bytes (LFS), or git's blob sha1 ("blob <size>\0" + bytes). */
export async function fileDigest(file: string, etag: string): Promise<string> {
  const size = (await stat(file)).size;
  const h = createHash(etag.length === 64 ? 'sha256' : 'sha1');
  if (etag.length === 40) h.update(`blob ${size}\0`);
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

class TransferInterrupted extends Error {}

const MAX_ATTEMPTS = 4;

/** Fetches `file` at `commit` into the cache (or finds it there) and links it into the snapshot. */
// Long because: one resumable transfer loop (HEAD for missing metadata, cached blob, retry with Range resume, verify, link); its states are shared across attempts.
export async function downloadFile(settings: HubSettings, cache: RepoCache, ref: HubRef, commit: string, file: RepoFile, onEvent: (e: DownloadEvent) => void = () => undefined): Promise<DownloadResult> {
  const url = resolveUrl(settings, ref.repo, commit, file.path);
  const ctx = { ref, file: file.path };
  let etag = file.etag;
  let size = file.size;
  if (!etag || size === undefined) {
    // The listing lacks the checksum or size (some mirrors): ask the file's own headers, as huggingface_hub does.
    const head = await hubRequest(settings, url, ctx, { method: 'HEAD', followRedirects: false });
    if (head.status >= 400) throw await hubHttpError(settings, head, ctx);
    await head.body.dump().catch(() => undefined);
    etag ??= normalizeEtag(head.hubHeaders['x-linked-etag'] ?? head.hubHeaders.etag);
    const s = head.hubHeaders['x-linked-size'] ?? (head.status < 300 ? head.hubHeaders['content-length'] : undefined);
    size ??= s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined;
  }
  if (!etag) throw new UserError(`${formatHubRef(ref)} ${file.path}: the Hub reported no checksum (no LFS sha256, no ETag)`, { hint: 'a download that cannot be verified is refused; check the mirror (HF_ENDPOINT)' });
  safeEtag(etag);
  if (size === undefined) throw new UserError(`${formatHubRef(ref)} ${file.path}: the Hub reported no size`, { hint: 'check the mirror (HF_ENDPOINT)' });

  const have = await cache.blobSize(etag);
  if (have === size) {
    await cache.link(commit, file.path, etag);
    onEvent({ file: file.path, kind: 'cached', size });
    return { file: file.path, etag, size, transferred: 0, cached: true };
  }

  return cache.withBlobLock(etag, 10 * 60_000, async () => {
    // Another process may have finished it while we waited for the lock.
    if ((await cache.blobSize(etag)) === size) {
      await cache.link(commit, file.path, etag);
      onEvent({ file: file.path, kind: 'cached', size });
      return { file: file.path, etag, size, transferred: 0, cached: true };
    }
    const incomplete = cache.incompletePath(etag);
    await mkdir(path.dirname(incomplete), { recursive: true });
    let transferred = 0;
    let resumedFromPartial = false;
    for (let attempt = 1; ; attempt++) {
      const partial = await stat(incomplete).then((s) => s.size, () => 0);
      if (partial > size) await rm(incomplete, { force: true });
      const from = partial > size ? 0 : partial;
      if (from > 0) resumedFromPartial = true;
      try {
        if (from < size) {
          onEvent({ file: file.path, kind: from > 0 ? 'resume' : 'start', bytes: from, size });
          transferred += await transfer(settings, url, ctx, etag, incomplete, from, size);
        }
      } catch (err) {
        if (err instanceof TransferInterrupted && attempt < MAX_ATTEMPTS) {
          onEvent({ file: file.path, kind: 'retry', reason: err.message });
          await new Promise((r) => setTimeout(r, 250 * attempt));
          continue;
        }
        if (err instanceof TransferInterrupted) {
          throw new UserError(`${formatHubRef(ref)} ${file.path}: the transfer broke off ${MAX_ATTEMPTS} times (${err.message})`, {
            hint: `run the same command again: it resumes from the ${((await stat(incomplete).then((s) => s.size, () => 0)) / 1e6).toFixed(1)} MB already in ${incomplete}`,
          });
        }
        throw err;
      }
      const got = (await stat(incomplete)).size;
      if (got !== size) {
        await rm(incomplete, { force: true });
        throw new UserError(`${formatHubRef(ref)} ${file.path}: received ${got} bytes, the Hub said ${size}`, { hint: 'the partial file was removed; run the command again' });
      }
      const digest = await fileDigest(incomplete, etag);
      if (digest !== etag) {
        await rm(incomplete, { force: true });
        if (resumedFromPartial && attempt < MAX_ATTEMPTS) {
          // The kept partial may be what is wrong: fetch the whole file once more.
          onEvent({ file: file.path, kind: 'retry', reason: 'checksum mismatch after resuming; downloading the whole file again' });
          resumedFromPartial = false;
          continue;
        }
        throw new UserError(`${formatHubRef(ref)} ${file.path}: checksum mismatch: the Hub says ${etag.length === 64 ? 'sha256' : 'git sha1'} ${etag}, the downloaded bytes hash to ${digest}`, {
          hint: `the download was corrupted or the mirror (${settings.endpoint}) serves different bytes than it lists; nothing was kept. Run the command again; if it repeats, report it to the mirror's operator`,
          details: { file: file.path, expected: etag, actual: digest },
        });
      }
      await cache.commitBlob(incomplete, etag);
      await cache.link(commit, file.path, etag);
      onEvent({ file: file.path, kind: 'done', size });
      return { file: file.path, etag, size, transferred, cached: false };
    }
  });
}

/** One GET, appended to `incomplete` from byte `from`. Returns the bytes written. */
async function transfer(settings: HubSettings, url: string, ctx: { ref: HubRef; file: string }, etag: string, incomplete: string, from: number, size: number): Promise<number> {
  let res;
  try {
    res = await hubRequest(settings, url, ctx, { headers: from > 0 ? { range: `bytes=${from}-` } : {} });
  } catch (err) {
    // A refused connection is worth another try only mid-file; the first one is reported as is.
    if (from > 0 && err instanceof UserError) throw new TransferInterrupted(err.message);
    throw err;
  }
  if (res.status === 416) {
    await res.body.dump().catch(() => undefined);
    await rm(incomplete, { force: true });
    throw new TransferInterrupted('the server refused to resume (HTTP 416); starting over');
  }
  if (res.status >= 500) {
    await res.body.dump().catch(() => undefined);
    throw new TransferInterrupted(`HTTP ${res.status} from ${new URL(res.url).host}`);
  }
  if (res.status !== 200 && res.status !== 206) throw await hubHttpError(settings, res, ctx);
  const linked = normalizeEtag(res.hubHeaders['x-linked-etag'] ?? (res.hubHeaders.location ? undefined : res.hubHeaders.etag));
  if (linked && /^[0-9a-f]{40}$|^[0-9a-f]{64}$/.test(linked) && linked !== etag) {
    await res.body.dump().catch(() => undefined);
    throw new UserError(`${formatHubRef(ctx.ref)} ${ctx.file}: the Hub lists this file as ${etag} but serves ${linked}`, { hint: 'the repository changed while it was being read, or the mirror is inconsistent; run the command again' });
  }
  let start = 0;
  if (res.status === 206) {
    start = contentRangeStart(res.headers['content-range']) ?? -1;
    if (start !== from) {
      await res.body.dump().catch(() => undefined);
      await rm(incomplete, { force: true });
      throw new TransferInterrupted(`the server resumed at the wrong offset (${res.headers['content-range'] ?? 'no Content-Range'}); starting over`);
    }
  }
  // 200 means the whole file from byte 0, whatever was asked.
  const fh = await open(incomplete, start === 0 ? 'w' : 'a');
  let written = 0;
  try {
    for await (const chunk of res.body) {
      const buf = chunk as Buffer;
      if (start + written + buf.length > size) {
        res.body.destroy();
        await fh.close();
        await rm(incomplete, { force: true });
        throw new UserError(`${formatHubRef(ctx.ref)} ${ctx.file}: the server sent more than the ${size} bytes the Hub listed`, { hint: 'nothing was kept; check the mirror (HF_ENDPOINT)' });
      }
      await fh.write(buf);
      written += buf.length;
    }
    await fh.sync();
  } catch (err) {
    if (err instanceof UserError) throw err;
    const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
    throw new TransferInterrupted(`connection to ${new URL(res.url).host} lost after ${start + written} of ${size} bytes (${e.code ?? e.cause?.code ?? e.message})`);
  } finally {
    await fh.close().catch(() => undefined);
  }
  if (start + written < size) throw new TransferInterrupted(`connection closed after ${start + written} of ${size} bytes`);
  return written;
}
