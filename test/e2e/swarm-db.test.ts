/**
 * Backup, restore, db reports, migrations and emergency read-only against PostgreSQL running as a
 * swarm service on a WORKER node of the real three-node rig, with modelship talking only to the
 * manager (DOCKER_HOST = n1). The service is made here through dockerode the way the stack names it
 * (labels org.modelship.project / org.modelship.service=postgres, the password as a swarm secret,
 * an attachable overlay network, pinned by a node label to msw-n2); the test reads and writes rows
 * through n2's own engine, which modelship never sees.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import type Docker from 'dockerode';
import { BIN, stackDir, type StackDir } from './helpers.ts';
import { rigExclusive, swarmRig, swarmRigSkip, type SwarmRig } from './swarm-rig.ts';
import { MS_LABEL as LABEL } from '../../src/stack/names.ts';
import { SERVICE } from '../../src/stack/names.ts';
import { manifestFileFor, shaFileFor } from '../../src/ops/backup/naming.ts';

const IMAGE = 'modelship-standin/postgres:16';
const NODE_LABEL = 'org.modelship.test.swarm-db';
const PASSWORD = 'e2e-pg-pass'; // what stackDir writes to .env as POSTGRES_PASSWORD
const skip = await swarmRigSkip();

let release: (() => Promise<void>) | undefined;
let rig: SwarmRig;
let s: StackDir;
let serviceId = '';
let serviceName = '';
const made: { secret?: string; network?: string } = {};

const dk = (host: string, args: string[]) => execa('docker', ['-H', host, ...args], { reject: false, all: true, timeout: 120_000 });
const msw = (args: string[], host = rig.managerHost) =>
  execa(process.execPath, [BIN, ...args], { reject: false, all: true, cwd: s.dir, env: { NO_COLOR: '1', MODELSHIP_CONFIG: s.config, DOCKER_HOST: host }, timeout: 300_000 });

async function until<T>(what: string, fn: () => Promise<T | undefined>, tries = 240): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The postgres task's container, asked of the node that runs it (n2), never of the manager. */
async function taskContainer(): Promise<string> {
  return until('the postgres task on msw-n2', async () => {
    const list = await rig.nodes.n2.docker.listContainers({ filters: { label: [`com.docker.swarm.service.id=${serviceId}`], status: ['running'] } });
    return list[0]?.Id;
  });
}

