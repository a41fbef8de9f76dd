import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDurationMs, parseDurationSeconds, parseSince } from '../../../src/util/duration.ts';
import { waitMs } from '../../../src/cli/commands/db-flags.ts';

test('bug: --wait 1h30m is accepted, as --timeout 1h30m always was', () => {
  assert.equal(waitMs('1h30m'), 5_400_000);
  assert.equal(parseDurationSeconds('1h30m', '--timeout'), 5400);
});

test('one grammar: every duration flag reads the same text the same way', () => {
  for (const text of ['0s', '30', '1.5s', '250ms', '10m', '1h', '1h30m', '2d', '1m30s500ms']) {
    const ms = parseDurationMs(text);
    assert.notEqual(ms, null, text);
    assert.equal(waitMs(text), ms, `--wait ${text}`);
    assert.equal(parseDurationSeconds(text, '--timeout') * 1000, ms, `--timeout ${text}`);
  }
  assert.equal(parseSince('1h30m', 10_000_000_000), (10_000_000_000 - 5_400_000) / 1000);
});

test('not durations: the flag is named in the usage error', () => {
  for (const text of ['', 'soon', '-1s', '1x', '1h 30m', 'm']) {
    assert.equal(parseDurationMs(text), null, text);
    assert.throws(() => waitMs(text), /--wait .*expected a duration/);
    assert.throws(() => parseDurationSeconds(text, '--timeout'), (e: Error & { exitCode?: number }) => /^--timeout /.test(e.message) && e.exitCode === 2);
  }
  assert.throws(() => parseSince('yesterday'), /--since yesterday: expected a duration/);
  assert.equal(parseSince('2026-01-01T00:00:00Z'), Date.parse('2026-01-01T00:00:00Z') / 1000);
});
