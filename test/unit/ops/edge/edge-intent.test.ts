/**
 * The pure parts of the edge (probe output → facts → verdict), interrupted-switch reconciliation
 * (intent + what nginx serves → finish / discard / revert), the colour `ps` shows as active, and
 * stale-lock detection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeEdge, parseProbeOutput } from '../../../../src/ops/edge/check.ts';
import { decideIntent, servingColor } from '../../../../src/ops/intent.ts';
import { lockIsStale, type HostState, type SwitchIntent } from '../../../../src/docker/host-state.ts';
import { isEngineGone, engineWentAway } from '../../../../src/docker/engine.ts';

const GNU_200 = `--2026-12-01 22:00:00--  http://127.0.0.1/health
Connecting to 127.0.0.1:80... connected.
HTTP request sent, awaiting response...
  HTTP/1.1 200 OK
  Server: nginx
  Content-Type: application/json; charset=utf-8
  x-modelship-color: blue
  X-Served-By: api-blue
Length: 42 [application/json]
Saving to: '/dev/null'
`;
const GNU_502 = `HTTP request sent, awaiting response...
  HTTP/1.1 502 Bad Gateway
  Server: nginx
  X-Served-By: api-green
2026-12-01 22:00:00 ERROR 502: Bad Gateway.
`;
// busybox (Alpine's and Debian's) prints no headers for a 5xx.
const BUSYBOX_502 = `Connecting to 127.0.0.1 (127.0.0.1:80)
wget: server returned error: HTTP/1.1 502 Bad Gateway
`;
const REDIRECTED = `  HTTP/1.1 301 Moved Permanently
  Location: https://localhost/health
  X-Served-By: api-green
  HTTP/1.1 200 OK
  X-Served-By: api-blue
  X-Modelship-Color: blue
`;

test('probe output: GNU and busybox wget, redirects, no answer', () => {
  assert.deepEqual(parseProbeOutput(GNU_200), { status: 200, servedBy: 'api-blue', answeredBy: 'blue' });
  assert.deepEqual(parseProbeOutput(GNU_502), { status: 502, servedBy: 'api-green', answeredBy: null });
  assert.deepEqual(parseProbeOutput(BUSYBOX_502), { status: 502, servedBy: null, answeredBy: null });
  assert.deepEqual(parseProbeOutput(REDIRECTED), { status: 200, servedBy: 'api-blue', answeredBy: 'blue' });
  const none = parseProbeOutput('Connecting to 127.0.0.1:80... failed: Connection refused.\n');
  assert.equal(none.status, null);
  assert.match(none.error!, /Connection refused/);
});

test('edge verdict: serving, wrong colour (drift), dead upstream, nginx not running', () => {
  const reached = { reached: true } as const;
  assert.equal(judgeEdge({ ...reached, ...parseProbeOutput(GNU_200) }, 'blue').ok, true);
  const wrong = judgeEdge({ ...reached, ...parseProbeOutput(GNU_200) }, 'green');
  assert.equal(wrong.ok, false);
  assert.equal(wrong.wrongColor, true);
  assert.match(wrong.summary, /routes to api-blue but the active colour is green/);
  const dead = judgeEdge({ ...reached, ...parseProbeOutput(GNU_502) }, 'green');
  assert.equal(dead.ok, false);
  assert.equal(dead.wrongColor, false);
  assert.match(dead.summary, /HTTP 502 from api-green/);
  const off = judgeEdge({ reached: false, status: null, servedBy: null, answeredBy: null, error: 'nginx is not running' }, 'blue');
  assert.match(off.summary, /no request reaches nginx: nginx is not running/);
  const unprobed = judgeEdge({ reached: false, unprobed: true, status: null, servedBy: null, answeredBy: null, error: 'could not run wget in the nginx container (exit 127)' }, 'blue');
  assert.equal(unprobed.ok, true, 'an image without wget is not a dead edge');
  assert.match(unprobed.summary, /^not checked: could not run wget/);
  // nginx routes to the right name but another colour answers (a container on the wrong alias).
  const impostor = judgeEdge({ reached: true, status: 200, servedBy: 'api-blue', answeredBy: 'green' }, 'blue');
  assert.equal(impostor.ok, false);
  assert.equal(impostor.wrongColor, true);
});

const intent: SwitchIntent = { operation: 'swap', from: 'blue', to: 'green', image: 'api:2', previousImage: 'api:1', startedAt: '2026-12-01T22:00:00.000Z' };
const state = (over: Partial<HostState> = {}): HostState => ({ activeColor: 'blue', colors: {}, switching: intent, ...over });

test('intent: nginx already serves the new colour → finish; still the old one → discard', () => {
  const both = new Set(['blue', 'green']);
  assert.deepEqual(decideIntent({ colors: {}, activeColor: 'blue' }, both, 'blue', 'blue'), { kind: 'none' });
  const fin = decideIntent(state(), both, 'green', 'green');
  assert.equal(fin.kind, 'finish');
  assert.match(fin.kind === 'finish' ? fin.why : '', /interrupted swap blue → green: nginx serves green/);
  assert.equal(decideIntent(state(), both, 'blue', 'green').kind, 'discard', 'what nginx serves wins over the file');
  // nginx down: the file it will load decides.
  assert.equal(decideIntent(state(), both, null, 'green').kind, 'finish');
  assert.equal(decideIntent(state(), both, null, 'blue').kind, 'discard');
  // nginx serves a colour that no longer runs while the old one does: point it back.
  assert.equal(decideIntent(state(), new Set(['blue']), 'green', 'green').kind, 'revert');
});

test('ps never shows a colour with nothing running as active while the other serves', () => {
  assert.equal(servingColor(state({ switching: undefined }), new Set(['blue', 'green'])), 'blue');
  assert.equal(servingColor(state(), new Set(['green'])), 'green', 'interrupted after the drain');
  assert.equal(servingColor(state(), new Set(['blue', 'green'])), 'blue', 'both run, nginx not asked: the record');
  assert.equal(servingColor(state(), new Set(['blue', 'green']), 'green'), 'green', 'both run: what nginx serves');
  assert.equal(servingColor(state({ switching: undefined }), new Set(['blue', 'green']), 'green'), 'blue', 'no switch recorded: the record');
  assert.equal(servingColor(state({ switching: undefined }), new Set()), 'blue', 'nothing runs: the record');
});

test('a lock from a process of this host that is gone is stale; others are not', () => {
  const labels = { 'org.modelship.lock.host': 'box', 'org.modelship.lock.pid': '4242' };
  assert.equal(lockIsStale(labels, 'box', () => false), true);
  assert.equal(lockIsStale(labels, 'box', () => true), false);
  assert.equal(lockIsStale(labels, 'other-box', () => false), false, 'another host: cannot tell');
  assert.equal(lockIsStale({ 'org.modelship.lock.holder': 'old@box pid 1' }, 'box', () => false), false, 'an old lock without pid label');
  assert.equal(lockIsStale(labels, 'box'), !(() => { try { process.kill(4242, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; } })());
});

test('an engine that stopped answering is told apart from an engine error', () => {
  assert.equal(isEngineGone(Object.assign(new Error('connect ECONNREFUSED /var/run/docker.sock'), { code: 'ECONNREFUSED' })), true);
  assert.equal(isEngineGone(Object.assign(new Error('connect ENOENT /tmp/x/docker.sock'), { code: 'ENOENT' })), true);
  assert.equal(isEngineGone(new Error('socket hang up')), true);
  assert.equal(isEngineGone(Object.assign(new Error('(HTTP code 404) no such container'), { statusCode: 404 })), false);
  assert.equal(isEngineGone(new Error('api-green did not become ready')), false);
  const e = engineWentAway(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'swap', 'nothing was switched: blue still serves');
  assert.match(e.message, /^the Docker Engine went away during swap \(connect ECONNREFUSED\); nothing was switched: blue still serves$/);
  assert.match(e.hint!, /start the Docker Engine again.*modelship swap/);
  assert.equal(isEngineGone(e), true);
});

test('plan: recreating a running nginx is announced as an edge blink; a reload or a stopped nginx is not', async () => {
  const { edgeBlink } = await import('../../../../src/ops/deploy.ts');
  const actual = { id: 'n', name: 'p-nginx', labels: {}, state: 'running', image: 'nginx:1' };
  const plan = (kind: 'recreate' | 'reload', state = 'running') => ({
    project: 'p', networks: [], volumes: [],
    containers: [kind === 'recreate'
      ? { kind, service: 'nginx', name: 'p-nginx', desired: {} as never, actual: { ...actual, state }, reasons: ['image' as const, 'ports' as const] }
      : { kind, service: 'nginx', name: 'p-nginx', desired: {} as never, actual, reason: 'rendered files changed' }],
  });
  assert.match(edgeBlink(plan('recreate'))!, /nginx is recreated \(image, ports changed\): the edge drops connections/);
  assert.equal(edgeBlink(plan('reload')), null);
  assert.equal(edgeBlink(plan('recreate', 'exited')), null);
});
