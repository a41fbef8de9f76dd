import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeFileAtomic, writeTemp } from '../../../src/util/fs-atomic.ts';

test('writeFileAtomic replaces a file whole and leaves no temp file; writeTemp leaves only its temp', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'ms-atomic-'));
  try {
    const file = path.join(dir, 'sub', 'models.json');
    await writeFileAtomic(file, 'one\n');
    await writeFileAtomic(file, 'two\n', 0o600);
    assert.equal(await readFile(file, 'utf8'), 'two\n');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(path.dirname(file)), ['models.json']);
    const tmp = await writeTemp(path.join(dir, 'x.dump.sha256'), 'abc');
    assert.match(path.basename(tmp), /^\.x\.dump\.sha256\.[0-9a-f]{12}\.tmp$/);
    assert.equal(await readFile(tmp, 'utf8'), 'abc');
    await assert.rejects(writeTemp(path.join(dir, 'missing', 'f'), 'x'), { code: 'ENOENT' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
