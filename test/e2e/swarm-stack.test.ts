/**
 * The stack on the real three-node swarm (issue 17): deploy healthy across nodes; a no-op deploy
 * changes nothing; swap → rollback → swap under load with 0 failed requests; a worker node's
 * engine stopped → its tasks rescheduled while the API keeps serving; down leaves nothing on any
 * node. Clear errors first: not a manager, a missing node label. One deployment serves every step
 * (the rig is slow to converge on a loaded machine), so the steps run in order in one file.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import type Docker from 'dockerode';
import { API_IMAGE, BIN, STANDIN, steadyTraffic } from './helpers.ts';
import { swarmRig, swarmRigSkip, useRigExclusively, type SwarmRig } from './swarm-rig.ts';

const skip = await swarmRigSkip();
useRigExclusively(skip);

const V2 = 'modelship-test/api:swarm-v2';
const PROJECT = `msw-stack-${process.pid % 10000}`;
const PORT = 30000 + (process.pid % 2000);
/** Labels of this file only: other swarm tests label nodes too. */
const PG_LABEL = `e2e-${process.pid}.data`;
const MON_LABEL = `e2e-${process.pid}.mon`;
const EDGE_LABEL = `e2e-${process.pid}.edge`;
/** Generous: every API task loads its models on a loaded two-core machine. */
const WAIT = ['--timeout', '600s'];
const GATE = ['--health-timeout', '600s'];

let rig: SwarmRig;
let dir: string;
let config: string;

function writeConfig(extra = ''): void {
  writeFileSync(
    config,
    [
      `project: ${PROJECT}`,
      'orchestrator: swarm',
      'environment: development',
      'domains: [localhost]',
      'tls: {mode: "off"}',
      'images:',
      `  api: ${API_IMAGE}`,
      `  nginx: ${STANDIN.nginx}`,
      `  postgres: ${STANDIN.postgres}`,
      `  redis: ${STANDIN.redis}`,
      `  prometheus: ${STANDIN.prometheus}`,
      `ports: {http: ${PORT}, https: ${PORT + 1}}`,
      'api: {workers: 1, replicas: 2}',
      'workers: {replicas: 2}',
      'monitoring:',
      '  grafana: {enabled: false}',
      '  loki: {enabled: false}',
      '  exporters: {postgres: false, redis: false, nginx: false, node: false}',
      // Host-mode edge: the routing mesh needs kernel IPVS, which the test machine's kernel lacks.
      `swarm: {edge: {publish: host, label: ${EDGE_LABEL}}, labels: {postgres: ${PG_LABEL}, redis: ${PG_LABEL}, monitoring: ${MON_LABEL}}, updateMonitorSeconds: 5}`,
      extra,
    ].join('\n'),
  );
}

const ms = (args: string[], host = rig.managerHost, timeout = 600_000) =>
  execa(process.execPath, [BIN, ...args], { reject: false, all: true, cwd: dir, env: { DOCKER_HOST: host, NO_COLOR: '1', MODELSHIP_CONFIG: config }, timeout });

async function stackServices(d: Docker): Promise<Docker.Service[]> {
  return d.listServices({ filters: { label: [`com.docker.stack.namespace=${PROJECT}`] } });
}

async function runningTasks(service: string): Promise<Array<{ node: string; image: string }>> {
  const nodes = new Map(((await rig.manager.listNodes()) as Array<{ ID: string; Description: { Hostname: string } }>).map((n) => [n.ID, n.Description.Hostname]));
  const tasks = (await rig.manager.listTasks({ filters: { service: [`${PROJECT}_${service}`], 'desired-state': ['running'] } })) as Array<{ NodeID: string; Status: { State: string }; Spec: { ContainerSpec: { Image: string } } }>;
  return tasks.filter((t) => t.Status.State === 'running').map((t) => ({ node: nodes.get(t.NodeID) ?? t.NodeID, image: t.Spec.ContainerSpec.Image.split('@')[0]! }));
}

