/**
 * A base backup: pg_basebackup into a temp directory (plain format, its WAL streamed alongside,
 * a backup manifest with a CRC-32C of every file), pg_verifybackup on it while the files are
 * flushed to disk, then renamed into place with `base.json`. Any
 * failure leaves nothing behind but the reason.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { syncDir, syncTree, writeFileAtomic } from '../../../util/fs-atomic.ts';
import { UserError, errorMessage } from '../../../util/errors.ts';
import { hintFor, ToolError } from '../../../postgres/errors.ts';
import type { SqlSession } from '../../../postgres/session.ts';
import { BASE_FORMAT, ENCRYPTED_BASE_FILE, manifestWalRanges, parseBackupLabel, parseBaseRecord, type BaseRecord } from './base-record.ts';
import { baseName, baseTempName, isBaseName, parseBaseTempName, type PitrLayout } from './layout.ts';
import { findPgTool } from '../../../postgres/tools.ts';
import { runTool, toolVersion, type ReplicationConn } from './tools.ts';
import { checkToolVersion } from './versions.ts';
import { pidAlive } from '../../../util/process.ts';
import { formatBytes } from '../../../util/size.ts';
import { decryptFile, encryptFile } from '../encryption.ts';
import { tarDirectory, untarInto } from '../remote/tarball.ts';

export type Log = (line: string) => void;

export interface ServerFacts {
  version: string;
  versionNum: number;
  walSegmentSize: number;
}

export async function serverFacts(s: SqlSession): Promise<ServerFacts> {
  const rows = await s.query<{ v: string; n: string; seg: string }>(
    "select current_setting('server_version') as v, current_setting('server_version_num') as n, (select setting from pg_settings where name = 'wal_segment_size') as seg",
  );
  const r = rows[0]!;
  return { version: String(r.v), versionNum: Number(r.n), walSegmentSize: Number(r.seg) };
}

/** Total bytes of regular files under `dir`. */
export async function dirSize(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += (await stat(path.join(e.parentPath, e.name))).size;
  }
  return total;
}

export async function sweepBaseTemps(layout: PitrLayout): Promise<string[]> {
  const removed: string[] = [];
  for (const f of await readdir(layout.base).catch(() => [] as string[])) {
    const t = parseBaseTempName(f);
    if (!t || t.pid === process.pid || pidAlive(t.pid)) continue;
    await rm(path.join(layout.base, f), { recursive: true, force: true });
    removed.push(f);
  }
  return removed;
}

export interface VerifyOutcome {
  ok: boolean;
  walParsed: boolean;
  error?: string;
}

/** pg_verifybackup: every file against the manifest's SHA-256, and the WAL when pg_waldump is there. */
export async function verifyBaseDir(dataDir: string, env: NodeJS.ProcessEnv): Promise<VerifyOutcome> {
  const tool = findPgTool('pg_verifybackup', env);
  const walParsed = existsSync(path.join(path.dirname(tool), 'pg_waldump'));
  try {
    await runTool('pg_verifybackup', 'pg_verifybackup', [...(walParsed ? [] : ['--no-parse-wal']), dataDir], env);
    return { ok: true, walParsed };
  } catch (err) {
    return { ok: false, walParsed, error: err instanceof ToolError ? err.message : errorMessage(err) };
  }
}

export interface BaseBackupOptions {
  layout: PitrLayout;
  conn: ReplicationConn;
  /** A superuser session on the server (version, segment size). */
  session: SqlSession;
  log?: Log;
  signal?: AbortSignal;
  now?: () => Date;
  /** backups.encryption.recipients: the verified backup is sealed with age before it is renamed into place. */
  recipients?: readonly string[];
}

/**
 * Replaces the verified base backup in `tmp` (base.json + data/) by one age file: a tar of both,
 * encrypted, then data/ removed and base.json rewritten with the checksums. Returns the new record.
 */
