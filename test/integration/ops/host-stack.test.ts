/**
 * One view of the stack: what the commands act on is the spec the host runs (the recorded active
 * colour, the release `swap --image` pinned), read from the real host state on the Docker Engine.
 * The bug this pins: `modelship update` pulled the config's images.api instead of the pinned release.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import Docker from 'dockerode';
import { HostStore, stateName, stateVolume } from '../../../src/docker/host-state.ts';
import { hostStack, openStack } from '../../../src/ops/stack.ts';
import { imagesToPull } from '../../../src/ops/update.ts';
import { configFrom } from '../../helpers/config.ts';

const docker = new Docker();
const IMAGE = 'modelship-standin/debian:bookworm';
const project = `hoststack${process.pid}`;
const PINNED = 'shop/api:1.4.0-pinned';
const skip = await docker.ping().then(() => docker.getImage(IMAGE).inspect()).then(() => false, () => `SKIPPED: needs the Docker Engine and ${IMAGE}`);

const config = configFrom(`project: ${project}\ndomains: [localhost]\ntls: {mode: "off"}\nimages: {api: "shop/api:config"}\n`);
const h = openStack({ config, file: '/nonexistent/modelship.config.yaml', dir: '/nonexistent', envFile: '/nonexistent/.env', env: {}, warnings: [] }, { DOCKER_HOST: 'unix:///var/run/docker.sock' });

after(async () => {
  if (skip) return;
  await docker.getContainer(stateName(project)).remove({ force: true }).catch(() => undefined);
  await docker.getVolume(stateVolume(project)).remove().catch(() => undefined);
});

test('before any record, the host runs the config', { skip }, async () => {
  const s = await hostStack(h);
  assert.equal(s.spec.services.find((x) => x.name === 'api-blue')?.image, 'shop/api:config');
  assert.ok((await imagesToPull(h)).includes('shop/api:config'));
});

test('with a release pinned by swap --image and green active, every command sees that, and update pulls the pinned release', { skip }, async () => {
  await new HostStore(docker, project, IMAGE).write({ colors: { green: { image: PINNED, since: new Date().toISOString() } }, activeColor: 'green', releaseImage: PINNED });
  const s = await hostStack(h);
  assert.equal(s.activeColor, 'green');
  assert.equal(s.config.images.api, PINNED);
  for (const name of ['api-green', 'worker', 'db-backup']) assert.equal(s.spec.services.find((x) => x.name === name)?.image, PINNED, name);
  const refs = await imagesToPull(h);
  assert.ok(refs.includes(PINNED), refs.join(' '));
  assert.ok(!refs.includes('shop/api:config'), `the config's image is not what the host runs: ${refs.join(' ')}`);
});
