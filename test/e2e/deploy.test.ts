/**
 * `modelship deploy` on a real Docker Engine: cold deploy, no-op redeploy, a one-setting change,
 * scaling, self-healing, Compose-aware labels, and `down --volumes`. One stack, steps in order.
 */
import { after, before, test } from 'node:test';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { cleanup, docker, e2eSkip, ms, projectContainers, stackDir, STANDIN, steadyTraffic } from './helpers.ts';
import { lockName } from '../../src/docker/host-state.ts';
import { COMPOSE_LABEL, LOCK_LABEL, MS_LABEL } from '../../src/stack/names.ts';

const skip = await e2eSkip();
const s = await stackDir('deploy');

before(async () => {
  if (!skip) await cleanup(s);
});
after(async () => {
  if (!skip) await cleanup(s);
});

function ids(list: Awaited<ReturnType<typeof projectContainers>>): Map<string, string> {
  return new Map(list.filter((c) => !c.Labels['org.modelship.internal']).map((c) => [c.Names[0]!.slice(1), c.Id]));
}

test('plan on an empty engine lists every create', { skip }, async () => {
  const r = await ms(s, ['plan', '--json']);
  assert.equal(r.exitCode, 0, r.all);
  const plan = JSON.parse(r.stdout) as { containers: Array<{ action: string; service: string }>; changes: number };
  assert.ok(plan.containers.every((c) => c.action === 'create'));
  assert.deepEqual(new Set(plan.containers.map((c) => c.service)), new Set(['postgres', 'redis', 'api-blue', 'nginx', 'worker', 'prometheus', 'db-backup']));
});

test('cold deploy: every service healthy, API answers through nginx', { skip }, async () => {
  const r = await ms(s, ['deploy', '--timeout', '180s']);
  assert.equal(r.exitCode, 0, r.all);
  assert.match(r.stdout, /deployed .* 7 created/);
  const ps = JSON.parse((await ms(s, ['ps', '--json'])).stdout) as { activeColor: string; containers: Array<{ service: string; state: string; health: string }> };
  assert.equal(ps.activeColor, 'blue');
  for (const c of ps.containers) {
    assert.equal(c.state, 'running', `${c.service} ${c.state}`);
    assert.notEqual(c.health, 'unhealthy', c.service);
  }
  const res = await fetch(`http://127.0.0.1:${s.httpPort}/health/ready`);
  assert.equal(res.status, 200);
  const text = await fetch(`http://127.0.0.1:${s.httpPort}/v1/classify/text`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'I love this' }) });
  // Auth is on in the stack (keys live in PostgreSQL): no key, 401 through nginx proves the route.
  assert.equal(text.status, 401);
});

test('containers carry the Compose labels', { skip }, async () => {
  const list = await projectContainers(s.project);
  const api = list.find((c) => c.Labels['com.docker.compose.service'] === 'api-blue')!;
  assert.equal(api.Labels['com.docker.compose.project'], s.project);
  assert.ok(api.Labels['com.docker.compose.config-hash']);
  const nets = await docker.listNetworks({ filters: { label: [`com.docker.compose.project=${s.project}`] } });
  assert.equal(nets.length, 2);
});

test('a second deploy with no change does nothing', { skip }, async () => {
  const before = ids(await projectContainers(s.project));
  const r = await ms(s, ['deploy']);
  assert.equal(r.exitCode, 0, r.all);
  assert.match(r.stdout, /nothing to do/);
  assert.deepEqual(ids(await projectContainers(s.project)), before);
});

test('changing one setting recreates only that service, and says why', { skip }, async () => {
  const before = ids(await projectContainers(s.project));
  s.write('redis: {maxmemory: 128mb}');
  const plan = JSON.parse((await ms(s, ['plan', '--json'])).stdout) as { containers: Array<{ action: string; service: string; reasons?: string[] }> };
  const changed = plan.containers.filter((c) => c.action !== 'unchanged');
  assert.deepEqual(changed.map((c) => [c.service, c.action, c.reasons]), [['redis', 'recreate', ['command']]]);
  const r = await ms(s, ['deploy']);
  assert.equal(r.exitCode, 0, r.all);
  const after = ids(await projectContainers(s.project));
  for (const [name, id] of before) {
    if (name.endsWith('-redis')) assert.notEqual(after.get(name), id, 'redis recreated');
    else assert.equal(after.get(name), id, `${name} untouched`);
  }
});

