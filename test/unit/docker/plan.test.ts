import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildStack } from '../../../src/stack/build.ts';
import { desiredStack, MS_LABEL, topoOrder, type DesiredContext, type DesiredStack } from '../../../src/docker/desired.ts';
import { planChanges, planStack, type ActualContainer, type ActualStack } from '../../../src/docker/plan.ts';
import { renderAll } from '../../../src/render/index.ts';
import { configFrom, VARIANTS } from '../../helpers/config.ts';

const yaml = `${VARIANTS.defaults}workers: {replicas: 2}\n`;

function desiredFor(y: string, over: Partial<DesiredContext> = {}): DesiredStack {
  const config = configFrom(y);
  const spec = buildStack(config);
  const ids = Object.fromEntries(spec.services.map((s) => [s.image, `sha256:${s.image.length}`]));
  return desiredStack(spec, {
    renderDir: '/srv/app/compose',
    configDir: '/srv/app',
    envFileValues: { SECRET_KEY: 'k', POSTGRES_PASSWORD: 'p', REDIS_PASSWORD: 'r', GRAFANA_ADMIN_PASSWORD: 'g' },
    imageIds: ids,
    activeColor: 'blue',
    profiles: ['monitoring', 'tls', 'backup'],
    renderedFiles: renderAll(config, { configDir: '..', envFile: '../.env' }),
    ...over,
  });
}

/** What the engine would report after applying `d` exactly. */
function applied(d: DesiredStack): ActualStack {
  return {
    containers: d.containers.map((c): ActualContainer => ({
      id: `id-${c.name}`,
      name: c.name,
      labels: c.create.Labels,
      state: 'running',
      image: c.create.Image,
      networks: [c.create.HostConfig.NetworkMode, ...c.extraNetworks.map((n) => n.name), ...c.gatedNetworks.map((n) => n.name)].sort(),
    })),
    networks: d.networks.map((n) => n.name),
    volumes: d.volumes.map((v) => v.name),
  };
}

/** The file digests the host records after applying `d` (what nginx loaded). */
function loaded(d: DesiredStack): Record<string, string> {
  return Object.fromEntries(d.containers.filter((c) => c.reloadFiles !== undefined).map((c) => [c.service, c.reloadFiles!]));
}

test('an empty engine: create every network, volume and container, in dependency order', () => {
  const d = desiredFor(yaml);
  const p = planStack(d, { containers: [], networks: [], volumes: [] }, 'blue');
  assert.ok(p.containers.every((a) => a.kind === 'create'));
  const order = p.containers.map((a) => a.service);
  assert.ok(order.indexOf('postgres') < order.indexOf('api-blue'));
  assert.ok(order.indexOf('redis') < order.indexOf('worker'));
  assert.ok(order.indexOf('api-blue') < order.indexOf('nginx'));
  assert.deepEqual(p.networks, ['testing_frontend', 'testing_backend']);
  assert.ok(!order.includes('api-green'), 'the idle colour is not deployed');
  assert.equal(order.filter((s) => s === 'worker').length, 2);
});

test('the same config against its own result: nothing to do', () => {
  const d = desiredFor(yaml);
  assert.equal(planChanges(planStack(d, applied(d), 'blue', loaded(d))), 0);
});

test('one setting changes one service, with the reason', () => {
  const before = applied(desiredFor(yaml));
  const p = planStack(desiredFor(`${yaml}redis: {maxmemory: 128mb}\n`), before, 'blue', loaded(desiredFor(yaml)));
  const changed = p.containers.filter((a) => a.kind !== 'unchanged');
  assert.deepEqual(changed.map((a) => [a.service, a.kind, a.kind === 'recreate' ? a.reasons : null]), [['redis', 'recreate', ['command']]]);
});

