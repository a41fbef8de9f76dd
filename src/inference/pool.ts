import path from 'node:path';
import v8 from 'node:v8';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { formatMs } from '../util/duration.ts';
import { BatchQueue, nextDeadline, pickQueue, type BatchingOptions } from './batcher.ts';
import type { ForcedBackend } from './backend.ts';
import type { NetworkManifest } from './manifest.ts';
import { ModelLoadError, type BackendInfo } from './types.ts';
import type { WorkerItem, WorkerOutput, WorkerRequest, WorkerResponse } from './worker.ts';
import { Listeners } from '../util/listeners.ts';

/**
 * A pool of inference workers fed by one dynamic batcher per model. A batch goes to an idle
 * worker; with the defaults (maxBatchSize 1, delay 0) every input is dispatched as soon as a
 * worker is free. Once every worker is busy, each is handed one more full batch, which waits
 * in its own queue: a worker that finishes starts on the next input at once instead of waiting
 * for this thread to be scheduled, hear of it and send more (on a saturated machine that round
 * trip costs milliseconds per input). A crashed worker fails only the inputs it held (at most
 * two batches) and is replaced.
 *
 * A model's sessions live in as many workers as its thread plan says (threading.ts): every
 * worker for `pool`, one worker (with intra-op threads) for `intra-op`. Its inputs go only to
 * those workers; models with fewer sessions than workers are spread over different workers, so
 * two single-session models do not queue behind each other.
 */

export interface PoolModel {
  name: string;
  dir: string;
  manifest: NetworkManifest;
  /** Sessions of this model (workers holding it) and the intra-op threads of each (ONNX); default: every worker, 1 thread. */
  threads?: { sessions: number; threadsPerSession: number } | undefined;
}

interface Job {
  model: PoolModel;
  item: WorkerItem;
  resolve: (out: PoolOutput) => void;
  reject: (err: Error) => void;
}

/** Batches a worker may hold: the one it runs and one waiting behind it. */
const WORKER_DEPTH = 2;

interface Slot {
  worker: Worker;
  /** Its place in the pool, 0…workers−1: a replacement takes the rank of the worker it replaces. */
  rank: number;
  /** False until the worker has initialised its backend. */
  ready: boolean;
  /** Set once the worker failed (crashed, exited, hung): its events after that change nothing. */
  dead: boolean;
  /** Fires when the batch the worker is on takes longer than the hang timeout. */
  watchdog: NodeJS.Timeout | undefined;
  /** Batches dispatched to it and not yet answered. */
  inflight: number;
  loaded: Set<string>;
  pending: Map<number, { resolve: (r: WorkerResponse) => void; reject: (e: Error) => void }>;
}

/** What one output of a run carries back: the data, and the backend that really ran it. */
export interface PoolOutput extends WorkerOutput {
  provider: BackendInfo;
}

export interface PoolOptions {
  workers: number;
  batching: BatchingOptions;
  /** What MODELSHIP_BACKEND / --backend forces, if anything. */
  forced?: ForcedBackend | undefined;
  /** Initialise TF.js in every worker at start (else on the first TF.js model). */
  tfjs?: boolean | undefined;
  /**
   * A worker that has not finished its current batch after this long (model load included) is
   * deemed hung: it is stopped, its inputs fail, and a fresh worker takes its place. Default 120 s.
   */
  hangTimeoutMs?: number | undefined;
}

export const DEFAULT_HANG_TIMEOUT_MS = 120_000;

export interface PoolStats {
  executions: number;
  inferences: number;
  inferMs: number;
}

function workerUrl(): URL {
  const ext = path.extname(fileURLToPath(import.meta.url)); // .ts from src (tests), .js from dist
  return new URL(`./worker${ext}`, import.meta.url);
}

export class WorkerPool {
  readonly options: PoolOptions;
  /** The TF.js backend, once a worker has initialised TF.js (at start with `tfjs`, else on the first TF.js model). */
  backend: BackendInfo | undefined;
  /** The backend each model really runs on, from its first execution. */
  readonly providers = new Map<string, BackendInfo>();
  readonly stats: PoolStats = { executions: 0, inferences: 0, inferMs: 0 };
  readonly #batchListeners = new Listeners<[size: number, model: string]>();
  readonly #backendListeners = new Listeners<[model: string, backend: BackendInfo]>();
  readonly #slots: Slot[] = [];
  readonly #queues = new Map<string, BatchQueue<Job>>();
  /** The worker ranks holding each model's sessions, fixed on the model's first input. */
  readonly #ranks = new Map<string, ReadonlySet<number>>();
  #nextRank = 0;
  #timer: NodeJS.Timeout | undefined;
  #nextId = 1;
  #closed = false;
  #closing: Promise<void> = Promise.resolve();

  private constructor(options: PoolOptions) {
    this.options = options;
  }

