/**
 * The three-node swarm the swarm e2e tests run on: a thin wrapper over scripts/swarm-rig.sh (three
 * dockerd in network namespaces, one manager and two workers). `swarmRig()` starts it or reuses a
 * running one (idempotent, serialised by the script's lock), so every swarm test file shares one
 * rig; scripts/test-all.sh runs `swarm-rig.sh down` after the e2e suite, which removes all of it.
 * e2e files run side by side, and swarm tests stop nodes or count tasks per node: each takes the
 * rig for itself with `rigExclusive()` so they never see each other's faults.
 */
import path from 'node:path';
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import Docker from 'dockerode';
import { after, before } from 'node:test';

const SCRIPT = path.join(import.meta.dirname, '../../scripts/swarm-rig.sh');

export type RigNode = 'n1' | 'n2' | 'n3';

export interface SwarmRig {
  /** DOCKER_HOST for the manager (n1). */
  managerHost: string;
  nodes: Record<RigNode, { host: string; ip: string; hostname: string; docker: Docker }>;
  manager: Docker;
  /** Seconds `up` took (cold start or reuse). */
  upSeconds: number;
  stopNode(n: RigNode): Promise<void>;
  startNode(n: RigNode): Promise<void>;
  load(images: string[]): Promise<void>;
}

export async function swarmRigSkip(): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'SKIPPED: the swarm rig needs root (network namespaces, dockerd)';
  for (const bin of ['dockerd', 'nsenter', 'unshare', 'ip', 'iptables']) {
    const r = await execa('sh', ['-c', `command -v ${bin}`], { reject: false });
    if (r.exitCode !== 0) return `SKIPPED: ${bin} missing (the swarm rig needs it)`;
  }
  return false;
}

export async function swarmRig(images: string[] = []): Promise<SwarmRig> {
  const t0 = performance.now();
  const r = await execa(SCRIPT, ['up', ...images], { reject: false, all: true });
  if (r.exitCode !== 0) throw new Error(`swarm-rig.sh up failed (${r.exitCode}):\n${r.all}`);
  const upSeconds = (performance.now() - t0) / 1000;
  const env = Object.fromEntries(
    r.stdout
      .split('\n')
      .filter((l) => l.startsWith('MSW_'))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const node = (n: RigNode): SwarmRig['nodes'][RigNode] => {
    const host = env[`MSW_${n.toUpperCase()}_HOST`]!;
    return { host, ip: env[`MSW_${n.toUpperCase()}_IP`]!, hostname: `msw-${n}`, docker: new Docker({ socketPath: host.replace(/^unix:\/\//, '') }) };
  };
  const nodes = { n1: node('n1'), n2: node('n2'), n3: node('n3') };
  const run = async (...args: string[]): Promise<void> => {
    const x = await execa(SCRIPT, args, { reject: false, all: true });
    if (x.exitCode !== 0) throw new Error(`swarm-rig.sh ${args.join(' ')} failed (${x.exitCode}):\n${x.all}`);
  };
  return {
    managerHost: env.MSW_MANAGER_HOST!,
    nodes,
    manager: nodes.n1.docker,
    upSeconds,
    stopNode: (n) => run('stop-node', n),
    startNode: (n) => run('start-node', n),
    load: (imgs) => run('load', ...imgs),
  };
}

const TEST_LOCK = '/tmp/msw.tests.lock';

/**
 * Holds the rig for one test (an exclusive flock on TEST_LOCK, waited for up to 15 minutes). The
 * lock belongs to a child `flock … cat`: released by closing its stdin, and by the kernel if this
 * process dies, so a crashed test file never leaves the rig locked.
 */
export async function rigExclusive(): Promise<() => Promise<void>> {
  const child = spawn('flock', ['-x', '-w', '900', TEST_LOCK, 'sh', '-c', 'echo locked; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`could not lock the swarm rig (${TEST_LOCK}): flock exited with ${code}`)));
  });
  return () =>
    new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.stdin.end();
    });
}

/**
 * Takes the rig for the whole test file: the lock before the first test, released after the last
 * (when the file is not skipped). Call once at the top of a swarm test file.
 */
export function useRigExclusively(skip: string | false): void {
  let release: (() => Promise<void>) | undefined;
  before(async () => {
    if (!skip) release = await rigExclusive();
  });
  after(async () => {
    await release?.();
  });
}
