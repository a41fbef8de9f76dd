import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import YAML from 'yaml';
import { analyzeConfig } from '../../../src/config/analyze.ts';
import { renderAll } from '../../../src/render/index.ts';
import { buildStack } from '../../../src/stack/build.ts';
import { buildSwarmStack, healthWithSecrets, swarmPrometheus, withSecretFiles, type SwarmInput } from '../../../src/swarm/spec.ts';
import { SWARM_LABEL } from '../../../src/stack/names.ts';
import { changedAspects, describeSwarmAction, planSwarm, swarmPlanChanges, type ActualSwarm } from '../../../src/swarm/plan.ts';
import { missingLabels } from '../../../src/swarm/placement.ts';
import { imageMissing, tasksPerNode, unschedulable } from '../../../src/swarm/task-report.ts';
import { configFrom } from '../../helpers/config.ts';

const YAML_BASE = 'project: shop\norchestrator: swarm\ndomains: [localhost]\nenvironment: development\ntls: {mode: "off"}\napi: {replicas: 2}\nmonitoring:\n  grafana: {enabled: false}\n  loki: {enabled: false}\n  exporters: {postgres: false, redis: false, nginx: false, node: false}\n';
const ENV = { SECRET_KEY: 'k-0123456789abcdef0123', POSTGRES_PASSWORD: 'pg-secret-value', REDIS_PASSWORD: 'redis-secret-value', GRAFANA_ADMIN_PASSWORD: 'gf' };

function swarm(yaml = YAML_BASE, over: Partial<SwarmInput> = {}) {
  const parsed = configFrom(yaml);
  const config = over.activeColor ? { ...parsed, api: { ...parsed.api, activeColor: over.activeColor } } : parsed;
  // As viewSwarm does: the files from the config as written, whatever colour is active.
  const files = renderAll(parsed, { configDir: '..', envFile: '../.env' });
  const defaults = { 'modelship/api:0.1.0': { entrypoint: ['docker-entrypoint.sh'], cmd: ['node'] }, 'postgres:16-alpine': { entrypoint: ['docker-entrypoint.sh'], cmd: ['postgres'] } };
  return buildSwarmStack(buildStack(config), {
    config,
    files,
    envValues: ENV,
    activeColor: 'blue',
    imageDefaults: defaults,
    configDir: '/srv/shop',
    profiles: ['monitoring', 'tls', 'backup'],
    ...over,
  });
}

const svc = (s: ReturnType<typeof swarm>, name: string) => s.services.find((x) => x.service === name)!;

test('config: orchestrator is single-host or swarm, with a located error otherwise', () => {
  assert.equal(configFrom('domains: [localhost]\ntls: {mode: "off"}\n').orchestrator, 'single-host');
  const a = analyzeConfig('domains: [localhost]\ntls: {mode: "off"}\norchestrator: kubernetes\n', 'm.yaml', null);
  const e = a.problems.find((p) => p.severity === 'error')!;
  assert.match(e.message, /single-host .* or swarm/);
  assert.equal(e.line, 3);
  const b = analyzeConfig('domains: [localhost]\ntls: {mode: "off"}\nswarm:\n  labels: {postgres: "Bad Label"}\n', 'm.yaml', null);
  const eb = b.problems.find((p) => p.severity === 'error')!;
  assert.match(eb.message, /node label key/);
  assert.equal(eb.line, 4);
});

test('every service of the stack becomes a swarm service on the overlays, under the stack namespace', () => {
  const s = swarm();
  assert.deepEqual(s.networks.map((n) => n.name), ['shop_frontend', 'shop_backend']);
  assert.deepEqual(s.order.slice(0, 2), ['postgres', 'redis']);
  assert.equal(s.order.at(-1), 'nginx');
  for (const x of s.services) {
    assert.equal(x.spec.Name, `shop_${x.service}`);
    assert.equal(x.spec.Labels[SWARM_LABEL.namespace], 'shop');
    for (const n of x.spec.TaskTemplate.Networks) assert.equal(n.Aliases[0], x.service, 'nginx and the apps find each other by the single-host names');
    assert.equal(x.spec.EndpointSpec.Mode, x.service === 'nginx' ? 'vip' : 'dnsrr', 'names resolve to the tasks themselves (no IPVS), except the routing mesh edge');
  }
  // nginx routes to the live alias, which only the active colour carries, on the front network only.
  const aliases = (name: string) => svc(s, name).spec.TaskTemplate.Networks.map((n) => [n.Target, n.Aliases]);
  assert.deepEqual(aliases('api-blue'), [['shop_frontend', ['api-blue', 'api-live']], ['shop_backend', ['api-blue']]]);
  assert.deepEqual(aliases('api-green'), [['shop_frontend', ['api-green']], ['shop_backend', ['api-green']]]);
  const both = swarm(YAML_BASE, { liveColors: ['blue', 'green'] });
  assert.deepEqual(both.services.find((x) => x.service === 'api-green')!.spec.TaskTemplate.Networks[0]!.Aliases, ['api-green', 'api-live']);
  assert.equal(svc(s, 'api-blue').replicas, 2);
  assert.equal(svc(s, 'api-green').replicas, 0, 'the idle colour exists with no tasks (it keeps its image for rollback)');
});

