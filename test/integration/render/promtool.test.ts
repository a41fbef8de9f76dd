/**
 * `promtool check config` and `promtool check rules` (Debian's prometheus package) on the rendered
 * files, copied unchanged into a temp directory laid out like MOUNT.prometheusDir so `rule_files`
 * resolves. Nothing in the files is substituted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { renderPrometheus } from '../../../src/render/prometheus.ts';
import type { Config } from '../../../src/config/schema.ts';
import { configWith, sampleConfig } from '../../helpers/render-config.ts';
import { run, skipUnless } from '../../helpers/tools.ts';

const skip = skipUnless('promtool');

function withRendered<T>(config: Config, fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-prom-'));
  try {
    for (const f of renderPrometheus(config)) {
      mkdirSync(dirname(join(dir, f.path)), { recursive: true });
      writeFileSync(join(dir, f.path), f.content);
    }
    return fn(join(dir, 'prometheus'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const CONFIGS: Array<[string, () => Config]> = [
  ['the sample config', sampleConfig],
  ['no exporters, no workers', () => configWith({ workers: { replicas: 0 }, monitoring: { exporters: { postgres: false, redis: false, nginx: false, node: false } } })],
  ['odd thresholds', () => configWith({ monitoring: { alerts: { errorRatePercent: 0.5, p95LatencySeconds: 0.25, backupMaxAgeHours: 1.5, diskUsedPercent: 99.9 } } })],
];

for (const [name, make] of CONFIGS) {
  test(`promtool check config accepts prometheus.yml (${name})`, { skip }, () => {
    withRendered(make(), (dir) => {
      const r = run('promtool', ['check', 'config', 'prometheus.yml'], dir);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout + r.stderr, /SUCCESS: prometheus\.yml is valid/);
      assert.match(r.stdout + r.stderr, /SUCCESS: \d+ rules found/, 'the rule file was found and checked too');
    });
  });

  test(`promtool check rules accepts alerts.yml (${name})`, { skip }, () => {
    withRendered(make(), (dir) => {
      const r = run('promtool', ['check', 'rules', 'alerts.yml'], dir);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /SUCCESS: \d+ rules found/);
    });
  });
}

test('promtool check rules rejects a broken rule (the check is real)', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-prom-'));
  try {
    writeFileSync(join(dir, 'alerts.yml'), 'groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: sum(rate(x[5m]) > \n');
    const r = run('promtool', ['check', 'rules', 'alerts.yml'], dir);
    assert.notEqual(r.status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
