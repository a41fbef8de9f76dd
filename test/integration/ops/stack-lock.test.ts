/**
 * The one lock wrapper every mutating stack command goes through, against the real Docker Engine
 * (the lock is a never-started container, the audit log a file in a volume): started/ok/refused/
 * failed lines, re-entrance within one call chain (the outer command still holds the lock after
 * the inner one returns: what emergency-scale relies on to record the scale under the lock), two
 * independent calls in one process refused, --force breaking a foreign lock.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { HostStore, lockName, stateName, stateVolume } from '../../../src/docker/host-state.ts';
import { LOCK_LABEL, MS_LABEL, COMPOSE_LABEL } from '../../../src/stack/names.ts';
import { heldRun, withStackLock } from '../../../src/ops/lock.ts';

const docker = new Docker();
const IMAGE = 'modelship-standin/debian:bookworm';
const project = `lockit${process.pid}`;
const target = { docker, project };
const spec = { operation: 'deploy', image: IMAGE, force: false };

async function skipReason(): Promise<string | false> {
  try {
    await docker.ping();
    await docker.getImage(IMAGE).inspect();
    return false;
  } catch {
    return `SKIPPED: needs the Docker Engine and ${IMAGE} (scripts/images.sh)`;
  }
}
const skip = await skipReason();

async function lockExists(): Promise<boolean> {
  return docker.getContainer(lockName(project)).inspect().then(() => true, () => false);
}

async function lines(): Promise<string[]> {
  return (await HostStore.peek(docker, project)).audit.map((a) => `${a.command}:${a.result}`);
}

after(async () => {
  if (skip) return;
  for (const name of [lockName(project), stateName(project)]) await docker.getContainer(name).remove({ force: true }).catch(() => undefined);
  await docker.getVolume(stateVolume(project)).remove().catch(() => undefined);
});

test('a command runs under the lock, between a started and an ok line, and releases it', { skip }, async () => {
  const r = await withStackLock(target, spec, async (run) => {
    assert.equal(await lockExists(), true, 'held while the command runs');
    assert.equal(run.nested, false);
    return 7;
  }, (n) => `did ${n} things`);
  assert.equal(r, 7);
  assert.equal(await lockExists(), false, 'released');
  assert.deepEqual((await lines()).slice(-2), ['deploy:started', 'deploy:ok']);
  assert.equal((await HostStore.peek(docker, project)).audit.at(-1)?.detail, 'did 7 things');
});

test('re-entrant: an inner command joins the outer lock, writes no lines, and leaves the lock held', { skip }, async () => {
  const before = (await lines()).length;
  await withStackLock(target, { ...spec, operation: 'emergency scale-down' }, async ({ store }) => {
    const inner = await withStackLock(target, spec, async (run) => {
      assert.equal(run.nested, true);
      return 'inner done';
    });
    assert.equal(inner, 'inner done');
    // What emergency scale-down does after its deploy: still under the lock.
    assert.equal(await lockExists(), true, 'the inner command did not release the outer lock');
    assert.ok(heldRun(project));
    await store.update((s) => void (s.savedScale = { worker: 1 }));
  });
  assert.equal(await lockExists(), false);
  assert.equal(heldRun(project), undefined, 'nothing held outside the call chain');
  assert.deepEqual((await lines()).slice(before), ['emergency scale-down:started', 'emergency scale-down:ok']);
});

test('a second, independent command is refused while the first holds the lock, and says so in the audit log', { skip }, async () => {
  let release!: () => void;
  const holding = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const inside = new Promise<void>((r) => (entered = r));
  const first = withStackLock(target, { ...spec, operation: 'swap' }, async () => {
    entered();
    await holding;
  });
  await inside;
  await assert.rejects(withStackLock(target, { ...spec, operation: 'restart worker' }, async () => assert.fail('must not run')), /is locked by .+ running swap since/);
  release();
  await first;
  const l = await lines();
  assert.ok(l.includes('restart worker:refused'), l.join(' '));
  assert.deepEqual(l.slice(-1), ['swap:ok']);
});

test('a failing command writes a failed line with the first line of its error and releases the lock', { skip }, async () => {
  await assert.rejects(withStackLock(target, { ...spec, operation: 'restart api-blue' }, async () => {
    throw new Error('api-blue did not become healthy\nlast log lines…');
  }), /did not become healthy/);
  assert.equal(await lockExists(), false);
  const last = (await HostStore.peek(docker, project)).audit.at(-1)!;
  assert.equal(`${last.command}:${last.result}`, 'restart api-blue:failed');
  assert.equal(last.detail, 'api-blue did not become healthy');
});

test('--force breaks a lock another host holds', { skip }, async () => {
  await docker.createContainer({
    name: lockName(project),
    Image: IMAGE,
    Cmd: ['true'],
    Labels: { [COMPOSE_LABEL.project]: project, [MS_LABEL.project]: project, [MS_LABEL.internal]: 'lock', [LOCK_LABEL.holder]: 'bob@elsewhere pid 1', [LOCK_LABEL.operation]: 'deploy', [LOCK_LABEL.since]: new Date().toISOString(), [LOCK_LABEL.host]: 'elsewhere', [LOCK_LABEL.pid]: '1' },
    HostConfig: { NetworkMode: 'none' },
  });
  await assert.rejects(withStackLock(target, spec, async () => undefined), /locked by bob@elsewhere pid 1 running deploy/);
  await withStackLock(target, { ...spec, force: true }, async () => undefined);
  assert.equal(await lockExists(), false);
  assert.deepEqual((await lines()).slice(-3), ['deploy:refused', 'deploy:started', 'deploy:ok']);
});
