import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, DEADLINE_SHARE, ServiceTimes } from '../../../src/services/admission.ts';
import { unreadBodyPolicy, DRAIN_LIMIT_BYTES } from '../../../src/server/unread-body.ts';

test('admission: the gate refuses beyond max, with Retry-After 1', () => {
  const d = decide({ inflight: 32, max: 32, want: 1, perInputMs: undefined, timeoutMs: 60_000 });
  assert.equal(d.admit, false);
  assert.ok(!d.admit && d.reason === 'queue_full' && d.retryAfterSeconds === 1);
  assert.equal(decide({ inflight: 31, max: 32, want: 1, perInputMs: undefined, timeoutMs: 60_000 }).admit, true);
  // a multi-input request wants min(inputs, max) slots
  assert.equal(decide({ inflight: 30, max: 32, want: 5, perInputMs: undefined, timeoutMs: 60_000 }).admit, false);
  assert.equal(decide({ inflight: 0, max: 32, want: 500, perInputMs: undefined, timeoutMs: 60_000 }).admit, true);
});

test('admission: admits only what can finish within the timeout at the measured service time', () => {
  // 50 ms of machine time per input, 1 s timeout: (inflight + 1) × 50 ≤ 800 → up to 15 ahead
  const at = (inflight: number) => decide({ inflight, max: 500, want: 1, perInputMs: 50, timeoutMs: 1000 });
  assert.equal(at(15).admit, true);
  const refused = at(16);
  assert.equal(refused.admit, false);
  assert.ok(!refused.admit && refused.reason === 'deadline');
  assert.ok(!refused.admit && refused.retryAfterSeconds >= 1);
  assert.equal(refused.predictedMs, 17 * 50);
  assert.match(!refused.admit ? refused.message : '', /cannot finish this request within the request timeout \(1 s\): 16 calls are ahead of it at about 50 ms each/);
  assert.equal(DEADLINE_SHARE, 0.8);
});

test('admission: never refuses an idle server, even when one input is slower than the timeout', () => {
  assert.equal(decide({ inflight: 0, max: 4, want: 1, perInputMs: 5000, timeoutMs: 1000 }).admit, true);
  assert.equal(decide({ inflight: 1, max: 4, want: 1, perInputMs: 5000, timeoutMs: 1000 }).admit, false);
});

test('service times: per model, per input in the system, a moving average', () => {
  const t = new ServiceTimes();
  assert.equal(t.perInputMs('m'), undefined);
  t.observe('m', 400, 4); // 4 in the system, 400 ms: the machine needs 100 ms per input
  assert.equal(t.perInputMs('m'), 100);
  for (let i = 0; i < 100; i++) t.observe('m', 200, 4);
  assert.ok(Math.abs(t.perInputMs('m')! - 50) < 1, String(t.perInputMs('m')));
  t.observe('m', -1, 1);
  t.observe('m', Number.NaN, 1);
  assert.ok(Math.abs(t.perInputMs('m')! - 50) < 1, 'bad samples are ignored');
  assert.equal(t.perInputMs('other'), undefined);
  t.observe('other', 3, 0); // 0 in the system counts as 1
  assert.equal(t.perInputMs('other'), 3);
  assert.deepEqual(Object.keys(t.snapshot()).sort(), ['m', 'other']);
});

test('unread body after an early refusal: drain a small one, close after a large or held-back one', () => {
  assert.equal(unreadBodyPolicy({}, DRAIN_LIMIT_BYTES), 'none');
  assert.equal(unreadBodyPolicy({ 'content-length': '0' }, DRAIN_LIMIT_BYTES), 'none');
  assert.equal(unreadBodyPolicy({ 'content-length': '51200' }, DRAIN_LIMIT_BYTES), 'drain');
  assert.equal(unreadBodyPolicy({ 'content-length': String(DRAIN_LIMIT_BYTES + 1) }, DRAIN_LIMIT_BYTES), 'close');
  assert.equal(unreadBodyPolicy({ 'content-length': '10', expect: '100-continue' }, DRAIN_LIMIT_BYTES), 'close');
  assert.equal(unreadBodyPolicy({ 'transfer-encoding': 'chunked' }, DRAIN_LIMIT_BYTES), 'close');
  assert.equal(unreadBodyPolicy({ 'content-length': 'abc' }, DRAIN_LIMIT_BYTES), 'none');
});
