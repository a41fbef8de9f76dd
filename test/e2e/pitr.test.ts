/**
 * Point-in-time recovery from a deployed stack (backups.pitr.enabled in the config, nothing else):
 * the rendered postgres settings and pg_hba let the db-backup service's replication role in, it
 * streams WAL and takes a verified base backup; a writer commits numbered rows; the stack's
 * postgres container and its data volume are destroyed; `restore --to-latest` brings the stack's
 * postgres back (volume, container, data) and every row committed more than 1 s before the
 * destruction is there; a `restore --to-time T` killed during replay leaves the live database
 * serving, and its re-run gives exactly the rows committed before T (the old data kept).
 *
 * Off-site on the same deploy (no second stack): the config also names an SFTP remote (a local
 * sshd on the default bridge's gateway, host-local, that the containers reach) with its key file
 * and an age recipient. db-backup copies the base backup and the WAL there, encrypted; then the
 * server is lost — postgres and db-backup killed, the data volume AND the local backup directory
 * deleted — and `restore --to-latest --from-remote --identity` brings every committed row back from
 * the remote (the remote's lag, the time until the copier's queue was empty, is printed).
 */
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { generateIdentity, identityToRecipient } from 'age-encryption';
import { cleanup, docker, e2eSkip, ms, projectContainers, stackDir } from './helpers.ts';
import { freePort } from '../integration/pitr/cluster.ts';
import { startSshd, type SshServer } from '../integration/remote/servers.ts';

const skip = await e2eSkip();
const pgPort = await freePort();
const s = await stackDir('pitr', `postgres: {publish: true, port: ${pgPort}}`);
const url = `postgres://modelship:e2e-pg-pass@127.0.0.1:${pgPort}/modelship`;
const offsite = path.join(s.dir, 'offsite');
const ageIdentity = path.join(s.dir, 'offline-age-key.txt');
let ssh: SshServer | null = null;

before(async () => {
  if (skip) return;
  appendFileSync(path.join(s.dir, '.env'), 'REPLICATION_PASSWORD=e2e-repl-pass-0123456789\n');
  // The remote listens on the default bridge's gateway: this host's own address, reached by the
  // containers through their network's gateway, not by anything off the machine.
  const gateway = ((await docker.getNetwork('bridge').inspect()) as { IPAM: { Config: Array<{ Gateway?: string }> } }).IPAM.Config.find((c) => c.Gateway)?.Gateway;
  assert.ok(gateway, 'the default bridge (docker0) has no gateway address: run scripts/test-deps.sh');
  ssh = await startSshd(path.join(s.dir, 'keys'), gateway);
  const identity = await generateIdentity();
  const recipient = await identityToRecipient(identity);
  writeFileSync(ageIdentity, `# public key: ${recipient}\n${identity}\n`, { mode: 0o600 });
  s.write(
    [
      'backups:',
      '  pitr: {enabled: true}',
      `  encryption: {recipients: [${recipient}]}`,
      '  remote:',
      `    url: sftp://root@${gateway}:${ssh.port}${offsite}`,
      '    identityFile: keys/client',
      `    hostKey: ${ssh.hostFingerprint}`,
      '    intervalSeconds: 1',
    ].join('\n'),
  );
  await cleanup(s);
  // The whole stack plus db-backup on a shared 2-core machine: the harness waits longer than ms()'s default.
  const r = await ms(s, ['deploy', '--timeout', '240s'], { timeoutMs: 540_000 });
  assert.equal(r.exitCode, 0, r.all);
});
after(async () => {
  ssh?.stop();
  if (!skip) await cleanup(s);
});

async function query<T>(text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query(text, params)).rows as T[];
  } finally {
    await c.end();
  }
}

