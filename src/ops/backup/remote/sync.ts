/**
 * Copying backups off-site: find what is new (verified dumps, verified base backups, complete WAL
 * segments), queue it durably, and drain the queue: encrypt (age, when recipients are set) into a
 * staging file, upload, read the object back and compare size and sha256, then write its record.
 * A failed copy stays queued and is retried with a doubling delay.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { errorMessage, UserError } from '../../../util/errors.ts';
import { listBackups, sha256File } from '../backup.ts';
import { listBaseBackups } from '../pitr/base-backup.ts';
import { pitrLayout } from '../pitr/layout.ts';
import { isHistoryFile, parseSegmentName, plainWalName } from '../pitr/wal.ts';
import { AGE_EXT, encryptFile, type StreamedFile } from '../encryption.ts';
import { isPartialRel, metaKey, REMOTE_FORMAT, relForBase, relForDump, relForWal, remoteLagSeconds, retryDelaySeconds, storedKey, type RemoteKind, type RemoteMeta } from './catalog.ts';
import { enqueue, readLedger, readPartialState, readQueue, recordUploaded, remoteState, removeEntry, updateEntry, writePartialState, type QueueEntry, type RemoteState } from './queue.ts';
import { RemoteError } from './settings.ts';
import { remoteDigest, type RemoteStore } from './store.ts';
import { tarDirectory } from './tarball.ts';

export type Log = (line: string) => void;

export interface Candidate {
  rel: string;
  kind: RemoteKind;
  local: string;
}

/** Everything in the backup directory that belongs off-site, oldest kind first (bases before the WAL after them). */
export async function localCandidates(dir: string): Promise<Candidate[]> {
  const out: Candidate[] = [];
  for (const b of (await listBackups(dir)).backups.reverse()) if (b.verified) out.push({ rel: relForDump(b.file), kind: 'dump', local: b.file });
  const layout = pitrLayout(dir);
  for (const b of (await listBaseBackups(layout)).reverse()) if (b.record?.verified) out.push({ rel: relForBase(b.name), kind: 'base', local: path.relative(dir, b.dir) });
  // A segment sealed locally (`<segment>.age`) goes as it is, under the segment's own name.
  const wal = new Map<string, Candidate>();
  for (const f of (await readdir(layout.wal).catch(() => [] as string[])).sort()) {
    const seg = parseSegmentName(f);
    if (!((seg && !seg.partial) || isHistoryFile(f))) continue;
    const rel = relForWal(plainWalName(f));
    if (!wal.has(rel) || seg?.encrypted) wal.set(rel, { rel, kind: 'wal', local: path.relative(dir, path.join(layout.wal, f)) });
  }
  out.push(...wal.values());
  return out;
}

/** The segment pg_receivewal is filling, with a version that changes as it grows. */
export async function currentPartial(dir: string): Promise<(Candidate & { version: string }) | null> {
  const layout = pitrLayout(dir);
  const f = (await readdir(layout.wal).catch(() => [] as string[])).filter((n) => parseSegmentName(n)?.partial).sort().at(-1);
  if (!f) return null;
  const st = await stat(path.join(layout.wal, f)).catch(() => null);
  if (!st) return null;
  return { rel: relForWal(f), kind: 'wal', local: path.relative(dir, path.join(layout.wal, f)), version: `${st.size}:${st.mtimeMs}` };
}

/** Queues every candidate that is neither off-site already nor queued. Returns the new entries. */
export async function scanAndEnqueue(dir: string, now: Date = new Date()): Promise<QueueEntry[]> {
  const s = remoteState(dir);
  const done = await readLedger(s);
  const queued = new Set((await readQueue(s)).map((e) => e.rel));
  const added: QueueEntry[] = [];
  let t = now.getTime();
  for (const c of await localCandidates(dir)) {
    if (done.has(c.rel) || queued.has(c.rel)) continue;
    // Distinct, ordered file names for entries queued in the same millisecond.
    added.push(await enqueue(s, c, new Date(t++)));
  }
  // The segment being filled goes too, again whenever it changed: the off-site copy then trails
  // the archive by one interval, not by a whole segment.
  const partial = await currentPartial(dir);
  if (partial && !queued.has(partial.rel)) {
    const was = await readPartialState(s);
    if (!(was && was.rel === partial.rel && was.version === partial.version)) added.push(await enqueue(s, partial, new Date(t)));
  }
  return added;
}

export interface UploadOptions {
  recipients: readonly string[];
  log?: Log;
  now?: () => Date;
}

/**
 * A copy already sealed in the backup directory (backups.encryption.recipients): it is uploaded as
 * it is, never encrypted twice; the plain checksums come from its record (none for a WAL segment).
 */
interface Presealed {
  recipients: string[];
  plainSize?: number;
  plainSha256?: string;
}

