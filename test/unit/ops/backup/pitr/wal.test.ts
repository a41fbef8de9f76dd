import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatLsn, parseHistory, parseLsn, parseSegmentName, segmentName, segNoOf, walCoverage } from '../../../../../src/ops/backup/pitr/wal.ts';
import { abandonedSegments } from '../../../../../src/ops/backup/pitr/abandoned-wal.ts';

test('LSNs and segment names round-trip, across the 32-bit boundary and for non-default segment sizes', () => {
  assert.equal(parseLsn('16/B374D848'), 0x16b374d848n);
  assert.equal(formatLsn(0x16b374d848n), '16/B374D848');
  assert.throws(() => parseLsn('16-B374'), /not an LSN/);
  assert.equal(segmentName(1, segNoOf(parseLsn('0/2000028'))), '000000010000000000000002');
  assert.equal(segmentName(3, segNoOf(parseLsn('1/FF000000'))), '0000000300000001000000FF');
  assert.equal(segmentName(1, segNoOf(parseLsn('2/0'))), '000000010000000200000000');
  const big = 64 * 1024 * 1024;
  assert.equal(segmentName(1, segNoOf(parseLsn('1/C0000000'), big), big), '000000010000000100000030');
  assert.deepEqual(parseSegmentName('0000000300000001000000FF.partial'), { timeline: 3, segNo: 0x1ffn, partial: true, encrypted: false, file: '0000000300000001000000FF.partial' });
  assert.equal(parseSegmentName('000000010000000100000100'), null, 'low part out of range for 16 MB segments');
  assert.equal(parseSegmentName('00000002.history'), null);
  assert.equal(parseSegmentName('000000010000000000000002.gz'), null);
});

test('coverage: stops at a hole, reports it, and ends at the partial segment being filled', () => {
  const files = ['000000010000000000000001', '000000010000000000000002', '000000010000000000000003', '000000010000000000000005', '000000010000000000000006.partial', '000000020000000000000004'];
  const c = walCoverage(files, 1, 2n);
  assert.deepEqual(c.files, ['000000010000000000000002', '000000010000000000000003']);
  assert.equal(c.last, '000000010000000000000003');
  assert.equal(c.gap, '000000010000000000000004');
  const ok = walCoverage(['000000010000000000000002', '000000010000000000000003.partial', '000000010000000000000003'], 1, 2n);
  assert.deepEqual(ok.files, ['000000010000000000000002', '000000010000000000000003'], 'the full segment wins over its partial');
  assert.equal(ok.gap, null);
  const p = walCoverage(['000000010000000000000002', '000000010000000000000003.partial'], 1, 2n);
  assert.equal(p.lastPartial, true);
  const none = walCoverage([], 1, 2n);
  assert.equal(none.last, null);
});

test('timeline history files parse; the abandoned part of the parent timeline is what lies at or after the switch', () => {
  const h = parseHistory('1\t0/5000060\tno recovery target specified\n\n2\t0/9000000\tbefore 2026-12-01 10:14:05+00\n');
  assert.deepEqual(h.map((e) => [e.timeline, formatLsn(e.switchLsn)]), [[1, '0/5000060'], [2, '0/9000000']]);
  assert.throws(() => parseHistory('x y z'), /not a timeline history line/);
  const files = ['000000010000000000000004', '000000010000000000000005', '000000010000000000000006.partial', '000000020000000000000005', '00000002.history'];
  assert.deepEqual(abandonedSegments(files, 1, parseLsn('0/5000060'), 16 * 1024 * 1024), ['000000010000000000000005', '000000010000000000000006.partial']);
});
