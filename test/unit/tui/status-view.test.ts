/** The ink status view, driven with fixtures through ink-testing-library: frames and keys. */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import React from 'react';
import { cleanup, render } from 'ink-testing-library';
import { StatusView, filterRows, type StatusViewProps } from '../../../src/tui/status-view.ts';
import type { FeedState } from '../../../src/ops/status.ts';
import { feed, row, SERVICES, snapshot } from '../ops/status-fixtures.ts';

const h = React.createElement;
// eslint-disable-next-line no-control-regex
const plain = (s: string | undefined): string => (s ?? '').replace(/\x1b\[[0-9;]*m/g, '');
const tick = (ms = 30): Promise<void> => new Promise((r) => setTimeout(r, ms));
const KEY = { up: '\x1b[A', down: '\x1b[B', esc: '\x1b', enter: '\r', backspace: '\x7f' };

afterEach(() => cleanup());

function mount(state: FeedState, over: Partial<StatusViewProps> = {}) {
  const calls = { refresh: 0, quit: 0, logs: [] as string[] };
  const props: StatusViewProps = {
    state,
    onRefresh: () => void calls.refresh++,
    onQuit: () => void calls.quit++,
    loadLogs: async (c) => {
      calls.logs.push(c);
      return [`${c} line 1`, `${c} line 2`];
    },
    ...over,
  };
  const app = render(h(StatusView, props));
  return { app, calls, frame: () => plain(app.lastFrame()) };
}

test('healthy stack: header, every service in order, traffic with sparklines, no alerts', () => {
  const { frame } = mount(feed(snapshot()));
  const f = frame();
  assert.match(f, /modelship status · demo · HEALTHY · active blue · 10:00:00Z/);
  const order = ['demo-nginx', 'demo-api-blue', 'demo-worker-1', 'demo-postgres', 'demo-redis', 'demo-prometheus'].map((c) => f.indexOf(c));
  assert.ok(order.every((i, k) => i > 0 && (k === 0 || i > order[k - 1]!)), `rows in order: ${order.join(',')}`);
  assert.match(f, /› nginx +demo-nginx/, 'the first row is selected');
  assert.match(f, /blue\* +running +healthy +2h5m +0 +1\.5% +120MiB +modelship\//);
  assert.ok(f.split('\n').every((l) => l.length <= 100), 'rows are truncated to the terminal width, never wrapped');
  assert.match(f, /traffic: 12\.5 req\/s/);
  assert.match(f, /req\/s {2}▂▄▃█▅ +12\.5/);
  assert.match(f, /queue: 3 waiting, 1 active/);
  assert.match(f, /database: 48\.0MiB, 12\/100 connections/);
  assert.match(f, /backup: last 8h ago, verified/);
  assert.match(f, /alerts: none/);
  assert.match(f, /q quit {2}r refresh {2}l logs {2}↑\/↓ select {2}\/ filter {2}\? help/);
});

test('degraded stack: the unhealthy row and the alerts that would fire', () => {
  const snap = snapshot({
    services: SERVICES.map((s) => row(s, s === 'worker' ? { health: 'unhealthy', restarts: 4 } : {})),
    queue: { waiting: 250, active: 0, failed: 3, inferenceInflight: 0 },
  });
  const f = mount(feed(snap)).frame();
  assert.match(f, /DEGRADED/);
  assert.match(f, /demo-worker-1 +running +unhealthy +2h5m +4/);
  assert.match(f, /alerts \(2\):/);
  assert.match(f, /✖ WorkersDown: no queue worker is running healthy/);
  assert.match(f, /▲ QueueBacklog: 250 jobs waiting \(threshold 100\)/);
});

test('engine down: says so and that it reconnects', () => {
  const snap = snapshot({ engine: { ok: false, error: 'connect ENOENT /var/run/docker.sock' }, services: [] });
  const f = mount(feed(snap, { reconnecting: true })).frame();
  assert.match(f, /UNREACHABLE/);
  assert.match(f, /reconnecting…/);
  assert.match(f, /Docker Engine unreachable: connect ENOENT \/var\/run\/docker\.sock/);
  assert.doesNotMatch(f, /SERVICE/);
});

test('empty stack and first load', () => {
  assert.match(mount(feed(snapshot({ services: [] }))).frame(), /EMPTY[\s\S]*stack demo has no containers: run `modelship deploy`/);
  assert.match(mount(feed(null)).frame(), /loading…[\s\S]*reading the stack…/);
});

test('keys: q quits, r refreshes', async () => {
  const { app, calls } = mount(feed(snapshot()));
  await tick();
  app.stdin.write('r');
  await tick();
  app.stdin.write('q');
  await tick();
  assert.deepEqual([calls.refresh, calls.quit], [1, 1]);
});

test('keys: ↑/↓ move the selection, l shows that service\'s logs, l closes them', async () => {
  const { app, calls, frame } = mount(feed(snapshot()));
  await tick();
  app.stdin.write(KEY.down);
  await tick();
  app.stdin.write(KEY.down);
  await tick();
  app.stdin.write(KEY.up);
  await tick();
  assert.match(frame(), /› api-blue +demo-api-blue/);
  assert.doesNotMatch(frame(), /› nginx/);
  app.stdin.write('l');
  await tick(50);
  assert.deepEqual(calls.logs, ['demo-api-blue']);
  assert.match(frame(), /logs: demo-api-blue \(l or esc to close\)[\s\S]*demo-api-blue line 2/);
  assert.doesNotMatch(frame(), /traffic:/);
  app.stdin.write('l');
  await tick();
  assert.doesNotMatch(frame(), /logs: demo-api-blue/);
  assert.match(frame(), /traffic:/);
  // ↓ stops at the last row.
  for (let i = 0; i < 10; i++) app.stdin.write(KEY.down);
  await tick();
  app.stdin.write('l');
  await tick(50);
  assert.equal(calls.logs.at(-1), 'demo-prometheus');
});

test('keys: ? toggles the help, esc closes it', async () => {
  const { app, frame } = mount(feed(snapshot()));
  await tick();
  app.stdin.write('?');
  await tick();
  assert.match(frame(), /keys[\s\S]*l {10}logs of the selected service[\s\S]*Read-only/);
  assert.doesNotMatch(frame(), /SERVICE/);
  app.stdin.write(KEY.esc);
  await tick(80);
  assert.match(frame(), /SERVICE/);
});

test('keys: / filters the rows; q while typing is text; enter keeps, esc clears', async () => {
  const { app, calls, frame } = mount(feed(snapshot()));
  await tick();
  app.stdin.write('/');
  await tick();
  for (const ch of 'postq') {
    app.stdin.write(ch);
    await tick(5);
  }
  await tick();
  assert.equal(calls.quit, 0, 'q is text while filtering');
  assert.match(frame(), /filter: postq█/);
  assert.match(frame(), /no service matches "postq"/);
  app.stdin.write(KEY.backspace);
  await tick();
  app.stdin.write(KEY.enter);
  await tick();
  const f = frame();
  assert.match(f, /demo-postgres/);
  assert.doesNotMatch(f, /demo-redis/);
  assert.match(f, /\/ filter \[post\]/);
  app.stdin.write('/');
  await tick();
  app.stdin.write(KEY.esc);
  await tick(80);
  assert.match(frame(), /demo-redis/);
});

test('filterRows matches service, container, image, state and health', () => {
  const rows = SERVICES.map((s) => row(s, s === 'redis' ? { health: 'unhealthy' } : {}));
  assert.deepEqual(filterRows(rows, 'UNHEALTHY').map((r) => r.service), ['redis']);
  assert.deepEqual(filterRows(rows, 'modelship/api').map((r) => r.service), ['worker', 'api-blue']);
  assert.equal(filterRows(rows, '  ').length, rows.length);
});