/** The plain bytes the remote gets for a candidate: the file itself, or a tar of a base backup; or the file as sealed locally. */
async function plainSource(dir: string, e: Pick<QueueEntry, 'rel' | 'kind' | 'local'>, s: RemoteState, recipients: readonly string[]): Promise<{ file: string; temp: boolean; meta: Partial<RemoteMeta>; sealed?: Presealed }> {
  const local = path.join(dir, e.local);
  if (e.kind === 'base') {
    const rec = JSON.parse(await readFile(path.join(local, 'base.json'), 'utf8')) as RemoteMeta['base'] & object;
    if (rec.encryption) {
      const enc = rec.encryption;
      return { file: path.join(local, enc.file), temp: false, meta: { base: rec }, sealed: { recipients: enc.recipients, plainSize: enc.plainSize, plainSha256: enc.plainSha256 } };
    }
    // The base backup is what pg_verifybackup verified: its manifest must be the one recorded.
    const manifest = await readFile(path.join(local, 'data', 'backup_manifest'));
    if (createHash('sha256').update(manifest).digest('hex') !== rec.manifestSha256) throw new UserError(`base backup ${path.basename(local)} changed since it was verified (backup_manifest differs from base.json): not copied off-site`, { hint: 'take a new base backup (`modelship backup base`)' });
    const tarFile = path.join(s.staging, `${path.basename(local)}.${randomBytes(4).toString('hex')}.tar`);
    await tarDirectory(local, tarFile);
    return { file: tarFile, temp: true, meta: { base: rec } };
  }
  if (e.kind === 'dump') {
    const m = (await listBackups(dir)).backups.find((b) => b.file === e.local);
    if (!m?.manifest || !m.verified) throw new UserError(`${e.local} is no longer a verified backup: not copied off-site`);
    const enc = m.manifest.encryption;
    return { file: local, temp: false, meta: { manifest: m.manifest }, ...(enc ? { sealed: { recipients: enc.recipients, plainSize: enc.plainSizeBytes, plainSha256: enc.plainSha256 } } : {}) };
  }
  if (e.local.endsWith(AGE_EXT)) return { file: local, temp: false, meta: {}, sealed: { recipients: [...recipients] } };
  if (isPartialRel(e.rel)) {
    // pg_receivewal keeps writing it: send a snapshot, so what is hashed is what is sent.
    const snap = path.join(s.staging, `${path.basename(local)}.${randomBytes(4).toString('hex')}.snap`);
    await copyFile(local, snap);
    return { file: snap, temp: true, meta: {} };
  }
  return { file: local, temp: false, meta: {} };
}

/** Uploads one queued copy and verifies it; throws RemoteError (the remote) or UserError (the local file). */
export async function uploadOne(dir: string, store: RemoteStore, e: Pick<QueueEntry, 'rel' | 'kind' | 'local'>, o: UploadOptions): Promise<RemoteMeta> {
  const s = remoteState(dir);
  await mkdir(s.staging, { recursive: true, mode: 0o700 });
  const src = await plainSource(dir, e, s, o.recipients);
  const encrypted = o.recipients.length > 0 || src.sealed !== undefined;
  const staged = path.join(s.staging, `${path.basename(e.rel)}.${randomBytes(4).toString('hex')}${encrypted ? '.age' : ''}`);
  let prepared: StreamedFile;
  let uploadFile = src.file;
  try {
    if (src.sealed) {
      // Sealed locally: sent as it is (its record's sha256 is of these bytes, checked here).
      const sha = await sha256File(src.file);
      const size = (await stat(src.file)).size;
      const recorded = src.meta.manifest?.sha256 ?? src.meta.base?.encryption?.sha256;
      if (recorded && recorded !== sha) throw new UserError(`${e.local} does not match the sha256 recorded when it was encrypted: not copied off-site`, { hint: 'run `modelship backup verify --all`; take a new backup' });
      prepared = { size, sha256: sha, sourceSha256: src.sealed.plainSha256 ?? '', sourceSize: src.sealed.plainSize ?? 0 };
    } else if (encrypted) {
      prepared = await encryptFile(src.file, staged, o.recipients);
      uploadFile = staged;
    } else {
      // Sent as it is; the read-back below catches any change between hashing and sending.
      const sha = await sha256File(src.file);
      const size = (await stat(src.file)).size;
      prepared = { size, sha256: sha, sourceSha256: sha, sourceSize: size };
    }
    // The plain bytes must still be the verified backup's.
    if (!src.sealed && src.meta.manifest && prepared.sourceSha256 !== src.meta.manifest.sha256) {
      throw new UserError(`${e.local} does not match its manifest's sha256 any more: not copied off-site`, { hint: 'run `modelship backup verify --all`; take a new backup' });
    }
    const key = storedKey(e.rel, encrypted);
    await store.put(key, uploadFile, prepared.size);
    const back = await remoteDigest(store, key);
    if (!back || back.size !== prepared.size || back.sha256 !== prepared.sha256) {
      throw new RemoteError(`remote ${store.describe}: upload of ${key} did not verify: the remote holds ${back ? `${back.size} bytes, sha256 ${back.sha256.slice(0, 12)}…` : 'nothing'}, sent ${prepared.size} bytes, sha256 ${prepared.sha256.slice(0, 12)}…`, {
        hint: 'the copy is retried; if it keeps failing, check the remote server (disk full, a proxy rewriting bodies)',
        retryable: true,
        cause: null,
      });
    }
    const meta: RemoteMeta = {
      format: REMOTE_FORMAT,
      rel: e.rel,
      kind: e.kind,
      key,
      encrypted,
      ...(encrypted ? { recipients: [...(src.sealed?.recipients ?? o.recipients)] } : {}),
      size: prepared.size,
      sha256: prepared.sha256,
      // A WAL segment sealed locally has no plain checksum on record: age authenticates every chunk.
      ...(prepared.sourceSha256 ? { plainSize: prepared.sourceSize, plainSha256: prepared.sourceSha256 } : {}),
      uploadedAt: (o.now ?? (() => new Date()))().toISOString(),
      ...src.meta,
    };
    await store.putText(metaKey(e.rel), `${JSON.stringify(meta, null, 2)}\n`);
    return meta;
  } finally {
    await rm(staged, { force: true }).catch(() => undefined);
    if (src.temp) await rm(src.file, { force: true }).catch(() => undefined);
  }
}

