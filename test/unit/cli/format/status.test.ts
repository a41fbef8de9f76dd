import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backupLine } from '../../../../src/cli/format/status.ts';

const now = Date.parse('2026-12-02T03:00:00Z');
const base = { lastAt: '2026-12-02T02:00:00Z', lastVerified: true, restoreTestedAt: null };

test('the backup line names the off-site queue: up to date, or how many copies wait and since when, with the last error', () => {
  assert.doesNotMatch(backupLine(base, now), /off-site/, 'no remote configured: nothing said');
  assert.match(backupLine({ ...base, remote: { pending: 0, lagSeconds: 0, lastError: null } }, now), /; off-site: up to date$/);
  const behind = backupLine({ ...base, remote: { pending: 3, lagSeconds: 95.5, lastError: 'remote s3://b/p: connection refused' } }, now);
  assert.match(behind, /off-site: 3 copies pending, 95\.50s behind \(last error: remote s3:\/\/b\/p: connection refused\)/);
});
