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

/** Runs a container's own healthcheck test once through the exec API, as deploy's gate does. */
async function gateCheck(id: string): Promise<boolean> {
  const c = docker.getContainer(id);
  const test = (await c.inspect()).Config.Healthcheck!.Test!;
  const cmd = test[0] === 'CMD-SHELL' ? ['/bin/sh', '-c', test.slice(1).join(' ')] : test.slice(1);
  const x = await c.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await x.start({});
  stream.resume();
  await new Promise((r) => stream.on('end', r));
  return (await x.inspect()).ExitCode === 0;
}

test('17: ps says healthy as soon as the check deploy gates on passes, not an engine interval later', { skip }, async () => {
  // Asked the moment the fresh deploy of before() returned: nothing deploy gated is "starting".
  const p = await psJson();
  const withCheck = p.containers.filter((c) => c.health !== 'running' && c.health !== '-');
  assert.ok(withCheck.length >= 6, JSON.stringify(p.containers));
  assert.deepEqual(withCheck.filter((c) => c.health !== 'healthy').map((c) => `${c.container}: ${c.health}`), []);

  // The same moment made exact: restart the worker, pass its gate (its own check, run as deploy
  // runs it), then ask. The engine runs its first check only an interval (10 s) after the start
  // on this engine (API < 1.44: no StartInterval), so the old ps said "starting" here.
  const worker = p.containers.find((c) => c.service === 'worker')!;
  await docker.getContainer(worker.container).restart({ t: 5 });
  const end = Date.now() + 60_000;
  while (!(await gateCheck(worker.container))) {
    assert.ok(Date.now() < end, 'the worker never passed its check');
    await new Promise((r) => setTimeout(r, 500));
  }
  const after = (await psJson()).containers.find((c) => c.service === 'worker')!;
  assert.equal(after.health, 'healthy', JSON.stringify(after));
  const engine = (await docker.getContainer(worker.container).inspect()).State.Health?.Status;
  if (engine === 'starting') assert.equal(after.healthBy, 'probe', 'the engine has not checked yet: ps ran the check itself');
  // status reads the same rows: no "starting" there either.
  const st = await ms(s, ['status', '--json']);
  const snap = JSON.parse(st.stdout) as Snap;
  assert.deepEqual(snap.services.filter((x) => x.health === 'starting').map((x) => x.service), []);
});

test('13 + 14: after a swap the stopped standby colour is healthy by design: status exit 0, doctor passes', { skip }, async (tc) => {
  const traffic = steadyTraffic(`http://127.0.0.1:${s.httpPort}/health`);
  const r = await ms(s, ['swap']);
  const t = await traffic.stop();
  tc.diagnostic(`swap under load: ${JSON.stringify(t)}`);
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

test('12: rotating POSTGRES_PASSWORD and REDIS_PASSWORD in .env and deploying: the role gets the new password, nothing is locked out', { skip }, async (tc) => {
  const envFile = path.join(s.dir, '.env');
  const before = readFileSync(envFile, 'utf8');
  writeFileSync(envFile, before.replace(/^POSTGRES_PASSWORD=.*$/m, 'POSTGRES_PASSWORD=rotated-pg-Pa55').replace(/^REDIS_PASSWORD=.*$/m, 'REDIS_PASSWORD=rotated-redis-Pa55'), { mode: 0o600 });
  const traffic = steadyTraffic(`http://127.0.0.1:${s.httpPort}/health`);
  const r = await ms(s, ['deploy', '--timeout', '180s']);
  const t = await traffic.stop();
  tc.diagnostic(`rotation deploy under load: ${JSON.stringify(t)}`);
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

test('12: a password rotated while postgres was down: deploy names the refused password, the next deploy sets it', { skip }, async () => {
  const envFile = path.join(s.dir, '.env');
  const down = await ms(s, ['down']);
  assert.equal(down.exitCode, 0, down.all);
  writeFileSync(envFile, readFileSync(envFile, 'utf8').replace(/^POSTGRES_PASSWORD=.*$/m, 'POSTGRES_PASSWORD=rotated-while-down-Pa55'), { mode: 0o600 });
  // postgres starts on its old data volume, which keeps the previous password: the first thing
  // that logs in is refused, and deploy says so (the old code said only "not ready after …").
  const failed = await ms(s, ['deploy', '--timeout', '60s']);
  assert.equal(failed.exitCode, 1, failed.all);
  assert.match(failed.all, /PostgreSQL refused the password for role modelship \(POSTGRES_PASSWORD in \.env is not the role's password\)/);
  assert.match(failed.all, /deploy sets the role's password to POSTGRES_PASSWORD from \.env while postgres runs/);
  // postgres runs now: the next deploy brings the role to .env first, and everything comes up.
  const healed = await ms(s, ['deploy', '--timeout', '180s']);
  assert.equal(healed.exitCode, 0, healed.all);
  assert.match(healed.all, /PostgreSQL password.*role modelship set to POSTGRES_PASSWORD/);
  const ready = await fetch(`http://127.0.0.1:${s.httpPort}/health/ready`);
  assert.equal(ready.status, 200, await ready.text());
});
