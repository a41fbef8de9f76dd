/**
 * The one way a command changes a stack (Kamal's `with_lock`): take the stack lock, write the
 * `started` line, run, write `ok` or `failed`, release. A lock that cannot be taken writes
 * `refused`. Re-entrant within one async call chain: deploy running a blue/green swap, or an
 * emergency scale running a deploy, runs under the outer command's lock and audit lines, so the
 * outer command still holds the lock when it records what it did. Two independent calls in the
 * same process (tests, a future daemon) do not share a lock: the held locks live in an
 * AsyncLocalStorage, not in a module variable.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type Docker from 'dockerode';
import { engineWentAway, isEngineGone } from '../docker/engine.ts';
import { acquireLock, HostStore, type Lock } from '../docker/host-state.ts';

export interface LockedRun {
  lock: Lock;
  /** The host store, with the image the lock was taken with. */
  store: HostStore;
  /** True when this call joined a lock an outer command of this call chain holds. */
  nested: boolean;
}

export interface LockSpec {
  /** Shown to whoever finds the stack locked ("running swap since …"). */
  operation: string;
  /** The audit log's command column (default: operation), e.g. `swap --image shop/api:1.4`. */
  command?: string;
  /** An image present on the engine (the lock and state containers are never started). */
  image: string;
  /** Break a lock held by someone else. */
  force: boolean;
  /**
   * What the stack was left in, for the error when the Docker Engine stops answering (e.g.
   * "nothing was switched: blue still serves"). Without it an engine error passes unchanged.
   */
  leftState?: () => string;
  /** No audit lines (`down --volumes` deletes the volume the audit log lives in). */
  noAudit?: boolean;
  /** Run without the lock when `image` is not on the engine (nothing of the stack can run then). */
  unlessImageMissing?: boolean;
}

/** What the `ok` line says; `durationMs` defaults to the time since the lock was asked for. */
export type OkDetail = string | { detail: string; durationMs?: number } | undefined;

const held = new AsyncLocalStorage<ReadonlyMap<string, LockedRun>>();

function firstLine(err: unknown): string {
  return err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
}

/** The run of `project` this call chain holds the lock of, if any. */
export function heldRun(project: string): LockedRun | undefined {
  return held.getStore()?.get(project);
}

export async function withStackLock<T>(
  target: { docker: Docker; project: string },
  spec: LockSpec,
  fn: (run: LockedRun) => Promise<T>,
  okDetail: (result: T) => OkDetail = () => undefined,
): Promise<T> {
  const outer = heldRun(target.project);
  if (outer) {
    // Joined: no lines of its own, but an engine that went away is still worded for this
    // command's stage (the outer command keeps a message that already says so).
    return fn({ ...outer, nested: true }).catch((err: unknown) => {
      throw spec.leftState && isEngineGone(err) ? engineWentAway(err, spec.operation, spec.leftState()) : err;
    });
  }
  const t0 = performance.now();
  const command = spec.command ?? spec.operation;
  const store = new HostStore(target.docker, target.project, spec.image);
  const audit = spec.noAudit ? async (): Promise<void> => undefined : store.audit.bind(store);
  const ms = (): number => Math.round(performance.now() - t0);
  let lock: Lock;
  try {
    lock = await acquireLock(target.docker, target.project, spec.operation, spec.image, { force: spec.force });
  } catch (err) {
    if (spec.unlessImageMissing && (err as { statusCode?: number }).statusCode === 404) {
      return fn({ lock: { holder: 'nobody', release: async () => undefined }, store, nested: false });
    }
    await audit({ command, result: 'refused', detail: err instanceof Error ? err.message : String(err) }).catch(() => undefined);
    throw err;
  }
  const run: LockedRun = { lock, store, nested: false };
  try {
    // Written first, so a killed command still leaves a line in the audit log.
    await audit({ command, result: 'started', ...(lock.brokeStale ? { detail: `broke the stale lock of ${lock.brokeStale}` } : {}) });
    const result = await held.run(new Map([...(held.getStore() ?? []), [target.project, run]]), () => fn(run));
    const ok = okDetail(result);
    const { detail, durationMs } = typeof ok === 'object' ? ok : { detail: ok, durationMs: undefined };
    await audit({ command, result: 'ok', ...(detail ? { detail } : {}), durationMs: durationMs ?? ms() });
    return result;
  } catch (err) {
    const final = spec.leftState && isEngineGone(err) ? engineWentAway(err, spec.operation, spec.leftState()) : err;
    await audit({ command, result: 'failed', detail: firstLine(final), durationMs: ms() }).catch(() => undefined);
    throw final;
  } finally {
    await lock.release();
  }
}
