import assert from 'node:assert/strict';
import test from 'node:test';
import { chooseThreads, DEFAULT_THREADS, describePlan, planThreads } from '../../../src/inference/threading.ts';

test('planThreads: pool is a single-threaded session per worker, intra-op one session with a thread per core', () => {
  assert.deepEqual(planThreads('pool', 2, 2, 'manifest'), { layout: 'pool', sessions: 2, threadsPerSession: 1, from: 'manifest' });
  assert.deepEqual(planThreads('intra-op', 2, 2, 'default'), { layout: 'intra-op', sessions: 1, threadsPerSession: 2, from: 'default' });
  // a user who runs fewer workers than cores: pool follows the workers, intra-op still the cores
  assert.deepEqual(planThreads('pool', 8, 3, 'config'), { layout: 'pool', sessions: 3, threadsPerSession: 1, from: 'config' });
  assert.deepEqual(planThreads('intra-op', 8, 1, 'config'), { layout: 'intra-op', sessions: 1, threadsPerSession: 8, from: 'config' });
});

test('planThreads: a thread count gives as many sessions as fit the cores, never more than the workers', () => {
  assert.deepEqual(planThreads(2, 8, 8, 'config'), { layout: 'custom', sessions: 4, threadsPerSession: 2, from: 'config' });
  assert.deepEqual(planThreads(2, 8, 2, 'config'), { layout: 'custom', sessions: 2, threadsPerSession: 2, from: 'config' });
  assert.deepEqual(planThreads(1, 4, 4, 'env'), { layout: 'pool', sessions: 4, threadsPerSession: 1, from: 'env' });
  assert.deepEqual(planThreads(2, 2, 2, 'env'), { layout: 'intra-op', sessions: 1, threadsPerSession: 2, from: 'env' });
  assert.deepEqual(planThreads(16, 2, 2, 'env'), { layout: 'custom', sessions: 1, threadsPerSession: 16, from: 'env' });
});

test('chooseThreads: config by name, then config *, then MODELSHIP_ONNX_THREADS, then the manifest, then the default', () => {
  const config = { objects: 'pool' as const, '*': 'intra-op' as const };
  assert.deepEqual(chooseThreads('objects', { config, env: 1, manifest: 'intra-op' }), { choice: 'pool', from: 'config' });
  assert.deepEqual(chooseThreads('content-safety', { config, env: 1, manifest: 'pool' }), { choice: 'intra-op', from: 'config' });
  assert.deepEqual(chooseThreads('content-safety', { config: {}, env: 1, manifest: 'intra-op' }), { choice: 1, from: 'env' });
  assert.deepEqual(chooseThreads('content-safety', { manifest: 'pool' }), { choice: 'pool', from: 'manifest' });
  assert.deepEqual(chooseThreads('mine', {}), { choice: DEFAULT_THREADS, from: 'default' });
});

test('describePlan says the layout, sessions, threads and where the choice came from', () => {
  assert.equal(describePlan(planThreads('intra-op', 2, 2, 'manifest')), 'intra-op: 1 session × 2 threads (manifest)');
  assert.equal(describePlan(planThreads('pool', 2, 2, 'config')), 'pool: 2 sessions × 1 thread (config)');
  assert.equal(describePlan(planThreads(2, 8, 8, 'env')), '2 threads per session: 4 sessions × 2 threads (env)');
});

test('the config\'s models.threads reaches the server settings, and a bad value is refused with its path', async () => {
  const { ConfigSchema } = await import('../../../src/config/schema.ts');
  const { resolveSettings } = await import('../../../src/services/settings.ts');
  const c = ConfigSchema.parse({ version: 1, project: 'demo', tls: { mode: 'off' }, models: { threads: { objects: 'pool', '*': 2 } } });
  assert.deepEqual(resolveSettings({ config: c, env: {} }).models.threads, { objects: 'pool', '*': 2 });
  assert.deepEqual(resolveSettings({ config: undefined, env: {} }).models.threads, {});
  const bad = ConfigSchema.safeParse({ version: 1, project: 'demo', tls: { mode: 'off' }, models: { threads: { objects: 'lots' } } });
  assert.equal(bad.success, false);
  assert.deepEqual(bad.error!.issues[0]!.path, ['models', 'threads', 'objects']);
});
