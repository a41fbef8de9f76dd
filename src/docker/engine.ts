/**
 * The I/O half of deploy: reading what the engine has, and creating, starting, probing and removing
 * containers through the Docker Engine API. No decisions here; those are in plan.ts.
 */
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { UserError } from '../util/errors.ts';
import { withTimeout } from '../util/timeout.ts';
import { execInContainer } from './exec.ts';
import type { DesiredContainer } from './desired.ts';
import { COMPOSE_LABEL, MS_LABEL } from '../stack/names.ts';
import type { ActualContainer, ActualStack } from './plan.ts';
import { SshTransportError } from './ssh-transport.ts';

export function engineUnreachable(err: unknown): UserError {
  return new UserError(`cannot reach the Docker Engine: ${(err as Error).message}`, {
    hint: err instanceof SshTransportError
      ? 'check that `ssh USER@HOST docker version` works without a prompt (key in ssh-agent or ~/.ssh/config; MODELSHIP_SSH_COMMAND sets the ssh command line)'
      : 'is dockerd running? Check DOCKER_HOST or --host (unix:///var/run/docker.sock, tcp://host:2375, ssh://user@host)',
    cause: err,
  });
}

const ENGINE_GONE_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Whether an error means the Docker Engine itself stopped answering (socket gone, connection
 * refused or reset), as opposed to the engine answering with an error about a container.
 */
export function isEngineGone(err: unknown): boolean {
  type Loose = { code?: unknown; statusCode?: unknown; message?: unknown; cause?: unknown; name?: unknown };
  for (let e = err as Loose | undefined, depth = 0; e && depth < 5; e = e.cause as Loose | undefined, depth++) {
    if (e.name === 'UserError' && typeof e.message === 'string' && /the Docker Engine went away/.test(e.message)) return true;
    if (typeof e.statusCode === 'number') return false;
    if (typeof e.code === 'string' && ENGINE_GONE_CODES.has(e.code)) return true;
    if (typeof e.message === 'string' && /socket hang up|connect ECONNREFUSED|connect ENOENT .*docker|read ECONNRESET/.test(e.message)) return true;
  }
  return false;
}

/** The error for an engine that stopped answering in the middle of `operation`. */
export function engineWentAway(err: unknown, operation: string, state: string): UserError {
  if (err instanceof UserError && /the Docker Engine went away/.test(err.message)) return err;
  const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
  return new UserError(`the Docker Engine went away during ${operation} (${why}); ${state}`, {
    hint: `start the Docker Engine again (systemctl start docker), then run \`modelship ${operation}\` again: it picks up where this one stopped`,
    cause: err,
  });
}

export async function actualStack(docker: Docker, project: string): Promise<ActualStack> {
  const filter = { label: [`${COMPOSE_LABEL.project}=${project}`] };
  try {
    const [containers, networks, volumes] = await Promise.all([
      docker.listContainers({ all: true, filters: filter }),
      docker.listNetworks({ filters: filter }),
      docker.listVolumes({ filters: filter }),
    ]);
    return {
      containers: containers.map(toActual),
      networks: networks.map((n) => n.Name),
      volumes: (volumes.Volumes ?? []).map((v) => v.Name),
    };
  } catch (err) {
    throw engineUnreachable(err);
  }
}

/**
 * Whether labels belong to a container of a stack service (of `service`, when given): never one of
 * modelship's own (lock, state) and never a one-off (migrations). Pure.
 */
export function isServiceContainer(labels: Record<string, string>, service?: string): boolean {
  return labels[MS_LABEL.internal] === undefined && labels[COMPOSE_LABEL.oneoff] !== 'True' && (service === undefined || labels[COMPOSE_LABEL.service] === service);
}

