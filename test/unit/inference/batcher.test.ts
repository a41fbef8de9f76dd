import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchQueue, nextDeadline, pickQueue } from '../../../src/inference/batcher.ts';

test('defaults (batch 1, delay 0): every item is ready at once, one at a time, FIFO', () => {
  const q = new BatchQueue<string>();
  q.push('a', 0);
  q.push('b', 1);
  assert.deepEqual(q.take(1), ['a']);
  assert.deepEqual(q.take(1), ['b']);
  assert.equal(q.take(1), null);
});

test('a full batch goes at once; a partial one waits for the oldest item\'s delay', () => {
  const q = new BatchQueue<number>({ maxBatchSize: 3, maxQueueDelayMs: 10 });
  q.push(1, 100);
  q.push(2, 105);
  assert.equal(q.take(105), null);
  assert.equal(q.deadline(), 110); // measured from the oldest arrival, not the last batch
  assert.equal(q.take(109.9), null);
  assert.deepEqual(q.take(110), [1, 2]);
  for (let i = 0; i < 7; i++) q.push(i, 200);
  assert.deepEqual(q.take(200), [0, 1, 2]);
  assert.deepEqual(q.take(200), [3, 4, 5]);
  assert.equal(q.take(200), null); // one left, not yet due
  assert.deepEqual(q.take(210), [6]);
});

test('bounded queue refuses pushes beyond maxQueueSize; drain empties it', () => {
  const q = new BatchQueue<number>({ maxQueueSize: 2 });
  assert.equal(q.push(1, 0), true);
  assert.equal(q.push(2, 0), true);
  assert.equal(q.push(3, 0), false);
  assert.deepEqual(q.drain(), [1, 2]);
  assert.equal(q.size, 0);
});

test('invalid options are refused', () => {
  assert.throws(() => new BatchQueue({ maxBatchSize: 0 }), /maxBatchSize/);
  assert.throws(() => new BatchQueue({ maxQueueDelayMs: -1 }), /maxQueueDelayMs/);
  assert.throws(() => new BatchQueue({ maxQueueSize: 1.5 }), /maxQueueSize/);
});

test('pickQueue serves the ready queue with the oldest item; nextDeadline is the earliest', () => {
  const a = new BatchQueue<string>({ maxBatchSize: 4, maxQueueDelayMs: 5 });
  const b = new BatchQueue<string>({ maxBatchSize: 4, maxQueueDelayMs: 5 });
  const queues = new Map([['a', a], ['b', b]]);
  a.push('a1', 10);
  b.push('b1', 3);
  assert.equal(pickQueue(queues, 4), undefined); // nothing due yet
  assert.equal(nextDeadline(queues.values()), 8);
  assert.equal(pickQueue(queues, 8), 'b');
  b.take(8);
  assert.equal(pickQueue(queues, 15), 'a');
  assert.equal(nextDeadline([new BatchQueue()]), undefined);
});

test('fullOnly: a batch queued behind a busy executor is taken only when whole', () => {
  const q = new BatchQueue<number>({ maxBatchSize: 3, maxQueueDelayMs: 0 });
  q.push(1, 0);
  q.push(2, 0);
  assert.equal(q.full(), false);
  assert.equal(q.take(5, true), null); // ready (delay 0) but not full: leave it to grow
  assert.equal(pickQueue(new Map([['m', q]]), 5, true), undefined);
  assert.equal(pickQueue(new Map([['m', q]]), 5), 'm');
  q.push(3, 1);
  q.push(4, 1);
  assert.equal(pickQueue(new Map([['m', q]]), 5, true), 'm');
  assert.deepEqual(q.take(5, true), [1, 2, 3]);
  assert.equal(q.take(5, true), null);
  const one = new BatchQueue<string>();
  one.push('x', 0);
  assert.deepEqual(one.take(0, true), ['x']); // maxBatchSize 1: any item is a whole batch
});

test('remove: an abandoned item leaves the queue; one already taken is not found', () => {
  const q = new BatchQueue<{ n: number }>({ maxBatchSize: 2, maxQueueDelayMs: 0 });
  const [a, b, c] = [{ n: 1 }, { n: 2 }, { n: 3 }];
  q.push(a, 0);
  q.push(b, 0);
  q.push(c, 0);
  assert.equal(q.remove(b), true);
  assert.equal(q.size, 2);
  assert.equal(q.remove(b), false);
  assert.deepEqual(q.take(1), [a, c]); // order of the rest kept
  assert.equal(q.remove(a), false);
  assert.equal(q.remove({ n: 1 }), false); // identity, not shape
});

test('pickQueue skips queues the executor cannot serve; nextDeadline can ignore deadlines already past', () => {
  const a = new BatchQueue<string>({ maxBatchSize: 1, maxQueueDelayMs: 0 });
  const b = new BatchQueue<string>({ maxBatchSize: 4, maxQueueDelayMs: 5 });
  const queues = new Map([['a', a], ['b', b]]);
  a.push('a1', 1);
  b.push('b1', 3);
  assert.equal(pickQueue(queues, 10), 'a');
  assert.equal(pickQueue(queues, 10, false, (k) => k !== 'a'), 'b'); // a's session lives on another worker
  assert.equal(pickQueue(queues, 10, false, () => false), undefined);
  // a is due (deadline 1) but waits for its busy worker: no timer for it, only for b (8)
  assert.equal(nextDeadline(queues.values(), 2), 8);
  assert.equal(nextDeadline(queues.values(), 9), undefined);
});
