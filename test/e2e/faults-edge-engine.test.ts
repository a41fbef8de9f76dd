/**
 * Faults of the engine itself, on a private dockerd this file starts and stops (never the system
 * one): a restarted engine (what a host reboot does) brings the API back on new addresses and the
 * edge serves again by itself; an engine that goes away in the middle of a swap is named as such,
 * and the lock the dead command could not remove is broken by the next one, which converges.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { API_IMAGE, BIN, STANDIN, e2eSkip, stackDir, steadyTraffic } from './helpers.ts';
import { dockerdAvailable, startPrivateEngine, type PrivateEngine } from './private-engine.ts';

const skip = (await e2eSkip()) || (await dockerdAvailable());
const s = await stackDir('fedge-engine', 'rateLimit: {perMinute: 1000000, burst: 1000000, nginx: {ratePerSecond: 100000, burst: 100000}}');
const url = `http://127.0.0.1:${s.httpPort}/health`;
let engine: PrivateEngine;

function msOn(args: string[]) {
  return execa(process.execPath, [BIN, ...args], {
    reject: false,
    cwd: s.dir,
    env: { NO_COLOR: '1', MODELSHIP_CONFIG: s.config, DOCKER_HOST: engine.host },
    timeout: 600_000,
    all: true,
  });
}

async function edge(): Promise<{ status: number; servedBy: string }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) }).catch(() => null);
  await r?.arrayBuffer().catch(() => undefined);
  return { status: r?.status ?? 0, servedBy: r?.headers.get('x-served-by') ?? '' };
}

async function servedAgain(service: string, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  let last = { status: 0, servedBy: '' };
  while (Date.now() - t0 < timeoutMs) {
    last = await edge();
    if (last.status === 200 && last.servedBy === service) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`not served by ${service} within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

async function apiAddresses(): Promise<string[]> {
  const list = await engine.docker.listContainers({ filters: { label: [`com.docker.compose.project=${s.project}`] } });
  return list.filter((c) => /^api-/.test(c.Labels['com.docker.compose.service'] ?? '')).map((c) => c.NetworkSettings.Networks[`${s.project}_frontend`]?.IPAddress ?? '-').sort();
}

before(async () => {
  if (skip) return;
  const t0 = Date.now();
  engine = await startPrivateEngine('fedge', [API_IMAGE, ...Object.values(STANDIN)]);
  console.log(`private engine up with ${1 + Object.values(STANDIN).length} images in ${Date.now() - t0} ms`);
  const r = await msOn(['deploy', '--timeout', '240s']);
  assert.equal(r.exitCode, 0, r.all);
});
after(async () => {
  if (!skip) await engine?.stop();
});

test('the engine restarts (a reboot): the edge serves the active colour again by itself; deploy agrees', { skip, timeout: 900_000 }, async () => {
  await servedAgain('api-blue', 10_000);
  const before = await apiAddresses();
  const t0 = Date.now();
  await engine.restart();
  const took = await servedAgain('api-blue', 180_000);
  console.log(`engine restarted in ${Date.now() - t0 - took} ms; API ${before.join(',')} → ${(await apiAddresses()).join(',')}; served again ${took} ms later, no operator action`);
  const load = steadyTraffic(url);
  await new Promise((r) => setTimeout(r, 3000));
  const steady = await load.stop();
  assert.equal(steady.failures, 0, JSON.stringify(steady));
  const d = await msOn(['deploy']);
  assert.equal(d.exitCode, 0, d.all);
  const st = JSON.parse((await msOn(['status', '--json'])).stdout) as { edge?: { ok: boolean; summary: string } };
  assert.equal(st.edge?.ok, true, JSON.stringify(st.edge));
});

test('the engine goes away in the middle of a swap: said as such; the next swap breaks the dead lock and converges', { skip, timeout: 900_000 }, async () => {
  const child = msOn(['swap', '--health-timeout', '180s']);
  // Wait until the new colour's container exists: the swap is in its health gate.
  const t0 = Date.now();
  for (;;) {
    const list = await engine.docker.listContainers({ filters: { label: [`com.docker.compose.project=${s.project}`, 'com.docker.compose.service=api-green'] } }).catch(() => []);
    if (list.length > 0) break;
    assert.ok(Date.now() - t0 < 180_000, 'the swap started the new colour');
    await new Promise((r) => setTimeout(r, 100));
  }
  await engine.down();
  const r = await child;
  assert.equal(r.exitCode, 1, r.all);
  assert.match(r.stderr, /the Docker Engine went away during swap/);
  assert.match(r.stderr, /nothing was switched: blue still serves/);
  assert.doesNotMatch(r.stderr, /fix the release|unexpected failure/);
  await engine.up();
  await servedAgain('api-blue', 180_000);
  const again = await msOn(['swap', '--health-timeout', '180s']);
  assert.equal(again.exitCode, 0, again.all);
  assert.match(again.stderr, /broke the stale lock of .+ running swap/);
  await servedAgain('api-green', 10_000);
  const audit = JSON.parse((await msOn(['audit', '--json'])).stdout) as Array<{ command: string; result: string; detail?: string }>;
  const swaps = audit.filter((a) => a.command === 'swap').map((a) => a.result);
  assert.deepEqual(swaps.slice(-3), ['started', 'started', 'ok'], `the interrupted swap left its "started" line: ${JSON.stringify(audit.slice(-5))}`);
});
