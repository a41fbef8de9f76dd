/**
 * Faults at the edge on the system engine, real nginx, real API, under steady load: the edge
 * follows containers that come back on another address, never routes to an ungated container,
 * status/doctor/deploy judge the path a client takes, a config key both nginx and the API read is
 * released blue/green with nginx reloaded in place, a swap killed right after the reload converges,
 * and a failed swap leaves rollback possible. The engine-restart cases are in
 * faults-edge-engine.test.ts (a private dockerd).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { API_IMAGE, buildImage as build, cleanup, docker, e2eSkip, ms as msRaw, projectContainers, stackDir, steadyTraffic } from './helpers.ts';

const skip = await e2eSkip();
const NEVER_READY = 'modelship-test/api-never-ready-fe:1';
const s = await stackDir('fedge', 'rateLimit: {perMinute: 1000000, burst: 1000000, nginx: {ratePerSecond: 100000, burst: 100000}}');
const url = `http://127.0.0.1:${s.httpPort}/health`;
/** The CLI with room for a loaded CI machine (two cores shared by many stacks). */
const ms = (st: typeof s, args: string[]) => msRaw(st, args, { timeoutMs: 600_000 });
const front = `${s.project}_frontend`;

async function edge(): Promise<{ status: number; servedBy: string }> {
  const r = await fetch(url).catch(() => null);
  await r?.arrayBuffer().catch(() => undefined);
  return { status: r?.status ?? 0, servedBy: r?.headers.get('x-served-by') ?? '' };
}

