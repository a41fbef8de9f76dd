import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ORPHAN_GRACE_MS, planOrphans, type DirFile } from '../../../../src/ops/backup/retention.ts';
import { tempFileFor } from '../../../../src/ops/backup/naming.ts';
import path from 'node:path';

const NOW = Date.parse('2026-11-30T12:00:00Z');
const H = 3_600_000;
const f = (name: string, ageH: number): DirFile => ({ name, mtimeMs: NOW - ageH * H });
const plan = (files: DirFile[], newest: Record<string, string> = {}, database?: string) =>
  planOrphans(files, { now: NOW, database, newestVerified: new Map(Object.entries(newest).map(([k, v]) => [k, new Date(v)])) });
const names = (d: ReturnType<typeof plan>) => d.map((x) => x.file).sort();

test('temp files of every kind are deleted once nobody has touched them for the grace period', () => {
  const dumpTemp = path.basename(tempFileFor('/b/shop-20261129T020000Z.dump', 'other-host', 4242, 'ab12cd34'));
  const files = [
    f(dumpTemp, 13),
    f('.shop-20261129T020000Z.sha256.a1b2c3d4e5f6.tmp', 13),
    f('.shop-20261129T020000Z.manifest.json.0123456789ab.tmp', 13),
    f('.modelship-probe-77-deadbeef.tmp', 13),
    f('..modelship-verify.json.a1b2c3d4e5f6.tmp', 13),
  ];
  assert.deepEqual(names(plan(files)), files.map((x) => x.name).sort());
  // Younger than the grace period: may still be written by a running backup.
  assert.deepEqual(plan(files.map((x) => ({ ...x, mtimeMs: NOW - ORPHAN_GRACE_MS + H }))), []);
});

test('a checksum or manifest without its dump (killed before the commit) goes; a complete backup stays', () => {
  const files = [
    f('shop-20261129T020000Z.sha256', 20),
    f('shop-20261129T020000Z.manifest.json', 20),
    f('shop-20261128T020000Z.dump', 40),
    f('shop-20261128T020000Z.sha256', 40),
    f('shop-20261128T020000Z.manifest.json', 40),
  ];
  assert.deepEqual(names(plan(files)), ['shop-20261129T020000Z.manifest.json', 'shop-20261129T020000Z.sha256']);
});

test('a dump with its checksum but no manifest goes only when a newer verified backup exists', () => {
  const files = [f('shop-20261127T020000Z.dump', 60), f('shop-20261127T020000Z.sha256', 60)];
  assert.deepEqual(plan(files), [], 'the only copy is never deleted');
  assert.deepEqual(plan(files, { shop: '2026-11-26T02:00:00Z' }), [], 'an older verified backup is no reason');
  const d = plan(files, { shop: '2026-11-29T02:00:00Z' });
  assert.deepEqual(names(d), ['shop-20261127T020000Z.dump', 'shop-20261127T020000Z.sha256']);
  assert.match(d[0]!.reasons[0]!, /interrupted backup/);
});

test('a bare dump (an off-site copy put back) is never an orphan, nor are files of other databases or strangers', () => {
  const files = [f('shop-20261101T020000Z.dump', 500), f('other-20261101T020000Z.sha256', 500), f('.notes.12345678.tmp', 500), f('README.txt', 500)];
  assert.deepEqual(names(plan(files, { shop: '2026-11-29T02:00:00Z' }, 'shop')), []);
  assert.deepEqual(names(plan(files, {})), ['other-20261101T020000Z.sha256']);
});
