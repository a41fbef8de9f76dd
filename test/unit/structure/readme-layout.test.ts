/** The README's layout table names every top-level folder and file of src/, and nothing that is gone. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { SRC } from './source-files.ts';

test('the README layout table matches src/', () => {
  const readme = readFileSync(path.join(SRC, '..', 'README.md'), 'utf8');
  const table = readme.slice(readme.indexOf('## Layout'));
  const named = [...table.matchAll(/^\| `(src\/[^`]+)` \|/gm)].map((m) => m[1]!);
  const top = readdirSync(SRC, { withFileTypes: true }).map((e) => `src/${e.name}${e.isDirectory() ? '/' : ''}`);
  assert.deepEqual(top.filter((p) => !named.includes(p)), [], 'add a row to the README layout table');
  assert.deepEqual(named.filter((p) => !existsSync(path.join(SRC, '..', p))), [], 'a README layout row names a path that is gone');
});
