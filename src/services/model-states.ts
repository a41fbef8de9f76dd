/**
 * Which models this server has loaded and run: the truth behind `/v2/models/{m}/ready`, the
 * `models` check of `/health/ready` and the `modelship_model_ready` metric. A model is ready once
 * one input went through it (loaded and warm); one whose files failed to load is `failed` with
 * the reason until an input succeeds again. Pure bookkeeping; the service records outcomes.
 */

export type ModelState = 'unloaded' | 'loading' | 'ready' | 'failed';

export interface ModelStatus {
  state: ModelState;
  /** Why it failed (state 'failed'). */
  error?: string;
  /** When the state last changed (ms since the epoch). */
  since: number;
}

/** A failed model is tried again by a readiness probe at most this often. */
export const RETRY_FAILED_MS = 30_000;

export class ModelStates {
  readonly #m = new Map<string, ModelStatus>();
  readonly #onChange: (name: string, s: ModelStatus) => void;

  constructor(onChange: (name: string, s: ModelStatus) => void = () => {}) {
    this.#onChange = onChange;
  }

  get(name: string): ModelStatus {
    return this.#m.get(name) ?? { state: 'unloaded', since: 0 };
  }

  /** Bumped on every change (a cached readiness answer older than it is stale). */
  version = 0;

  #set(name: string, s: ModelStatus): void {
    this.version++;
    this.#m.set(name, s);
    this.#onChange(name, s);
  }

  loading(name: string, now = Date.now()): void {
    if (this.get(name).state !== 'ready') this.#set(name, { state: 'loading', since: now });
  }

  ready(name: string, now = Date.now()): void {
    if (this.get(name).state !== 'ready') this.#set(name, { state: 'ready', since: now });
  }

  failed(name: string, error: string, now = Date.now()): void {
    this.#set(name, { state: 'failed', error, since: now });
  }

  /** Whether a readiness probe should (re)start loading the model now. */
  shouldLoad(name: string, now = Date.now()): boolean {
    const s = this.get(name);
    return s.state === 'unloaded' || (s.state === 'failed' && now - s.since >= RETRY_FAILED_MS);
  }

  /** Models that failed to load, with the reason. */
  broken(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, s] of this.#m) if (s.state === 'failed') out[name] = s.error ?? 'failed to load';
    return out;
  }

  all(): Record<string, ModelStatus> {
    return Object.fromEntries(this.#m);
  }
}