test('stateful services are pinned to labelled nodes and stop first; the API updates start-first with rollback', () => {
  const s = swarm();
  assert.deepEqual(svc(s, 'postgres').spec.TaskTemplate.Placement.Constraints, ['node.labels.modelship.postgres==true']);
  assert.deepEqual(svc(s, 'redis').spec.TaskTemplate.Placement.Constraints, ['node.labels.modelship.redis==true']);
  assert.deepEqual(svc(s, 'prometheus').spec.TaskTemplate.Placement.Constraints, ['node.labels.modelship.monitoring==true']);
  assert.deepEqual(svc(s, 'api-blue').spec.TaskTemplate.Placement.Constraints, []);
  assert.equal(svc(s, 'postgres').spec.UpdateConfig.Order, 'stop-first');
  const api = svc(s, 'api-blue').spec;
  assert.equal(api.UpdateConfig.Order, 'start-first');
  assert.equal(api.UpdateConfig.FailureAction, 'rollback');
  assert.ok(api.TaskTemplate.ContainerSpec.HealthCheck, 'a task is running only once healthy');
  assert.equal(svc(s, 'postgres').spec.TaskTemplate.ContainerSpec.Mounts[0]!.Source, 'shop_pgdata');
});

test('nginx: routing mesh by default, host mode on edge-labelled nodes when asked', () => {
  const ingress = svc(swarm(), 'nginx').spec;
  assert.deepEqual(ingress.EndpointSpec.Ports, [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 80, PublishMode: 'ingress' }]);
  assert.deepEqual(ingress.Mode, { Replicated: { Replicas: 1 } });
  assert.equal(ingress.Labels[SWARM_LABEL.activeColor], 'blue');
  const host = svc(swarm(`${YAML_BASE}swarm: {edge: {publish: host}}\n`), 'nginx');
  assert.deepEqual(host.spec.Mode, { Global: {} });
  assert.equal(host.spec.EndpointSpec.Ports[0]!.PublishMode, 'host');
  assert.deepEqual(host.spec.TaskTemplate.Placement.Constraints, ['node.labels.modelship.edge==true']);
  assert.equal(host.spec.UpdateConfig.Order, 'stop-first', 'two tasks cannot hold one host port');
});

test('secrets are swarm secrets mounted as files; no value appears anywhere in a service spec', () => {
  const s = swarm();
  const text = JSON.stringify(s.services.map((x) => x.spec));
  for (const v of Object.values(ENV)) assert.ok(!text.includes(v), `secret value ${v} leaked into a spec`);
  const pg = svc(s, 'postgres').spec.TaskTemplate.ContainerSpec;
  assert.deepEqual(pg.Secrets.map((x) => x.File.Name), ['GRAFANA_ADMIN_PASSWORD', 'POSTGRES_PASSWORD', 'REDIS_PASSWORD', 'SECRET_KEY']);
  assert.equal(pg.Command![0], '/bin/sh');
  assert.deepEqual(pg.Args!.slice(0, 2), ['docker-entrypoint.sh', 'postgres'], 'the image\'s own entrypoint runs after the export');
  assert.ok(s.secrets.every((x) => /^shop_[a-z0-9._-]+_[0-9a-f]{10}$/.test(x.name)));
  // The image's own entrypoint is kept when the stack spec names none.
  const api = svc(s, 'api-blue').spec.TaskTemplate.ContainerSpec;
  assert.deepEqual(api.Args!.slice(0, 3), ['docker-entrypoint.sh', 'modelship', 'serve']);
  assert.equal(svc(s, 'prometheus').spec.TaskTemplate.ContainerSpec.Secrets.length, 0, 'only services that take secrets get them');
  // Redis' shell health check needs the password: it exports the files too.
  const rh = svc(s, 'redis').spec.TaskTemplate.ContainerSpec.HealthCheck!.Test;
  assert.equal(rh[0], 'CMD-SHELL');
  assert.match(rh[1]!, /^for f in \/run\/secrets\/\*; do .*; done; REDISCLI_AUTH=/);
});

