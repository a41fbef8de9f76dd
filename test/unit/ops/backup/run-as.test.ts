import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, lstatSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dirWritableBy, handOverTree, resolveUser } from '../../../../src/ops/backup/run-as.ts';

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

test('root-owned entries a host-side restore left in the backup directory are handed to the scheduler user', { skip: process.getuid?.() !== 0 ? 'needs root (chown)' : false }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ms-runas-'));
  mkdirSync(path.join(dir, 'pitr', 'wal'), { recursive: true, mode: 0o700 });
  writeFileSync(path.join(dir, 'pitr', 'wal', '000000010000000000000001'), 'x', { mode: 0o600 });
  mkdirSync(path.join(dir, '.remote', 'queue'), { recursive: true, mode: 0o700 });
  symlinkSync('/etc/passwd', path.join(dir, 'link'));
  chownSync(path.join(dir, '.remote'), 1000, 1000);
  const r = await handOverTree(dir, { uid: 1000, gid: 1000 });
  assert.deepEqual(r, { changed: 5, failed: 0 }, 'pitr, pitr/wal, the segment, .remote/queue and the link (lchown: not /etc/passwd) — .remote was already theirs');
  for (const p of ['pitr', 'pitr/wal', 'pitr/wal/000000010000000000000001', '.remote/queue', 'link']) assert.equal(lstatSync(path.join(dir, p)).uid, 1000, p);
  assert.equal(lstatSync('/etc/passwd').uid, 0, 'a symlink is changed, not what it points to');
  assert.deepEqual(await handOverTree(dir, { uid: 1000, gid: 1000 }), { changed: 0, failed: 0 }, 'a second start changes nothing');
});