/** The containers of `service` among ones already listed, sorted by name (`running`: only those). Pure. */
export function containersOf<T extends { name: string; state: string; labels: Record<string, string> }>(containers: readonly T[], service: string, running = false): T[] {
  return containers.filter((c) => isServiceContainer(c.labels, service) && (!running || c.state === 'running')).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The one engine query for "the containers of service S of stack P" (`running`: only running
 * ones), sorted by name. Engine errors pass through for the caller to word.
 */
export async function serviceContainers(docker: Docker, project: string, service: string, opts: { running?: boolean } = {}): Promise<Docker.ContainerInfo[]> {
  const list = await docker.listContainers({
    all: !opts.running,
    // modelship's own labels: every container of the stack carries them (deployed, or from the
    // rendered Compose file), and a postgres container labelled only by them is found as before.
    filters: { label: [`${MS_LABEL.project}=${project}`, `${MS_LABEL.service}=${service}`], ...(opts.running ? { status: ['running'] } : {}) },
  });
  const name = (c: Docker.ContainerInfo): string => c.Names[0] ?? '';
  return list.filter((c) => isServiceContainer(c.Labels ?? {})).sort((a, b) => (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0));
}

export function toActual(c: Docker.ContainerInfo): ActualContainer {
  return {
    id: c.Id,
    name: (c.Names[0] ?? c.Id).replace(/^\//, ''),
    labels: c.Labels ?? {},
    state: c.State,
    image: c.Image,
    networks: Object.keys(c.NetworkSettings?.Networks ?? {}).sort(),
  };
}

/** Image reference → ID for the images present locally; absent ones are left out. */
export async function imageIds(docker: Docker, refs: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  await Promise.all(
    [...new Set(refs)].map(async (ref) => {
      try {
        const info = await docker.getImage(ref).inspect();
        out[ref] = info.Id;
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode !== 404) throw engineUnreachable(err);
      }
    }),
  );
  return out;
}

/** Tries to pull an image; resolves false (with the reason) when the registry is unreachable. */
export async function pullImage(docker: Docker, ref: string): Promise<{ ok: boolean; reason?: string }> {
  try {
    const stream = await docker.pull(ref);
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve()));
    });
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: (err as Error).message.split('\n')[0] ?? String(err) };
  }
}

export async function createNetwork(docker: Docker, n: { name: string; internal: boolean; labels: Record<string, string> }): Promise<void> {
  try {
    await docker.createNetwork({ Name: n.name, Driver: 'bridge', Internal: n.internal, Labels: n.labels, CheckDuplicate: true });
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 409) throw err;
  }
}

export async function createVolume(docker: Docker, v: { name: string; labels: Record<string, string> }): Promise<void> {
  await docker.createVolume({ Name: v.name, Labels: v.labels });
}

export async function createAndStart(docker: Docker, d: DesiredContainer): Promise<string> {
  const { name, ...opts } = d.create;
  const container = await docker.createContainer({ name, ...opts } as Docker.ContainerCreateOptions);
  for (const n of d.extraNetworks) {
    await docker.getNetwork(n.name).connect({ Container: container.id, EndpointConfig: { Aliases: n.aliases } });
  }
  await container.start();
  return container.id;
}

/**
 * Joins a container to its gated networks (ServiceSpec.gatedNetworks) once its health gate passed:
 * from then on nginx routes to it by its service name. Already joined networks are left alone.
 */
export async function joinGatedNetworks(docker: Docker, d: Pick<DesiredContainer, 'gatedNetworks'>, id: string): Promise<string[]> {
  if (d.gatedNetworks.length === 0) return [];
  const have = (await docker.getContainer(id).inspect()).NetworkSettings?.Networks ?? {};
  const joined: string[] = [];
  for (const n of d.gatedNetworks) {
    if (have[n.name]) continue;
    await docker.getNetwork(n.name).connect({ Container: id, EndpointConfig: { Aliases: n.aliases } });
    joined.push(n.name);
  }
  return joined;
}

