/**
 * Off-site copies and encryption against real parts: a throwaway Debian PostgreSQL cluster, an
 * S3-compatible server (s3rver) on 127.0.0.1 and a local sshd (SFTP). The scheduler streams WAL,
 * takes a base backup and copies everything off-site encrypted with age; the remote goes down and
 * comes back (nothing lost); then the server AND its backup directory are destroyed and the
 * database comes back from the remote with the identity file alone.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { runCli } from '../../helpers/cli.ts';
import { spawnCli, type Child } from '../db/pg.ts';
import { freePort, makeCluster, type Cluster } from '../pitr/cluster.ts';
import { SFTP_SERVER, SSHD, startS3, startSshd, type S3Server, type SshServer } from './servers.ts';
import { stageDump } from '../../../src/ops/backup/remote/fetch.ts';
import { openRemote, requireRemote } from '../../../src/ops/backup/remote/settings.ts';
import { loadSettings } from '../../../src/ops/backup/context.ts';
import { PART_BYTES, s3Store } from '../../../src/ops/backup/remote/s3.ts';
import { remoteDigest } from '../../../src/ops/backup/remote/store.ts';
import { parseSegmentName, segmentName } from '../../../src/ops/backup/pitr/wal.ts';

const DB = 'remotedb';
const BUCKET = 'modelship-test';
let cl: Cluster;
let s3: S3Server;
let ssh: SshServer | null = null;
let proj: string;
let cfg: string;
let keyFile: string;
let recipient: string;

const env = () => ({ ...process.env, NO_COLOR: '1', MODELSHIP_AGE_IDENTITY_FILE: '', MODELSHIP_AGE_IDENTITY: '' });
const cli = (config: string, args: string[]) => runCli(['--config', config, ...args], { env: env() });
const dbFlags = () => ['--direct', '--database-url', cl.url(DB)];
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function q<T extends object>(text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: cl.url(DB) });
  await c.connect();
  try {
    return (await c.query(text, params)).rows as T[];
  } finally {
    await c.end();
  }
}

async function poll<T>(fn: () => Promise<T | null | undefined | false>, timeoutMs: number, what: string, every = 500): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}

// The scheduler's own jobs (the nightly dump at 02:00, vacuum, verify, the weekly base backup) must
// not fire in the middle of a test: the test takes its dumps itself. February 29th, midnight.
const NEVER_CRON = '0 0 29 2 *';
const NEVER = [['schedule'], ['vacuumSchedule'], ['verifySchedule']];

function project(name: string, remoteLines: string[], envLines: string[]): string {
  const dir = path.join(cl.root, name);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'modelship.config.yaml');
  writeFileSync(
    file,
    ['version: 1', 'project: remotetest', 'tls:', '  mode: off', 'postgres:', `  database: ${DB}`, '  user: postgres', 'backups:', '  dir: ./backups', ...NEVER.map(([k]) => `  ${k}: "${NEVER_CRON}"`), '  pitr:', '    enabled: true', `    baseSchedule: "${NEVER_CRON}"`, '  encryption:', `    recipients: [${recipient}]`, '  remote:', ...remoteLines.map((l) => `    ${l}`), ''].join('\n'),
  );
  writeFileSync(
    path.join(dir, '.env'),
    [`SECRET_KEY=${'k'.repeat(40)}`, `POSTGRES_PASSWORD=${cl.password}`, `REDIS_PASSWORD=${'r'.repeat(24)}`, `GRAFANA_ADMIN_PASSWORD=${'g'.repeat(20)}`, 'REPLICATION_PASSWORD=repl-pass-0123456789', ...envLines, ''].join('\n'),
    { mode: 0o600 },
  );
  return file;
}

before(async () => {
  cl = await makeCluster();
  cl.start();
  const admin = new pg.Client({ connectionString: cl.url('postgres') });
  await admin.connect();
  await admin.query(`create database ${DB}`);
  await admin.end();
  await q('create table t (n int primary key, at timestamptz not null default clock_timestamp())');
  s3 = await startS3(path.join(cl.root, 's3'), BUCKET);
  const identity = await generateIdentity();
  recipient = await identityToRecipient(identity);
  keyFile = path.join(cl.root, 'offline-key.txt');
  writeFileSync(keyFile, `# public key: ${recipient}\n${identity}\n`, { mode: 0o600 });
  proj = path.join(cl.root, 'proj');
  cfg = project('proj', [`url: s3://${BUCKET}/prod`, `endpoint: ${s3.endpoint}`, 'intervalSeconds: 1', 'lagAlertSeconds: 60'], ['S3_ACCESS_KEY_ID=S3RVER', 'S3_SECRET_ACCESS_KEY=S3RVER']);
});

after(async () => {
  await s3?.stop().catch(() => undefined);
  ssh?.stop();
  cl?.cleanup();
});

async function insertRows(from: number, to: number): Promise<void> {
  const c = new pg.Client({ connectionString: cl.url(DB) });
  await c.connect();
  for (let n = from; n <= to; n++) await c.query('insert into t (n) values ($1)', [n]);
  await c.query('select pg_switch_wal()');
  await c.end();
}

async function insertRowsNoSwitch(from: number, to: number): Promise<void> {
  const c = new pg.Client({ connectionString: cl.url(DB) });
  await c.connect();
  for (let n = from; n <= to; n++) await c.query('insert into t (n) values ($1)', [n]);
  await c.end();
}

async function metrics(port: number): Promise<Record<string, number>> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(modelship_backup_remote_\w+) (\S+)$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

interface RemoteList {
  dumps: Array<{ key: string; encrypted: boolean }>;
  bases: Array<{ key: string; encrypted: boolean }>;
  wal: { files: number; newest: string | null };
  pending: { pending: number };
}

async function remoteList(config = cfg): Promise<RemoteList> {
  const r = await cli(config, ['--json', 'backup', 'list', '--remote']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as RemoteList;
}

/** The last complete WAL segment: the one before the segment being written now. */
async function completedBefore(): Promise<string> {
  const cur = (await q<{ f: string }>('select pg_walfile_name(pg_current_wal_lsn()) as f'))[0]!.f;
  const seg = parseSegmentName(cur)!;
  return segmentName(seg.timeline, seg.segNo - 1n);
}

