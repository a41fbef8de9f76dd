import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildStack } from '../../../src/stack/build.ts';
import { parseScaleAssignments } from '../../../src/ops/scale.ts';
import { configFrom, VARIANTS } from '../../helpers/config.ts';

const services = buildStack(configFrom(VARIANTS.defaults!)).services;

test('scale assignments: workers and the active API colour, `api` meaning the active one', () => {
  assert.deepEqual(parseScaleAssignments(['worker=3', 'api=2'], services, 'green'), { worker: 3, 'api-green': 2 });
  assert.deepEqual(parseScaleAssignments(['worker=0'], services, 'blue'), { worker: 0 });
});

test('scale assignments that make no sense are usage errors (exit 2)', () => {
  for (const [args, re] of [
    [['worker'], /expected SERVICE=N/],
    [['nosuch=1'], /no service "nosuch"/],
    [['postgres=2'], /runs as one container/],
    [['api-green=2'], /idle colour/],
    [['api=0'], /at least one container/],
    [['worker=65'], /at most 64/],
  ] as const) {
    assert.throws(() => parseScaleAssignments(args, services, 'blue'), (err: Error & { exitCode?: number }) => re.test(err.message) && err.exitCode === 2);
  }
});