export async function stopAndRemove(docker: Docker, id: string, timeoutSeconds: number): Promise<void> {
  const c = docker.getContainer(id);
  try {
    await c.stop({ t: timeoutSeconds });
  } catch (err) {
    const code = (err as { statusCode?: number }).statusCode;
    if (code !== 304 && code !== 404) throw err;
  }
  try {
    await c.remove({ force: true, v: false });
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  }
}

export interface ProbeResult {
  ok: boolean;
  output: string;
}

/** Runs a healthcheck test (CMD / CMD-SHELL form) inside the container, the way the engine would. */
export async function probe(docker: Docker, id: string, test: string[], timeoutMs = 5000): Promise<ProbeResult> {
  const [kind, ...rest] = test;
  const cmd = kind === 'CMD-SHELL' ? ['/bin/sh', '-c', rest.join(' ')] : kind === 'CMD' ? rest : test;
  const h = await execInContainer(docker, id, cmd);
  let out = '';
  h.stdout.on('data', (b: Buffer) => {
    out = (out + b.toString('utf8')).slice(-4000);
  });
  return withTimeout(
    h.done.then((r) => ({ ok: r.exitCode === 0, output: `${out}${r.stderr}`.trim() })),
    timeoutMs,
    (): ProbeResult => ({ ok: false, output: `probe timed out after ${timeoutMs} ms` }),
  );
}

/** The exit code of a crash-looping container's next exit, if it comes within a few seconds. */
async function nextExitCode(docker: Docker, id: string): Promise<number | undefined> {
  for (let i = 0; i < 30; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const st = (await docker.getContainer(id).inspect()).State;
    if (!st.Running || st.Restarting) return st.ExitCode;
  }
  return undefined;
}

export interface WaitOptions {
  timeoutMs: number;
  /** The first pause between probes; each later pause is half as long again, up to MAX_PROBE_GAP_MS. */
  intervalMs?: number;
  test?: string[] | undefined;
  /** Called with the latest probe output while waiting (for progress lines). */
  onProbe?: (r: ProbeResult) => void;
}

/**
 * The longest pause between two gate probes. Each probe of a Node image's check starts a Node
 * process in the container (~50 ms of CPU): at a fixed 500 ms, an API loading its models for 40 s
 * on a busy host spent 80 of them competing with its own start. Backing off to 2 s costs at most
 * 2 s of readiness latency.
 */
const MAX_PROBE_GAP_MS = 2000;

/** The pause after `ms`: half as long again, up to MAX_PROBE_GAP_MS (a longer one stays). Pure. */
export function nextProbeGap(ms: number): number {
  return Math.max(ms, Math.min(MAX_PROBE_GAP_MS, Math.round(ms * 1.5)));
}

/**
 * Waits until a container is ready: running and (when it has a test) the test passes when run by
 * us — first after `intervalMs`, backing off to MAX_PROBE_GAP_MS — sooner than the engine's own
 * healthcheck interval. Fails fast if the container exits or restarts.
 */