test('an API setting recreates the API and not the worker; a nginx setting reloads nginx in place', () => {
  const before = applied(desiredFor(yaml));
  const was = loaded(desiredFor(yaml));
  const api = planStack(desiredFor(`${yaml}cors: {origins: [https://x.example.com]}\n`), before, 'blue', was);
  assert.deepEqual(api.containers.filter((a) => a.kind !== 'unchanged').map((a) => [a.service, a.kind === 'recreate' ? a.reasons : a.kind]), [['api-blue', ['config']]]);
  const edge = planStack(desiredFor(`${yaml}rateLimit: {nginx: {ratePerSecond: 50}}\n`), before, 'blue', was);
  assert.deepEqual(edge.containers.filter((a) => a.kind !== 'unchanged').map((a) => [a.service, a.kind]), [['nginx', 'reload']]);
});

test('a key both nginx and the API read (api.requestTimeoutSeconds): the API is recreated, nginx only reloads', () => {
  const before = applied(desiredFor(yaml));
  const p = planStack(desiredFor(`${yaml}api: {requestTimeoutSeconds: 45}\n`), before, 'blue', loaded(desiredFor(yaml)));
  const changes = p.containers.filter((a) => a.kind !== 'unchanged').map((a) => [a.service, a.kind]);
  assert.deepEqual(changes.sort(), [['api-blue', 'recreate'], ['nginx', 'reload']]);
});

test('nginx with no recorded file digest is reloaded once; an image change still recreates it', () => {
  const d = desiredFor(yaml);
  const p = planStack(d, applied(d), 'blue', {});
  assert.deepEqual(p.containers.filter((a) => a.kind !== 'unchanged').map((a) => [a.service, a.kind]), [['nginx', 'reload']]);
  const config = configFrom(yaml);
  const retag = desiredFor(yaml, { imageIds: { ...Object.fromEntries(d.containers.map((c) => [c.create.Image, `sha256:${c.create.Image.length}`])), [config.images.nginx]: 'sha256:new' } });
  const r = planStack(retag, applied(d), 'blue', loaded(d));
  assert.deepEqual(r.containers.filter((a) => a.kind !== 'unchanged').map((a) => [a.service, a.kind]), [['nginx', 'recreate']]);
});

test('the API joins the front network (where nginx routes by name) only after its gate', () => {
  const d = desiredFor(yaml);
  const api = d.containers.find((c) => c.service === 'api-blue')!;
  assert.equal(api.create.HostConfig.NetworkMode, 'testing_backend', 'created on the back network');
  assert.deepEqual(Object.keys(api.create.NetworkingConfig.EndpointsConfig), ['testing_backend']);
  assert.deepEqual(api.extraNetworks, []);
  assert.deepEqual(api.gatedNetworks, [{ name: 'testing_frontend', aliases: ['api-blue'] }]);
  // Running but never joined (a deploy stopped between start and gate): gate, then join.
  const actual = applied(d);
  actual.containers = actual.containers.map((c) => (c.name === api.name ? { ...c, networks: ['testing_backend'] } : c));
  const p = planStack(d, actual, 'blue', loaded(d));
  const a = p.containers.find((x) => x.name === api.name)!;
  assert.equal(a.kind, 'start');
  assert.match(a.kind === 'start' ? a.reason : '', /not on the edge network/);
});

test('a secret rotated in .env recreates the services that read it', () => {
  const before = applied(desiredFor(yaml));
  const p = planStack(desiredFor(yaml, { envFileValues: { SECRET_KEY: 'k2', POSTGRES_PASSWORD: 'p', REDIS_PASSWORD: 'r', GRAFANA_ADMIN_PASSWORD: 'g' } }), before, 'blue');
  const recreated = p.containers.filter((a) => a.kind === 'recreate').map((a) => a.service).sort();
  assert.ok(recreated.includes('api-blue') && recreated.includes('postgres'));
  assert.ok(!recreated.includes('nginx') && !recreated.includes('prometheus'));
  for (const a of p.containers) if (a.kind === 'recreate') assert.deepEqual(a.reasons, ['env']);
});

test('a retagged image (same tag, new ID) recreates its users', () => {
  const d = desiredFor(yaml);
  const before = applied(d);
  const config = configFrom(yaml);
  const p = planStack(desiredFor(yaml, { imageIds: { ...Object.fromEntries(d.containers.map((c) => [c.create.Image, `sha256:${c.create.Image.length}`])), [config.images.redis]: 'sha256:new' } }), before, 'blue', loaded(d));
  assert.deepEqual(p.containers.filter((a) => a.kind !== 'unchanged').map((a) => a.service), ['redis']);
});

