import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pitrLayout } from '../../../../../src/ops/backup/pitr/layout.ts';
import { livePins, pinBase, pinsDir, PIN_TTL_MS, readPins } from '../../../../../src/ops/backup/pitr/pins.ts';

test('a pin holds its base backup until it expires', () => {
  const now = new Date('2026-12-02T12:00:00Z');
  const pins = [
    { base: '20261202T100000Z', by: 'a', until: '2026-12-02T12:00:01Z' },
    { base: '20261201T100000Z', by: 'b', until: '2026-12-02T11:59:59Z' },
    { base: '20261130T100000Z', by: 'c', until: 'not a time' },
  ];
  assert.deepEqual([...livePins(pins, now)], ['20261202T100000Z']);
});

test('pinBase writes a live pin that readPins finds; the release removes it; junk pins nothing', async () => {
  const layout = pitrLayout(mkdtempSync(path.join(os.tmpdir(), 'ms-pins-')));
  const now = new Date();
  const release = await pinBase(layout, '20261202T120000Z', '20261202T100000Z', now);
  mkdirSync(pinsDir(layout), { recursive: true });
  writeFileSync(path.join(pinsDir(layout), 'broken.json'), '{"base": ');
  writeFileSync(path.join(pinsDir(layout), 'notes.txt'), 'x');
  const pins = await readPins(layout);
  assert.equal(pins.length, 1);
  assert.equal(pins[0]!.base, '20261202T100000Z');
  assert.equal(Date.parse(pins[0]!.until), now.getTime() + PIN_TTL_MS);
  assert.deepEqual([...livePins(pins, now)], ['20261202T100000Z']);
  await release();
  await release();
  assert.deepEqual(readdirSync(pinsDir(layout)).sort(), ['broken.json', 'notes.txt']);
  assert.deepEqual(await readPins(pitrLayout('/nonexistent/dir')), [], 'no pins directory: no pins');
});