test('an API setting change is released blue/green by deploy: no request fails, the colour flips', { skip, timeout: 600_000 }, async () => {
  s.write('redis: {maxmemory: 128mb}\ncors: {origins: [https://app.example.com]}');
  const traffic = steadyTraffic(`http://127.0.0.1:${s.httpPort}/health`);
  const r = await ms(s, ['deploy', '--timeout', '240s']);
  const { ok, failures } = await traffic.stop();
  assert.equal(r.exitCode, 0, r.all);
  assert.match(r.stderr, /API released blue\/green \(config changed\): blue → green/);
  assert.equal(failures, 0, `${failures} failed of ${ok + failures}`);
  assert.ok(ok > 20);
  const served = await fetch(`http://127.0.0.1:${s.httpPort}/health`);
  assert.equal(served.headers.get('x-served-by'), 'api-green');
  // Reverting the setting releases again, back to blue (the steps below expect the first colour).
  s.write('redis: {maxmemory: 128mb}');
  const back = await ms(s, ['deploy', '--timeout', '240s']);
  assert.equal(back.exitCode, 0, back.all);
  assert.match(back.stderr, /green → blue/);
});

test('scale workers 1 → 3 → 1 without touching others', { skip }, async () => {
  const before = ids(await projectContainers(s.project));
  let r = await ms(s, ['scale', 'worker=3']);
  assert.equal(r.exitCode, 0, r.all);
  let workers = (await projectContainers(s.project, false)).filter((c) => c.Labels['com.docker.compose.service'] === 'worker');
  assert.equal(workers.length, 3);
  r = await ms(s, ['scale', 'worker=1']);
  assert.equal(r.exitCode, 0, r.all);
  workers = (await projectContainers(s.project)).filter((c) => c.Labels['com.docker.compose.service'] === 'worker');
  assert.equal(workers.length, 1);
  const after = ids(await projectContainers(s.project));
  for (const [name, id] of before) assert.equal(after.get(name), id, `${name} untouched`);
  assert.equal((await ms(s, ['scale', 'postgres=2'])).exitCode, 2, 'fixed services cannot scale');
});

test('scale api=2 then back to 1: nginx balances over both, no request fails on the way down', { skip, timeout: 600_000 }, async () => {
  let r = await ms(s, ['scale', 'api=2']);
  assert.equal(r.exitCode, 0, r.all);
  const apis = async (): Promise<number> => (await projectContainers(s.project, false)).filter((c) => c.Labels['com.docker.compose.service'] === 'api-blue').length;
  assert.equal(await apis(), 2);
  // nginx routes to the service name; both gated replicas carry it on the front network.
  const upstream = readFileSync(path.join(s.dir, 'compose/nginx/upstream.conf'), 'utf8');
  assert.match(upstream, /default api-blue:8000;/);
  const onFront = (await projectContainers(s.project, false)).filter((c) => c.Labels['com.docker.compose.service'] === 'api-blue' && c.NetworkSettings.Networks[`${s.project}_frontend`]);
  assert.equal(onFront.length, 2);
  // Light, steady traffic while the second container goes away (/health: a draining container
  // answers it, while its /health/ready turns 503 by design).
  const traffic = steadyTraffic(`http://127.0.0.1:${s.httpPort}/health`);
  r = await ms(s, ['scale', 'api=1']);
  const { ok, failures } = await traffic.stop();
  assert.equal(r.exitCode, 0, r.all);
  assert.equal(await apis(), 1);
  assert.ok(ok > 10, `requests served: ${ok}`);
  assert.equal(failures, 0, `${failures} failed of ${ok + failures}`);
  assert.equal((await ms(s, ['scale', 'api-green=2'])).exitCode, 2, 'the idle colour is not scaled');
});

test('a killed container is healed by deploy', { skip }, async () => {
  const pg = (await projectContainers(s.project)).find((c) => c.Labels['com.docker.compose.service'] === 'prometheus')!;
  await docker.getContainer(pg.Id).kill();
  const plan = JSON.parse((await ms(s, ['plan', '--json'])).stdout) as { containers: Array<{ action: string; service: string }> };
  assert.deepEqual(plan.containers.filter((c) => c.action !== 'unchanged').map((c) => [c.service, c.action]), [['prometheus', 'start']]);
  const r = await ms(s, ['deploy']);
  assert.equal(r.exitCode, 0, r.all);
  assert.equal((await docker.getContainer(pg.Id).inspect()).State.Running, true);
});