test('scaling: more replicas are created, fewer are removed from the top', () => {
  const before = applied(desiredFor(yaml));
  const up = planStack(desiredFor(yaml, { replicas: { worker: 4 } }), before, 'blue');
  assert.deepEqual(up.containers.filter((a) => a.kind === 'create').map((a) => a.name), ['testing-worker-3', 'testing-worker-4']);
  const down = planStack(desiredFor(yaml, { replicas: { worker: 1 } }), before, 'blue');
  assert.deepEqual(down.containers.filter((a) => a.kind === 'remove').map((a) => [a.name, a.kind === 'remove' ? a.reason : '']), [['testing-worker-2', 'scaled down']]);
});

test('a stopped container is started, a removed service is removed, the idle colour and helpers are left alone', () => {
  const d = desiredFor(yaml);
  const actual = applied(d);
  actual.containers = actual.containers.map((c) => (c.name === 'testing-prometheus' ? { ...c, state: 'exited' } : c));
  actual.containers.push(
    { id: 'g', name: 'testing-api-green', labels: { 'com.docker.compose.project': 'testing', 'com.docker.compose.service': 'api-green', [MS_LABEL.color]: 'green' }, state: 'exited', image: 'x:1' },
    { id: 'l', name: 'testing-modelship-lock', labels: { 'com.docker.compose.project': 'testing', [MS_LABEL.internal]: 'lock' }, state: 'created', image: 'x:1' },
    { id: 'o', name: 'testing-old', labels: { 'com.docker.compose.project': 'testing', 'com.docker.compose.service': 'old-thing' }, state: 'running', image: 'x:1' },
    { id: 'x', name: 'other-postgres', labels: { 'com.docker.compose.project': 'other', 'com.docker.compose.service': 'postgres' }, state: 'running', image: 'x:1' },
  );
  const p = planStack(d, actual, 'blue', loaded(d));
  const changes = p.containers.filter((a) => a.kind !== 'unchanged').map((a) => [a.name, a.kind]);
  assert.deepEqual(changes, [['testing-prometheus', 'start'], ['testing-old', 'remove']]);
});

test('after a swap the green colour is the desired one', () => {
  const d = desiredFor(yaml, { activeColor: 'green' });
  const services = d.containers.map((c) => c.service);
  assert.ok(services.includes('api-green') && !services.includes('api-blue'));
  const nginx = d.services.find((s) => s.name === 'nginx')!;
  assert.deepEqual(nginx.dependsOn.map((x) => x.service), ['api-green']);
});

test('secrets are passed as container env from .env, never as labels', () => {
  const d = desiredFor(yaml);
  const pg = d.containers.find((c) => c.service === 'postgres')!;
  assert.ok(pg.create.Env.includes('POSTGRES_PASSWORD=p'));
  assert.ok(!JSON.stringify(pg.create.Labels).includes('=p"'));
  const prom = d.containers.find((c) => c.service === 'prometheus')!;
  assert.ok(!prom.create.Env.some((e) => e.startsWith('POSTGRES_PASSWORD')), 'services without env_file get no secrets');
});

test('dependency cycles are reported', () => {
  assert.throws(() => topoOrder([
    { name: 'a', dependsOn: [{ service: 'b', condition: 'service_started' }] },
    { name: 'b', dependsOn: [{ service: 'a', condition: 'service_started' }] },
  ] as never), /cycle: a → b → a/);
});

test('every engine healthcheck checks each second while starting (StartInterval), then at its interval', () => {
  const d = desiredFor(yaml);
  const checked = d.containers.filter((c) => c.create.Healthcheck);
  assert.ok(checked.length >= 6, checked.map((c) => c.name).join(', '));
  for (const c of checked) {
    assert.equal(c.create.Healthcheck!.StartInterval, 1_000_000_000, c.name);
    assert.ok(c.create.Healthcheck!.Interval >= 5_000_000_000, c.name);
  }
});
