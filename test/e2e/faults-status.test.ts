/**
 * Fault cases for what the stack reports about itself, on a real engine with real nginx and
 * PostgreSQL (issue 13, items 12, 13, 14 and 17). Each case was reproduced on the old code first:
 *   17  right after deploy, `ps` showed most services "health: starting";
 *   13  after a successful swap, `status` said DEGRADED and exited 1 (the kept colour is stopped);
 *   14  `doctor` passed with the queue worker stopped;
 *   12  a new POSTGRES_PASSWORD in .env left the worker unable to log in and deploy failing with
 *       "not ready after …".
 * The cases that change the stack run under steady traffic through nginx with 0 failed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, docker, e2eSkip, ms, projectContainers, stackDir, steadyTraffic } from './helpers.ts';

const skip = await e2eSkip();
const s = await stackDir('fstatus');

before(async () => {
  if (skip) return;
  await cleanup(s);
  const r = await ms(s, ['deploy', '--timeout', '180s']);
  assert.equal(r.exitCode, 0, r.all);
});
after(async () => {
  if (!skip) await cleanup(s);
});

interface PsJson {
  activeColor: string | null;
  containers: Array<{ service: string; container: string; state: string; health: string; healthBy: string | null; color: string | null; active: boolean }>;
}
interface Snap {
  ok: boolean;
  verdict: string;
  activeColor: string;
  services: Array<{ service: string; state: string; health: string; color: string | null }>;
  alerts: Array<{ name: string; severity: string }>;
}
interface Doctor {
  checks: Array<{ id: string; status: string; why: string; fix?: string }>;
}

async function psJson(): Promise<PsJson> {
  const r = await ms(s, ['ps', '--json']);
  assert.equal(r.exitCode, 0, r.all);
  return JSON.parse(r.stdout) as PsJson;
}

async function servicesCheck(): Promise<Doctor['checks'][number]> {
  const r = await ms(s, ['doctor', '--json']);
  const d = JSON.parse(r.stdout) as Doctor;
  return d.checks.find((c) => c.id === 'services')!;
}

test('17: right after deploy, ps says healthy for every service deploy gated (no "starting")', { skip }, async () => {
  // Asked the moment the fresh deploy of before() returned.
  const p = await psJson();
  const withCheck = p.containers.filter((c) => c.health !== 'running' && c.health !== '-');
  assert.ok(withCheck.length >= 6, JSON.stringify(p.containers));
  assert.deepEqual(withCheck.filter((c) => c.health !== 'healthy').map((c) => `${c.container}: ${c.health}`), []);
  const worker = p.containers.find((c) => c.service === 'worker')!;
  assert.ok(worker.healthBy === 'probe' || worker.healthBy === 'engine', JSON.stringify(worker));
  // status reads the same rows: no "starting" there either.
  const st = await ms(s, ['status', '--json']);
  const snap = JSON.parse(st.stdout) as Snap;
  assert.deepEqual(snap.services.filter((x) => x.health === 'starting').map((x) => x.service), []);
});

test('13 + 14: after a swap the stopped standby colour is healthy by design: status exit 0, doctor passes', { skip }, async () => {
  const traffic = steadyTraffic(`http://127.0.0.1:${s.httpPort}/health`);
  const r = await ms(s, ['swap']);
  const t = await traffic.stop();
  assert.equal(r.exitCode, 0, r.all);
  assert.equal(t.failures, 0, JSON.stringify(t));
  assert.ok(t.ok > 20, JSON.stringify(t));

  const p = await psJson();
  assert.equal(p.activeColor, 'green');
  const blue = p.containers.find((c) => c.service === 'api-blue')!;
  assert.equal(blue.state, 'exited', 'swap keeps the old colour stopped for rollback');

  const st = await ms(s, ['status', '--json']);
  const snap = JSON.parse(st.stdout) as Snap;
  assert.equal(st.exitCode, 0, st.stdout);
  assert.equal(snap.ok, true);
  assert.deepEqual(snap.alerts.map((a) => a.name), ['BackupTooOld'], 'only the warning for the missing backup');
  const plain = await ms(s, ['status']);
  assert.equal(plain.exitCode, 0, plain.all);
  assert.match(plain.stdout, /api-blue +\S+-api-blue-1 +blue +exited +standby/);

  const svc = await servicesCheck();
  assert.equal(svc.status, 'pass', svc.why);
  assert.match(svc.why, /standby \S+-api-blue-1 stopped for rollback/);
});

test('14: doctor fails the services check naming a stopped worker; status exits 1', { skip }, async () => {
  const worker = (await projectContainers(s.project)).find((c) => c.Labels['com.docker.compose.service'] === 'worker')!;
  await docker.getContainer(worker.Id).stop({ t: 1 });
  try {
    const svc = await servicesCheck();
    assert.equal(svc.status, 'fail');
    assert.match(svc.why, /\S+-worker-1 is exited/);
    assert.match(svc.fix ?? '', /modelship logs worker/);
    const doc = await ms(s, ['doctor']);
    assert.equal(doc.exitCode, 1);
    assert.match(doc.stdout, /FAIL +every service of the stack runs and is healthy: \S+-worker-1 is exited/);
    const st = await ms(s, ['status', '--json']);
    assert.equal(st.exitCode, 1, st.stdout);
  } finally {
    await docker.getContainer(worker.Id).start();
  }
});

test('12: rotating POSTGRES_PASSWORD and REDIS_PASSWORD in .env and deploying: the role gets the new password, nothing is locked out', { skip }, async () => {
  const envFile = path.join(s.dir, '.env');
  const before = readFileSync(envFile, 'utf8');
  writeFileSync(envFile, before.replace(/^POSTGRES_PASSWORD=.*$/m, 'POSTGRES_PASSWORD=rotated-pg-Pa55').replace(/^REDIS_PASSWORD=.*$/m, 'REDIS_PASSWORD=rotated-redis-Pa55'), { mode: 0o600 });
  const traffic = steadyTraffic(`http://127.0.0.1:${s.httpPort}/health`);
  const r = await ms(s, ['deploy', '--timeout', '180s']);
  const t = await traffic.stop();
  assert.equal(r.exitCode, 0, r.all);
  assert.match(r.all, /PostgreSQL password.*role modelship set to POSTGRES_PASSWORD from \.env/);
  assert.equal(t.failures, 0, JSON.stringify(t));

  // Everything that logs in runs healthy with the new secrets: the API's readiness checks the
  // database and Redis over the network (password checked), the worker's health does the same.
  const ready = await fetch(`http://127.0.0.1:${s.httpPort}/health/ready`);
  const body = (await ready.json()) as { checks: Record<string, { ok: boolean }> };
  assert.equal(ready.status, 200, JSON.stringify(body));
  assert.equal(body.checks.database?.ok, true);
  assert.equal(body.checks.redis?.ok, true);
  const p = await psJson();
  for (const svc of ['worker', 'db-backup', 'postgres', 'redis']) {
    const c = p.containers.find((x) => x.service === svc)!;
    assert.equal(`${svc}: ${c.state} ${c.health}`, `${svc}: running healthy`);
  }
  // A second deploy finds the password in place (nothing to rotate, nothing to do).
  const again = await ms(s, ['deploy', '--timeout', '180s']);
  assert.equal(again.exitCode, 0, again.all);
  assert.match(again.all, /nothing to do/);
});
