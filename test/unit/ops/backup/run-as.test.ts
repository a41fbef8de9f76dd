import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirWritableBy, resolveUser } from '../../../../src/ops/backup/run-as.ts';

const passwd = 'root:x:0:0:root:/root:/bin/bash\nnode:x:1000:1000::/home/node:/bin/bash\nbackup:x:34:34:backup:/var/backups:/usr/sbin/nologin\n';
const group = 'root:x:0:\nnode:x:1000:\nbackup:x:34:\nstaff:x:50:node\n';

test('--run-as resolves names and numbers against the image', () => {
  assert.deepEqual(resolveUser('node', passwd, group), { uid: 1000, gid: 1000, name: 'node' });
  assert.deepEqual(resolveUser('1000', passwd, group), { uid: 1000, gid: 1000, name: 'node' });
  assert.deepEqual(resolveUser('node:staff', passwd, group), { uid: 1000, gid: 50, name: 'node' });
  assert.deepEqual(resolveUser('4242:4343', passwd, group), { uid: 4242, gid: 4343, name: '4242' });
  assert.throws(() => resolveUser('nobody-here', passwd, group), /no user "nobody-here"/);
  assert.throws(() => resolveUser('node:nogroup', passwd, group), /no group "nogroup"/);
});

test('who may create files in a directory', () => {
  const rootDir = { uid: 0, gid: 0, mode: 0o40755 };
  assert.equal(dirWritableBy(rootDir, 1000, [1000]), false, 'the engine-created bind mount: root 0755');
  assert.equal(dirWritableBy(rootDir, 0, [0]), true);
  assert.equal(dirWritableBy({ uid: 1000, gid: 1000, mode: 0o40700 }, 1000, [1000]), true);
  assert.equal(dirWritableBy({ uid: 1000, gid: 1000, mode: 0o40500 }, 1000, [1000]), false);
  assert.equal(dirWritableBy({ uid: 0, gid: 1000, mode: 0o40775 }, 1000, [1000]), true);
  assert.equal(dirWritableBy({ uid: 0, gid: 0, mode: 0o41777 }, 1000, [1000]), true);
});
