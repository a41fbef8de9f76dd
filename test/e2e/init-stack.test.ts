/**
 * The stack users get: exactly what `modelship init` writes, with only what cannot run here
 * switched off (Grafana, Loki and promtail, and certbot: TLS off) and the images, ports and project
 * name pointed at this machine. Every exporter init enables runs (Debian's exporters in stand-ins
 * with the official images' contract), Prometheus scrapes every target `up`, the exporters really
 * reach what they watch, and every rendered alert rule evaluates without error.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { parseDocument } from 'yaml';
import { API_IMAGE, BIN, cleanup, e2eSkip, freePortBase, STANDIN, STANDIN_EXPORTERS, type StackDir } from './helpers.ts';

const skip = await e2eSkip(Object.values(STANDIN_EXPORTERS));
const dir = mkdtempSync(path.join(os.tmpdir(), 'modelship-e2e-init-'));
const config = path.join(dir, 'modelship.config.yaml');
const project = `mse2e-init-${process.pid % 10000}`;
const base = await freePortBase();
const s = { dir, project, config, httpPort: base + 80 } as StackDir;
const promPort = base + 90;

const run = (args: string[], timeout = 420_000) =>
  execa(process.execPath, [BIN, ...args], { reject: false, cwd: dir, env: { NO_COLOR: '1', MODELSHIP_CONFIG: config }, timeout, all: true });

async function prom<T>(api: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/${api}`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { status: string; data: T };
  assert.equal(body.status, 'success', api);
  return body.data;
}

/** Polls `check` (which throws while unmet) every 2 s for up to `ms`; the last error if it never holds. */
async function eventually<T>(ms: number, check: () => Promise<T>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

before(async () => {
  if (skip) return;
  const init = await run(['init', '--dir', dir]);
  assert.equal(init.exitCode, 0, init.all);
  const doc = parseDocument(readFileSync(config, 'utf8'));
  const initial = doc.toJS() as { environment: string; monitoring: { exporters: Record<string, boolean> } };
  assert.equal(initial.environment, 'production');
  assert.deepEqual(initial.monitoring.exporters, { postgres: true, redis: true, nginx: true, node: true }, 'init enables every exporter');
  // Only what this machine cannot run, or must not expose, differs from what init wrote.
  doc.setIn(['project'], project);
  doc.setIn(['tls', 'mode'], 'off');
  doc.setIn(['monitoring', 'grafana', 'enabled'], false);
  doc.setIn(['monitoring', 'loki', 'enabled'], false);
  doc.setIn(['ports', 'http'], base + 80);
  doc.setIn(['ports', 'https'], base + 43);
  doc.setIn(['ports', 'bind'], '127.0.0.1');
  doc.setIn(['monitoring', 'prometheus', 'port'], promPort);
  for (const [key, image] of Object.entries({ api: API_IMAGE, ...STANDIN, ...STANDIN_EXPORTERS })) doc.setIn(['images', key], image);
  writeFileSync(config, doc.toString());
  await cleanup(s);
  const r = await run(['deploy', '--timeout', '300s']);
  assert.equal(r.exitCode, 0, r.all);
});
after(async () => {
  if (!skip) await cleanup(s);
});

interface Target {
  labels: Record<string, string>;
  scrapeUrl: string;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
}

test('Prometheus scrapes every target of the init stack up, the API colour through DNS', { skip }, async () => {
  const targets = await eventually(120_000, async () => {
    const t = (await prom<{ activeTargets: Target[] }>('targets?state=active')).activeTargets;
    const jobs = [...new Set(t.map((x) => x.labels.job))].sort();
    assert.deepEqual(jobs, ['api', 'nginx', 'node', 'postgres', 'prometheus', 'redis', 'scheduler', 'worker'], JSON.stringify(t.map((x) => x.scrapeUrl)));
    const down = t.filter((x) => x.health !== 'up');
    assert.deepEqual(down.map((x) => `${x.scrapeUrl}: ${x.health} ${x.lastError}`), []);
    return t;
  });
  // The idle colour does not run, so it is no target (not a target that is down).
  assert.deepEqual(targets.filter((x) => x.labels.job === 'api').map((x) => x.labels.color), ['blue']);
});

test('each exporter really reaches what it watches', { skip }, async () => {
  for (const [expr, want] of [['pg_up', '1'], ['redis_up', '1'], ['nginx_up', '1'], ['count(node_memory_MemTotal_bytes)', '1']] as const) {
    await eventually(60_000, async () => {
      const r = await prom<{ result: Array<{ value: [number, string] }> }>(`query?query=${encodeURIComponent(expr)}`);
      assert.equal(r.result[0]?.value[1], want, `${expr}: ${JSON.stringify(r.result)}`);
    });
  }
});

interface Rule {
  name: string;
  health: string;
  lastError?: string;
  lastEvaluation: string;
  state?: string;
}

test('every rendered alert rule evaluates without error', { skip }, async () => {
  const rules = await eventually(90_000, async () => {
    const groups = (await prom<{ groups: Array<{ name: string; rules: Rule[] }> }>('rules')).groups;
    const all = groups.flatMap((g) => g.rules);
    assert.ok(all.length >= 12, `rules loaded: ${all.map((r) => r.name).join(', ')}`);
    const notYet = all.filter((r) => r.lastEvaluation.startsWith('0001-'));
    assert.deepEqual(notYet.map((r) => r.name), [], 'every rule evaluated at least once');
    return all;
  });
  assert.deepEqual(rules.filter((r) => r.health !== 'ok' || r.lastError).map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`), []);
  // On a healthy stack the service alerts go quiet once every target has been scraped (before the
  // first scrape `absent(up)` holds, so APIDown and WorkersDown may be pending for a moment; BackupTooOld
  // stays: no backup was taken).
  await eventually(60_000, async () => {
    const now = (await prom<{ groups: Array<{ rules: Rule[] }> }>('rules')).groups.flatMap((g) => g.rules);
    const loud = now.filter((r) => r.state === 'firing' || r.state === 'pending').map((r) => r.name);
    assert.deepEqual(loud.filter((n) => ['APIDown', 'DatabaseDown', 'RedisDown', 'NginxDown', 'WorkersDown', 'HighErrorRate'].includes(n)), [], loud.join(', '));
  });
});

test('status and doctor see every service of the full stack running healthy', { skip }, async () => {
  const st = await run(['status', '--json'], 120_000);
  const snap = JSON.parse(st.stdout) as { services: Array<{ service: string; state: string; health: string }>; alerts: Array<{ name: string; severity: string }> };
  assert.equal(st.exitCode, 0, st.stdout);
  for (const svc of ['postgres-exporter', 'redis-exporter', 'nginx-exporter', 'node-exporter']) {
    assert.equal(snap.services.find((x) => x.service === svc)?.state, 'running', svc);
  }
  assert.deepEqual(snap.alerts.filter((a) => a.severity === 'critical'), []);
  const doc = await run(['doctor', '--json'], 120_000);
  const services = (JSON.parse(doc.stdout) as { checks: Array<{ id: string; status: string; why: string }> }).checks.find((c) => c.id === 'services')!;
  assert.equal(services.status, 'pass', services.why);
  assert.match(services.why, /^1[0-9] container\(s\) running healthy$/);
});
