/**
 * Reading the remote back: what it holds (`backup list --remote`), checking every copy against its
 * record (`backup verify --remote`), and fetching copies into a local staging directory laid out
 * like a backup directory, so the ordinary restores run on them with all their checks.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../../../util/errors.ts';
import { manifestText, plainManifestOf } from '../manifest.ts';
import { manifestFileFor, shaFileFor, shaLine } from '../naming.ts';
import { pitrLayout, type PitrLayout } from '../pitr/layout.ts';
import { chooseBase, type RestoreTarget } from '../pitr/plan.ts';
import { isHistoryFile, parseSegmentName } from '../pitr/wal.ts';
import { decryptFile } from '../encryption.ts';
import { META_EXT, metaKey, parseRemoteMeta, relForDump, type RemoteKind, type RemoteMeta } from './catalog.ts';
import { download, remoteDigest, type RemoteStore } from './store.ts';
import { untarInto } from './tarball.ts';

export type Log = (line: string) => void;

export interface RemoteListing {
  dumps: RemoteMeta[];
  bases: RemoteMeta[];
  /** WAL copies (record keys), without reading each record. */
  wal: string[];
  walBytes: number;
  /** Records that could not be read. */
  problems: string[];
}

async function readMetas(store: RemoteStore, prefix: string, problems: string[]): Promise<RemoteMeta[]> {
  const out: RemoteMeta[] = [];
  for (const o of await store.list(prefix)) {
    if (!o.key.endsWith(META_EXT)) continue;
    const text = await store.getText(o.key);
    if (text === null) continue;
    const m = parseRemoteMeta(text);
    if (m.ok) out.push(m.meta);
    else problems.push(`${o.key}: ${m.error}`);
  }
  return out.sort((a, b) => (a.rel < b.rel ? 1 : -1));
}

export async function listRemote(store: RemoteStore): Promise<RemoteListing> {
  const problems: string[] = [];
  const dumps = await readMetas(store, 'dumps/', problems);
  const bases = await readMetas(store, 'pitr/base/', problems);
  const walObjects = await store.list('pitr/wal/');
  const wal = walObjects.filter((o) => o.key.endsWith(META_EXT)).map((o) => o.key.slice('pitr/wal/'.length, -META_EXT.length)).sort();
  const walBytes = walObjects.filter((o) => !o.key.endsWith(META_EXT)).reduce((n, o) => n + o.size, 0);
  return { dumps, bases, wal, walBytes, problems };
}

export async function readMeta(store: RemoteStore, rel: string): Promise<RemoteMeta> {
  const text = await store.getText(metaKey(rel));
  if (text === null) throw new UserError(`${rel} is not on ${store.describe}`, { hint: 'list what is there with `modelship backup list --remote`' });
  const m = parseRemoteMeta(text);
  if (!m.ok) throw new UserError(`the record of ${rel} on ${store.describe} is unreadable: ${m.error}`, { hint: 'this copy cannot be trusted: use another one' });
  return m.meta;
}

function corrupt(store: RemoteStore, meta: RemoteMeta, got: { size: number; sha256: string } | null): UserError {
  return new UserError(
    `remote copy ${meta.key} on ${store.describe} is ${got ? `corrupt: ${got.size} bytes, sha256 ${got.sha256.slice(0, 12)}…, but ${meta.size} bytes, sha256 ${meta.sha256.slice(0, 12)}… were uploaded and verified on ${meta.uploadedAt}` : 'missing (its record is there)'}`,
    { hint: 'do not use this copy: pick another backup (`modelship backup list --remote`), and take a new one so the remote has a good copy' },
  );
}

/** Checks a copy against its record by reading it back in full. */
export async function verifyRemoteCopy(store: RemoteStore, meta: RemoteMeta): Promise<{ ok: true } | { ok: false; error: string }> {
  const got = await remoteDigest(store, meta.key);
  if (got && got.size === meta.size && got.sha256 === meta.sha256) return { ok: true };
  return { ok: false, error: corrupt(store, meta, got).message };
}

/**
 * Downloads a copy into the new file `dst`: its bytes checked against the record, then decrypted
 * (when encrypted) and the plain bytes checked too.
 */
export async function fetchCopy(store: RemoteStore, meta: RemoteMeta, dst: string, identities: readonly string[]): Promise<void> {
  const tmp = `${dst}.download`;
  await rm(tmp, { force: true });
  const got = await download(store, meta.key, tmp);
  try {
    if (!got || got.size !== meta.size || got.sha256 !== meta.sha256) throw corrupt(store, meta, got);
    if (meta.encrypted) {
      const plain = await decryptFile(tmp, dst, identities, `${meta.key} (on ${store.describe})`);
      if (meta.plainSha256 !== undefined && (plain.sha256 !== meta.plainSha256 || plain.size !== meta.plainSize)) {
        await rm(dst, { force: true });
        throw new UserError(`${meta.key} decrypted to other bytes than were uploaded (sha256 ${plain.sha256.slice(0, 12)}…, expected ${meta.plainSha256.slice(0, 12)}…)`, { hint: 'do not use this copy: pick another backup' });
      }
    } else await rename(tmp, dst);
  } finally {
    await rm(tmp, { force: true }).catch(() => undefined);
  }
}

