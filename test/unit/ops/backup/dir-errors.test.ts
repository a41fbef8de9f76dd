import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fsError, fsHint } from '../../../../src/ops/backup/dir.ts';
import { UserError } from '../../../../src/util/errors.ts';

const errno = (code: string, message: string) => Object.assign(new Error(message), { code });

test('file-system failures name the file, the errno and what to do', () => {
  const e = fsError(errno('ENOSPC', "ENOSPC: no space left on device, write"), 'backup failed, no backup file was kept: writing', '/b/.x.sha256.ab.tmp');
  assert.ok(e instanceof UserError);
  assert.equal(e.message, 'backup failed, no backup file was kept: writing /b/.x.sha256.ab.tmp: no space left on device (ENOSPC)');
  assert.match((e as UserError).hint!, /^the backup disk is full \(\/b\)/);
  assert.match(fsError(errno('EACCES', 'EACCES: permission denied'), 'cannot write to the backup directory:', '/b/.p.tmp').message, /: permission denied \(EACCES\)$/);
  assert.match(fsHint('EACCES', '/b')!, /not writable by uid \d+/);
  assert.match(fsHint('EROFS', '/b')!, /read-only file system/);
  assert.match(fsHint('ENOENT', '/proc')!, /not a directory that can hold files/);
  // Not a file-system error: passed through untouched.
  const other = new Error('boom');
  assert.equal(fsError(other, 'x', '/y'), other);
});