export async function waitReady(docker: Docker, id: string, opts: WaitOptions): Promise<ProbeResult> {
  const deadline = Date.now() + opts.timeoutMs;
  let interval = opts.intervalMs ?? 500;
  let last: ProbeResult = { ok: false, output: '' };
  let firstStart: string | undefined;
  for (;;) {
    const info = await docker.getContainer(id).inspect();
    const st = info.State;
    firstStart ??= st.StartedAt;
    if (!st.Running || st.Restarting || (st.StartedAt !== firstStart)) {
      const restarted = st.Restarting || st.StartedAt !== firstStart;
      // Caught running again after a restart, the engine has reset ExitCode to 0: catch the next exit.
      const code = restarted && st.Running && !st.Restarting ? await nextExitCode(docker, id) : st.ExitCode;
      const exited = code === undefined ? '' : ` (exited with code ${code})`;
      const why = restarted ? `keeps restarting${exited}` : `exited with code ${st.ExitCode}`;
      throw new ContainerFailed(`${info.Name.replace(/^\//, '')} ${why}${st.Error ? `: ${st.Error}` : ''}`, last.output);
    }
    if (!opts.test) {
      // No healthcheck: running for a moment without restarting counts as ready.
      if (Date.now() - Date.parse(st.StartedAt) >= 1000) return { ok: true, output: '' };
    } else {
      try {
        last = await probe(docker, id, opts.test, Math.min(5000, Math.max(1000, deadline - Date.now())));
      } catch (err) {
        // The container stopped or began restarting between inspect and exec (409): look again.
        if ((err as { statusCode?: number }).statusCode !== 409) throw err;
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      opts.onProbe?.(last);
      if (last.ok) return last;
    }
    if (Date.now() + interval > deadline) {
      throw new ContainerFailed(`${info.Name.replace(/^\//, '')} not ready after ${Math.round(opts.timeoutMs / 1000)} s`, last.output);
    }
    await new Promise((r) => setTimeout(r, interval));
    interval = nextProbeGap(interval);
  }
}

export class ContainerFailed extends Error {
  readonly probeOutput: string;
  constructor(message: string, probeOutput: string) {
    super(message);
    this.name = 'ContainerFailed';
    this.probeOutput = probeOutput;
  }
}

/** The last `lines` log lines of a container, stdout and stderr interleaved as text. */
export async function tailLogs(docker: Docker, id: string, lines = 50): Promise<string> {
  try {
    const buf = (await docker.getContainer(id).logs({ stdout: true, stderr: true, tail: lines, follow: false })) as unknown as Buffer;
    return demuxBuffer(buf);
  } catch (err) {
    return `(logs unavailable: ${(err as Error).message})`;
  }
}

/** Turns a multiplexed log buffer (8-byte frame headers) into text; plain text passes through. */
export function demuxBuffer(buf: Buffer): string {
  const parts: string[] = [];
  let i = 0;
  while (i + 8 <= buf.length && (buf[i] === 1 || buf[i] === 2 || buf[i] === 0) && buf[i + 1] === 0 && buf[i + 2] === 0 && buf[i + 3] === 0) {
    const len = buf.readUInt32BE(i + 4);
    parts.push(buf.subarray(i + 8, i + 8 + len).toString('utf8'));
    i += 8 + len;
  }
  if (i === 0) return buf.toString('utf8');
  return parts.join('');
}

/** Streams logs as text lines (follow mode) until the signal aborts. */
export async function followLogs(
  docker: Docker,
  id: string,
  opts: { since?: number; tail?: number; follow: boolean },
  onLine: (line: string, stream: 'stdout' | 'stderr') => void,
  signal?: AbortSignal,
): Promise<void> {
  const c = docker.getContainer(id);
  if (!opts.follow) {
    const buf = (await c.logs({ stdout: true, stderr: true, follow: false, timestamps: false, ...(opts.since ? { since: opts.since } : {}), ...(opts.tail !== undefined ? { tail: opts.tail } : {}) })) as unknown as Buffer;
    for (const line of demuxBuffer(buf).split('\n')) if (line !== '') onLine(line, 'stdout');
    return;
  }
  const stream = (await c.logs({ stdout: true, stderr: true, follow: true, ...(opts.since ? { since: opts.since } : {}), ...(opts.tail !== undefined ? { tail: opts.tail } : {}) })) as NodeJS.ReadableStream & { destroy?: () => void };
  const out = new PassThrough();
  const err = new PassThrough();
  docker.modem.demuxStream(stream, out, err);
  const lineSplitter = (s: 'stdout' | 'stderr') => {
    let rest = '';
    return (b: Buffer) => {
      rest += b.toString('utf8');
      const lines = rest.split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) onLine(l, s);
    };
  };
  out.on('data', lineSplitter('stdout'));
  err.on('data', lineSplitter('stderr'));
  await new Promise<void>((resolve) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    signal?.addEventListener('abort', () => {
      stream.destroy?.();
      resolve();
    });
  });
}
