import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextProbeGap } from '../../../src/docker/engine.ts';

test('gate probes back off from the first pause to 2 s, and a longer pause is kept', () => {
  const gaps = [500];
  for (let i = 0; i < 6; i++) gaps.push(nextProbeGap(gaps.at(-1)!));
  assert.deepEqual(gaps, [500, 750, 1125, 1688, 2000, 2000, 2000]);
  assert.equal(nextProbeGap(1000), 1500);
  assert.equal(nextProbeGap(5000), 5000, 'a caller asking for 5 s between probes is not sped up');
});
