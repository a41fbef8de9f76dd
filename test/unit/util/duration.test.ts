import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatAgo, formatElapsed, parseDurationMs, parseDurationSeconds, parseSince } from '../../../src/util/duration.ts';
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

test('elapsed time for a column: floored, two units at most', () => {
  assert.deepEqual([0, 999, 59_999, 60_000, 3_599_999, 3_600_000 + 5 * 60_000, 86_400_000 + 4 * 3_600_000 + 59_000, -5].map(formatElapsed), ['0s', '0s', '59s', '1m', '59m', '1h5m', '1d4h', '0s']);
});

test('how long ago, for a sentence: rounded to one unit; none is "never"', () => {
  const now = Date.parse('2026-12-02T12:00:00Z');
  const ago = (s: number): string => formatAgo(new Date(now - s * 1000).toISOString(), now);
  assert.deepEqual([0, 89, 90, 5399, 5400, 172_799, 172_800].map(ago), ['0s ago', '89s ago', '2m ago', '90m ago', '2h ago', '48h ago', '2d ago']);
  assert.equal(formatAgo(null, now), 'never');
  assert.equal(ago(-30), '0s ago', 'a clock slightly ahead is not "in the future"');
});
