import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, parseSize, parseSizeOr } from '../../../src/util/size.ts';

test('one convention: MB, M and MiB are all 1024², and what is shown says MiB', () => {
  for (const text of ['3MB', '3M', '3m', '3MiB', '3 mb']) assert.equal(parseSize(text), 3 * 1024 ** 2, text);
  assert.equal(parseSize('512k'), 512 * 1024);
  assert.equal(parseSize('100b'), 100);
  assert.equal(parseSizeOr('2g'), 2 * 1024 ** 3);
  assert.equal(parseSizeOr('lots'), undefined);
  assert.equal(parseSizeOr(undefined), undefined);
  assert.throws(() => parseSize('3 parsecs'), /unknown size unit/);
  // What is written reads back as the same number of bytes (to the digits shown).
  assert.equal(formatBytes(512), '512B');
  assert.equal(formatBytes(1536), '1.5KiB');
  assert.equal(formatBytes(48 * 1024 ** 2), '48.0MiB');
  assert.equal(formatBytes(217 * 1024 ** 2), '217MiB');
  assert.equal(formatBytes(3 * 1024 ** 4), '3.0TiB');
  assert.equal(parseSize(formatBytes(3 * 1024 ** 2)), 3 * 1024 ** 2);
});
