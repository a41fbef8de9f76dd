/**
 * State that lives on the Docker host, so every operator (and every machine) sees the same truth:
 * - the stack lock: a never-started container with a fixed name; the engine refuses a second
 *   container of that name (409), which makes taking the lock atomic;
 * - state.json (active colour, images, previous colour, recorded scale) and audit.jsonl (who did
 *   what, when, with what result) in a volume, read and written through a never-started container
 *   with the Docker archive API (works over tcp:// and ssh:// too).
 */
import os from 'node:os';
import type Docker from 'dockerode';
import { readArchiveFile, writeArchiveFiles } from './volume-files.ts';
import { UserError } from '../util/errors.ts';
import { COMPOSE_LABEL, LOCK_LABEL, MS_LABEL } from '../stack/names.ts';
import { pidAlive } from '../util/process.ts';

export const lockName = (project: string): string => `${project}-modelship-lock`;
export const stateName = (project: string): string => `${project}-modelship-state`;
export const stateVolume = (project: string): string => `${project}_modelship-state`;
const STATE_DIR = '/modelship-state';

export interface ColorState {
  image: string;
  since: string;
  containerId?: string;
}

/** A colour switch in progress (written before nginx is pointed at `to`, cleared with the record). */
export interface SwitchIntent {
  operation: 'swap' | 'rollback';
  from: string;
  to: string;
  image: string;
  previousImage: string | null;
  /** `swap --image`: the image to pin as the release once the switch is recorded. */
  releaseImage?: string;
  startedAt: string;
}

export interface HostState {
  activeColor?: string;
  switching?: SwitchIntent;
  /** Digest of the rendered files a service reloads in place (nginx), as last loaded. */
  reloaded?: Record<string, string>;
  previousColor?: string;
  colors: Record<string, ColorState>;
  /** The API image pinned by `swap --image` (deploy keeps it until a swap without --image). */
  releaseImage?: string;
  /** Scale recorded before `emergency scale-down`, restored by `emergency restore-scale`. */
  savedScale?: Record<string, number>;
  lastDeploy?: string;
}

export interface AuditEntry {
  time: string;
  user: string;
  host: string;
  command: string;
  result: 'started' | 'ok' | 'failed' | 'refused';
  detail?: string;
  durationMs?: number;
}

export function whoami(): { user: string; host: string } {
  let user = process.env.SUDO_USER ?? process.env.USER ?? '';
  if (!user) {
    try {
      user = os.userInfo().username;
    } catch {
      user = String(process.getuid?.() ?? 'unknown');
    }
  }
  return { user, host: os.hostname() };
}

export interface Lock {
  release(): Promise<void>;
  holder: string;
  /** Set when a lock left by a process of this host that no longer runs was broken to take this one. */
  brokeStale?: string;
}

/**
 * A lock is stale without asking anyone when its holder ran on this host and that process is gone
 * (killed, or it exited while the engine was away and could not remove the lock).
 */
export function lockIsStale(labels: Record<string, string>, host: string, alive: (pid: number) => boolean = pidAlive): boolean {
  const pid = Number(labels[LOCK_LABEL.pid]);
  if (labels[LOCK_LABEL.host] !== host || !Number.isInteger(pid) || pid <= 0) return false;
  return !alive(pid);
}

/** Removes the lock container, retrying for a few seconds while the engine does not answer. */
async function removeLock(c: Docker.Container): Promise<boolean> {
  for (let i = 0; i < 4; i++) {
    try {
      await c.remove({ force: true });
      return true;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return true;
      await new Promise((r) => setTimeout(r, 250 * 2 ** Math.min(i, 3)));
    }
  }
  return false;
}

function internalLabels(project: string, kind: string): Record<string, string> {
  return { [COMPOSE_LABEL.project]: project, [MS_LABEL.project]: project, [MS_LABEL.internal]: kind };
}

/**
 * Takes the stack lock. `image` must be present locally (any of the stack's images will do: the
 * container is never started). With `force`, a lock held by someone else is broken first.
 */