/** Polls the edge until /health answers 200 from `service`; returns how long it took. */
async function servedAgain(service: string, timeoutMs = 30_000): Promise<number> {
  const t0 = Date.now();
  let last = { status: 0, servedBy: '' };
  while (Date.now() - t0 < timeoutMs) {
    last = await edge();
    if (last.status === 200 && last.servedBy === service) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`not served by ${service} within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

async function running(service: string) {
  return (await projectContainers(s.project, false)).filter((c) => c.Labels['com.docker.compose.service'] === service);
}

async function activeColor(): Promise<string> {
  const ps = JSON.parse((await ms(s, ['ps', '--json'])).stdout) as { activeColor: string };
  return ps.activeColor;
}

/** Steady load on /health through nginx from a few clients while `during` runs. */
async function underLoad(during: () => Promise<void>, clients = 3): Promise<{ ok: number; failures: number; retried: number }> {
  const loads = Array.from({ length: clients }, () => steadyTraffic(url));
  let results: Array<{ ok: number; failures: number; retried: number }>;
  try {
    await new Promise((r) => setTimeout(r, 1000));
    await during();
    await new Promise((r) => setTimeout(r, 1000));
  } finally {
    results = await Promise.all(loads.map((l) => l.stop()));
  }
  return results.reduce((a, b) => ({ ok: a.ok + b.ok, failures: a.failures + b.failures, retried: a.retried + b.retried }));
}

before(async () => {
  if (skip) return;
  await cleanup(s);
  await build(NEVER_READY, `FROM ${API_IMAGE}\nENTRYPOINT ["node", "-e", "require('http').createServer((q, r) => { r.statusCode = q.url === '/health/live' ? 200 : 503; r.end('not ready'); }).listen(8000)"]\n`);
  const r = await ms(s, ['deploy', '--timeout', '240s']);
  assert.equal(r.exitCode, 0, r.all);
});
after(async () => {
  if (!skip) await cleanup(s);
});

test('an API container back on another address, and a restarted nginx, are served again by themselves', { skip, timeout: 900_000 }, async () => {
  await servedAgain('api-blue');
  const [api] = await running('api-blue');
  assert.ok(api);
  const before = (await docker.getContainer(api.Id).inspect()).NetworkSettings.Networks[front]!.IPAddress;
  await docker.getContainer(api.Id).stop({ t: 30 });
  // Another container takes the freed address, so the API comes back on a new one.
  const filler = await docker.createContainer({
    Image: API_IMAGE, Entrypoint: ['sleep', '300'], Labels: { 'com.docker.compose.project': s.project, 'org.modelship.internal': 'test-filler' },
    HostConfig: { NetworkMode: front },
  });
  try {
    await filler.start();
    await docker.getContainer(api.Id).start();
    const after = (await docker.getContainer(api.Id).inspect()).NetworkSettings.Networks[front]!.IPAddress;
    assert.notEqual(after, before, 'the API came back on another address');
    const took = await servedAgain('api-blue', 120_000);
    console.log(`API on a new address (${before} → ${after}): served again ${took} ms after its start`);
  } finally {
    await filler.remove({ force: true });
  }
  const [nginx] = await running('nginx');
  await docker.getContainer(nginx!.Id).restart({ t: 10 });
  const took = await servedAgain('api-blue', 30_000);
  console.log(`nginx restarted: served again after ${took} ms`);
});

test('scaling the API up and down under load: nothing is routed to a replica before its gate, 0 failed', { skip, timeout: 900_000 }, async () => {
  const up = await underLoad(async () => {
    const r = await ms(s, ['scale', 'api=2', '--timeout', '180s']);
    assert.equal(r.exitCode, 0, r.all);
  });
  assert.equal((await running('api-blue')).length, 2);
  assert.equal(up.failures, 0, `scale up: ${JSON.stringify(up)}`);
  assert.ok(up.ok > 100, JSON.stringify(up));
  const down = await underLoad(async () => {
    const r = await ms(s, ['scale', 'api=1', '--timeout', '180s']);
    assert.equal(r.exitCode, 0, r.all);
  });
  assert.equal((await running('api-blue')).length, 1);
  assert.equal(down.failures, 0, `scale down: ${JSON.stringify(down)}`);
});

test('a dead edge is seen by status and doctor, and healed by deploy', { skip, timeout: 900_000 }, async () => {
  const healthy = JSON.parse((await ms(s, ['status', '--json'])).stdout) as { edge?: { ok: boolean; summary: string } };
  assert.equal(healthy.edge?.ok, true, JSON.stringify(healthy.edge));

  // 1. nginx routes to the wrong colour (an upstream file from elsewhere, then a reload).
  const file = path.join(s.dir, 'compose/nginx/upstream.conf');
  writeFileSync(file, readFileSync(file, 'utf8').replaceAll('api-blue', 'api-green').replace('active color: blue', 'active color: green'));
  const [nginx] = await running('nginx');
  const ex = await docker.getContainer(nginx!.Id).exec({ Cmd: ['nginx', '-s', 'reload', '-c', '/etc/nginx/modelship/nginx.conf'] });
  await ex.start({});
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await edge()).status, 502);
  const st = await ms(s, ['status', '--json']);
  assert.equal(st.exitCode, 1, st.all);
  const snap = JSON.parse(st.stdout) as { edge: { ok: boolean; summary: string }; alerts: Array<{ name: string; message: string }>; verdict: string };
  assert.equal(snap.edge.ok, false);
  assert.match(snap.edge.summary, /nginx routes to api-green but the active colour is blue/);
  assert.ok(snap.alerts.some((a) => a.name === 'EdgeDown'), JSON.stringify(snap.alerts));
  assert.equal(snap.verdict, 'down');
  const doc = await ms(s, ['doctor', '--json']);
  const checks = (JSON.parse(doc.stdout) as { checks: Array<{ id: string; status: string; why: string }> }).checks;
  assert.equal(checks.find((c) => c.id === 'edge')?.status, 'fail', JSON.stringify(checks.find((c) => c.id === 'edge')));
  const plan = await ms(s, ['plan']);
  assert.equal(plan.exitCode, 0, plan.all);
  const healed = await ms(s, ['deploy']);
  assert.equal(healed.exitCode, 0, healed.all);
  assert.match(healed.all, /edge healed: nginx routes to api-green but the active colour is blue/);
  await servedAgain('api-blue', 5000);

  // 2. The active colour's container is off the network nginx routes on.
  const [api] = await running('api-blue');
  await docker.getNetwork(front).disconnect({ Container: api!.Id });
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal((await edge()).status, 502);
  const st2 = JSON.parse((await ms(s, ['status', '--json'])).stdout) as { edge: { ok: boolean; summary: string } };
  assert.equal(st2.edge.ok, false);
  assert.match(st2.edge.summary, /HTTP 502 from api-blue/);
  const p2 = await ms(s, ['plan']);
  assert.match(p2.stdout, /start\s+\S+-api-blue-1\s+\(not on the edge network/);
  const h2 = await ms(s, ['deploy']);
  assert.equal(h2.exitCode, 0, h2.all);
  await servedAgain('api-blue', 5000);
  const after = JSON.parse((await ms(s, ['status', '--json'])).stdout) as { edge: { ok: boolean } };
  assert.equal(after.edge.ok, true);
});

test('api.requestTimeoutSeconds (read by nginx and the API) is released blue/green; nginx reloads in place: 0 failed', { skip, timeout: 900_000 }, async () => {
  const [nginxBefore] = await running('nginx');
  const text = readFileSync(s.config, 'utf8');
  assert.match(text, /^api: \{workers: 1\}$/m);
  writeFileSync(s.config, text.replace(/^api: \{workers: 1\}$/m, 'api: {workers: 1, requestTimeoutSeconds: 45}'));
  const plan = await ms(s, ['plan', '--json']);
  const actions = (JSON.parse(plan.stdout) as { containers: Array<{ action: string; service: string }> }).containers.filter((a) => a.action !== 'unchanged');
  assert.deepEqual(actions.map((a) => `${a.service}:${a.action}`).sort(), ['api-blue:recreate', 'nginx:reload']);
  let out = '';
  const load = await underLoad(async () => {
    const r = await ms(s, ['deploy', '--timeout', '180s']);
    out = r.all ?? '';
    assert.equal(r.exitCode, 0, r.all);
  });
  assert.match(out, /API released blue\/green .*: blue → green/);
  const [nginxAfter] = await running('nginx');
  assert.equal(nginxAfter!.Id, nginxBefore!.Id, 'nginx was reloaded, not recreated');
  assert.match(readFileSync(path.join(s.dir, 'compose/nginx/nginx.conf'), 'utf8'), /proxy_read_timeout 45s;/);
  assert.equal((await edge()).servedBy, 'api-green');
  assert.equal(load.failures, 0, JSON.stringify(load));
  assert.ok(load.ok > 100, JSON.stringify(load));
  const again = await ms(s, ['deploy']);
  assert.match(again.stdout, /nothing to do/, again.all);
});

test('swap killed right after the nginx reload, then swap --force: converges with 0 failed; ps and deploy agree with nginx', { skip, timeout: 900_000 }, async () => {
  const from = await activeColor();
  const to = from === 'blue' ? 'green' : 'blue';
  let interrupted = false;
  let rerun = '';
  const load = await underLoad(async () => {
    const child = ms(s, ['swap', '--health-timeout', '180s']);
    const t0 = Date.now();
    while (Date.now() - t0 < 240_000) {
      if ((await edge()).servedBy === `api-${to}`) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await child;
    const ps = JSON.parse((await ms(s, ['ps', '--json'])).stdout) as { activeColor: string; switching?: { from: string; to: string }; containers: Array<{ service: string; state: string; active: boolean }> };
    interrupted = ps.switching !== undefined;
    console.log(`killed: the host state ${interrupted ? `records the interrupted switch ${ps.switching!.from} → ${ps.switching!.to}` : 'had already recorded the switch'}`);
    for (const c of ps.containers) if (c.active) assert.equal(c.state, 'running', `ps shows ${c.service} active while ${c.state}`);
    assert.equal(ps.activeColor, to, 'ps shows the colour nginx serves');
    const r = await ms(s, ['swap', '--force', '--health-timeout', '180s']);
    rerun = r.all ?? '';
    assert.equal(r.exitCode, 0, r.all);
  });
  if (interrupted) assert.match(rerun, new RegExp(`finished an interrupted swap ${from} → ${to}`));
  assert.equal(load.failures, 0, `${JSON.stringify(load)}\n${rerun}`);
  const served = (await edge()).servedBy;
  const ps = JSON.parse((await ms(s, ['ps', '--json'])).stdout) as { activeColor: string; switching?: unknown; containers: Array<{ service: string; state: string; active: boolean }> };
  assert.equal(`api-${ps.activeColor}`, served, 'the host state names what nginx serves');
  assert.equal(ps.switching, undefined);
  assert.ok(ps.containers.some((c) => c.service === served && c.state === 'running' && c.active));
  const audit = JSON.parse((await ms(s, ['audit', '--json'])).stdout) as Array<{ command: string; result: string }>;
  const swaps = audit.filter((a) => a.command.startsWith('swap'));
  assert.ok(swaps.length >= 3, JSON.stringify(swaps));
  assert.deepEqual(swaps.slice(-3).map((a) => a.result), ['started', 'started', 'ok'], 'the killed swap left its "started" line');
  const d = await ms(s, ['deploy']);
  assert.equal(d.exitCode, 0, d.all);
  assert.equal((await edge()).servedBy, served, 'deploy did not revert the swap');
});

test('a failed swap keeps the previous release: rollback still returns to it, 0 failed', { skip, timeout: 900_000 }, async () => {
  const active = await activeColor();
  const kept = active === 'blue' ? 'green' : 'blue';
  const keptBefore = (await projectContainers(s.project)).filter((c) => c.Labels['com.docker.compose.service'] === `api-${kept}`);
  assert.equal(keptBefore.length, 1, 'a kept colour to roll back to');
  let failed = '';
  const load = await underLoad(async () => {
    const r = await ms(s, ['swap', '--image', NEVER_READY, '--health-timeout', '15s']);
    failed = r.all ?? '';
    assert.equal(r.exitCode, 1, r.all);
  });
  assert.match(failed, /did not become ready|not ready after/);
  assert.equal(load.failures, 0, JSON.stringify(load));
  const keptAfter = (await projectContainers(s.project)).filter((c) => c.Labels['com.docker.compose.service'] === `api-${kept}`);
  assert.deepEqual(keptAfter.map((c) => [c.Id, c.Names[0], c.Image]), keptBefore.map((c) => [c.Id, c.Names[0], c.Image]), 'the previous release is back under its name');
  const rb = await underLoad(async () => {
    const r = await ms(s, ['rollback', '--health-timeout', '180s']);
    assert.equal(r.exitCode, 0, r.all);
  });
  assert.equal(rb.failures, 0, JSON.stringify(rb));
  assert.equal((await edge()).servedBy, `api-${kept}`);
});
