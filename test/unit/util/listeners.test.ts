import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Listeners } from '../../../src/util/listeners.ts';

test('listeners: each added callback gets every emit until it unsubscribes', () => {
  const l = new Listeners<[number, string]>();
  const a: string[] = [];
  const b: string[] = [];
  const offA = l.add((n, s) => a.push(`${n}${s}`));
  l.add((n, s) => b.push(`${n}${s}`));
  l.emit(1, 'x');
  offA();
  offA();
  l.emit(2, 'y');
  assert.deepEqual(a, ['1x']);
  assert.deepEqual(b, ['1x', '2y']);
});
