import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jobsCheck } from '../../../src/server/readiness.ts';

test('/health/detailed: the job queue latency is the time the count took (it was taken before the call, so always ~0)', async () => {
  let clock = 1000;
  const now = () => clock;
  // the count "takes" 42 ms on this clock: it moves while the call is in progress
  const r = await jobsCheck(async () => {
    clock += 42;
    return { waiting: 3, active: 1 };
  }, now);
  assert.deepEqual(r, { ok: true, latencyMs: 42, counts: { waiting: 3, active: 1 } });
});

test('/health/detailed: a queue that fails or is absent is reported, not thrown', async () => {
  assert.deepEqual(await jobsCheck(undefined), { ok: true, detail: 'no queue configured' });
  assert.deepEqual(await jobsCheck(() => Promise.reject(new Error('Connection is closed.'))), { ok: false, error: 'Connection is closed.' });
});
