import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkScheduler, schedulerReason } from '../../../../src/ops/doctor/scheduler.ts';

const config = { backups: { dir: './backups' } };

test('doctor names why the backup scheduler is unhealthy, from its own health output', () => {
  const body = JSON.stringify({ ok: false, problems: ['cannot write to the backup directory: /var/backups/modelship/.p.tmp: permission denied (EACCES)'], jobs: {} });
  assert.equal(schedulerReason(body), 'cannot write to the backup directory: /var/backups/modelship/.p.tmp: permission denied (EACCES)');
  assert.equal(schedulerReason('TypeError: fetch failed'), 'TypeError: fetch failed');
  const bad = checkScheduler({ config, scheduler: { present: true, state: 'running', health: 'unhealthy', reason: body } })!;
  assert.equal(bad.status, 'fail');
  assert.match(bad.why, /unhealthy: cannot write to the backup directory.*EACCES/);
  assert.match(bad.fix!, /\.\/backups writable by uid 1000/);
  assert.equal(checkScheduler({ config, scheduler: { present: true, state: 'running', health: 'healthy', reason: null } })!.status, 'pass');
  assert.equal(checkScheduler({ config, scheduler: { present: true, state: 'exited', health: null } })!.status, 'fail');
  assert.equal(checkScheduler({ config, scheduler: { present: false } })!.status, 'warn');
  assert.equal(checkScheduler({ config }), null, 'not gathered (no stack): no line');
});
