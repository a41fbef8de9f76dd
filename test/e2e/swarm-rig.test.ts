/**
 * The rig itself: three engines form one swarm (one manager, two workers), tasks are scheduled on
 * every node, and containers on different nodes reach each other over the VXLAN overlay. What
 * every other swarm test stands on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useRigExclusively, swarmRig, swarmRigSkip, type RigNode } from './swarm-rig.ts';

const IMAGE = 'modelship-standin/debian:bookworm';
const skip = await swarmRigSkip();
useRigExclusively(skip);

interface Task {
  NodeID: string;
  Status: { State: string };
  NetworksAttachments: Array<{ Network: { Spec: { Name: string } }; Addresses: string[] }>;
}

test('three engines in network namespaces form a swarm whose overlay spans every node', { skip, timeout: 600_000 }, async () => {
  const rig = await swarmRig([IMAGE]);
  console.log(`# swarm rig up in ${rig.upSeconds.toFixed(1)} s`);
  // Idempotent: a second `up` reuses the running rig (same cluster, same nodes).
  const clusterBefore = (await rig.manager.swarmInspect()).ID;
  const again = await swarmRig([IMAGE]);
  assert.equal((await again.manager.swarmInspect()).ID, clusterBefore);
  console.log(`# swarm rig reused in ${again.upSeconds.toFixed(1)} s`);

  const nodes = await rig.manager.listNodes();
  assert.equal(nodes.length, 3);
  assert.deepEqual(nodes.map((n) => n.Description.Hostname).sort(), ['msw-n1', 'msw-n2', 'msw-n3']);
  assert.ok(nodes.every((n) => n.Status.State === 'ready'), JSON.stringify(nodes.map((n) => n.Status)));
  assert.deepEqual(nodes.map((n) => n.Spec.Role).sort(), ['manager', 'worker', 'worker']);
  // Each engine is its own: the workers answer on their own sockets as workers.
  for (const n of ['n2', 'n3'] as RigNode[]) {
    const info = await rig.nodes[n].docker.info();
    assert.equal(info.Swarm.LocalNodeState, 'active');
    assert.equal(info.Swarm.ControlAvailable, false);
  }

  const name = `msw-probe-${process.pid}`;
  const net = await rig.manager.createNetwork({ Name: name, Driver: 'overlay', Attachable: true });
  const svc = await rig.manager.createService({
    Name: name,
    TaskTemplate: { ContainerSpec: { Image: IMAGE, Command: ['sh', '-c', 'trap "exit 0" TERM; sleep 600 & wait'] }, Networks: [{ Target: name }] },
    Mode: { Global: {} },
  });
  try {
    let tasks: Task[] = [];
    for (let i = 0; i < 120; i++) {
      tasks = (await rig.manager.listTasks({ filters: { service: [name], 'desired-state': ['running'] } })) as unknown as Task[];
      if (tasks.length === 3 && tasks.every((t) => t.Status.State === 'running')) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(tasks.filter((t) => t.Status.State === 'running').length, 3, JSON.stringify(tasks.map((t) => t.Status)));
    assert.equal(new Set(tasks.map((t) => t.NodeID)).size, 3, 'one task on every node');
    const ipOf = (t: Task): string => String(t.NetworksAttachments.find((a) => a.Network.Spec.Name === name)!.Addresses[0]).split('/')[0]!;
    const byNode = new Map(nodes.map((n) => [n.ID, n.Description.Hostname]));
    const remote = tasks.filter((t) => byNode.get(t.NodeID) !== 'msw-n3').map(ipOf);
    // From the container on n3, a TCP connect to the tasks on n1 and n2: "Connection refused" is
    // the remote kernel's RST, i.e. the packet crossed the VXLAN overlay (a timeout would not be).
    const c3 = (await rig.nodes.n3.docker.listContainers({ filters: { label: [`com.docker.swarm.service.name=${name}`] } }))[0]!;
    const script = remote.map((ip) => `timeout 5 bash -c 'exec 3<>/dev/tcp/${ip}/9' 2>&1 | tail -1`).join('; ');
    const exec = await rig.nodes.n3.docker.getContainer(c3.Id).exec({ Cmd: ['bash', '-c', script], AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({});
    const out = await new Promise<string>((resolve) => {
      let s = '';
      stream.on('data', (d: Buffer) => (s += d.toString('latin1')));
      stream.on('end', () => resolve(s));
    });
    for (const ip of remote) assert.match(out, new RegExp(`${ip.replace(/\./g, '\\.')}/9: Connection refused`), out);
  } finally {
    await svc.remove();
    for (let i = 0; i < 60; i++) {
      if ((await rig.manager.listContainers({ all: true })).length === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await net.remove().catch(() => undefined);
  }
});
