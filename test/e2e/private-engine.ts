/**
 * A private Docker Engine for tests that must restart an engine (what a host reboot does) without
 * touching the system one: own data root, exec root, socket, pid file and containerd namespace,
 * its own default bridge interface (created here, deleted by stop()), no iptables of its own (one
 * ACCEPT rule in DOCKER-USER for its address pool, removed by stop()), its own address pool. Not `--bridge=none`: dockerd 20.10 then deletes the host's `docker0`, which the system
 * engine's default network needs. Images are copied in from the system
 * engine with one `docker save | docker load` (shared layers travel once). `restart()` stops the
 * daemon the way a shutdown does (SIGTERM: containers stop) and starts it again on the same state.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import Docker from 'dockerode';

export interface PrivateEngine {
  socket: string;
  /** DOCKER_HOST value for the CLI. */
  host: string;
  docker: Docker;
  /** Stops the daemon as a shutdown does (its containers stop with it). */
  down(): Promise<void>;
  /** Starts it again on the same state (containers come back under their restart policy). */
  up(): Promise<void>;
  restart(): Promise<void>;
  /** Stops it for good and removes its state. */
  stop(): Promise<void>;
  log: string;
}

export async function dockerdAvailable(): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'SKIPPED: a private dockerd needs root';
  const r = await execa('dockerd', ['--version'], { reject: false });
  return r.exitCode === 0 ? false : 'SKIPPED: no dockerd binary';
}

export async function startPrivateEngine(name: string, images: string[], opts: { pool?: string } = {}): Promise<PrivateEngine> {
  const root = mkdtempSync(path.join(os.tmpdir(), `modelship-dockerd-${name}-`));
  const socket = path.join(root, 'docker.sock');
  const log = path.join(root, 'dockerd.log');
  const pool = opts.pool ?? `base=10.${210 + (process.pid % 40)}.0.0/16,size=24`;
  const bridge = `mspe${process.pid % 100000}`;
  const bridgeIp = `10.209.${process.pid % 250}.1/24`;
  await execa('ip', ['link', 'add', bridge, 'type', 'bridge']);
  await execa('ip', ['addr', 'add', bridgeIp, 'dev', bridge]);
  await execa('ip', ['link', 'set', bridge, 'up']);
  // The host's FORWARD policy (set by the system engine) drops bridged traffic it does not know:
  // let containers of this engine's own address pool talk to each other, for as long as it runs.
  const poolNet = /base=([^,]+)/.exec(pool)![1]!;
  const allow = ['DOCKER-USER', '-s', poolNet, '-d', poolNet, '-j', 'ACCEPT'];
  await execa('iptables', ['-I', ...allow], { reject: false });
  const args = [
    `--data-root=${path.join(root, 'data')}`,
    `--exec-root=${path.join(root, 'exec')}`,
    `-H`, `unix://${socket}`,
    `--pidfile=${path.join(root, 'dockerd.pid')}`,
    `--bridge=${bridge}`,
    '--iptables=false',
    '--ip-masq=false',
    '--ip6tables=false',
    `--default-address-pool=${pool}`,
    `--containerd-namespace=modelship-${name}`,
    `--containerd-plugins-namespace=modelship-${name}-plugins`,
    '--storage-driver=overlay2',
  ];
  // dockerd 20.10 restarted on this state deletes the HOST's docker0 (seen with `ip monitor link`:
  // gone 0.3 s after the second "Starting up"), which the system engine's default network needs:
  // every later `docker run` or build on the system engine then fails with "could not find bridge
  // docker0". Its address is read now and the bridge put back after each start.
  const hostDocker0 = (await execa('ip', ['-4', '-o', 'addr', 'show', 'docker0'], { reject: false })).stdout.match(/inet (\S+)/)?.[1];
  const keepHostDocker0 = async (): Promise<void> => {
    if (!hostDocker0) return;
    for (const wait of [0, 1000]) {
      await new Promise((r) => setTimeout(r, wait));
      if (existsSync('/sys/class/net/docker0')) continue;
      await execa('ip', ['link', 'add', 'docker0', 'type', 'bridge'], { reject: false });
      await execa('ip', ['addr', 'add', hostDocker0, 'dev', 'docker0'], { reject: false });
      await execa('ip', ['link', 'set', 'docker0', 'up'], { reject: false });
    }
  };
  let child: ChildProcess | undefined;
  const docker = new Docker({ socketPath: socket });
  const startOnce = async (): Promise<'up' | 'exited'> => {
    const fd = openSync(log, 'a');
    child = spawn('dockerd', args, { stdio: ['ignore', fd, fd], detached: false });
    for (let i = 0; i < 600; i++) {
      if (child.exitCode !== null) return 'exited';
      if (existsSync(socket) && (await docker.ping().then(() => true, () => false))) return 'up';
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`private dockerd did not answer within 60 s; see ${log}`);
  };
  // dockerd gives its own containerd a fixed few seconds to start: on a loaded machine, or with
  // the containerd of the previous run still shutting down, that can run out. Clear what is left
  // of this engine's containerd and try again, as an operator restarting the service would.
  const up = async (): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      if ((await startOnce()) === 'up') return keepHostDocker0();
      if (attempt >= 3) throw new Error(`private dockerd exited with ${child?.exitCode}; see ${log}`);
      await execa('pkill', ['-KILL', '-f', `${path.join(root, 'exec')}/containerd`], { reject: false });
      await new Promise((r) => setTimeout(r, 2000));
    }
  };
  const down = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 60_000);
    await exited;
    clearTimeout(t);
  };
  await up();
  if (images.length > 0) {
    // One stream: layers the images share are saved and loaded once.
    await execa('sh', ['-c', 'docker save "$@" | docker -H "unix://$SOCK" load -q', 'sh', ...images], { env: { SOCK: socket } });
  }
  return {
    socket,
    host: `unix://${socket}`,
    docker,
    log,
    down,
    up,
    restart: async () => {
      await down();
      await up();
    },
    stop: async () => {
      // Containers of this engine only: they stop with it.
      const nets = await docker.listNetworks().catch(() => []);
      await down();
      // The bridges of the networks it created outlive the daemon: remove them with it.
      for (const n of nets) if (n.Driver === 'bridge' && n.Name !== 'bridge') await execa('ip', ['link', 'del', `br-${n.Id.slice(0, 12)}`], { reject: false });
      await execa('ip', ['link', 'del', bridge], { reject: false });
      await execa('iptables', ['-D', ...allow], { reject: false });
      try {
        rmSync(root, { recursive: true, force: true });
      } catch {
        // a mount the daemon left busy: the temp directory is reclaimed with the machine
      }
    },
  };
}
