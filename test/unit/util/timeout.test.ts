import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withTimeout } from '../../../src/util/timeout.ts';

const never = new Promise<string>(() => undefined);

test('withTimeout: the promise when it settles first, its rejection unchanged', async () => {
  assert.equal(await withTimeout(Promise.resolve('ok'), 60_000, 'late'), 'ok');
  await assert.rejects(withTimeout(Promise.reject(new Error('own')), 60_000, 'late'), /own/);
});

test('withTimeout: past the deadline a message rejects, a function throws or gives a fallback', async () => {
  await assert.rejects(withTimeout(never, 1, 'ping: no answer within 1 ms'), /^Error: ping: no answer within 1 ms$/);
  await assert.rejects(
    withTimeout(never, 1, () => {
      throw new RangeError('typed');
    }),
    RangeError,
  );
  assert.deepEqual(await withTimeout(never, 1, () => ({ ok: false })), { ok: false });
});
