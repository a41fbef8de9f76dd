import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withSignals } from '../../../src/cli/signals.ts';

const aborted = (signal: AbortSignal) => new Promise<string>((resolve) => signal.addEventListener('abort', () => resolve('stopped'), { once: true }));

test('withSignals: SIGTERM aborts the signal, and the handlers are gone afterwards', async () => {
  const before = process.listenerCount('SIGTERM');
  const seen: string[] = [];
  const run = withSignals(aborted, { onSignal: (s) => seen.push(s) });
  assert.equal(process.listenerCount('SIGTERM'), before + 1);
  process.emit('SIGTERM', 'SIGTERM');
  assert.equal(await run, 'stopped');
  assert.deepEqual(seen, ['SIGTERM']);
  assert.equal(process.listenerCount('SIGTERM'), before);
});

test('withSignals: a one-shot handler is gone after the first signal, a persistent one stays until the end', async () => {
  const before = process.listenerCount('SIGINT');
  await withSignals(
    async (signal) => {
      process.emit('SIGINT', 'SIGINT');
      assert.ok(signal.aborted);
      assert.equal(process.listenerCount('SIGINT'), before, 'a second Ctrl-C gets the default behaviour');
    },
    { signals: ['SIGINT'] },
  );
  await withSignals(
    async () => {
      process.emit('SIGINT', 'SIGINT');
      assert.equal(process.listenerCount('SIGINT'), before + 1);
    },
    { signals: ['SIGINT'], persistent: true },
  );
  assert.equal(process.listenerCount('SIGINT'), before);
});