  static async start(options: PoolOptions): Promise<WorkerPool> {
    // V8 compiles wasm with its baseline compiler first and optimises hot functions later.
    // Measured on 2 cores: in about one process in three the big XNNPACK kernels stayed on
    // baseline code for the whole run (45% more CPU per image). Workers compile the module fully
    // optimised instead. An isolate reads this flag when it is created, so it is set here,
    // before any worker exists.
    v8.setFlagsFromString('--no-wasm-dynamic-tiering');
    const pool = new WorkerPool(options);
    try {
      const infos = await Promise.all(Array.from({ length: Math.max(1, options.workers) }, (_, rank) => pool.#spawn(rank)));
      pool.backend = infos[0];
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.#slots.length;
  }

  /** The ranks of the live workers holding the model (its sessions, once loaded). */
  workersOf(model: string): number[] {
    return this.#slots.filter((s) => !s.dead && s.loaded.has(model)).map((s) => s.rank).sort((a, b) => a - b);
  }

  async #spawn(rank: number): Promise<BackendInfo | undefined> {
    // A small young generation keeps each worker's V8 heap (and so the RSS) down; tensors live in wasm/native memory.
    const worker = new Worker(workerUrl(), { resourceLimits: { maxYoungGenerationSizeMb: 8 } });
    const slot: Slot = { worker, rank, ready: false, dead: false, watchdog: undefined, inflight: 0, loaded: new Set(), pending: new Map() };
    this.#slots.push(slot);
    worker.on('message', (msg: WorkerResponse) => {
      const p = slot.pending.get(msg.id);
      if (!p) return;
      slot.pending.delete(msg.id);
      p.resolve(msg);
    });
    worker.on('error', (err) => this.#fail(slot, err));
    worker.on('exit', (code) => {
      if (!this.#closed) this.#fail(slot, new Error(`inference worker exited with code ${code}`));
    });
    const res = await this.#request(slot, { type: 'init', id: 0, forced: this.options.forced, tfjs: this.options.tfjs ?? false });
    if (!res.ok) throw new Error(res.error);
    if (!('backend' in res)) throw new Error('worker init returned no backend');
    slot.ready = true;
    this.#schedule();
    return res.backend;
  }

  /**
   * Fails the worker's inputs, drops it from the pool and starts a replacement. A crash reports
   * 'error' and then 'exit': only the first counts (one replacement, not two).
   */
  #fail(slot: Slot, err: Error): void {
    if (slot.dead) return;
    slot.dead = true;
    clearTimeout(slot.watchdog);
    for (const p of slot.pending.values()) p.reject(err);
    slot.pending.clear();
    const i = this.#slots.indexOf(slot);
    if (i >= 0) this.#slots.splice(i, 1);
    if (!this.#closed) {
      // replace the dead worker so the pool keeps its size
      this.#spawn(slot.rank).then(() => this.#schedule(), () => undefined);
    }
  }

  #request(slot: Slot, req: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<WorkerResponse> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      try {
        slot.worker.postMessage({ ...req, id }, transfer);
      } catch (err) {
        slot.pending.delete(id);
        reject(err as Error);
      }
    });
  }

  /** Called when a model's backend becomes known (its first execution) or changes (a replaced worker fell back). */
  onBackend(listener: (model: string, backend: BackendInfo) => void): () => void {
    return this.#backendListeners.add(listener);
  }

  /** Called with the size of every model execution (the batch the dynamic batcher formed). */
  onBatch(listener: (size: number, model: string) => void): () => void {
    return this.#batchListeners.add(listener);
  }

  /**
   * Runs one input through the model (batched with others per the batching options). When
   * `signal` aborts while the input still waits in the queue, it leaves the queue and the call
   * rejects with the signal's reason: work nobody waits for any more is never run. An input
   * already handed to a worker runs to the end.
   */
  run(model: PoolModel, item: WorkerItem, signal?: AbortSignal): Promise<PoolOutput> {
    if (this.#closed) return Promise.reject(new Error('the inference pool is closed'));
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    let q = this.#queues.get(model.name);
    if (!q) {
      q = new BatchQueue<Job>(this.options.batching);
      this.#queues.set(model.name, q);
      this.#ranks.set(model.name, this.#place(model.threads?.sessions));
    }
    const queue = q;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        if (queue.remove(job)) reject(signal!.reason as Error);
      };
      const settle = () => signal?.removeEventListener('abort', onAbort);
      const job: Job = {
        model,
        item,
        resolve: (out) => (settle(), resolve(out)),
        reject: (err) => (settle(), reject(err)),
      };
      if (!queue.push(job, performance.now())) {
        reject(new Error(`queue for model ${model.name} is full (${this.options.batching.maxQueueSize})`));
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#schedule();
    });
  }

  /**
   * The ranks for a model with `sessions` sessions: every worker when it has as many (or more), else
   * the next ranks in turn, so single-session models land on different workers.
   */
  #place(sessions: number | undefined): ReadonlySet<number> {
    const w = Math.max(1, this.options.workers);
    const s = Math.min(w, Math.max(1, sessions ?? w));
    if (s === w) return new Set(Array.from({ length: w }, (_, i) => i));
    const ranks = new Set(Array.from({ length: s }, (_, i) => (this.#nextRank + i) % w));
    this.#nextRank = (this.#nextRank + s) % w;
    return ranks;
  }

  #schedule(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const now = performance.now();
    // idle workers first, then one more full batch for each busy one
    for (let depth = 0; depth < WORKER_DEPTH; depth++) {
      for (const slot of this.#slots) {
        if (!slot.ready || slot.inflight !== depth) continue;
        const key = pickQueue(this.#queues, now, depth > 0, (name) => this.#ranks.get(name)?.has(slot.rank) ?? true);
        if (key === undefined) continue;
        const batch = this.#queues.get(key)!.take(now, depth > 0)!;
        void this.#dispatch(slot, batch);
      }
    }
    // a batch already due waits for a busy worker of its model, whose completion schedules again
    const deadline = nextDeadline(this.#queues.values(), now);
    if (deadline !== undefined && this.#slots.some((s) => s.ready && s.inflight < WORKER_DEPTH)) {
      this.#timer = setTimeout(() => this.#schedule(), Math.max(0, deadline - now));
    }
  }

  /** (Re)starts the hang timer of a worker that begins a batch now. */
  #arm(slot: Slot): void {
    clearTimeout(slot.watchdog);
    const ms = this.options.hangTimeoutMs ?? DEFAULT_HANG_TIMEOUT_MS;
    slot.watchdog = setTimeout(() => {
      const err = new Error(`the inference worker did not finish a batch within ${formatMs(ms)}: it was stopped and replaced (a hung model or runtime; for a model this slow, raise models.workerTimeoutSeconds)`);
      this.#fail(slot, err);
      void slot.worker.terminate();
    }, ms);
    slot.watchdog.unref();
  }

  async #dispatch(slot: Slot, batch: Job[]): Promise<void> {
    slot.inflight++;
    if (slot.inflight === 1) this.#arm(slot); // idle until now: this batch starts at once
    const model = batch[0]!.model;
    const load = slot.loaded.has(model.name) ? undefined : { dir: model.dir, manifest: model.manifest, threads: model.threads?.threadsPerSession ?? 1 };
    const transfer = batch.map((j) => (j.item.kind === 'pixels' ? j.item.pixels.buffer : j.item.ids.buffer) as ArrayBuffer);
    try {
      const res = await this.#request(slot, { type: 'run', id: 0, model: model.name, items: batch.map((j) => j.item), ...(load ? { load } : {}) }, uniq(transfer));
      if (!res.ok) throw res.loadFailed ? new ModelLoadError(model.name, res.error) : new Error(res.error);
      if (!('outputs' in res)) throw new Error('worker returned no outputs');
      slot.loaded.add(model.name);
      if (this.providers.get(model.name)?.name !== res.provider.name) {
        this.providers.set(model.name, res.provider);
        this.#backendListeners.emit(model.name, res.provider);
      }
      if (res.provider.runtime === 'tfjs') this.backend = res.provider;
      this.stats.executions++;
      this.stats.inferences += batch.length;
      this.#batchListeners.emit(batch.length, model.name);
      this.stats.inferMs += res.inferMs;
      batch.forEach((j, i) => j.resolve({ ...res.outputs[i]!, provider: res.provider }));
    } catch (err) {
      for (const j of batch) j.reject(err as Error);
    } finally {
      slot.inflight--;
      // the worker goes straight on to the batch queued behind this one, if any
      if (slot.inflight > 0 && !slot.dead) this.#arm(slot);
      else clearTimeout(slot.watchdog);
      if (!this.#closed) this.#schedule();
    }
  }

  /**
   * Fails the inputs still queued, then lets each worker finish the batch or model load it is
   * running, release its sessions and only then stops the thread: terminating a worker while
   * ONNX Runtime creates or runs a session aborts the process ("terminate called after throwing
   * an instance of 'Napi::Error'"). A worker that does not answer within the hang timeout is
   * stopped anyway (it is hung; the watchdog would stop it too).
   */
  async close(): Promise<void> {
    if (this.#closed) return this.#closing;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    for (const q of this.#queues.values()) for (const j of q.drain()) j.reject(new Error('the inference pool was closed'));
    const ms = this.options.hangTimeoutMs ?? DEFAULT_HANG_TIMEOUT_MS;
    this.#closing = Promise.all(
      this.#slots.map(async (s) => {
        clearTimeout(s.watchdog);
        if (!s.dead) {
          let timer: NodeJS.Timeout | undefined;
          const timeout = new Promise<void>((r) => (timer = setTimeout(r, ms)));
          const exited = new Promise<void>((r) => s.worker.once('exit', () => r()));
          await Promise.race([this.#request(s, { type: 'close', id: 0 }).then(() => undefined, () => undefined), timeout, exited]);
          clearTimeout(timer);
        }
        await s.worker.terminate();
        for (const p of s.pending.values()) p.reject(new Error('the inference pool was closed'));
        s.pending.clear();
      }),
    ).then(() => {
      this.#slots.length = 0;
    });
    return this.#closing;
  }
}

function uniq<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}