export async function acquireLock(docker: Docker, project: string, operation: string, image: string, opts: { force?: boolean } = {}): Promise<Lock> {
  const me = whoami();
  const holder = `${me.user}@${me.host} pid ${process.pid}`;
  const labels = {
    ...internalLabels(project, 'lock'),
    [LOCK_LABEL.holder]: holder,
    [LOCK_LABEL.operation]: operation,
    [LOCK_LABEL.since]: new Date().toISOString(),
    [LOCK_LABEL.host]: me.host,
    [LOCK_LABEL.pid]: String(process.pid),
  };
  let brokeStale: string | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const c = await docker.createContainer({ name: lockName(project), Image: image, Cmd: ['true'], Entrypoint: [], Labels: labels, HostConfig: { NetworkMode: 'none' } });
      return {
        holder,
        ...(brokeStale ? { brokeStale } : {}),
        release: async () => {
          if (!(await removeLock(c))) {
            process.stderr.write(`warning: could not remove the lock of stack "${project}": the Docker Engine does not answer. The next modelship command on this host breaks it by itself (this process is gone by then).\n`);
          }
        },
      };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 409) throw err;
      // The engine reserves the name before the container exists: a racing holder may not be
      // inspectable for a few milliseconds.
      let existing: Docker.ContainerInspectInfo | null = null;
      for (let i = 0; i < 20 && !existing; i++) {
        existing = await docker.getContainer(lockName(project)).inspect().catch(() => null);
        if (!existing) await new Promise((r) => setTimeout(r, 100));
      }
      const l = existing?.Config.Labels ?? {};
      if (attempt === 0 && lockIsStale(l, me.host)) {
        brokeStale = `${l[LOCK_LABEL.holder] ?? 'a process'} running ${l[LOCK_LABEL.operation] ?? 'an operation'} since ${l[LOCK_LABEL.since] ?? 'an unknown time'} (that process is gone)`;
        await docker.getContainer(lockName(project)).remove({ force: true }).catch(() => undefined);
        continue;
      }
      if (opts.force && attempt === 0) {
        await docker.getContainer(lockName(project)).remove({ force: true }).catch(() => undefined);
        continue;
      }
      const since = l[LOCK_LABEL.since];
      const age = since ? ` (${Math.round((Date.now() - Date.parse(since)) / 1000)} s ago)` : '';
      throw new UserError(
        `stack "${project}" is locked by ${l[LOCK_LABEL.holder] ?? 'someone'} running ${l[LOCK_LABEL.operation] ?? 'an operation'} since ${since ?? 'an unknown time'}${age}`,
        { hint: 'wait for it to finish; if that process is gone, break the stale lock with --force' },
      );
    }
  }
  throw new UserError(`could not take the lock of stack "${project}"`);
}

async function ensureStateContainer(docker: Docker, project: string, image: string): Promise<Docker.Container> {
  const c = docker.getContainer(stateName(project));
  try {
    await c.inspect();
    return c;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode !== 404) throw err;
  }
  await docker.createVolume({ Name: stateVolume(project), Labels: { ...internalLabels(project, 'state'), [COMPOSE_LABEL.volume]: 'modelship-state' } });
  try {
    return await docker.createContainer({
      name: stateName(project),
      Image: image,
      Cmd: ['true'],
      Entrypoint: [],
      Labels: internalLabels(project, 'state'),
      HostConfig: { Binds: [`${stateVolume(project)}:${STATE_DIR}`], NetworkMode: 'none' },
    });
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 409) return docker.getContainer(stateName(project));
    throw err;
  }
}

async function readFileFrom(container: Docker.Container, file: string): Promise<string | null> {
  return readArchiveFile(container, `${STATE_DIR}/${file}`);
}

async function writeFileTo(container: Docker.Container, file: string, content: string): Promise<void> {
  await writeArchiveFiles(container, STATE_DIR, [{ name: file, content }]);
}

export class HostStore {
  private readonly docker: Docker;
  private readonly project: string;
  private readonly image: string;
  private container: Docker.Container | undefined;

  constructor(docker: Docker, project: string, image: string) {
    this.docker = docker;
    this.project = project;
    this.image = image;
  }

  /** Reads the state without creating anything (for read-only commands). */
  static async peek(docker: Docker, project: string): Promise<{ state: HostState; audit: AuditEntry[] }> {
    const c = docker.getContainer(stateName(project));
    try {
      await c.inspect();
    } catch {
      return { state: { colors: {} }, audit: [] };
    }
    const [s, a] = await Promise.all([readFileFrom(c, 'state.json'), readFileFrom(c, 'audit.jsonl')]);
    return { state: parseState(s), audit: parseAudit(a) };
  }

  private async c(): Promise<Docker.Container> {
    this.container ??= await ensureStateContainer(this.docker, this.project, this.image);
    return this.container;
  }

  async read(): Promise<HostState> {
    return parseState(await readFileFrom(await this.c(), 'state.json'));
  }

  async write(state: HostState): Promise<void> {
    await writeFileTo(await this.c(), 'state.json', `${JSON.stringify(state, null, 2)}\n`);
  }

  async update(fn: (s: HostState) => HostState | void): Promise<HostState> {
    const s = await this.read();
    const next = fn(s) ?? s;
    await this.write(next);
    return next;
  }

  async audit(entry: Omit<AuditEntry, 'time' | 'user' | 'host'>): Promise<void> {
    const c = await this.c();
    const existing = (await readFileFrom(c, 'audit.jsonl')) ?? '';
    const me = whoami();
    const line = JSON.stringify({ time: new Date().toISOString(), user: me.user, host: me.host, ...entry });
    const lines = `${existing}${line}\n`.split('\n').filter((l) => l !== '');
    await writeFileTo(c, 'audit.jsonl', `${lines.slice(-10000).join('\n')}\n`);
  }
}

function parseState(text: string | null): HostState {
  if (!text) return { colors: {} };
  try {
    const s = JSON.parse(text) as HostState;
    return { ...s, colors: s.colors ?? {} };
  } catch {
    return { colors: {} };
  }
}

export function parseAudit(text: string | null): AuditEntry[] {
  if (!text) return [];
  const out: AuditEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as AuditEntry);
    } catch {
      // A torn line is skipped, the rest still reads.
    }
  }
  return out;
}
