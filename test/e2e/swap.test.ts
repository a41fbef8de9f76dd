/**
 * Blue/green under real load through real nginx: swap, rollback, swap again with zero non-2xx
 * responses and zero connection errors; releases that never become ready or crash at start fail
 * the swap while the load still sees no error; two swaps at once are refused by the lock.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import autocannon from 'autocannon';
import { execInContainer } from '../../src/docker/exec.ts';
import { API_IMAGE, buildImage as build, ROOT, cleanup, docker, e2eSkip, ms, projectContainers, stackDir } from './helpers.ts';

const skip = await e2eSkip();
const NEVER_READY = 'modelship-test/api-never-ready:1';
const CRASHES = 'modelship-test/api-crash:1';
const s = await stackDir(
  'swap',
  'rateLimit: {perMinute: 1000000, burst: 1000000, nginx: {ratePerSecond: 100000, burst: 100000}}\ncache: {enabled: true}',
);
let key = '';
const photo = readFileSync(path.join(ROOT, 'test/fixtures/images/coffee.jpg'));

async function apiContainer(): Promise<string> {
  const list = await projectContainers(s.project, false);
  const c = list.find((x) => /^api-(blue|green)$/.test(x.Labels['com.docker.compose.service'] ?? ''));
  assert.ok(c, 'a running API container');
  return c.Id;
}

async function servedBy(): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${s.httpPort}/health`);
  return r.headers.get('x-served-by') ?? '';
}

interface LoadResult {
  total: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  rps: number;
  statusCodes: Record<string, number>;
}

/** Continuous load through nginx while `during` runs: text and image classification plus health. */
async function underLoad(during: () => Promise<void>): Promise<LoadResult> {
  const auth = { authorization: `Bearer ${key}` };
  const instance = autocannon({
    url: `http://127.0.0.1:${s.httpPort}`,
    connections: 16,
    duration: 300,
    overallRate: 240,
    requests: [
      { method: 'POST', path: '/v1/classify/text', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ text: 'The release went smoothly and I love it' }) },
      { method: 'POST', path: '/v1/classify/image', headers: { ...auth, 'content-type': 'image/jpeg' }, body: photo },
      { method: 'GET', path: '/health' },
    ],
  });
  const done = new Promise<autocannon.Result>((resolve) => instance.on('done', resolve));
  await new Promise((r) => setTimeout(r, 2000));
  try {
    await during();
  } finally {
    await new Promise((r) => setTimeout(r, 2000));
    instance.stop();
  }
  const res = await done;
  return {
    total: res.requests.total,
    non2xx: res.non2xx,
    errors: res.errors,
    timeouts: res.timeouts,
    rps: res.requests.average,
    statusCodes: Object.fromEntries(Object.entries(res.statusCodeStats ?? {}).map(([k, v]) => [k, (v as { count: number }).count])),
  };
}

before(async () => {
  if (skip) return;
  await cleanup(s);
  await build(NEVER_READY, `FROM ${API_IMAGE}\nENTRYPOINT ["node", "-e", "require('http').createServer((q, r) => { r.statusCode = q.url === '/health/live' ? 200 : 503; r.end('not ready'); }).listen(8000)"]\n`);
  await build(CRASHES, `FROM ${API_IMAGE}\nENTRYPOINT ["sh", "-c", "echo 'fatal: model file missing' >&2; exit 1"]\n`);
  const r = await ms(s, ['deploy', '--timeout', '180s']);
  assert.equal(r.exitCode, 0, r.all);
  const h = await execInContainer(docker, await apiContainer(), ['modelship', 'keys', 'create', '--name', 'load-test', '--json']);
  let out = '';
  h.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const res = await h.done;
  assert.equal(res.exitCode, 0, res.stderr);
  key = (JSON.parse(out) as { key: string }).key;
  assert.ok(key);
});
after(async () => {
  if (!skip) await cleanup(s);
});

test('swap → rollback → swap under load: zero non-2xx, zero connection errors, colour changes', { skip, timeout: 300_000 }, async () => {
  assert.equal(await servedBy(), 'api-blue');
  const seen: string[] = [];
  const load = await underLoad(async () => {
    for (const [cmd, expect] of [['swap', 'api-green'], ['rollback', 'api-blue'], ['swap', 'api-green']] as const) {
      const r = await ms(s, [cmd, '--health-timeout', '180s', '--json']);
      assert.equal(r.exitCode, 0, r.all);
      const body = JSON.parse(r.stdout) as { to: string; timingsMs: { total: number } };
      assert.equal(`api-${body.to}`, expect);
      seen.push(await servedBy());
    }
  });
  assert.deepEqual(seen, ['api-green', 'api-blue', 'api-green'], 'the serving colour changed each time');
  assert.ok(load.total > 1000, `enough load: ${JSON.stringify(load)}`);
  assert.equal(load.non2xx, 0, `non-2xx responses: ${JSON.stringify(load)}`);
  assert.equal(load.errors, 0, `connection errors: ${JSON.stringify(load)}`);
  assert.equal(load.timeouts, 0);
  const ps = JSON.parse((await ms(s, ['ps', '--json'])).stdout) as { activeColor: string; containers: Array<{ service: string; state: string; active: boolean }> };
  assert.equal(ps.activeColor, 'green');
  assert.equal(ps.containers.find((c) => c.service === 'api-blue')?.state, 'exited', 'the old colour is kept, stopped');
});

for (const [name, image, expect] of [
  ['never becomes ready', NEVER_READY, /not ready after|did not become ready/],
  ['crashes at start', CRASHES, /fatal: model file missing|exited with code 1|migrations exited/],
] as const) {
  test(`a release that ${name}: swap fails in time, no request fails, old colour keeps serving`, { skip, timeout: 600_000 }, async () => {
    const before = await servedBy();
    let result: Awaited<ReturnType<typeof ms>> | undefined;
    const t0 = Date.now();
    const load = await underLoad(async () => {
      result = await ms(s, ['swap', '--image', image, '--health-timeout', '15s']);
    });
    const took = Date.now() - t0;
    assert.equal(result!.exitCode, 1, result!.all);
    assert.match(result!.stderr, expect);
    assert.ok(took < 60_000, `swap gave up in time (${took} ms)`);
    assert.equal(load.non2xx, 0, JSON.stringify(load));
    assert.equal(load.errors, 0, JSON.stringify(load));
    assert.equal(await servedBy(), before, 'old colour still active');
    const other = before === 'api-blue' ? 'api-green' : 'api-blue';
    const leftovers = (await projectContainers(s.project)).filter((c) => c.Labels['com.docker.compose.service'] === other && c.Image === image);
    assert.equal(leftovers.length, 0, 'the failed colour was removed');
  });
}

test('two swaps at once: the second is refused by the lock', { skip, timeout: 600_000 }, async () => {
  const [a, b] = await Promise.all([ms(s, ['swap']), new Promise((r) => setTimeout(r, 300)).then(() => ms(s, ['swap']))]);
  const codes = [a.exitCode, b.exitCode].sort();
  assert.deepEqual(codes, [0, 1], `${a.all}\n---\n${b.all}`);
  assert.match((a.exitCode === 1 ? a : b).stderr, /is locked by .+ running swap since/);
});
