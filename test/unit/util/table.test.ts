import { test } from 'node:test';
import assert from 'node:assert/strict';
import { columns } from '../../../src/util/table.ts';

test('columns: widest cell sets the width, the last column is not padded, no trailing spaces', () => {
  assert.deepEqual(columns([['NAME', 'SIZE', 'TAG'], ['shop-1.dump', '271KiB', ''], ['a', '1B', 'nightly']]), ['NAME         SIZE    TAG', 'shop-1.dump  271KiB', 'a            1B      nightly']);
  assert.deepEqual(columns([['A', 'B'], ['long', 'x']], 3), ['A      B', 'long   x']);
  assert.deepEqual(columns([]), []);
});