test('the secret wrapper is valid shell that exports each file and runs the original command', () => {
  const w = withSecretFiles(['printenv', 'SOME_KEY']);
  const r = spawnSync(w.Command[0]!, [...w.Command.slice(1), ...w.Args], { encoding: 'utf8' });
  assert.equal(r.status, 1, 'no /run/secrets here: the command still runs (and finds no key)');
  assert.equal(spawnSync('sh', ['-n', '-c', healthWithSecrets(['CMD-SHELL', 'true'])[1]!]).status, 0);
  assert.deepEqual(healthWithSecrets(['CMD', 'pg_isready']), ['CMD', 'pg_isready']);
});

test('rotating a secret is a new secret version, rolled into the services that use it (and only those)', () => {
  const a = swarm();
  const b = swarm(YAML_BASE, { envValues: { ...ENV, REDIS_PASSWORD: 'rotated-redis-pass' } });
  const oldName = a.secrets.find((x) => x.key === 'REDIS_PASSWORD')!.name;
  const newName = b.secrets.find((x) => x.key === 'REDIS_PASSWORD')!.name;
  assert.notEqual(oldName, newName);
  assert.deepEqual(changedAspects(svc(b, 'redis'), actualOf(svc(a, 'redis'))), ['secrets']);
  assert.deepEqual(changedAspects(svc(b, 'prometheus'), actualOf(svc(a, 'prometheus'))), []);
});

test('rendered files become configs at their mount paths; Prometheus discovers every task', () => {
  const s = swarm();
  const nginx = svc(s, 'nginx').spec.TaskTemplate.ContainerSpec.Configs.map((c) => c.File.Name);
  assert.deepEqual(nginx, ['/etc/nginx/modelship/nginx.conf', '/etc/nginx/modelship/upstream.conf']);
  const prom = s.configs.find((c) => c.key === 'prometheus/prometheus.yml')!;
  const doc = YAML.parse(prom.data) as { scrape_configs: Array<{ job_name: string; dns_sd_configs?: Array<{ names: string[] }> }> };
  assert.deepEqual(doc.scrape_configs.find((j) => j.job_name === 'api-blue')!.dns_sd_configs![0]!.names, ['tasks.api-blue']);
  assert.deepEqual(doc.scrape_configs.find((j) => j.job_name === 'worker')!.dns_sd_configs![0]!.names, ['tasks.worker']);
  assert.equal(swarmPrometheus(prom.data), YAML.stringify(YAML.parse(prom.data)), 'idempotent');
  // On the swarm no file names a colour: a swap changes nginx's recorded state (a service label), no task.
  const upstream = s.configs.find((c) => c.key === 'nginx/upstream.conf')!.data;
  assert.match(upstream, /default api-live:8000;/);
  assert.doesNotMatch(upstream, /api-(blue|green)/);
  const green = swarm(YAML_BASE, { activeColor: 'green' });
  assert.deepEqual(changedAspects(svc(green, 'nginx'), actualOf(svc(s, 'nginx'))), ['state']);
  assert.deepEqual(green.configs.map((c) => c.name).sort(), s.configs.map((c) => c.name).sort());
});

function actualOf(x: ReturnType<typeof svc>) {
  return { id: 'id', name: x.name, version: 1, labels: x.spec.Labels, replicas: x.replicas, image: x.spec.TaskTemplate.ContainerSpec.Image };
}

function actualAll(s: ReturnType<typeof swarm>): ActualSwarm {
  return {
    services: s.services.map(actualOf),
    configs: s.configs.map((c) => ({ id: c.name, name: c.name })),
    secrets: s.secrets.map((c) => ({ id: c.name, name: c.name })),
    networks: s.networks.map((n) => ({ id: n.name, name: n.name })),
  };
}

