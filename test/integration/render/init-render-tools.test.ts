/**
 * The "done when": `modelship init && modelship render` in an empty directory yields files
 * the real tools accept. Runs the CLI, then the tools on the files as written to disk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { runCli } from '../../helpers/cli.ts';
import { run, skipUnless } from '../../helpers/tools.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'modelship-init-render-'));
const out = path.join(dir, 'compose');

test('init and render succeed in an empty directory', async () => {
  assert.equal((await runCli(['init', '--dir', dir])).code, 0);
  const r = await runCli(['render'], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
});

test('docker-compose config -q accepts the written Compose file with every profile', { skip: skipUnless('docker-compose') }, () => {
  const profiles = ['standby', 'monitoring', 'tls', 'backup'].flatMap((p) => ['--profile', p]);
  const r = run('docker-compose', ['-p', 'modelship', '-f', 'docker-compose.production.yml', ...profiles, 'config', '-q'], out);
  assert.equal(r.status, 0, r.stderr);
});

test('promtool accepts the written prometheus.yml and alerts.yml', { skip: skipUnless('promtool') }, () => {
  const cfg = run('promtool', ['check', 'config', 'prometheus.yml'], path.join(out, 'prometheus'));
  assert.equal(cfg.status, 0, cfg.stderr + cfg.stdout);
  const rules = run('promtool', ['check', 'rules', 'alerts.yml'], path.join(out, 'prometheus'));
  assert.equal(rules.status, 0, rules.stderr + rules.stdout);
});

test('the written Deployment validates against the Kubernetes schema', () => {
  const docs = parseAllDocuments(readFileSync(path.join(out, 'k8s/deployment.yml'), 'utf8'));
  const obj = docs[0]!.toJS() as Record<string, unknown>;
  assert.equal(obj.kind, 'Deployment');
  assert.doesNotThrow(() => new Deployment(obj as never).validate());
});

test('no secret value from .env appears in any written file', () => {
  const env = readFileSync(path.join(dir, '.env'), 'utf8');
  const values = [...env.matchAll(/^[A-Z_]+=(.+)$/gm)].map((m) => m[1]!);
  assert.ok(values.length >= 4);
  const files = run('find', [out, '-type', 'f']).stdout.trim().split('\n');
  assert.ok(files.length > 10);
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const v of values) assert.ok(!text.includes(v), `${f} contains a secret value`);
  }
});