async function sealBase(tmp: string, record: BaseRecord, recipients: readonly string[]): Promise<BaseRecord> {
  // Beside the temp directory (not in it, which is what is tarred); swept with it after a crash.
  const tarFile = `${tmp}.tar`;
  const sealed = path.join(tmp, ENCRYPTED_BASE_FILE);
  try {
    await tarDirectory(tmp, tarFile);
    const r = await encryptFile(tarFile, sealed, recipients);
    await rm(path.join(tmp, 'data'), { recursive: true, force: true });
    const out: BaseRecord = { ...record, encryption: { file: ENCRYPTED_BASE_FILE, recipients: [...recipients], size: r.size, sha256: r.sha256, plainSize: r.sourceSize, plainSha256: r.sourceSha256 } };
    await writeFileAtomic(path.join(tmp, 'base.json'), `${JSON.stringify(out, null, 2)}\n`);
    return out;
  } finally {
    await rm(tarFile, { force: true });
  }
}

/**
 * The data directory of a sealed base backup, decrypted into the new directory `into`: the
 * ciphertext's and the tar's sha256 and the backup_manifest's are checked against base.json.
 */
export async function unsealBase(dir: string, record: BaseRecord, identities: readonly string[], into: string): Promise<void> {
  const enc = record.encryption!;
  const sealed = path.join(dir, enc.file);
  const tarFile = `${into}.tar`;
  const unpack = `${into}.unpack`;
  try {
    const r = await decryptFile(sealed, tarFile, identities, `base backup ${record.name}`);
    if (r.sourceSha256 !== enc.sha256 || r.sha256 !== enc.plainSha256) {
      throw new UserError(`base backup ${record.name} is damaged: ${r.sourceSha256 !== enc.sha256 ? `${enc.file} has sha256 ${r.sourceSha256.slice(0, 12)}…, ${enc.sha256.slice(0, 12)}… was written` : 'it decrypts to other bytes than were sealed'}`, { hint: 'use another base backup (`modelship backup wal`), or the off-site copy' });
    }
    await untarInto(tarFile, unpack);
    const manifest = await readFile(path.join(unpack, 'data', 'backup_manifest'));
    if (createHash('sha256').update(manifest).digest('hex') !== record.manifestSha256) throw new UserError(`base backup ${record.name}: its backup_manifest is not the one pg_verifybackup checked`, { hint: 'use another base backup' });
    await rename(path.join(unpack, 'data'), into);
  } finally {
    await rm(tarFile, { force: true });
    await rm(unpack, { recursive: true, force: true });
  }
}

