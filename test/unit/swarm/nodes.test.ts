import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeRows, nodeTable, unavailableNodes, type EngineNode } from '../../../src/swarm/nodes.ts';

const node = (id: string, hostname: string, extra: Partial<EngineNode> = {}): EngineNode => ({
  ID: id,
  Spec: { Role: 'worker', Availability: 'active', Labels: {} },
  Description: { Hostname: hostname, Engine: { EngineVersion: '27.0.1' } },
  Status: { State: 'ready', Addr: `10.0.0.${id.length}` },
  ...extra,
});

const nodes: EngineNode[] = [
  node('w2', 'web-b', { Spec: { Role: 'worker', Availability: 'drain', Labels: { 'modelship.edge': 'true' } } }),
  node('m1', 'ctl', { Spec: { Role: 'manager', Availability: 'active', Labels: {} }, ManagerStatus: { Leader: true, Reachability: 'reachable' } }),
  node('w1', 'db-a', { Spec: { Role: 'worker', Availability: 'active', Labels: { 'modelship.db': 'true', gpu: '' } }, Status: { State: 'down', Addr: '10.0.0.9' } }),
];
const tasks = [
  { NodeID: 'm1', DesiredState: 'running', Status: { State: 'running' } },
  { NodeID: 'm1', DesiredState: 'running', Status: { State: 'running' } },
  { NodeID: 'w1', DesiredState: 'running', Status: { State: 'pending' } },
  { NodeID: 'w2', DesiredState: 'shutdown', Status: { State: 'running' } },
];

test('rows: leader first, then by hostname; only running tasks counted', () => {
  const rows = nodeRows(nodes, tasks, 'm1');
  assert.deepEqual(rows.map((r) => [r.hostname, r.role, r.manager, r.runningTasks, r.self]), [
    ['ctl', 'manager', 'leader', 2, true],
    ['db-a', 'worker', '', 0, false],
    ['web-b', 'worker', '', 0, false],
  ]);
  assert.deepEqual(rows[1]!.labels, { 'modelship.db': 'true', gpu: '' });
});

test('table: aligned columns, labels as k=v (bare key for an empty value), the current node starred', () => {
  const lines = nodeTable(nodeRows(nodes, tasks, 'm1'));
  assert.equal(lines.length, 4);
  assert.match(lines[0]!, /^HOSTNAME\s+ID\s+ROLE\s+STATE\s+AVAILABILITY\s+ADDRESS\s+TASKS\s+LABELS$/);
  assert.match(lines[1]!, /^ctl \*\s+m1\s+manager \(leader\)\s+ready\s+active\s+10\.0\.0\.2\s+2\s+-$/);
  assert.match(lines[2]!, /gpu,modelship\.db=true$/);
  const col = lines[0]!.indexOf('STATE');
  for (const l of lines) assert.equal(l.slice(col - 2, col).trim(), '', l);
});

test('unavailable: a down node and a drained node, each with why', () => {
  assert.deepEqual(unavailableNodes(nodeRows(nodes, tasks)), [
    { hostname: 'db-a', reason: 'state down' },
    { hostname: 'web-b', reason: 'availability drain' },
  ]);
});
