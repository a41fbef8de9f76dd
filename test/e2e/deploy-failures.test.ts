/**
 * Deploy failing closed on a real engine: a broken image fails the deploy with its logs while what
 * was healthy keeps running; concurrent deploys are refused by the host-side lock.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import tar from 'tar-stream';
import { acquireLock } from '../../src/docker/host-state.ts';
import { API_IMAGE, cleanup, docker, e2eSkip, ms, projectContainers, stackDir } from './helpers.ts';

const skip = await e2eSkip();
const BROKEN = 'modelship-test/broken:1';
const s = await stackDir('fail');

async function buildBroken(): Promise<void> {
  const pack = tar.pack();
  pack.entry({ name: 'Dockerfile' }, 'FROM modelship-standin/debian:bookworm\nENTRYPOINT ["sh", "-c", "echo \\"boom: cannot start, config missing\\" >&2; exit 3"]\n');
  pack.finalize();
  const ctx = new PassThrough();
  pack.pipe(ctx);
  const stream = await docker.buildImage(ctx as unknown as NodeJS.ReadableStream, { t: BROKEN });
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
}

before(async () => {
  if (skip) return;
  await cleanup(s);
  await buildBroken();
});
after(async () => {
  if (!skip) await cleanup(s);
});

test('two deploys at once: one runs, the other is refused by the lock and names the holder', { skip }, async () => {
  const [a, b] = await Promise.all([ms(s, ['deploy', '--timeout', '180s']), ms(s, ['deploy', '--timeout', '180s'])]);
  const codes = [a.exitCode, b.exitCode].sort();
  assert.deepEqual(codes, [0, 1], `${a.all}\n----\n${b.all}`);
  const refused = a.exitCode === 1 ? a : b;
  assert.match(refused.stderr, /is locked by .+@.+ pid \d+ running deploy since/);
  assert.match(refused.stderr, /--force/);
});

test('a held lock refuses deploy; --force breaks a stale one', { skip }, async () => {
  const lock = await acquireLock(docker, s.project, 'swap (test holder)', API_IMAGE);
  try {
    s.write('redis: {maxmemory: 100mb}');
    const r = await ms(s, ['deploy']);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /running swap \(test holder\)/);
    const forced = await ms(s, ['deploy', '--force']);
    assert.equal(forced.exitCode, 0, forced.all);
  } finally {
    await lock.release();
  }
});

test('a broken image fails the deploy with its logs; PostgreSQL keeps running', { skip }, async () => {
  const pgBefore = (await projectContainers(s.project)).find((c) => c.Labels['com.docker.compose.service'] === 'postgres')!;
  s.write('redis: {maxmemory: 100mb}', { prometheus: BROKEN });
  const r = await ms(s, ['deploy', '--timeout', '30s']);
  assert.equal(r.exitCode, 1, r.all);
  assert.match(r.stderr, /deploy failed at prometheus/);
  assert.match(r.stderr, /exited with code 3/);
  assert.match(r.stderr, /boom: cannot start, config missing/, 'the failing container\'s logs are shown');
  const pg = await docker.getContainer(pgBefore.Id).inspect();
  assert.equal(pg.State.Running, true, 'postgres untouched and running');
  const audit = JSON.parse((await ms(s, ['audit', '--json'])).stdout) as Array<{ command: string; result: string }>;
  assert.equal(audit.at(-1)?.result, 'failed');
});

test('a missing image fails before anything is touched', { skip }, async () => {
  const before = (await projectContainers(s.project)).map((c) => c.Id).sort();
  s.write('redis: {maxmemory: 100mb}', { api: 'modelship-test/does-not-exist:1' });
  const r = await ms(s, ['deploy']);
  assert.equal(r.exitCode, 1);
  assert.match(r.stderr, /modelship-test\/does-not-exist:1: not present and could not be pulled/);
  assert.match(r.stderr, /modelship build/);
  assert.deepEqual((await projectContainers(s.project)).map((c) => c.Id).sort(), before);
});