async function label(node: string, key: string, add: boolean): Promise<void> {
  await execa('docker', ['-H', rig.managerHost, 'node', 'update', add ? '--label-add' : '--label-rm', add ? `${key}=true` : key, node], { reject: !add });
}

async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

before(async () => {
  if (skip) return;
  rig = await swarmRig([API_IMAGE, STANDIN.nginx, STANDIN.postgres, STANDIN.redis, STANDIN.prometheus]);
  // The second release is built on each node from the layers it already has (no 600 MB copy).
  for (const n of ['n1', 'n2', 'n3'] as const) {
    const b = await execa('docker', ['-H', rig.nodes[n].host, 'build', '-q', '-t', V2, '-'], { input: `FROM ${API_IMAGE}\nLABEL org.modelship.test.release=v2\n`, env: { DOCKER_BUILDKIT: '0' }, reject: false, all: true });
    assert.equal(b.exitCode, 0, b.all);
  }
  dir = mkdtempSync(path.join(os.tmpdir(), 'modelship-e2e-swarm-stack-'));
  config = path.join(dir, 'modelship.config.yaml');
  writeFileSync(path.join(dir, '.env'), 'SECRET_KEY=e2e-secret-key-0123456789abcdef\nPOSTGRES_PASSWORD=e2e-pg-pass\nREDIS_PASSWORD=e2e-redis-pass\nGRAFANA_ADMIN_PASSWORD=unused\n', { mode: 0o600 });
  writeConfig();
});

after(async () => {
  if (skip || !rig) return;
  await rig.startNode('n3').catch(() => undefined);
  for (const s of await stackServices(rig.manager).catch(() => [])) await rig.manager.getService(s.id).remove().catch(() => undefined);
  await label('msw-n2', PG_LABEL, false);
  await label('msw-n1', MON_LABEL, false);
  await label('msw-n1', EDGE_LABEL, false);
  // down keeps the data volumes on their nodes (by design): this test's go here.
  for (const n of ['n1', 'n2', 'n3'] as const) {
    const d = rig.nodes[n].docker;
    const vols = (await d.listVolumes({ filters: { label: [`com.docker.stack.namespace=${PROJECT}`] } }).catch(() => ({ Volumes: [] }))).Volumes ?? [];
    for (const v of vols) await d.getVolume(v.Name).remove().catch(() => undefined);
  }
});

test('clear errors before anything changes: a worker engine, a node label no node has', { skip, timeout: 300_000 }, async () => {
  const onWorker = await ms(['deploy'], rig.nodes.n2.host);
  assert.equal(onWorker.exitCode, 1, onWorker.all);
  assert.match(onWorker.stderr, /deploy: the engine at DOCKER_HOST=\S+n2\S+ is a swarm worker, not a manager/);
  assert.match(onWorker.stderr, /hint: point DOCKER_HOST \(or --host\) at a manager node/);

  const unlabelled = await ms(['deploy']);
  assert.equal(unlabelled.exitCode, 1, unlabelled.all);
  assert.match(unlabelled.stderr, new RegExp(`postgres needs a node labelled ${PG_LABEL.replace('.', '\\.')}=true`));
  assert.match(unlabelled.stderr, /hint: label the node .*docker node update --label-add/);
  assert.doesNotMatch(unlabelled.all, /unexpected failure|at .*\.ts:\d+/);
  assert.equal((await stackServices(rig.manager)).length, 0, 'nothing was created');
});

