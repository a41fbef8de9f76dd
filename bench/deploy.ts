/**
 * `npm run bench:deploy`: time to healthy for a cold deploy and a no-op redeploy, modelship vs
 * Debian's docker-compose (`up -d`, then waiting until every container is healthy, which is what
 * `up --wait` does in Compose v2) on the same rendered file and the same stand-in images.
 * Needs the e2e images (scripts/test-all.sh builds them). Prints the ratios.
 */
import { execa } from 'execa';
import path from 'node:path';
import { cleanup, docker, e2eSkip, ms, projectContainers, stackDir } from '../test/e2e/helpers.ts';

const skip = await e2eSkip();
if (skip) {
  console.error(skip);
  process.exit(1);
}

const s = await stackDir('bench');
await cleanup(s);

async function time(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

async function waitHealthy(project: string, expected: number, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const list = (await projectContainers(project, true)).filter((c) => !c.Labels['org.modelship.internal']);
    const ready = await Promise.all(
      list.map(async (c) => {
        const i = await docker.getContainer(c.Id).inspect();
        return i.State.Running && (!i.State.Health || i.State.Health.Status === 'healthy');
      }),
    );
    if (list.length >= expected && ready.every(Boolean)) return;
    if (Date.now() > deadline) throw new Error(`not healthy after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const ok = (r: { exitCode?: number | undefined; all?: string | undefined }): void => {
  if (r.exitCode !== 0) throw new Error(r.all);
};

// modelship
const msCold = await time(async () => ok(await ms(s, ['deploy', '--timeout', '300s'])));
const count = (await projectContainers(s.project)).filter((c) => !c.Labels['org.modelship.internal']).length;
const msNoop = await time(async () => ok(await ms(s, ['deploy'])));
ok(await ms(s, ['down', '--volumes', '--yes']));
await cleanup(s);

// docker-compose on the file modelship rendered
const composeDir = path.join(s.dir, 'compose');
const compose = (args: string[]) => execa('docker-compose', ['-p', s.project, '-f', path.join(composeDir, 'docker-compose.production.yml'), '--profile', 'backup', ...args], { cwd: composeDir, reject: false, all: true });
const dcCold = await time(async () => {
  ok(await compose(['up', '-d']));
  await waitHealthy(s.project, count);
});
const dcNoop = await time(async () => {
  ok(await compose(['up', '-d']));
  await waitHealthy(s.project, count);
});
await compose(['down', '-v']);
await cleanup(s);

const row = (name: string, a: number, b: number): string => `${name.padEnd(26)} modelship ${a.toFixed(2).padStart(6)} s   docker-compose ${b.toFixed(2).padStart(6)} s   ratio ${(a / b).toFixed(2)}`;
console.log(`stack: ${count} containers (stand-in images), 2 cores`);
console.log(row('cold deploy to healthy', msCold, dcCold));
console.log(row('no-op redeploy', msNoop, dcNoop));
console.log(`targets: cold ratio <= 1.00 (${msCold <= dcCold ? 'met' : 'missed'}), no-op < 1 s (${msNoop < 1 ? 'met' : 'missed'}: the CLI process start is included)`);