// Long because: the copy, the overlapped verification and flush, and the commit share the temp
// directory and the `done` flag the finally block cleans up by.
export async function takeBaseBackup(o: BaseBackupOptions): Promise<BaseRecord> {
  const log = o.log ?? (() => undefined);
  const now = o.now ?? (() => new Date());
  await mkdir(o.layout.base, { recursive: true });
  for (const f of await sweepBaseTemps(o.layout)) log(`removed a base backup left unfinished by a dead run: ${f}`);
  const facts = await serverFacts(o.session);
  const version = await toolVersion('pg_basebackup', o.conn.env);
  const vc = checkToolVersion('pg_basebackup', version, facts.versionNum, 'this host');
  if (!vc.ok) throw new UserError(vc.error, { hint: vc.hint });

  let started = now();
  let name = baseName(started);
  for (let i = 0; existsSync(path.join(o.layout.base, name)); i++) {
    if (i >= 5) throw new UserError(`base backup ${name} already exists`, { hint: 'another base backup is being written: run again' });
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
    started = now();
    name = baseName(started);
  }
  const tmp = path.join(o.layout.base, baseTempName(name, process.pid));
  const data = path.join(tmp, 'data');
  await mkdir(tmp, { recursive: true, mode: 0o700 });
  let done = false;
  try {
    log(`base backup of ${o.conn.describe} → ${name}`);
    const t0 = performance.now();
    try {
      await runTool(
        'pg_basebackup',
        'pg_basebackup',
        // --no-sync: the files are flushed below, while pg_verifybackup reads them back (from the
        // page cache), so the flush and the verification overlap instead of adding up.
        ['-d', o.conn.conninfo, '-D', data, '-Fp', '-X', 'stream', '-c', 'fast', '--no-sync', '--no-password', '-l', `modelship ${name}`],
        o.conn.env,
        o.signal,
      );
    } catch (err) {
      if (o.signal?.aborted) throw new UserError('base backup interrupted: nothing was kept', { cause: err });
      const msg = errorMessage(err);
      throw new UserError(`base backup failed, nothing was kept: ${msg}`, {
        hint: hintFor(err instanceof ToolError ? err.failure.stderr : msg) ?? replicationHint(msg),
        cause: err,
      });
    }
    const finished = now();
    const t1 = performance.now();
    let verifyMs = 0;
    const [verify] = await Promise.all([
      verifyBaseDir(data, o.conn.env).finally(() => (verifyMs = Math.round(performance.now() - t1))),
      syncTree(data).catch((err: unknown) => {
        throw new UserError(`base backup could not be flushed to disk, nothing was kept: ${errorMessage(err)}`, { hint: hintFor(errorMessage(err)) ?? 'check the backup disk', cause: err });
      }),
    ]);
    if (!verify.ok) throw new UserError(`base backup failed verification, nothing was kept: ${verify.error}`, { hint: 'check the disk and the server log, then run again' });
    const label = parseBackupLabel(await readFile(path.join(data, 'backup_label'), 'utf8'));
    const manifestText = await readFile(path.join(data, 'backup_manifest'), 'utf8');
    const ranges = manifestWalRanges(manifestText);
    const record: BaseRecord = {
      format: BASE_FORMAT,
      name,
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      timeline: label.timeline,
      startLsn: label.startLsn,
      endLsn: ranges[ranges.length - 1]!.endLsn,
      startWalFile: label.startWalFile,
      walSegmentSize: facts.walSegmentSize,
      serverVersion: facts.version,
      serverVersionNum: facts.versionNum,
      toolVersion: version,
      sizeBytes: await dirSize(data),
      durationMs: Math.round(performance.now() - t0),
      verifyMs,
      manifestSha256: createHash('sha256').update(manifestText).digest('hex'),
      verified: true,
      verifiedAt: now().toISOString(),
      walParsed: verify.walParsed,
    };
    await writeFileAtomic(path.join(tmp, 'base.json'), `${JSON.stringify(record, null, 2)}\n`);
    const kept = o.recipients?.length ? await sealBase(tmp, record, o.recipients) : record;
    await rename(tmp, path.join(o.layout.base, name));
    await syncDir(o.layout.base);
    done = true;
    log(`base backup ${name}: ${formatBytes(record.sizeBytes)} in ${(record.durationMs / 1000).toFixed(1)}s, verified (pg_verifybackup${verify.walParsed ? '' : ', WAL not parsed: no pg_waldump'})${kept.encryption ? ', encrypted' : ''}`);
    return kept;
  } finally {
    if (!done) await rm(tmp, { recursive: true, force: true });
  }
}

function replicationHint(msg: string): string | undefined {
  if (/no pg_hba.conf entry for replication/i.test(msg)) return 'the server refuses replication connections from here: pg_hba.conf needs `host replication <role> <address> scram-sha-256` (modelship renders it when backups.pitr.enabled; run `modelship deploy`)';
  if (/must be superuser or replication role|permission denied to start WAL sender/i.test(msg)) return 'the role lacks REPLICATION: the db-backup service grants it at start (or ALTER ROLE … WITH REPLICATION)';
  if (/max_wal_senders|number of requested standby connections exceeds/i.test(msg)) return 'raise max_wal_senders (modelship renders 10 when backups.pitr.enabled)';
  return undefined;
}

export { replicationHint };

export interface BaseEntry {
  name: string;
  dir: string;
  data: string;
  record: BaseRecord | null;
  problem?: string;
}

/** Base backups on disk, newest first. */
export async function listBaseBackups(layout: PitrLayout): Promise<BaseEntry[]> {
  const out: BaseEntry[] = [];
  for (const f of await readdir(layout.base).catch(() => [] as string[])) {
    if (!isBaseName(f)) continue;
    const dir = path.join(layout.base, f);
    const text = await readFile(path.join(dir, 'base.json'), 'utf8').catch(() => null);
    if (text === null) {
      out.push({ name: f, dir, data: path.join(dir, 'data'), record: null, problem: 'no base.json' });
      continue;
    }
    const r = parseBaseRecord(text);
    out.push(r.ok ? { name: f, dir, data: path.join(dir, 'data'), record: r.record, ...(r.record.verified ? {} : { problem: r.record.verifyError ?? 'not verified' }) } : { name: f, dir, data: path.join(dir, 'data'), record: null, problem: r.error });
  }
  return out.sort((a, b) => (a.name < b.name ? 1 : -1));
}