test('deploy: the stack runs healthy across the nodes; data pinned; secrets only as files; a second deploy changes nothing', { skip, timeout: 900_000 }, async () => {
  await label('msw-n2', PG_LABEL, true);
  await label('msw-n1', MON_LABEL, true);
  await label('msw-n1', EDGE_LABEL, true);
  const dry = await ms(['deploy', '--dry-run']);
  assert.equal(dry.exitCode, 0, dry.all);
  assert.match(dry.stdout, new RegExp(`create\\s+network ${PROJECT}_frontend \\(overlay\\)`));
  assert.match(dry.stdout, new RegExp(`create\\s+${PROJECT}_postgres\\W+1 replica\\(s\\), on nodes labelled ${PG_LABEL.replace('.', '\\.')}=true`));

  const t0 = performance.now();
  const r = await ms(['deploy', ...WAIT]);
  console.log(`# swarm deploy: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  assert.equal(r.exitCode, 0, r.all);
  assert.match(r.stdout, /deployed .* to the swarm in .*active colour blue/);

  const api = await runningTasks('api-blue');
  const workers = await runningTasks('worker');
  assert.equal(api.length, 2);
  assert.equal(workers.length, 2);
  const used = new Set([...api, ...workers].map((t) => t.node));
  assert.ok(used.size >= 2, `app tasks on at least two nodes: ${[...used].join(', ')}`);
  assert.deepEqual((await runningTasks('postgres')).map((t) => t.node), ['msw-n2']);
  assert.deepEqual((await runningTasks('redis')).map((t) => t.node), ['msw-n2']);
  assert.deepEqual((await runningTasks('prometheus')).map((t) => t.node), ['msw-n1']);

  assert.deepEqual((await runningTasks('nginx')).map((t) => t.node), ['msw-n1'], 'nginx on the edge node only');
  const res = await fetch(`http://${rig.nodes.n1.ip}:${PORT}/health`);
  assert.equal(res.status, 200);
  // The deploy migrated the database on msw-n2 (through the manager): an API key can be stored.
  assert.match(r.all, /Database migrations/);
  const key = await ms(['keys', 'create', '--name', 'swarm-e2e']);
  assert.equal(key.exitCode, 0, key.all);
  assert.match(key.stdout.trim(), /\S{20,}/);
  const specs = JSON.stringify(await Promise.all((await stackServices(rig.manager)).map((s) => rig.manager.getService(s.ID).inspect())));
  for (const v of ['e2e-pg-pass', 'e2e-redis-pass', 'e2e-secret-key-0123456789abcdef']) assert.ok(!specs.includes(v), 'no secret value in any service spec');

  const versions = async () => (await stackServices(rig.manager)).map((s) => `${s.Spec!.Name}@${s.Version!.Index}`).sort();
  const before = await versions();
  const again = await ms(['deploy']);
  assert.equal(again.exitCode, 0, again.all);
  assert.match(again.stdout, /nothing to do: stack .* on the swarm already matches the config/);
  assert.deepEqual(await versions(), before, 'a no-op deploy updates no service');

  const st = await ms(['--json', 'status']);
  const doc = JSON.parse(st.stdout);
  assert.equal(doc.ok, true, st.all);
  assert.deepEqual(doc.unschedulable, []);
  assert.equal(Object.values(doc.tasksPerNode as Record<string, Record<string, number>>).reduce((n, per) => n + (per['api-blue'] ?? 0), 0), 2);
  const ps = await ms(['ps']);
  assert.match(ps.stdout, /api-blue\s+api-blue\.1\s+msw-n\d\s+running/);
});

test('swap → rollback → swap under load: 0 failed requests, each colour gated on every node', { skip, timeout: 1_200_000 }, async () => {
  const traffic = steadyTraffic(`http://${rig.nodes.n1.ip}:${PORT}/health`);
  const steps: Array<[string, string[], string, string]> = [
    ['swap', ['swap', '--image', V2, ...GATE], 'green', V2],
    ['rollback', ['rollback', ...GATE], 'blue', API_IMAGE],
    ['swap', ['swap', '--image', V2, ...GATE], 'green', V2],
  ];
  try {
    for (const [name, args, color, image] of steps) {
      const t0 = performance.now();
      const r = await ms(args);
      console.log(`# ${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      assert.equal(r.exitCode, 0, r.all);
      const tasks = await runningTasks(`api-${color}`);
      assert.equal(tasks.length, 2, `${color} runs 2 tasks`);
      assert.ok(tasks.every((t) => t.image === image), `${color} runs ${image}`);
      await waitFor(`the ${color === 'green' ? 'blue' : 'green'} colour drained`, async () => (await runningTasks(`api-${color === 'green' ? 'blue' : 'green'}`)).length === 0, 60_000);
      // Within nginx's resolver interval only the new colour answers.
      await new Promise((r) => setTimeout(r, 3000));
      const served = await Promise.all([1, 2, 3, 4].map(async () => ((await (await fetch(`http://${rig.nodes.n1.ip}:${PORT}/health`)).json()) as { color: string }).color));
      assert.deepEqual(served, [color, color, color, color]);
    }
  } finally {
    const t = await traffic.stop();
    console.log(`# swap/rollback/swap under load: ${t.ok} ok, ${t.failures} failed, ${t.retried} retried connections`);
    assert.equal(t.failures, 0);
    assert.ok(t.ok > 50, `traffic really flowed (${t.ok})`);
  }
  const audit = await ms(['--json', 'audit']);
  const entries = JSON.parse(audit.stdout) as Array<{ command: string; result: string }>;
  assert.deepEqual(entries.filter((e) => e.result === 'ok').map((e) => e.command).slice(-3), ['swap', 'rollback', 'swap']);
});

test('a worker node\'s engine stops: its tasks are rescheduled on the others, the API keeps serving', { skip, timeout: 600_000 }, async () => {
  const scaled = await ms(['scale', 'api=3', ...WAIT]);
  assert.equal(scaled.exitCode, 0, scaled.all);
  assert.equal((await runningTasks('api-green')).length, 3);
  await rig.stopNode('n3');
  const traffic = steadyTraffic(`http://${rig.nodes.n1.ip}:${PORT}/health`);
  try {
    await waitFor('api-green back to 3 tasks, none on msw-n3', async () => {
      const t = await runningTasks('api-green');
      return t.length === 3 && t.every((x) => x.node !== 'msw-n3');
    });
    await waitFor('the workers rescheduled', async () => (await runningTasks('worker')).filter((x) => x.node !== 'msw-n3').length === 2);
    const st = await ms(['--json', 'status']);
    const doc = JSON.parse(st.stdout) as { ok: boolean; unavailableNodes: Array<{ hostname: string }> };
    assert.equal(st.exitCode, 1, 'status fails while a node is down');
    assert.deepEqual(doc.unavailableNodes.map((n) => n.hostname), ['msw-n3']);
  } finally {
    const t = await traffic.stop();
    console.log(`# node msw-n3 down: ${t.ok} ok, ${t.failures} failed while its tasks moved`);
    assert.ok(t.ok > 20, 'the API kept serving');
    await rig.startNode('n3');
  }
  const res = await fetch(`http://${rig.nodes.n1.ip}:${PORT}/health`);
  assert.equal(res.status, 200);
});

test('down leaves nothing of the stack on any node', { skip, timeout: 600_000 }, async () => {
  await waitFor('msw-n3 ready again', async () => ((await rig.manager.listNodes()) as Array<{ Description: { Hostname: string }; Status: { State: string } }>).find((n) => n.Description.Hostname === 'msw-n3')?.Status.State === 'ready', 120_000);
  const r = await ms(['down']);
  assert.equal(r.exitCode, 0, r.all);
  assert.match(r.stdout, /removed \d+ service\(s\), 2 network\(s\)/);
  assert.equal((await stackServices(rig.manager)).length, 0);
  assert.deepEqual(await rig.manager.listConfigs({ filters: { label: [`com.docker.stack.namespace=${PROJECT}`] } }), []);
  assert.deepEqual(await rig.manager.listSecrets({ filters: { label: [`com.docker.stack.namespace=${PROJECT}`] } }), []);
  for (const n of ['n1', 'n2', 'n3'] as const) {
    const d = rig.nodes[n].docker;
    await waitFor(`no containers of the stack on ${n}`, async () => (await d.listContainers({ all: true, filters: { label: [`com.docker.stack.namespace=${PROJECT}`] } })).length === 0, 120_000);
    const nets = (await d.listNetworks()).filter((x) => x.Name.startsWith(`${PROJECT}_`));
    assert.deepEqual(nets.map((x) => x.Name), [], `no network of the stack on ${n}`);
  }
});