test('plan: a first deploy creates everything; the same config again changes nothing', () => {
  const s = swarm();
  const first = planSwarm(s, { services: [], configs: [], secrets: [], networks: [] });
  assert.equal(first.networks.length, 2);
  assert.ok(first.services.every((a) => a.kind === 'create'));
  const again = planSwarm(swarm(), actualAll(s));
  assert.equal(swarmPlanChanges(again), 0);
  assert.deepEqual(again.staleConfigs, []);
});

test('plan: per-aspect reasons, removals, and stale versions', () => {
  const s = swarm();
  const changed = swarm(YAML_BASE.replace('api: {replicas: 2}', 'api: {replicas: 3}'), { imageIds: { 'modelship/api:0.1.0': 'sha256:rebuilt' } });
  const p = planSwarm(changed, { ...actualAll(s), services: [...actualAll(s).services, { id: 'x', name: 'shop_old', version: 1, labels: { [SWARM_LABEL.service]: 'old' }, image: 'x:1' }] });
  const api = p.services.find((a) => a.service === 'api-blue')!;
  assert.equal(api.kind, 'update');
  assert.equal(describeSwarmAction(api), 'update    shop_api-blue: image changed, files changed, replicas 2 → 3');
  assert.equal(p.services.find((a) => a.service === 'worker')!.kind, 'update', 'the worker runs the rebuilt image too');
  assert.equal(p.services.find((a) => a.service === 'postgres')!.kind, 'unchanged');
  assert.deepEqual(p.services.filter((a) => a.kind === 'remove').map((a) => a.name), ['shop_old']);
  // The app config changed (api.replicas is in it): a new version; the old one goes afterwards.
  assert.ok(p.staleConfigs.some((n) => n.startsWith('shop_app-modelship.config.yaml_')));
});

test('placement: a pinned service needs a ready node with its label', () => {
  const s = swarm();
  const node = (host: string, labels: Record<string, string>, state = 'ready') => ({ ID: host, Spec: { Labels: labels, Availability: 'active' }, Description: { Hostname: host }, Status: { State: state } });
  assert.deepEqual(missingLabels(s.services, [node('n1', { 'modelship.postgres': 'true', 'modelship.redis': 'true', 'modelship.monitoring': 'true' })]), []);
  const probs = missingLabels(s.services, [node('n1', { 'modelship.redis': 'true', 'modelship.monitoring': 'true' }), node('n2', { 'modelship.postgres': 'true' }, 'down')]);
  assert.deepEqual(probs.map((p) => [p.service, p.label, p.reason]), [
    ['postgres', 'modelship.postgres', 'n2 is down'],
    ['db-backup', 'modelship.postgres', 'n2 is down'],
  ]);
});

test('task report: nodes lacking an image, unschedulable tasks, tasks per node', () => {
  const names = new Map([['a', 'msw-n1'], ['b', 'msw-n2'], ['c', 'msw-n3']]);
  const tasks = [
    { ID: '1', ServiceID: 's', NodeID: 'b', DesiredState: 'shutdown', Spec: { ContainerSpec: { Image: 'app:2' } }, Status: { State: 'rejected', Err: 'No such image: app:2' } },
    { ID: '2', ServiceID: 's', NodeID: 'c', DesiredState: 'shutdown', Spec: { ContainerSpec: { Image: 'app:2@sha256:00' } }, Status: { State: 'rejected', Err: 'pull access denied for app, repository does not exist' } },
    { ID: '3', ServiceID: 's', NodeID: 'a', DesiredState: 'running', Spec: { ContainerSpec: { Image: 'app:2' } }, Status: { State: 'running' } },
    { ID: '4', ServiceID: 'p', DesiredState: 'running', Slot: 1, Status: { State: 'pending', Err: 'no suitable node (scheduling constraints not satisfied on 3 nodes)' } },
  ];
  assert.deepEqual(imageMissing(tasks, 'app:2', names), ['msw-n2', 'msw-n3']);
  assert.deepEqual(imageMissing(tasks, 'other:1', names), []);
  const name = (id: string) => ({ s: 'api-blue', p: 'postgres' })[id] ?? id;
  assert.deepEqual(unschedulable(tasks, name), [{ service: 'postgres', slot: 1, reason: 'no suitable node (scheduling constraints not satisfied on 3 nodes)' }]);
  assert.deepEqual(tasksPerNode(tasks, names, name), { 'msw-n1': { 'api-blue': 1 } });
});
