import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CSV_HEADER, csvRows, progressBar, summaryLine, tableLines } from '../../../../src/cli/format/classify.ts';
import { csvCell } from '../../../../src/util/csv.ts';

const ok = { input: 'a,b.jpg', task: 'image' as const, model: 'm', version: '1', backend: 'wasm-simd', durationMs: 12.5, predictions: [{ label: 'Neutral', score: 0.9 }, { label: 'Porn', score: 0.1 }] };

test('csv: one row per prediction, quoting where needed, errors as one row', () => {
  assert.equal(csvCell('say "hi", ok'), '"say ""hi"", ok"');
  assert.deepEqual(csvRows(ok), ['"a,b.jpg",image,m,1,wasm-simd,12.5,1,Neutral,0.9,,,,,', '"a,b.jpg",image,m,1,wasm-simd,12.5,2,Porn,0.1,,,,,']);
  assert.deepEqual(csvRows({ input: 'x.jpg', error: 'empty file' }), ['x.jpg,,,,,,,,,,,,,empty file']);
  const det = csvRows({ ...ok, task: 'detect', predictions: undefined, detections: [{ label: 'cat', score: 0.5, box: { x: 1, y: 2, width: 3, height: 4 } }] });
  assert.deepEqual(det, ['"a,b.jpg",detect,m,1,wasm-simd,12.5,1,cat,0.5,1,2,3,4,']);
  assert.equal(CSV_HEADER.length, det[0]!.split(',').length - 1); // the quoted comma adds one split
});

test('table lines show the top results or the error', () => {
  const lines = tableLines([ok, { input: 'bad.jpg', error: 'corrupt' }]);
  assert.match(lines[0]!, /^INPUT\s+RESULT$/);
  assert.match(lines[1]!, /^a,b\.jpg\s+Neutral 0\.900, Porn 0\.100$/);
  assert.match(lines[2]!, /^bad\.jpg\s+error: corrupt$/);
});

test('progress bar and summary', () => {
  assert.equal(progressBar(5, 10, 1, 'img', 10), '[#####.....] 5/10  5.0 img/s  ETA 1s');
  assert.equal(summaryLine({ inputs: 3, failed: 1, seconds: 1.5, perSecond: 2, backend: 'cpu', workers: 1 }, 'img'), '3 inputs, 1 failed, 1.5 s, 2.0 img/s, backend cpu, 1 worker');
});

test('bug: classify --format csv guards formula cells as the server CSV does (one csvCell)', () => {
  const [row] = csvRows({ ...ok, input: '=HYPERLINK("http://x")', predictions: [{ label: 'Neutral', score: 1 }] });
  assert.match(row!, /^"'=HYPERLINK\(""http:\/\/x""\)",image,/);
});
