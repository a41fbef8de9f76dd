/**
 * `npm run bench:swap`: one blue/green swap under load through nginx, broken into image check,
 * start, health gate, switch and drain, with the requests served and failed meanwhile.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import autocannon from 'autocannon';
import { execInContainer } from '../src/docker/exec.ts';
import { ROOT, cleanup, docker, e2eSkip, ms, projectContainers, stackDir } from '../test/e2e/helpers.ts';

const skip = await e2eSkip();
if (skip) {
  console.error(skip);
  process.exit(1);
}
const s = await stackDir('bswap', 'rateLimit: {perMinute: 1000000, burst: 1000000, nginx: {ratePerSecond: 100000, burst: 100000}}');
await cleanup(s);
try {
  const d = await ms(s, ['deploy', '--timeout', '300s']);
  if (d.exitCode !== 0) throw new Error(d.all);
  const api = (await projectContainers(s.project, false)).find((c) => c.Labels['com.docker.compose.service'] === 'api-blue')!;
  const h = await execInContainer(docker, api.Id, ['modelship', 'keys', 'create', '--name', 'bench', '--json']);
  let out = '';
  h.stdout.on('data', (b: Buffer) => (out += b.toString()));
  await h.done;
  const key = (JSON.parse(out) as { key: string }).key;
  const photo = readFileSync(path.join(ROOT, 'test/fixtures/images/coffee.jpg'));
  const load = autocannon({
    url: `http://127.0.0.1:${s.httpPort}`,
    connections: 16,
    duration: 300,
    overallRate: Number(process.env.BENCH_RATE ?? 240),
    requests: [
      { method: 'POST', path: '/v1/classify/text', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{"text":"steady as she goes"}' },
      { method: 'POST', path: '/v1/classify/image', headers: { authorization: `Bearer ${key}`, 'content-type': 'image/jpeg' }, body: photo },
      { method: 'GET', path: '/health' },
    ],
  });
  const done = new Promise<autocannon.Result>((r) => load.on('done', r));
  await new Promise((r) => setTimeout(r, 2000));
  const t0 = performance.now();
  const sw = await ms(s, ['swap', '--json']);
  const wall = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 1000));
  load.stop();
  const res = await done;
  if (sw.exitCode !== 0) throw new Error(sw.all);
  const t = (JSON.parse(sw.stdout) as { timingsMs: Record<string, number> }).timingsMs;
  console.log(`swap blue → green under ${res.requests.average.toFixed(0)} req/s through nginx (CLI wall time ${(wall / 1000).toFixed(2)} s)`);
  for (const k of ['imageCheck', 'start', 'healthGate', 'switch', 'drain', 'workers', 'total']) console.log(`  ${k.padEnd(11)} ${String(t[k]).padStart(6)} ms`);
  console.log(`requests during the run: ${res.requests.total} served, ${res.non2xx} non-2xx, ${res.errors} connection errors, ${res.timeouts} timeouts`);
} finally {
  await cleanup(s);
}