test('the audit log on the host records each operation', { skip }, async () => {
  const r = await ms(s, ['audit', '--json']);
  assert.equal(r.exitCode, 0, r.all);
  const entries = JSON.parse(r.stdout) as Array<{ command: string; result: string; user: string }>;
  const cmds = entries.map((e) => `${e.command}:${e.result}`);
  assert.ok(cmds.includes('deploy:ok'));
  assert.ok(cmds.some((c) => c.startsWith('scale worker=3:ok')));
  assert.ok(entries.every((e) => e.user));
});

test('logs shows a service\'s lines, --grep filters', { skip }, async () => {
  const r = await ms(s, ['logs', 'postgres', '--tail', '200', '--grep', 'ready to accept']);
  assert.equal(r.exitCode, 0, r.all);
  assert.match(r.stdout, /ready to accept connections/);
  assert.doesNotMatch(r.stdout, /checkpoint/);
});

test('restart goes through the stack lock: refused while another host holds it (audited), --force breaks it', { skip }, async () => {
  await docker.createContainer({
    name: lockName(s.project),
    Image: STANDIN.redis,
    Cmd: ['true'],
    Labels: { [COMPOSE_LABEL.project]: s.project, [MS_LABEL.project]: s.project, [MS_LABEL.internal]: 'lock', [LOCK_LABEL.holder]: 'bob@elsewhere pid 1', [LOCK_LABEL.operation]: 'deploy', [LOCK_LABEL.since]: new Date().toISOString(), [LOCK_LABEL.host]: 'elsewhere', [LOCK_LABEL.pid]: '1' },
    HostConfig: { NetworkMode: 'none' },
  });
  const refused = await ms(s, ['restart', 'prometheus']);
  assert.equal(refused.exitCode, 1, refused.all);
  assert.match(refused.stderr, /stack ".+" is locked by bob@elsewhere pid 1 running deploy/);
  const forced = await ms(s, ['restart', 'prometheus', '--force']);
  assert.equal(forced.exitCode, 0, forced.all);
  const audit = JSON.parse((await ms(s, ['audit', '--json'])).stdout) as Array<{ command: string; result: string }>;
  assert.deepEqual(audit.filter((a) => a.command === 'restart prometheus').map((a) => a.result).slice(-3), ['refused', 'started', 'ok']);
});

test('emergency scale-down stops the workers, deploy keeps them stopped, restore-scale brings them back', { skip }, async () => {
  const running = async (): Promise<number> => (await projectContainers(s.project, false)).filter((c) => c.Labels['com.docker.compose.service'] === 'worker').length;
  assert.equal(await running(), 1);
  let r = await ms(s, ['emergency', 'scale-down']);
  assert.equal(r.exitCode, 0, r.all);
  assert.match(r.stdout, /workers: 1 → 0/);
  assert.equal(await running(), 0);
  r = await ms(s, ['deploy']);
  assert.equal(r.exitCode, 0, r.all);
  assert.equal(await running(), 0, 'deploy honours the recorded scale-down');
  r = await ms(s, ['emergency', 'restore-scale']);
  assert.equal(r.exitCode, 0, r.all);
  assert.equal(await running(), 1);
  assert.equal((await ms(s, ['emergency', 'restore-scale'])).exitCode, 1, 'nothing left to restore');
});

test('down --volumes leaves nothing of the stack behind', { skip }, async () => {
  const refused = await ms(s, ['down', '--volumes']);
  assert.equal(refused.exitCode, 2, 'asks for --yes without a terminal');
  const r = await ms(s, ['down', '--volumes', '--yes']);
  assert.equal(r.exitCode, 0, r.all);
  assert.equal((await projectContainers(s.project)).length, 0);
  assert.equal((await docker.listNetworks({ filters: { label: [`com.docker.compose.project=${s.project}`] } })).length, 0);
  assert.equal(((await docker.listVolumes({ filters: { label: [`com.docker.compose.project=${s.project}`] } })).Volumes ?? []).length, 0);
});