test('S3 + age: everything goes off-site encrypted, survives the remote being down, and the database comes back from the remote alone after the server and its backups are destroyed', { timeout: 600_000 }, async () => {
  await insertRows(1, 50);
  const dump = await cli(cfg, ['backup', ...dbFlags()]);
  assert.equal(dump.code, 0, dump.stderr);
  const firstDump = path.basename(dump.stdout.trim());

  // The dump taken while the remote is down (the one the remote keeps).
  const dumped = { path: '', sha: '' };
  const port = await freePort();
  const sched: Child = spawnCli(['--config', cfg, 'schedule', ...dbFlags(), '--metrics-port', String(port)], { MODELSHIP_AGE_IDENTITY_FILE: '' });
  try {
    await insertRows(51, 200);
    // The base backup, the dump and the WAL up to the switch above are copied without being asked.
    const switched1 = await completedBefore();
    const first = await poll(async () => {
      const l = await remoteList();
      return l.bases.length >= 1 && l.dumps.length >= 1 && l.wal.newest !== null && l.wal.newest >= switched1 ? l : null;
    }, 180_000, `the base backup, the dump and WAL through ${switched1} on the remote`).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; scheduler: ${sched.stdout().slice(-3000)}${sched.stderr().slice(-2000)}`);
    });
    assert.ok(first.dumps.every((d) => d.encrypted && d.key.endsWith('.age')) && first.bases.every((b) => b.encrypted), 'every copy is encrypted');
    // What the S3 server holds is ciphertext: no pg_dump magic, age's header instead.
    const stored = readFileSync(s3.objectFile(`prod/${first.dumps[0]!.key}`));
    assert.equal(stored.subarray(0, 21).toString(), 'age-encryption.org/v1');
    assert.ok(!stored.includes(Buffer.from('PGDMP')));

    // The remote goes down: new WAL and a new dump queue up, the gauges say so.
    await s3.stop();
    await insertRows(201, 400);
    const dump2 = await cli(cfg, ['backup', ...dbFlags()]);
    assert.equal(dump2.code, 0, dump2.stderr);
    dumped.path = dump2.stdout.trim();
    // Sealed in the backup directory too: the manifest keeps the sha256 of what pg_dump wrote.
    const man = JSON.parse(readFileSync(dumped.path.replace(/\.dump$/, '.manifest.json'), 'utf8')) as { sha256: string; encryption?: { plainSha256: string } };
    assert.equal(man.sha256, sha(dumped.path), 'the manifest sha256 is of the encrypted bytes');
    assert.ok(!readFileSync(dumped.path).includes(Buffer.from('PGDMP')), 'the local dump is encrypted');
    dumped.sha = man.encryption!.plainSha256;
    const down = await poll(async () => {
      const m = await metrics(port);
      return m.modelship_backup_remote_pending! > 0 && m.modelship_backup_remote_up === 0 && m.modelship_backup_remote_lag_seconds! > 0 ? m : null;
    }, 60_000, 'the remote gauges to show the outage');
    console.log(`remote down: pending ${down.modelship_backup_remote_pending}, lag ${down.modelship_backup_remote_lag_seconds}s, up ${down.modelship_backup_remote_up}`);
    const queued = readdirSync(path.join(proj, 'backups', '.remote', 'queue'));
    assert.ok(queued.length > 0, 'the pending copies are on disk');
    assert.match(sched.stdout(), /"event":"off-site copy failed".*unreachable/);

    // It comes back: the queue drains, the gauges recover.
    const switched2 = await completedBefore();
    await s3.start();
    await poll(async () => {
      const m = await metrics(port);
      if (!(m.modelship_backup_remote_pending === 0 && m.modelship_backup_remote_up === 1 && m.modelship_backup_remote_lag_seconds === 0)) return null;
      const l = await remoteList();
      return l.wal.newest !== null && l.wal.newest >= switched2 ? m : null;
    }, 120_000, `the queue to drain after the remote came back (WAL through ${switched2})`);
    // The dump taken during the outage is there; the first one (same day, superseded by the
    // daily slot) went by the remote's retention, as it did locally.
    const l2 = await poll(async () => {
      const l = await remoteList();
      return l.dumps.length === 1 ? l : null;
    }, 30_000, 'the remote retention after the new dump');
    assert.equal(l2.dumps[0]!.key, `dumps/${path.basename(dumped.path)}.age`);
    assert.ok(!l2.dumps.some((d) => d.key.includes(firstDump)));
    assert.match(sched.stdout(), /"event":"off-site retention"/);

    // Rows in the segment still being filled reach the remote too (its .partial copy), within intervals.
    await insertRowsNoSwitch(401, 450);
    await poll(async () => {
      const walDir = path.join(proj, 'backups', 'pitr', 'wal');
      const part = readdirSync(walDir).filter((f) => f.endsWith('.partial')).sort().at(-1);
      if (!part) return null;
      const st = statSync(path.join(walDir, part));
      const state = existsSync(path.join(proj, 'backups', '.remote', 'partial.json')) ? (JSON.parse(readFileSync(path.join(proj, 'backups', '.remote', 'partial.json'), 'utf8')) as { rel: string; version: string }) : null;
      return state?.rel === `pitr/wal/${part}` && state.version === `${st.size}:${st.mtimeMs}` ? state : null;
    }, 60_000, 'the .partial segment with rows 401-450 on the remote');
  } finally {
    sched.proc.kill('SIGTERM');
    const e = await sched.exit;
    assert.equal(e.code, 0, sched.stdout().slice(-2000) + sched.stderr());
  }

  const verify = await cli(cfg, ['backup', 'verify', '--remote']);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);

  // Disaster: the server dies, its data directory and the whole local backup directory are gone.
  cl.crash();
  rmSync(cl.data, { recursive: true, force: true });
  rmSync(path.join(proj, 'backups'), { recursive: true, force: true });

  // Without the identity the copies cannot be read.
  const noKey = await cli(cfg, ['--yes', 'restore', '--to-latest', '--from-remote', ...dbFlags(), '--pgdata', cl.data]);
  assert.notEqual(noKey.code, 0);
  assert.match(noKey.stderr, /is encrypted \(age\) and no identity was given/);
  assert.match(noKey.stderr, /--identity FILE/);
  assert.doesNotMatch(noKey.stderr, /fetching/, 'refused before anything is downloaded');
  assert.equal(existsSync(cl.data), false, 'nothing was built');

  const r = await cli(cfg, ['--yes', '--json', 'restore', '--to-latest', '--from-remote', '--identity', keyFile, ...dbFlags(), '--pgdata', cl.data]);
  assert.equal(r.code, 0, r.stderr);
  cl.start();
  const got = (await q<{ n: number; max: number }>('select count(*)::int as n, max(n)::int as max from t'))[0]!;
  console.log(`restored from the remote alone: ${got.n} rows, max ${got.max} (450 committed, the last 50 only in the segment being filled)`);
  assert.deepEqual(got, { n: 450, max: 450 });

  // The dump, fetched and decrypted, is byte-identical to the file pg_dump wrote.
  const settings = await loadSettings(cfg, undefined, { direct: true, databaseUrl: cl.url(DB) }, env(), proj);
  const store = openRemote(requireRemote(settings, env()));
  const stage = mkdtempSync(path.join(os.tmpdir(), 'ms-remote-'));
  try {
    const local = await stageDump(store, path.basename(dumped.path), stage, [readFileSync(keyFile, 'utf8').split('\n')[1]!]);
    assert.equal(sha(local), dumped.sha, 'byte-identical');
  } finally {
    await store.close();
    rmSync(stage, { recursive: true, force: true });
  }
  const dumpRestore = await cli(cfg, ['restore', '--from-remote', path.basename(dumped.path), '--verify-only', '--identity', keyFile, ...dbFlags()]);
  assert.equal(dumpRestore.code, 0, dumpRestore.stderr);
  assert.match(dumpRestore.stdout, /restore test passed/);
});

test('a corrupted remote object is caught by verify and by restore; wrong credentials name the remote and what to check', { timeout: 300_000 }, async () => {
  const l = await remoteList();
  const victim = l.dumps.at(-1)!.key;
  const file = s3.objectFile(`prod/${victim}`);
  const bytes = readFileSync(file);
  bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
  writeFileSync(file, bytes);

  const v = await cli(cfg, ['backup', 'verify', '--remote']);
  assert.equal(v.code, 1);
  assert.match(v.stdout, new RegExp(`FAILED  ${victim.replace(/\./g, '\\.')}.*corrupt`));
  const rr = await cli(cfg, ['restore', '--from-remote', path.basename(victim, '.age'), '--verify-only', '--identity', keyFile, ...dbFlags()]);
  assert.equal(rr.code, 1);
  assert.match(rr.stderr, /remote copy .* is corrupt: .*were uploaded and verified on/);

  const wrong = project('wrong-creds', [`url: s3://${BUCKET}/prod`, `endpoint: ${s3.endpoint}`], ['S3_ACCESS_KEY_ID=NOT-THE-KEY', 'S3_SECRET_ACCESS_KEY=S3RVER']);
  const w = await cli(wrong, ['backup', 'list', '--remote']);
  assert.equal(w.code, 1);
  assert.match(w.stderr, new RegExp(`remote s3://${BUCKET}/prod at ${s3.endpoint.replace(/\./g, '\\.')}: listing`));
  assert.match(w.stderr, /S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY in \.env/);
  assert.doesNotMatch(w.stderr, /\n\s+at /, 'no stack trace');
});

test('SFTP: a dump goes to a local sshd encrypted and restores from it; a corrupted copy and a refused key are explained', { skip: !existsSync(SSHD) || !SFTP_SERVER ? 'no sshd / sftp-server (scripts/test-all.sh installs openssh-server)' : false, timeout: 300_000 }, async () => {
  ssh = await startSshd(path.join(cl.root, 'ssh'));
  const remoteDir = path.join(cl.root, 'sftp-remote');
  mkdirSync(remoteDir);
  const sftpCfg = project('sftp', [`url: sftp://root@127.0.0.1:${ssh.port}${remoteDir}`, `identityFile: ${ssh.clientKey}`, `hostKey: ${ssh.hostFingerprint}`], []);
  const b = await cli(sftpCfg, ['backup', ...dbFlags()]);
  assert.equal(b.code, 0, b.stderr);
  const push = await cli(sftpCfg, ['backup', 'push']);
  assert.equal(push.code, 0, push.stdout + push.stderr);
  const l = await remoteList(sftpCfg);
  assert.equal(l.dumps.length, 1);
  assert.ok(l.dumps[0]!.encrypted);
  const onDisk = path.join(remoteDir, l.dumps[0]!.key);
  assert.equal(readFileSync(onDisk).subarray(0, 21).toString(), 'age-encryption.org/v1');

  const r = await cli(sftpCfg, ['restore', '--from-remote', '--verify-only', '--identity', keyFile, ...dbFlags()]);
  assert.equal(r.code, 0, r.stderr);

  const bytes = readFileSync(onDisk);
  bytes[100]! ^= 0x01;
  writeFileSync(onDisk, bytes);
  const v = await cli(sftpCfg, ['backup', 'verify', '--remote']);
  assert.equal(v.code, 1);
  assert.match(v.stdout, /FAILED .*corrupt/);

  const stranger = project('sftp-stranger', [`url: sftp://root@127.0.0.1:${ssh.port}${remoteDir}`, `identityFile: ${ssh.strangerKey}`], []);
  const s = await cli(stranger, ['backup', 'list', '--remote']);
  assert.equal(s.code, 1);
  assert.match(s.stderr, new RegExp(`remote sftp://root@127\\.0\\.0\\.1:${ssh.port}`));
  assert.match(s.stderr, /authorized_keys/);

  const otherHost = project('sftp-other-host', [`url: sftp://root@127.0.0.1:${ssh.port}${remoteDir}`, `identityFile: ${ssh.clientKey}`, `hostKey: SHA256:${'A'.repeat(43)}`], []);
  const h = await cli(otherHost, ['backup', 'list', '--remote']);
  assert.equal(h.code, 1);
  assert.match(h.stderr, /host key mismatch: 127\.0\.0\.1 offered SHA256:/);
  assert.match(h.stderr, /backups\.remote\.hostKey/);
});

test('a file larger than one part goes to S3 as a multipart upload and reads back identical', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ms-multipart-'));
  const store = s3Store({ bucket: BUCKET, prefix: 'multipart', endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', describe: 'test' });
  try {
    const f = path.join(dir, 'big');
    writeFileSync(f, Buffer.concat([randomBytes(PART_BYTES), randomBytes(4321)]));
    await store.put('big', f, PART_BYTES + 4321);
    assert.deepEqual(await remoteDigest(store, 'big'), { size: PART_BYTES + 4321, sha256: sha(f) });
    await store.remove('big');
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
