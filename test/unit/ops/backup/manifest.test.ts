import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countListedTables, manifestText, parseManifest, MANIFEST_FORMAT, type Manifest } from '../../../../src/ops/backup/manifest.ts';

const good: Manifest = {
  format: MANIFEST_FORMAT,
  file: 'db-20260101T020000Z.dump',
  database: 'db',
  createdAt: '2026-01-01T02:00:00.000Z',
  sizeBytes: 1234,
  durationMs: 56,
  serverVersion: '16.4',
  pgDumpVersion: 'pg_dump (PostgreSQL) 16.4',
  tableCount: 3,
  sha256: 'b'.repeat(64),
  mode: 'direct',
  verified: true,
  verifiedAt: '2026-01-01T02:00:01.000Z',
};

test('a written manifest parses back', () => {
  const r = parseManifest(manifestText(good), good.file);
  assert.equal(r.ok, true);
  if (r.ok) assert.deepEqual(r.manifest, good);
});

test('broken manifests are rejected with a reason', () => {
  assert.match((parseManifest('{', good.file) as { error: string }).error, /not JSON/);
  assert.match((parseManifest('{}', good.file) as { error: string }).error, /invalid manifest/);
  assert.match((parseManifest(manifestText({ ...good, sha256: 'xyz' }), good.file) as { error: string }).error, /sha256/);
  assert.match((parseManifest(manifestText({ ...good, sizeBytes: 0 }), good.file) as { error: string }).error, /sizeBytes/);
  assert.match((parseManifest(manifestText(good), 'other.dump') as { error: string }).error, /names/);
  assert.equal(parseManifest(JSON.stringify({ ...good, format: 'v0' })).ok, false);
});

test('tables are counted from pg_restore --list, not their data entries', () => {
  const list = `;
; Archive created at 2026-11-26 10:00:17 UTC
;     dbname: mstest
;
215; 1259 16386 TABLE public a postgres
216; 1259 16391 TABLE public b postgres
217; 1259 16400 TABLE public "TABLE DATA" postgres
3350; 0 16386 TABLE DATA public a postgres
3351; 0 16391 TABLE DATA public b postgres
3200; 2606 16390 CONSTRAINT public a a_pkey postgres
`;
  assert.equal(countListedTables(list), 3);
  assert.equal(countListedTables(''), 0);
});