test('a fresh deploy with backups.pitr.enabled streams WAL and takes a base backup; the archive restores every row after the volume is gone', { skip, timeout: 1_500_000 }, async () => {
  const wal = async () => JSON.parse((await ms(s, ['--json', 'backup', 'wal'])).stdout) as { lastBase: { name: string } | null; archive: { segments: number; newest: string | null } };
  let st = await wal();
  for (let i = 0; i < 240 && !st.lastBase; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    st = await wal();
  }
  const backupLogs = async (tail = 40) => {
    const c = (await projectContainers(s.project)).find((x) => x.Labels['com.docker.compose.service'] === 'db-backup');
    return c ? (await docker.getContainer(c.Id).logs({ stdout: true, stderr: true, tail })).toString('utf8') : 'no db-backup container';
  };
  assert.ok(st.lastBase, `no base backup from db-backup: ${await backupLogs()}`);
  const slot = await query<{ active: boolean }>("select active from pg_replication_slots where slot_name = 'modelship_pitr'");
  assert.equal(slot[0]?.active, true, `slot not streaming: ${await backupLogs()}`);

  await query('create table t (n int primary key)');
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  const commits: Array<{ n: number; at: number }> = [];
  let pause: { requested: boolean; idle?: () => void; resume?: Promise<void> } = { requested: false };
  const writing = (async () => {
    for (let n = 1; n < 100_000; n++) {
      if (pause.requested) {
        pause.idle?.();
        await pause.resume;
      }
      try {
        await c.query('insert into t values ($1)', [n]);
      } catch {
        break;
      }
      commits.push({ n, at: Date.now() });
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  await new Promise((r) => setTimeout(r, 3000));
  // A quiet moment in the middle of the writes: --to-time T must give exactly the rows before it.
  let resume!: () => void;
  const idle = new Promise<void>((r) => (pause = { requested: true, idle: r, resume: new Promise<void>((rr) => (resume = rr)) }));
  await idle;
  const rowsAtT = commits.at(-1)!.n;
  await new Promise((r) => setTimeout(r, 500));
  const T = (await query<{ t: string }>("select to_char(clock_timestamp() at time zone 'utc', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' as t"))[0]!.t;
  await new Promise((r) => setTimeout(r, 500));
  pause.requested = false;
  resume();
  await new Promise((r) => setTimeout(r, 3000));
  // Destroy: the postgres container is killed mid-write and its data volume removed.
  const pgc = (await projectContainers(s.project)).find((x) => x.Labels['com.docker.compose.service'] === 'postgres')!;
  const destroyedAt = Date.now();
  await docker.getContainer(pgc.Id).remove({ force: true });
  await writing;
  await c.end().catch(() => undefined);
  const vol = `${s.project}_pgdata`;
  await docker.getVolume(vol).remove();
  const highest = commits.at(-1)!.n;
  const mustHave = commits.filter((x) => x.at < destroyedAt - 1000).at(-1)!.n;

  // backups.encryption seals the local archive too: without the identity the restore builds nothing.
  const noKey = await ms(s, ['--yes', 'restore', '--to-latest'], { timeoutMs: 540_000 });
  assert.equal(noKey.exitCode, 2, noKey.all);
  assert.match(noKey.all, /is encrypted \(age\) and no identity was given/);
  // One command brings the stack's postgres back: volume, container, data up to the last commit.
  const r = await ms(s, ['--yes', '--json', 'restore', '--to-latest', '--identity', ageIdentity, '--check-sql', `select count(*) >= ${mustHave} from t`], { timeoutMs: 540_000 });
  assert.equal(r.exitCode, 0, r.all);
  const res = JSON.parse(r.stdout) as { volumeCreated: boolean; previous: string | null; durationMs: number; downtimeMs: number };
  assert.equal(res.volumeCreated, true);
  assert.equal(res.previous, null);
  const got = (await query<{ n: number; max: number }>('select count(*)::int as n, max(n)::int as max from t'))[0]!;
  console.log(`stack: highest committed ${highest}, restored ${got.max} (${got.n} rows); committed more than 1 s before the volume was dropped: ${mustHave}; restore ${res.durationMs} ms`);
  assert.ok(got.max >= mustHave, `restored up to ${got.max}, committed before the destruction: ${mustHave}`);
  assert.equal(got.n, got.max, 'no holes');

  // Killed mid-restore (during WAL replay): the live database still serves, a re-run works.
  const killed = ms(s, ['--yes', 'restore', '--to-time', T, '--identity', ageIdentity], { timeoutMs: 540_000 });
  await new Promise<void>((resolve) => {
    let seen = '';
    killed.stderr?.on('data', (b: Buffer) => {
      seen += b.toString('utf8');
      if (/replaying WAL/.test(seen)) resolve();
    });
    void killed.then(() => resolve());
  });
  killed.kill('SIGKILL');
  await killed;
  const during = (await query<{ n: number }>('select count(*)::int as n from t'))[0]!;
  assert.equal(during.n, got.n, 'the live database serves the same rows after the killed restore');

  const again = await ms(s, ['--yes', '--json', 'restore', '--to-time', T, '--identity', ageIdentity], { timeoutMs: 540_000 });
  assert.equal(again.exitCode, 0, again.all);
  const res2 = JSON.parse(again.stdout) as { previous: string | null; repaired: { removed: string[] } | null; durationMs: number; downtimeMs: number };
  assert.match(res2.previous ?? '', /^pre-restore-/, 'the replaced data directory is kept');
  assert.ok((res2.repaired?.removed.length ?? 0) >= 1, `the killed restore's leftovers were cleaned: ${again.stdout}`);
  const atT = (await query<{ n: number; max: number }>('select count(*)::int as n, max(n)::int as max from t'))[0]!;
  console.log(`stack --to-time ${T}: ${atT.n} rows (max ${atT.max}), committed before T: ${rowsAtT}; restore ${res2.durationMs} ms, postgres stopped ${res2.downtimeMs} ms`);
  assert.equal(atT.n, rowsAtT);
  assert.equal(atT.max, rowsAtT);
  // A rehearsal beside the live data: nothing swapped, recorded for doctor/status/metrics.
  const reh = await ms(s, ['--json', 'restore', '--to-latest', '--verify-only', '--identity', ageIdentity], { timeoutMs: 540_000 });
  assert.equal(reh.exitCode, 0, reh.all);
  assert.equal((JSON.parse(reh.stdout) as { verifyOnly: boolean }).verifyOnly, true);
  const still = (await query<{ n: number }>('select count(*)::int as n from t'))[0]!;
  assert.equal(still.n, rowsAtT, 'a rehearsal changes nothing');
  const status = JSON.parse((await ms(s, ['--json', 'status'])).stdout) as { backup: { pitr?: { lastBase: unknown; lastRehearsal: { ok: boolean } | null; archive: unknown } } | null };
  assert.ok(status.backup?.pitr, `status has no pitr facts: ${JSON.stringify(status.backup)}`);
  assert.ok(status.backup.pitr.lastBase, 'status shows the last base backup');
  assert.equal(status.backup.pitr.lastRehearsal?.ok, true, 'status shows the passed rehearsal');
  const leftovers = await docker.listContainers({ all: true, filters: { label: [`org.modelship.pitr-restore=${s.project}`] } });
  assert.equal(leftovers.length, 0, 'no restore container is left behind');

  await offsiteAfterServerLoss(backupLogs);
});

interface RemoteList { bases: Array<{ key: string; encrypted: boolean }>; wal: { files: number; partial: string | null } }

/**
 * Rows are committed; once db-backup's off-site queue is empty (the time that takes is printed:
 * the remote's lag) the server is lost: postgres and db-backup killed, the data volume and the whole
 * local backup directory deleted. Only the SFTP remote, filled by the deployed db-backup, is left.
 */
async function offsiteAfterServerLoss(backupLogs: (tail?: number) => Promise<string>): Promise<void> {
  const remote = async () => JSON.parse((await ms(s, ['--json', 'backup', 'list', '--remote'])).stdout || '{}') as Partial<RemoteList>;
  let rl = await remote();
  for (let i = 0; i < 120 && !((rl.bases?.length ?? 0) > 0 && (rl.wal?.files ?? 0) > 0); i++) {
    await new Promise((r) => setTimeout(r, 1000));
    rl = await remote();
  }
  assert.ok((rl.bases?.length ?? 0) > 0 && (rl.wal?.files ?? 0) > 0, `db-backup copied no base backup and WAL to the SFTP remote: ${JSON.stringify(rl)}\n${await backupLogs()}`);
  const copierLogOf = async () => (await backupLogs(2000)).split('\n').filter((l) => /off-site|remote/.test(l)).slice(-15).join('\n');
  assert.ok(rl.bases!.every((b) => b.encrypted), 'the base backups went off-site encrypted');
  const baseObj = readdirSync(path.join(offsite, 'pitr/base')).find((f) => f.endsWith('.tar.age'))!;
  assert.match(readFileSync(path.join(offsite, 'pitr/base', baseObj)).subarray(0, 40).toString('latin1'), /^age-encryption\.org\/v1/, 'the stored base backup is age ciphertext');
  // An upload in flight is a dot-named temp file the store renames when it is complete: not an object yet.
  const walObj = readdirSync(path.join(offsite, 'pitr/wal')).filter((f) => !f.endsWith('.meta.json') && !f.startsWith('.'));
  assert.ok(walObj.length > 0 && walObj.every((f) => f.endsWith('.age')), `every WAL object is encrypted: ${walObj.join(' ')}`);

  const start = (await query<{ max: number }>('select coalesce(max(n), 0)::int as max from t'))[0]!.max;
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  const commits: Array<{ n: number; at: number }> = [];
  for (let n = start + 1, until = Date.now() + 4000; Date.now() < until; n++) {
    await c.query('insert into t values ($1)', [n]);
    commits.push({ n, at: Date.now() });
    await new Promise((r) => setTimeout(r, 10));
  }
  await c.end();
  const lastCommit = commits.at(-1)!;
  // The off-site copy trails by a copy round (the segment being filled is re-sent, encrypted and
  // read back, each round): measured here as the time until the remote holds the very bytes of the
  // local segment being filled (its record's plain sha256) and db-backup's queue is empty. An empty
  // queue alone is not enough: the round that re-queues the grown segment may not have run yet.
  const queueDir = path.join(s.dir, 'backups/.remote/queue');
  const localWal = path.join(s.dir, 'backups/pitr/wal');
  const queued = () => (existsSync(queueDir) ? readdirSync(queueDir).filter((f) => f.endsWith('.json')).length : -1);
  const partialOffsite = (): boolean => {
    const partial = readdirSync(localWal).find((f) => f.endsWith('.partial'));
    const meta = partial && path.join(offsite, 'pitr/wal', `${partial}.meta.json`);
    if (!meta || !existsSync(meta)) return false;
    const record = JSON.parse(readFileSync(meta, 'utf8')) as { plainSha256?: string };
    return record.plainSha256 === createHash('sha256').update(readFileSync(path.join(localWal, partial))).digest('hex');
  };
  let caughtUp = 0;
  for (const end = Date.now() + 400_000; Date.now() < end && !caughtUp; ) {
    await new Promise((r) => setTimeout(r, 500));
    if (Date.now() > lastCommit.at + 1000 && queued() === 0 && partialOffsite()) caughtUp = Date.now();
  }
  assert.ok(caughtUp, `the remote never caught up with the segment being filled (${queued()} queued)\n${await copierLogOf()}`);
  const byService = async (name: string) => (await projectContainers(s.project)).find((x) => x.Labels['com.docker.compose.service'] === name)!;
  const [pgc, bk] = [await byService('postgres'), await byService('db-backup')];
  await Promise.all([docker.getContainer(pgc.Id).remove({ force: true }), docker.getContainer(bk.Id).kill().catch(() => undefined)]);
  const copierLog = await copierLogOf();
  await docker.getVolume(`${s.project}_pgdata`).remove();
  rmSync(path.join(s.dir, 'backups'), { recursive: true, force: true });
  assert.equal(existsSync(path.join(s.dir, 'backups')), false);

  const r = await ms(s, ['--yes', '--json', 'restore', '--to-latest', '--from-remote', '--identity', ageIdentity, '--check-sql', `select count(*) >= ${lastCommit.n} from t`], { timeoutMs: 540_000 });
  assert.equal(r.exitCode, 0, `${r.all}\nremote WAL: ${readdirSync(path.join(offsite, 'pitr/wal')).join(' ')}\ndb-backup's copier:\n${copierLog}`);
  const res = JSON.parse(r.stdout) as { volumeCreated: boolean; durationMs: number };
  assert.equal(res.volumeCreated, true);
  const got = (await query<{ n: number; max: number }>('select count(*)::int as n, max(n)::int as max from t'))[0]!;
  console.log(`off-site (SFTP from db-backup, age): last commit ${lastCommit.n}, restored ${got.max} (${got.n} rows) after the data volume and the local backup directory were deleted; the remote had it ${((caughtUp - lastCommit.at) / 1000).toFixed(1)} s after the commit (queue empty); restore from the remote ${res.durationMs} ms`);
  assert.equal(got.max, lastCommit.n, `restored up to ${got.max} from the remote, last commit ${lastCommit.n}`);
  assert.equal(got.n, got.max, 'no holes');
}

test('deploy refuses an SFTP remote whose key file is missing, before it creates anything', { skip, timeout: 120_000 }, async () => {
  const n = await stackDir('pitr-nokey', 'backups:\n  remote:\n    url: sftp://root@127.0.0.1:22/srv/offsite\n    identityFile: keys/missing');
  const r = await ms(n, ['deploy']);
  assert.equal(r.exitCode, 2, r.all);
  assert.match(r.stderr, /modelship\.config\.yaml:\d+:\d+: backups\.remote\.identityFile \S+keys\/missing does not exist; nothing was changed/);
  assert.equal((await projectContainers(n.project)).length, 0, 'no container was created');
  assert.equal(existsSync(path.join(n.dir, 'keys/missing')), false, 'no directory where the key belongs');
});