export interface DrainResult {
  uploaded: string[];
  failed: Array<{ rel: string; error: string; hint?: string | undefined; retryable: boolean }>;
  dropped: string[];
  pending: number;
  /** Seconds the oldest pending copy has waited. */
  lagSeconds: number;
}

/**
 * Uploads what is due in the queue, oldest first. A remote that cannot be reached ends the round
 * (the rest waits for the next one); `force` ignores the retry delay (`backup push`).
 */
export async function drainQueue(dir: string, store: RemoteStore, o: UploadOptions & { intervalSeconds: number; force?: boolean }): Promise<DrainResult> {
  const s = remoteState(dir);
  const now = o.now ?? (() => new Date());
  const log = o.log ?? (() => undefined);
  const res: DrainResult = { uploaded: [], failed: [], dropped: [], pending: 0, lagSeconds: 0 };
  for (const queued of await readQueue(s)) {
    if (!o.force && Date.parse(queued.nextAttemptAt) > now().getTime()) continue;
    // Queued before the WAL sealer encrypted it: the sealed file is the one to send.
    const sealedNow = queued.kind === 'wal' && !existsSync(path.join(dir, queued.local)) && existsSync(path.join(dir, `${queued.local}${AGE_EXT}`));
    const e = sealedNow ? { ...queued, local: `${queued.local}${AGE_EXT}` } : queued;
    if (!existsSync(path.join(dir, e.local)) && isPartialRel(e.rel)) {
      // Completed meanwhile: the full segment has its own entry.
      await removeEntry(s, e);
      continue;
    }
    if (!existsSync(path.join(dir, e.local))) {
      // Retention removed it before it could be copied (a remote down for longer than retention keeps files).
      await removeEntry(s, e);
      res.dropped.push(e.rel);
      log(`not copied off-site: ${e.local} was deleted locally before the remote took it`);
      continue;
    }
    try {
      const meta = await uploadOne(dir, store, e, o);
      if (isPartialRel(e.rel)) await writePartialState(s, e.rel, e.version ?? '');
      else {
        await recordUploaded(s, e.rel, meta.sha256, now());
        if (e.kind === 'wal') await removeRemotePartial(store, `${e.rel}.partial`);
      }
      await removeEntry(s, e);
      res.uploaded.push(e.rel);
      log(`copied ${e.rel} → ${store.describe}${meta.encrypted ? ' (encrypted)' : ''}`);
    } catch (err) {
      const retryable = err instanceof RemoteError ? err.retryable : !(err instanceof UserError);
      const attempts = e.attempts + 1;
      await updateEntry(s, { ...e, attempts, nextAttemptAt: new Date(now().getTime() + retryDelaySeconds(attempts, o.intervalSeconds) * 1000).toISOString(), lastError: errorMessage(err) });
      res.failed.push({ rel: e.rel, error: errorMessage(err), hint: err instanceof UserError ? err.hint : undefined, retryable });
      if (err instanceof RemoteError) break;
    }
  }
  const left = await readQueue(s);
  res.pending = left.length;
  res.lagSeconds = remoteLagSeconds(left.map((e) => e.enqueuedAt), now().getTime());
  return res;
}

/** The `.partial` copy of a segment that is now off-site complete: record first, then the bytes. */
async function removeRemotePartial(store: RemoteStore, rel: string): Promise<void> {
  const meta = await store.getText(metaKey(rel));
  if (meta === null) return;
  await store.remove(metaKey(rel));
  await store.remove(storedKey(rel, true));
  await store.remove(storedKey(rel, false));
}

/** The queue's state for metrics and status. */
export async function queueFacts(dir: string, nowMs = Date.now()): Promise<{ pending: number; lagSeconds: number; oldest: string | null; lastError: string | null }> {
  const q = await readQueue(remoteState(dir));
  const oldest = q.map((e) => e.enqueuedAt).sort()[0] ?? null;
  return { pending: q.length, lagSeconds: remoteLagSeconds(q.map((e) => e.enqueuedAt), nowMs), oldest, lastError: q.find((e) => e.lastError)?.lastError ?? null };
}
