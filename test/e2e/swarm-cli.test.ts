/**
 * `modelship swarm init|join-token|nodes` against the real three-node rig. The init case takes
 * node n3 out of the rig's swarm for a moment (it becomes the manager of its own one-node swarm),
 * joins it back with the command `join-token` printed, and leaves the rig as it found it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { BIN } from './helpers.ts';
import { useRigExclusively, swarmRig, swarmRigSkip } from './swarm-rig.ts';

const skip = await swarmRigSkip();
useRigExclusively(skip);

interface NodeJson {
  hostname: string;
  role: string;
  manager: string;
  state: string;
  address: string;
  self: boolean;
}

const ms = (host: string, args: string[]) =>
  execa('node', [BIN, ...args], { reject: false, all: true, env: { DOCKER_HOST: host, NO_COLOR: '1' }, timeout: 120_000 });
const dk = (host: string, args: string[]) => execa('docker', ['-H', host, ...args], { reject: false, all: true, timeout: 120_000 });

test('swarm nodes / join-token on the manager; clear errors on a worker and on a node already in a swarm', { skip, timeout: 300_000 }, async () => {
  const rig = await swarmRig();
  const nodes = await ms(rig.managerHost, ['--json', 'swarm', 'nodes']);
  assert.equal(nodes.exitCode, 0, nodes.all);
  const doc = JSON.parse(nodes.stdout);
  assert.deepEqual(doc.nodes.map((n: NodeJson) => [n.hostname, n.role, n.state, n.address]), [
    ['msw-n1', 'manager', 'ready', rig.nodes.n1.ip],
    ['msw-n2', 'worker', 'ready', rig.nodes.n2.ip],
    ['msw-n3', 'worker', 'ready', rig.nodes.n3.ip],
  ]);
  assert.equal(doc.nodes[0].manager, 'leader');
  assert.equal(doc.nodes[0].self, true);
  assert.deepEqual(doc.unavailable, []);

  const text = await ms(rig.managerHost, ['swarm', 'nodes']);
  assert.match(text.stdout, /^HOSTNAME\s+ID\s+ROLE/);
  assert.match(text.stdout, /msw-n1 \*\s+\w+\s+manager \(leader\)\s+ready\s+active\s+10\.250\.0\.11/);

  const onWorker = await ms(rig.nodes.n2.host, ['swarm', 'nodes']);
  assert.equal(onWorker.exitCode, 1);
  assert.match(onWorker.stderr, /swarm nodes: the engine at DOCKER_HOST=unix:\/\/\S+n2\S+ is a swarm worker, not a manager/);
  assert.match(onWorker.stderr, /hint: point DOCKER_HOST at a manager/);
  assert.doesNotMatch(onWorker.all, /unexpected failure|at .*\.ts:\d+/);

  const again = await ms(rig.managerHost, ['swarm', 'init']);
  assert.equal(again.exitCode, 1);
  assert.match(again.stderr, /swarm init: .* is already part of a swarm/);

  const tokenJson = await ms(rig.managerHost, ['--json', 'swarm', 'join-token', 'worker']);
  assert.equal(tokenJson.exitCode, 0, tokenJson.all);
  const tok = JSON.parse(tokenJson.stdout);
  assert.equal(tok.managerAddr, `${rig.nodes.n1.ip}:2377`);
  assert.match(tok.token, /^SWMTKN-1-/);
  assert.equal(tok.command, `docker swarm join --token ${tok.token} ${rig.nodes.n1.ip}:2377`);
  const quiet = await ms(rig.managerHost, ['swarm', 'join-token', '--quiet']);
  assert.equal(quiet.stdout.trim(), tok.token);
  const badRole = await ms(rig.managerHost, ['swarm', 'join-token', 'admin']);
  assert.equal(badRole.exitCode, 2);
  assert.match(badRole.stderr, /the role is worker or manager/);
});

test('swarm init makes a lone engine a manager; the printed join command brings a node in', { skip, timeout: 300_000 }, async () => {
  const rig = await swarmRig();
  const n3 = rig.nodes.n3.host;
  const oldId = (await rig.nodes.n3.docker.info()).Swarm.NodeID;
  assert.equal((await dk(n3, ['swarm', 'leave', '--force'])).exitCode, 0);
  try {
    const notInSwarm = await ms(n3, ['swarm', 'join-token']);
    assert.equal(notInSwarm.exitCode, 1);
    assert.match(notInSwarm.stderr, /is not part of a swarm/);
    assert.match(notInSwarm.stderr, /modelship swarm init/);

    const init = await ms(n3, ['--json', 'swarm', 'init', '--advertise-addr', rig.nodes.n3.ip, '--default-addr-pool', '10.253.0.0/16']);
    assert.equal(init.exitCode, 0, init.all);
    const r = JSON.parse(init.stdout);
    assert.equal(r.managerAddr, `${rig.nodes.n3.ip}:2377`);
    assert.match(r.join.worker, new RegExp(`^docker swarm join --token SWMTKN-1-\\S+ ${rig.nodes.n3.ip.replace(/\./g, '\\.')}:2377$`));
    const inspect = await rig.nodes.n3.docker.swarmInspect();
    assert.deepEqual(inspect.DefaultAddrPool, ['10.253.0.0/16']);
    const alone = JSON.parse((await ms(n3, ['--json', 'swarm', 'nodes'])).stdout);
    assert.deepEqual(alone.nodes.map((n: NodeJson) => [n.hostname, n.manager]), [['msw-n3', 'leader']]);
    const badPool = await ms(n3, ['swarm', 'init', '--default-addr-pool', '10.253.0.0']);
    assert.equal(badPool.exitCode, 2);
    assert.match(badPool.stderr, /expected an IPv4 CIDR/);
  } finally {
    // Back into the rig's swarm, with the very command join-token prints on its manager.
    await dk(n3, ['swarm', 'leave', '--force']);
    const cmd = JSON.parse((await ms(rig.managerHost, ['--json', 'swarm', 'join-token'])).stdout).command as string;
    const join = await dk(n3, [...cmd.split(' ').slice(1), '--advertise-addr', rig.nodes.n3.ip]);
    assert.equal(join.exitCode, 0, join.all);
    await rig.manager.getNode(oldId).remove({ force: true });
  }
  const back = JSON.parse((await ms(rig.managerHost, ['--json', 'swarm', 'nodes'])).stdout);
  assert.deepEqual(back.nodes.map((n: NodeJson) => [n.hostname, n.state]), [['msw-n1', 'ready'], ['msw-n2', 'ready'], ['msw-n3', 'ready']]);
});

test('a stopped worker engine shows as down in `swarm nodes`, named as unavailable, and comes back', { skip, timeout: 300_000 }, async () => {
  const rig = await swarmRig();
  await rig.stopNode('n2');
  try {
    let doc: { nodes: NodeJson[]; unavailable: Array<{ hostname: string; reason: string }> } | undefined;
    for (let i = 0; i < 120; i++) {
      doc = JSON.parse((await ms(rig.managerHost, ['--json', 'swarm', 'nodes'])).stdout);
      if (doc!.nodes.find((n) => n.hostname === 'msw-n2')?.state === 'down') break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.deepEqual(doc!.unavailable, [{ hostname: 'msw-n2', reason: 'state down' }]);
    const text = await ms(rig.managerHost, ['swarm', 'nodes']);
    assert.equal(text.exitCode, 0);
    assert.match(text.stderr, /msw-n2 takes no tasks \(state down\)/);
  } finally {
    await rig.startNode('n2');
  }
  let state = '';
  for (let i = 0; i < 120 && state !== 'ready'; i++) {
    const doc = JSON.parse((await ms(rig.managerHost, ['--json', 'swarm', 'nodes'])).stdout) as { nodes: NodeJson[] };
    state = doc.nodes.find((n) => n.hostname === 'msw-n2')!.state;
    if (state !== 'ready') await new Promise((r) => setTimeout(r, 1000));
  }
  assert.equal(state, 'ready');
});