/** psql on n2's task container, over TCP as the application would (the password, new session). */
async function sql(q: string): Promise<{ ok: boolean; out: string }> {
  const id = await taskContainer();
  const ex = await rig.nodes.n2.docker.getContainer(id).exec({
    Cmd: ['psql', '-h', '127.0.0.1', '-U', 'modelship', '-d', 'modelship', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', q],
    Env: [`PGPASSWORD=${PASSWORD}`],
    AttachStdout: true,
    AttachStderr: true,
  });
  const stream = await ex.start({});
  const chunks: Buffer[] = [];
  stream.on('data', (b: Buffer) => chunks.push(b));
  await new Promise((r) => stream.on('end', r));
  const info = await ex.inspect();
  // demux by hand: 8-byte headers, then the payload
  const raw = Buffer.concat(chunks);
  let out = '';
  for (let i = 0; i + 8 <= raw.length; ) {
    const n = raw.readUInt32BE(i + 4);
    out += raw.subarray(i + 8, i + 8 + n).toString('utf8');
    i += 8 + n;
  }
  return { ok: info.ExitCode === 0, out: out.trim() };
}

async function helpersOn(d: Docker): Promise<number> {
  return (await d.listContainers({ all: true, filters: { label: [`${LABEL.project}=${s.project}`, `${LABEL.role}=db-helper`] } })).length;
}

before(async () => {
  if (skip) return;
  release = await rigExclusive();
  rig = await swarmRig([IMAGE]);
  s = await stackDir('swarmdb');
  serviceName = `${s.project}_${SERVICE.postgres}`;
  const labels = { [LABEL.project]: s.project };
  const m = rig.manager;
  assert.equal((await dk(rig.managerHost, ['node', 'update', '--label-add', `${NODE_LABEL}=postgres`, rig.nodes.n2.hostname])).exitCode, 0);
  const secret = (await m.createSecret({ Name: `${s.project}_postgres_password`, Labels: labels, Data: Buffer.from(PASSWORD).toString('base64') })) as { id: string };
  made.secret = secret.id;
  const net = await m.createNetwork({ Name: `${s.project}_backend`, Driver: 'overlay', Attachable: true, Labels: labels });
  made.network = net.id;
  const svc = (await m.createService({
    Name: serviceName,
    Labels: { ...labels, [LABEL.service]: SERVICE.postgres },
    TaskTemplate: {
      ContainerSpec: {
        Image: IMAGE,
        Env: ['POSTGRES_USER=modelship', 'POSTGRES_DB=modelship', 'POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password'],
        Secrets: [{ SecretID: secret.id, SecretName: `${s.project}_postgres_password`, File: { Name: 'postgres_password', UID: '0', GID: '0', Mode: 0o444 } }],
      },
      Placement: { Constraints: [`node.labels.${NODE_LABEL}==postgres`] },
      Networks: [{ Target: net.id }],
      RestartPolicy: { Condition: 'any' },
    },
    Mode: { Replicated: { Replicas: 1 } },
  })) as { id?: string; ID?: string };
  serviceId = svc.id ?? svc.ID ?? '';
  await until('PostgreSQL accepting connections on msw-n2', async () => ((await sql('select 1')).ok ? true : undefined));
  const seed = await sql(
    'create table items (id int primary key, body text); insert into items select g, md5(g::text) from generate_series(1, 2000) g; create table tags (item int references items(id), tag text); insert into tags values (1, \'a\'), (2, \'b\');',
  );
  assert.ok(seed.ok, seed.out);
});

after(async () => {
  if (skip) return;
  if (!s) return void (await release?.());
  try {
    if (serviceId) await rig.manager.getService(serviceId).remove().catch(() => undefined);
    // The task's container goes with the service; the secret and network only once it is gone.
    await until('the postgres task removed', async () => ((await rig.nodes.n2.docker.listContainers({ all: true, filters: { label: [`com.docker.swarm.service.id=${serviceId}`] } })).length === 0 ? true : undefined), 120).catch(() => undefined);
    if (made.secret) await rig.manager.getSecret(made.secret).remove().catch(() => undefined);
    if (made.network) await rig.manager.getNetwork(made.network).remove().catch(() => undefined);
    await dk(rig.managerHost, ['node', 'update', '--label-rm', NODE_LABEL, rig.nodes.n2.hostname]);
    for (const c of await rig.manager.listContainers({ all: true, filters: { label: [`${LABEL.project}=${s.project}`] } })) await rig.manager.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    rmSync(s.dir, { recursive: true, force: true });
  } finally {
    await release?.();
  }
});

test('backup and restore through the manager with PostgreSQL on a worker node: verified, rows back, nothing left behind', { skip, timeout: 600_000 }, async () => {
  const dir = path.join(s.dir, 'backups');
  const b = await msw(['--json', 'backup', '--dir', dir, '--no-prune']);
  assert.equal(b.exitCode, 0, b.all);
  const r = JSON.parse(b.stdout) as { file: string; path: string; manifest: { verified: boolean; tableCount: number; sha256: string; database: string } };
  assert.equal(r.manifest.verified, true);
  assert.equal(r.manifest.tableCount, 2);
  assert.equal(r.manifest.database, 'modelship');
  assert.equal(createHash('sha256').update(readFileSync(r.path)).digest('hex'), r.manifest.sha256);
  assert.equal(readFileSync(r.path).subarray(0, 5).toString('latin1'), 'PGDMP');
  assert.match(b.stderr, /on node msw-n2/);
  assert.deepEqual(readdirSync(dir).sort(), [r.file, path.basename(manifestFileFor(r.path)), path.basename(shaFileFor(r.path))].sort(), 'the backup and its sidecars, no temp file');
  assert.equal(await helpersOn(rig.manager), 0, 'the helper container is removed after the backup');

  const v = await msw(['backup', 'verify', r.path]);
  assert.equal(v.exitCode, 0, v.all);

  assert.ok((await sql('delete from tags; delete from items where id > 10')).ok);
  assert.equal((await sql('select count(*) from items')).out, '10');
  const rs = await msw(['--json', 'restore', r.path, '--yes']);
  assert.equal(rs.exitCode, 0, rs.all);
  const rj = JSON.parse(rs.stdout) as { database: string; previous: string; tables: number };
  assert.equal(rj.database, 'modelship');
  assert.equal(rj.tables, 2);
  assert.match(rj.previous, /^modelship_pre_restore_/);
  assert.equal((await sql('select count(*) from items')).out, '2000');
  assert.equal((await sql('select count(*) from tags')).out, '2');
  assert.equal(await helpersOn(rig.manager), 0, 'the helper container is removed after the restore');
});

test('db reports, migrations and emergency read-only on/off reach the task on the worker', { skip, timeout: 600_000 }, async () => {
  const size = await msw(['--json', 'db', 'size']);
  assert.equal(size.exitCode, 0, size.all);
  const sj = JSON.parse(size.stdout) as { database: string; tables: Array<{ table: string }> };
  assert.equal(sj.database, 'modelship');
  assert.ok(sj.tables.some((t) => t.table === 'public.items'), size.stdout);

  const conns = await msw(['--json', 'db', 'connections']);
  assert.equal(conns.exitCode, 0, conns.all);
  assert.ok((JSON.parse(conns.stdout) as { total: number }).total >= 1);

  const mig = await msw(['--json', 'db', 'migrate']);
  assert.equal(mig.exitCode, 0, mig.all);
  assert.ok((JSON.parse(mig.stdout) as { applied: string[] }).applied.includes('0001_initial.sql'), mig.stdout);
  assert.equal((await sql("select count(*) from schema_migrations where version = '0001'")).out, '1');

  const on = await msw(['emergency', 'read-only', 'on']);
  assert.equal(on.exitCode, 0, on.all);
  const refused = await sql("insert into tags values (3, 'c')");
  assert.equal(refused.ok, false);
  assert.match(refused.out, /read-only transaction/);
  const st = await msw(['--json', 'emergency', 'read-only', 'status']);
  assert.equal((JSON.parse(st.stdout) as { readOnly: boolean }).readOnly, true, st.all);
  const off = await msw(['emergency', 'read-only', 'off']);
  assert.equal(off.exitCode, 0, off.all);
  assert.ok((await sql("insert into tags values (3, 'c')")).ok);
  assert.equal(await helpersOn(rig.manager), 0);
});

test('clear errors: a worker engine, the postgres node down, the service scaled to 0', { skip, timeout: 600_000 }, async () => {
  const worker = await msw(['db', 'size'], rig.nodes.n3.host);
  assert.equal(worker.exitCode, 1, worker.all);
  assert.match(worker.stderr, /is a swarm worker, not a manager/);
  assert.match(worker.stderr, /hint: point DOCKER_HOST at a manager/);

  await rig.stopNode('n2');
  try {
    await until('msw-n2 down on the manager', async () => ((await rig.manager.listNodes()).find((n) => n.Description?.Hostname === 'msw-n2')?.Status?.State === 'down' ? true : undefined), 240);
    const down = await msw(['backup', '--dir', path.join(s.dir, 'down'), '--no-prune']);
    assert.equal(down.exitCode, 1, down.all);
    assert.match(down.stderr, /node msw-n2, which is down/);
    assert.match(down.stderr, /hint: start the Docker Engine on msw-n2 again/);
    const downDir = path.join(s.dir, 'down');
    assert.deepEqual(existsSync(downDir) ? readdirSync(downDir) : [], [], 'no backup file when the database is unreachable');
    assert.doesNotMatch(down.all, /unexpected failure|at .*\.ts:\d+/);
  } finally {
    await rig.startNode('n2');
  }
  await until('msw-n2 ready again', async () => ((await rig.manager.listNodes()).find((n) => n.Description?.Hostname === 'msw-n2')?.Status?.State === 'ready' ? true : undefined), 240);

  assert.equal((await dk(rig.managerHost, ['service', 'scale', '--detach', `${serviceName}=0`])).exitCode, 0);
  const zero = await msw(['db', 'size']);
  assert.equal(zero.exitCode, 1, zero.all);
  assert.match(zero.stderr, new RegExp(`${serviceName} is scaled to 0 replicas`));
  assert.equal(await helpersOn(rig.manager), 0);
});
