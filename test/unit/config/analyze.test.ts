import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { analyzeConfig, knownKeys } from '../../../src/config/analyze.ts';
import { parseSize } from '../../../src/util/size.ts';
import { fillConfigTemplate, sizeForCores } from '../../../src/config/sizing.ts';
import { configJsonSchema } from '../../../src/config/schema.ts';
import { closest } from '../../../src/config/did-you-mean.ts';

const root = path.join(import.meta.dirname, '../../..');
const template = readFileSync(path.join(root, 'templates/modelship.config.yaml'), 'utf8');

test('the commented template is a valid config with every default spelled out', () => {
  const a = analyzeConfig(fillConfigTemplate(template, 8), 'm.yaml', null);
  assert.deepEqual(a.problems.filter((p) => p.severity === 'error'), []);
  assert.equal(a.config?.api.workers, 8);
  assert.equal(a.config?.workers.replicas, 4);
  // Spelled-out values equal the schema's defaults (the template documents them truthfully).
  const defaults = analyzeConfig('domains: [api.example.com]\ntls: {email: ops@example.com}\ncors: {origins: [https://app.example.com]}\napi: {workers: 8}\nworkers: {replicas: 4}\n', 'm.yaml', null);
  assert.deepEqual(a.config, defaults.config);
});

test('the repo sample is the template sized for 4 cores', () => {
  assert.equal(readFileSync(path.join(root, 'modelship.config.yaml'), 'utf8'), fillConfigTemplate(template, 4));
});

test('defaults follow the deployment guide', () => {
  const a = analyzeConfig('domains: [api.example.com]\ntls: {email: a@b.co}\n', 'm.yaml', null);
  const c = a.config!;
  assert.equal(c.limits.maxFileSize, '50MB');
  assert.equal(c.limits.maxFiles, 100);
  assert.equal(c.limits.maxRequestSize, '500MB');
  assert.deepEqual([c.rateLimit.perMinute, c.rateLimit.burst, c.rateLimit.nginx.ratePerSecond], [60, 100, 10]);
  assert.deepEqual([c.cache.enabled, c.cache.ttlSeconds], [true, 3600]);
  assert.deepEqual(c.postgres.tuning, {
    sharedBuffers: '256MB', effectiveCacheSize: '1GB', maintenanceWorkMem: '64MB', checkpointCompletionTarget: 0.9,
    walBuffers: '16MB', defaultStatisticsTarget: 100, randomPageCost: 1.1, maxConnections: 100,
  });
  assert.ok(c.postgres.extensions.includes('pg_stat_statements'));
  assert.equal(c.backups.schedule, '0 2 * * *');
  assert.deepEqual(c.backups.retention, { daily: 7, weekly: 4, monthly: 6 });
  assert.equal(c.monitoring.prometheus.scrapeInterval, '15s');
  assert.deepEqual([c.logging.maxSize, c.logging.maxFile], ['10m', 5]);
});

test('several problems are all reported at once', () => {
  const a = analyzeConfig('api:\n  workers: 0\n  colour: blue\nlimits:\n  maxFiles: -1\nredis:\n  policy: lru\n', 'm.yaml', null);
  const paths = a.problems.filter((p) => p.severity === 'error').map((p) => p.path).sort();
  assert.deepEqual(paths, ['api.colour', 'api.workers', 'limits.maxFiles', 'redis.policy', 'tls.email']);
});

test('warnings do not block: CORS * in production is a warning', () => {
  const a = analyzeConfig('domains: [api.example.com]\ntls: {email: a@b.co}\ncors: {origins: ["*"]}\n', 'm.yaml', null);
  assert.ok(a.config);
  assert.ok(a.problems.some((p) => p.severity === 'warning' && p.path === 'cors.origins'));
});

test('a missing .env file is a warning, a missing key in a present one an error', () => {
  const cfg = 'domains: [api.example.com]\ntls: {email: a@b.co}\n';
  const none = analyzeConfig(cfg, 'm.yaml', { file: '.env', text: null });
  assert.ok(none.config);
  assert.ok(none.problems.some((p) => p.severity === 'warning'));
  const full = analyzeConfig(cfg, 'm.yaml', { file: '.env', text: 'SECRET_KEY=a\nPOSTGRES_PASSWORD=b\nREDIS_PASSWORD=c\nGRAFANA_ADMIN_PASSWORD=d\n' });
  assert.ok(full.config);
  assert.deepEqual(full.problems, []);
});

test('did-you-mean suggests close keys only', () => {
  assert.equal(closest('wrokers', ['workers', 'port']), 'workers');
  assert.equal(closest('max_file_size', ['maxFileSize', 'maxFiles']), 'maxFileSize');
  assert.equal(closest('zzzzzz', ['workers', 'port']), undefined);
  assert.ok(knownKeys(['postgres', 'tuning']).includes('sharedBuffers'));
});

test('sizes are read as binary multiples', () => {
  assert.equal(parseSize('50MB'), 50 * 1024 * 1024);
  assert.equal(parseSize('1GiB'), 1024 ** 3);
  assert.equal(parseSize('512KB'), 512 * 1024);
  assert.equal(parseSize('10B'), 10);
  assert.throws(() => parseSize('ten'));
});

test('sizing follows the scaling table', () => {
  assert.deepEqual(sizeForCores(4), { apiWorkers: 4, queueWorkers: 2 });
  assert.deepEqual(sizeForCores(8), { apiWorkers: 8, queueWorkers: 4 });
  assert.deepEqual(sizeForCores(16), { apiWorkers: 12, queueWorkers: 8 });
  assert.deepEqual(sizeForCores(64), { apiWorkers: 12, queueWorkers: 8 });
  assert.deepEqual(sizeForCores(1), { apiWorkers: 1, queueWorkers: 1 });
  assert.deepEqual(sizeForCores(2), { apiWorkers: 2, queueWorkers: 1 });
});

test('the JSON Schema describes every top-level section and rejects unknown keys', () => {
  const s = configJsonSchema() as { properties: Record<string, unknown>; additionalProperties: unknown };
  for (const key of ['project', 'tls', 'images', 'limits', 'postgres', 'redis', 'backups', 'monitoring', 'secrets', 'kubernetes']) {
    assert.ok(key in s.properties, key);
  }
  assert.equal(s.additionalProperties, false);
});

test('lenient mode (containers reading the machine-written config) drops unknown keys with a warning', () => {
  const yaml = 'domains: [api.example.com]\ntls: {email: a@b.co}\napi:\n  workers: 2\n  fromTheFuture: 3\n';
  const strict = analyzeConfig(yaml, 'm.yaml', null);
  assert.equal(strict.config, null);
  const lenient = analyzeConfig(yaml, 'm.yaml', null, { lenientUnknownKeys: true });
  assert.equal(lenient.config?.api.workers, 2);
  assert.deepEqual(lenient.problems.map((p) => [p.severity, p.path, p.line]), [['warning', 'api.fromTheFuture', 5]]);
});