/** A pg_dump backup from the remote into `stageDir`, with its manifest and checksum beside it (as `backup` wrote them). */
export async function stageDump(store: RemoteStore, file: string, stageDir: string, identities: readonly string[], log: Log = () => undefined): Promise<string> {
  const meta = await readMeta(store, relForDump(path.basename(file)));
  if (!meta.manifest) throw new UserError(`the record of ${meta.rel} has no manifest`, { hint: 'pick another backup' });
  await mkdir(stageDir, { recursive: true, mode: 0o700 });
  const dst = path.join(stageDir, path.basename(meta.rel));
  log(`fetching ${meta.key} from ${store.describe} (${(meta.size / 1048576).toFixed(1)} MiB${meta.encrypted ? ', encrypted' : ''})`);
  await fetchCopy(store, meta, dst, identities);
  // What is staged is decrypted: a manifest of a backup sealed locally is given the plain checksums.
  const plain = plainManifestOf(meta.manifest);
  await writeFile(manifestFileFor(dst), manifestText(plain));
  await writeFile(shaFileFor(dst), shaLine(plain.sha256, dst));
  return dst;
}

/** The newest remote dump (of `database`, when given). */
export function newestDump(listing: RemoteListing, database?: string): RemoteMeta | null {
  return listing.dumps.filter((d) => !database || d.manifest?.database === database).sort((a, b) => ((a.manifest?.createdAt ?? '') < (b.manifest?.createdAt ?? '') ? 1 : -1))[0] ?? null;
}

/**
 * What a point-in-time restore needs from the remote, into `stageDir` laid out as a backup
 * directory: the base backup chosen for the target, and the WAL from its start on.
 */
export async function stagePitr(store: RemoteStore, target: RestoreTarget, stageDir: string, identities: readonly string[], log: Log = () => undefined): Promise<PitrLayout> {
  const listing = await listRemote(store);
  const choice = chooseBase(
    listing.bases.map((b) => ({ name: path.basename(b.rel, '.tar'), record: b.base ?? null, ...(b.base ? {} : { problem: 'no base.json in its record' }) })),
    target,
  );
  if (!choice.ok) throw new UserError(`${choice.error} on ${store.describe}`, { hint: choice.hint });
  const layout = pitrLayout(stageDir);
  await mkdir(layout.base, { recursive: true, mode: 0o700 });
  await mkdir(layout.wal, { recursive: true, mode: 0o700 });
  const baseMeta = listing.bases.find((b) => b.base?.name === choice.base.name)!;
  const tarFile = path.join(layout.base, `${choice.base.name}.tar`);
  log(`fetching base backup ${choice.base.name} from ${store.describe} (${(baseMeta.size / 1048576).toFixed(1)} MiB${baseMeta.encrypted ? ', encrypted' : ''})`);
  await fetchCopy(store, baseMeta, tarFile, identities);
  await untarInto(tarFile, path.join(layout.base, choice.base.name));
  await rm(tarFile, { force: true });
  const start = parseSegmentName(choice.base.startWalFile, choice.base.walSegmentSize)!;
  const wanted = listing.wal.filter((f) => {
    if (isHistoryFile(f)) return true;
    const s = parseSegmentName(f, choice.base.walSegmentSize);
    return s !== null && s.segNo >= start.segNo && s.timeline >= choice.base.timeline;
  });
  log(`fetching ${wanted.length} WAL file(s) from ${store.describe}`);
  for (const f of wanted) await fetchCopy(store, await readMeta(store, `pitr/wal/${f}`), path.join(layout.wal, f), identities);
  return layout;
}

export async function verifyRemoteAll(store: RemoteStore, o: { kinds?: RemoteKind[]; log?: Log } = {}): Promise<Array<{ key: string; ok: boolean; error?: string }>> {
  const listing = await listRemote(store);
  const kinds = new Set(o.kinds ?? ['dump', 'base', 'wal']);
  const metas: RemoteMeta[] = [...(kinds.has('dump') ? listing.dumps : []), ...(kinds.has('base') ? listing.bases : [])];
  if (kinds.has('wal')) for (const f of listing.wal) metas.push(await readMeta(store, `pitr/wal/${f}`));
  const out: Array<{ key: string; ok: boolean; error?: string }> = [];
  for (const m of metas) {
    const r = await verifyRemoteCopy(store, m);
    out.push(r.ok ? { key: m.key, ok: true } : { key: m.key, ok: false, error: r.error });
    o.log?.(r.ok ? `ok      ${m.key}` : `FAILED  ${m.key}  ${r.error}`);
  }
  for (const p of listing.problems) out.push({ key: p.split(':')[0]!, ok: false, error: p });
  return out;
}
