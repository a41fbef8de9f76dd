import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kindOfRel, metaKey, parseRemoteMeta, queueFileName, relForBase, relForDump, relForWal, remoteLagSeconds, retryDelaySeconds, storedKey } from '../../../../../src/ops/backup/remote/catalog.ts';
import { classifyRemoteError, describeLocation, parseRemoteUrl, remoteKey } from '../../../../../src/ops/backup/remote/url.ts';

test('remote keys: what each local file becomes, and the record beside it', () => {
  assert.equal(relForDump('app-20261201T020000Z.dump'), 'dumps/app-20261201T020000Z.dump');
  assert.equal(relForBase('20261201T010000Z'), 'pitr/base/20261201T010000Z.tar');
  assert.equal(relForWal('000000010000000000000003'), 'pitr/wal/000000010000000000000003');
  assert.equal(kindOfRel('pitr/wal/000000010000000000000003'), 'wal');
  assert.equal(kindOfRel('pitr/wal/00000002.history'), 'wal');
  assert.equal(kindOfRel('pitr/wal/000000010000000000000003.partial'), 'wal', 'the segment being filled is copied too');
  assert.equal(kindOfRel('pitr/wal/0000000100000000000003.partial'), null);
  assert.equal(kindOfRel('pitr/base/20261201T010000Z.tar'), 'base');
  assert.equal(kindOfRel('dumps/x.dump'), 'dump');
  assert.equal(kindOfRel('../etc/passwd'), null);
  assert.equal(storedKey('dumps/x.dump', true), 'dumps/x.dump.age');
  assert.equal(storedKey('dumps/x.dump', false), 'dumps/x.dump');
  assert.equal(metaKey('dumps/x.dump'), 'dumps/x.dump.meta.json', 'the record is found without knowing whether the copy is encrypted');
  assert.equal(remoteKey('', 'dumps/x'), 'dumps/x');
  assert.equal(remoteKey('team/prod', 'dumps/x'), 'team/prod/dumps/x');
});

test('retry delay doubles from the interval and stops at 5 minutes; lag is the oldest pending copy', () => {
  assert.deepEqual([1, 2, 3, 4].map((a) => retryDelaySeconds(a, 15)), [15, 30, 60, 120]);
  assert.equal(retryDelaySeconds(20, 15), 300);
  assert.equal(remoteLagSeconds([], 1000), 0);
  assert.equal(remoteLagSeconds(['2026-12-01T00:00:10Z', '2026-12-01T00:00:00Z'], Date.parse('2026-12-01T00:01:00Z')), 60);
  assert.ok(queueFileName(1, 'b') < queueFileName(2, 'a'), 'queue files sort by time');
  assert.ok(!queueFileName(1, 'pitr/wal/x').includes('/'));
});

test('a remote record is parsed strictly', () => {
  const good = { format: 'modelship-remote/1', rel: 'pitr/wal/000000010000000000000003', kind: 'wal', key: 'pitr/wal/000000010000000000000003.age', encrypted: true, size: 10, sha256: 'a'.repeat(64), plainSize: 9, plainSha256: 'b'.repeat(64), uploadedAt: '2026-12-01T00:00:00.000Z' };
  assert.equal(parseRemoteMeta(JSON.stringify(good)).ok, true);
  const bad = parseRemoteMeta(JSON.stringify({ ...good, sha256: 'nope' }));
  assert.equal(bad.ok, false);
  assert.match((bad as { error: string }).error, /sha256/);
  assert.equal(parseRemoteMeta('{').ok, false);
});

test('remote URLs: s3 and sftp, with clear refusals', () => {
  assert.deepEqual(parseRemoteUrl('s3://my-bucket/team/prod/'), { ok: true, location: { kind: 's3', bucket: 'my-bucket', prefix: 'team/prod' } });
  assert.deepEqual(parseRemoteUrl('sftp://backup@vault.example:2222/srv/modelship'), { ok: true, location: { kind: 'sftp', user: 'backup', host: 'vault.example', port: 2222, path: '/srv/modelship' } });
  assert.match((parseRemoteUrl('sftp://vault/srv') as { error: string }).error, /needs a user/);
  assert.match((parseRemoteUrl('sftp://u@vault') as { error: string }).error, /needs a directory/);
  assert.match((parseRemoteUrl('ftp://u@vault/x') as { error: string }).error, /not supported/);
  assert.match((parseRemoteUrl('s3://Bad_Bucket') as { error: string }).error, /not a valid bucket/);
  assert.equal(describeLocation({ kind: 's3', bucket: 'b', prefix: 'p' }, 'http://127.0.0.1:9000'), 's3://b/p at http://127.0.0.1:9000');
});

test('remote failures say what to check, and whether a retry can help', () => {
  const keys = { accessKey: 'S3_ACCESS_KEY_ID', secretKey: 'S3_SECRET_ACCESS_KEY', identityFile: '/k/id' };
  const creds = classifyRemoteError('s3', { name: 'InvalidAccessKeyId', message: 'The AWS Access Key Id you provided does not exist in our records.', $metadata: { httpStatusCode: 403 } }, keys);
  assert.equal(creds.retryable, false);
  assert.match(creds.hint, /S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY in \.env/);
  const down = classifyRemoteError('s3', { name: 'Error', code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:9000' }, keys);
  assert.equal(down.retryable, true);
  assert.match(down.hint, /unreachable.*stay queued/);
  assert.match(classifyRemoteError('s3', { name: 'NoSuchBucket', message: 'x' }, keys).hint, /bucket does not exist/);
  const ssh = classifyRemoteError('sftp', { level: 'client-authentication', message: 'All configured authentication methods failed' }, keys);
  assert.equal(ssh.retryable, false);
  assert.match(ssh.hint, /\/k\/id.*authorized_keys/);
  assert.match(classifyRemoteError('sftp', { message: 'host key mismatch: …' }, keys).hint, /backups\.remote\.hostKey/);
});
