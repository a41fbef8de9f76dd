import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planPitrRetention, type BaseItem } from '../../../../../src/ops/backup/pitr/retention.ts';

const seg = 16 * 1024 * 1024;
const b = (name: string, day: number, startLsn: string | null, verified = true): BaseItem => ({ name, finishedAt: startLsn ? new Date(Date.UTC(2026, 10, day)) : null, verified, startLsn, walSegmentSize: seg });
const wal = ['000000010000000000000001', '000000010000000000000002', '000000010000000000000003', '000000010000000000000004', '000000010000000000000005.partial', '00000002.history', '000000020000000000000003'];

test('keeps the N newest verified base backups and exactly the WAL from the oldest kept one on', () => {
  const p = planPitrRetention([b('20261101T010000Z', 1, '0/1000028'), b('20261108T010000Z', 8, '0/3000028'), b('20261115T010000Z', 15, '0/4000028')], wal, 2);
  assert.deepEqual(p.bases.map((x) => [x.name, x.action]), [['20261115T010000Z', 'keep'], ['20261108T010000Z', 'keep'], ['20261101T010000Z', 'delete']]);
  assert.deepEqual(p.wal.delete, ['000000010000000000000001', '000000010000000000000002']);
  assert.equal(p.wal.keepFrom, '20261108T010000Z');
  assert.ok(!p.wal.delete.some((f) => f.endsWith('.history')), 'history files stay');
});

test('never deletes the newest verified one, unverified or unreadable ones, or WAL an unverified kept one needs', () => {
  const p = planPitrRetention([b('20261101T010000Z', 1, '0/1000028', false), b('20261108T010000Z', 8, '0/3000028'), b('20261120T010000Z', 20, null)], wal, 1);
  assert.deepEqual(p.bases.map((x) => x.action), ['keep', 'keep', 'keep']);
  assert.match(p.bases.find((x) => x.name === '20261108T010000Z')!.reason, /newest verified/);
  assert.deepEqual(p.wal.delete, [], 'the unverified base from segment 1 still pins its WAL');
});

test('no base backup at all: no WAL is deleted', () => {
  assert.deepEqual(planPitrRetention([], wal, 2).wal.delete, []);
  assert.deepEqual(planPitrRetention([b('20261120T010000Z', 20, null)], wal, 2).wal.delete, []);
});

test('after a restore: the newest base backups of an abandoned timeline do not push out the live lineage\'s own', () => {
  const off = (x: BaseItem): BaseItem => ({ ...x, onLineage: false });
  // 08 on timeline 1 is the live lineage's ancestor; 15 and 20 were taken on timeline 1 after the fork a restore left.
  const p = planPitrRetention([b('20261101T010000Z', 1, '0/1000028'), b('20261108T010000Z', 8, '0/2000028'), off(b('20261115T010000Z', 15, '0/3000028')), off(b('20261120T010000Z', 20, '0/4000028'))], wal, 2);
  assert.deepEqual(p.bases.map((x) => [x.name, x.action]), [['20261120T010000Z', 'keep'], ['20261115T010000Z', 'keep'], ['20261108T010000Z', 'keep'], ['20261101T010000Z', 'keep']]);
  assert.match(p.bases.find((x) => x.name === '20261108T010000Z')!.reason, /live timeline's lineage/);
  assert.deepEqual(p.wal.delete, [], 'the oldest kept (on the lineage) pins the WAL from segment 1');
  const q = planPitrRetention([b('20261101T010000Z', 1, '0/1000028'), b('20261108T010000Z', 8, '0/2000028'), off(b('20261115T010000Z', 15, '0/3000028'))], wal, 1);
  assert.deepEqual(q.bases.map((x) => x.action), ['keep', 'keep', 'delete'], 'one newest overall, one newest on the lineage');
  assert.deepEqual(q.wal.delete, ['000000010000000000000001']);
});

test('a base backup a restore is reading (pinned) is kept, with the WAL it needs, past the count', () => {
  const pinnedOld = { ...b('20261101T010000Z', 1, '0/1000028'), pinned: true };
  const p = planPitrRetention([pinnedOld, b('20261108T010000Z', 8, '0/3000028'), b('20261115T010000Z', 15, '0/4000028')], wal, 1);
  assert.deepEqual(p.bases.map((x) => [x.name, x.action]), [['20261115T010000Z', 'keep'], ['20261108T010000Z', 'delete'], ['20261101T010000Z', 'keep']]);
  assert.match(p.bases.find((x) => x.name === '20261101T010000Z')!.reason, /a restore is reading it/);
  assert.deepEqual(p.wal.delete, [], 'its WAL from segment 1 on stays');
  assert.equal(p.wal.keepFrom, '20261101T010000Z');
});
