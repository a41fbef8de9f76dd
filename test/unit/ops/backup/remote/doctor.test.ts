import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigSchema } from '../../../../../src/config/schema.ts';
import { checkRemoteCopies, type DoctorFacts } from '../../../../../src/ops/doctor/checks.ts';

const NOW = '2026-12-01T12:00:00.000Z';
const KEY = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';
// The check reads only the config and the queue facts.
const facts = (backups: Record<string, unknown>, remote?: DoctorFacts['remote']): DoctorFacts => ({ now: NOW, config: ConfigSchema.parse({ tls: { mode: 'off' }, backups }), ...(remote ? { remote } : {}) }) as DoctorFacts;

test('doctor: off-site copies pass when nothing waits long, fail past lagAlertSeconds with the last error, warn when unencrypted', () => {
  assert.equal(checkRemoteCopies(facts({})), null, 'no remote, no check');
  const remote = { url: 's3://b/prod', lagAlertSeconds: 600 };
  const ok = checkRemoteCopies(facts({ remote, encryption: { recipients: [KEY] } }, { pending: 0, lagSeconds: 0, oldest: null, lastError: null }))!;
  assert.equal(ok.status, 'pass');
  assert.match(ok.why, /nothing pending; encrypted/);
  const late = checkRemoteCopies(facts({ remote, encryption: { recipients: [KEY] } }, { pending: 3, lagSeconds: 3600, oldest: '2026-12-01T11:00:00.000Z', lastError: 'remote s3://b/prod: upload … failed: connect ECONNREFUSED' }))!;
  assert.equal(late.status, 'fail');
  assert.match(late.why, /3 file\(s\) not copied off-site, the oldest queued 2026-12-01T11:00:00.000Z \(3600s\); last error: .*ECONNREFUSED/);
  assert.match(late.fix ?? '', /backup push/);
  const plain = checkRemoteCopies(facts({ remote }, { pending: 0, lagSeconds: 0, oldest: null, lastError: null }))!;
  assert.equal(plain.status, 'warn');
  assert.match(plain.why, /unencrypted/);
  assert.match(plain.fix ?? '', /backups\.encryption\.recipients/);
});

test('doctor: an SFTP key db-backup could not read on its next start fails the off-site check with deploy\'s own reason', () => {
  const remote = { url: 'sftp://backup@10.0.0.5/srv/b', identityFile: 'keys/backup' };
  const keyProblem = { why: 'modelship.config.yaml:9:19: backups.remote.identityFile /srv/shop/keys/backup is readable by others (mode 644): a private key must be private', fix: 'chmod 600 it' };
  const r = checkRemoteCopies(facts({ remote, encryption: { recipients: [KEY] } }, { pending: 0, lagSeconds: 0, oldest: null, lastError: null, keyProblem }))!;
  assert.equal(r.status, 'fail');
  assert.match(r.why, /readable by others \(mode 644\)/);
  assert.equal(r.fix, 'chmod 600 it');
});
