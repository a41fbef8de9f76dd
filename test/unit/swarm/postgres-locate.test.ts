import { test } from 'node:test';
import assert from 'node:assert/strict';
import { locatePostgresTask, pickHelperNetwork, pickPostgresService, staleHelpers, type EngineService, type EngineServiceTask } from '../../../src/swarm/postgres-locate.ts';
import type { EngineNode } from '../../../src/swarm/nodes.ts';
import { UserError } from '../../../src/util/errors.ts';

const LABELS = { 'org.modelship.project': 'shop', 'org.modelship.service': 'postgres' };
const svc = (extra: Partial<NonNullable<EngineService['Spec']>> = {}, id = 'svc1'): EngineService => ({
  ID: id,
  Spec: {
    Name: 'shop_postgres',
    Labels: { ...LABELS },
    Mode: { Replicated: { Replicas: 1 } },
    TaskTemplate: { ContainerSpec: { Image: `modelship-standin/postgres:16@sha256:${'a'.repeat(64)}` }, Networks: [{ Target: 'net1' }], Placement: { Constraints: ['node.labels.modelship.postgres==true'] } },
    ...extra,
  },
});
const node = (id: string, hostname: string, state = 'ready'): EngineNode => ({ ID: id, Description: { Hostname: hostname }, Status: { State: state } });
const NODES = [node('n1', 'mgr'), node('n2', 'db-host')];
const task = (id: string, extra: Partial<EngineServiceTask>): EngineServiceTask => ({ ID: id, ServiceID: 'svc1', Slot: 1, DesiredState: 'running', ...extra });

function rejects(fn: () => unknown, message: RegExp, hint?: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof UserError, String(err));
    assert.match(err.message, message);
    if (hint) assert.match(err.hint ?? '', hint);
    return;
  }
  assert.fail('expected a UserError');
}

test('the stack postgres service is found by its labels; none or two are clear errors', () => {
  const other = svc({ Name: 'other_postgres', Labels: { ...LABELS, 'org.modelship.project': 'other' } }, 'svc2');
  assert.equal(pickPostgresService([other, svc()], LABELS, 'shop').ID, 'svc1');
  rejects(() => pickPostgresService([other], LABELS, 'shop'), /no PostgreSQL service for stack "shop" on this swarm/, /modelship deploy --target swarm/);
  rejects(() => pickPostgresService([svc(), svc({ Name: 'shop_pg2' }, 'svc3')], LABELS, 'shop'), /2 PostgreSQL services .*shop_postgres, shop_pg2/);
});

test('the running task and its node; the image without its digest', () => {
  const tasks = [
    task('old', { NodeID: 'n1', DesiredState: 'shutdown', Status: { State: 'shutdown', Timestamp: '2026-01-01T00:00:00Z' } }),
    task('t2', { NodeID: 'n2', Status: { State: 'running', Timestamp: '2026-01-02T00:00:00Z' }, NetworksAttachments: [{ Network: { ID: 'net1' }, Addresses: ['10.252.4.3/24'] }] }),
  ];
  const loc = locatePostgresTask(svc(), tasks, NODES);
  assert.deepEqual(loc, {
    serviceId: 'svc1',
    serviceName: 'shop_postgres',
    image: 'modelship-standin/postgres:16',
    task: { id: 't2', slot: 1, nodeId: 'n2', hostname: 'db-host', networks: [{ id: 'net1', address: '10.252.4.3' }] },
  });
});

test('a task on a node that went down: name the node and say to bring it back', () => {
  const down = [node('n1', 'mgr'), node('n2', 'db-host', 'down')];
  rejects(() => locatePostgresTask(svc(), [task('t', { NodeID: 'n2', Status: { State: 'running' } })], down), /runs on node db-host, which is down/, /start the Docker Engine on db-host.*node\.labels\.modelship\.postgres==true/);
  // What a manager reports once the node is down (seen on the rig): the old task to shut down, still
  // "running", and a replacement (desired "ready") that no other node may take.
  const after = [
    task('old', { NodeID: 'n2', DesiredState: 'shutdown', Status: { State: 'running', Timestamp: '2026-01-02T00:00:00Z' } }),
    task('new', { DesiredState: 'ready', Status: { State: 'pending', Err: 'no suitable node (scheduling constraints not satisfied on 2 nodes)', Timestamp: '2026-01-02T00:00:30Z' } }),
  ];
  rejects(() => locatePostgresTask(svc(), after, down), /ran on node db-host, which is down; no task runs now \(its replacement: no suitable node/, /start the Docker Engine on db-host again/);
});

test('no running task: scaled to 0, unschedulable, starting, failed', () => {
  rejects(() => locatePostgresTask(svc({ Mode: { Replicated: { Replicas: 0 } } }), [], NODES), /scaled to 0 replicas/, /docker service scale shop_postgres=1/);
  rejects(
    () => locatePostgresTask(svc(), [task('p', { DesiredState: 'ready', Status: { State: 'pending', Err: 'no suitable node (scheduling constraints not satisfied on 2 nodes)' } })], NODES),
    /cannot be scheduled: no suitable node/,
    /label a node .*docker node update --label-add/,
  );
  rejects(() => locatePostgresTask(svc(), [task('s', { NodeID: 'n2', Status: { State: 'starting' } })], NODES), /not running yet \(starting on node db-host\)/);
  rejects(() => locatePostgresTask(svc(), [task('f', { NodeID: 'n2', DesiredState: 'shutdown', Status: { State: 'failed', Err: 'task: non-zero exit (1)' } })], NODES), /the last one, on db-host, is failed: task: non-zero exit \(1\)/);
  rejects(() => locatePostgresTask(svc(), [], NODES), /no PostgreSQL task of shop_postgres is running/);
});

test('the helper joins an attachable overlay the service is on, or the error says why it cannot', () => {
  const nets = [
    { Id: 'net0', Name: 'ingress', Driver: 'overlay', Attachable: false },
    { Id: 'net1', Name: 'shop_backend', Driver: 'overlay', Attachable: true },
  ];
  assert.equal(pickHelperNetwork(svc(), nets).Name, 'shop_backend');
  rejects(() => pickHelperNetwork(svc(), [{ ...nets[1]!, Attachable: false }]), /only on networks a container cannot join \(shop_backend — not attachable\)/, /--attachable/);
  rejects(() => pickHelperNetwork(svc(), []), /on no overlay network/);
});

test('stale helpers: only this host\'s, only dead pids, never this process', () => {
  const L = { hostLabel: 'h', pidLabel: 'p', host: 'me', alive: (pid: number) => pid === 42 };
  const c = (Id: string, h: string, p: string) => ({ Id, Labels: { h, p } });
  assert.deepEqual(staleHelpers([c('dead', 'me', '7'), c('live', 'me', '42'), c('other', 'them', '7'), c('self', 'me', String(process.pid)), c('bad', 'me', 'x')], L), ['dead']);
});
