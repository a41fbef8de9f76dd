/**
 * Dynamic batching as pure logic (Triton/TF-Serving semantics): a bounded FIFO per model;
 * a batch is ready when `maxBatchSize` items wait, or when the oldest item has waited
 * `maxQueueDelayMs` (default 0 = dispatch at once when an executor is free). Time is passed in,
 * so the decisions are deterministic and unit-testable; the pool owns the clock and the timers.
 */
export interface BatchingOptions {
  maxBatchSize: number;
  maxQueueDelayMs: number;
  /** Pushes beyond this are refused (the caller sheds load). 0 = unbounded. */
  maxQueueSize: number;
}

export const DEFAULT_BATCHING: BatchingOptions = { maxBatchSize: 1, maxQueueDelayMs: 0, maxQueueSize: 0 };

interface Queued<T> {
  item: T;
  arrivedAt: number;
}

export class BatchQueue<T> {
  readonly options: BatchingOptions;
  readonly #queue: Queued<T>[] = [];

  constructor(options: Partial<BatchingOptions> = {}) {
    const o = { ...DEFAULT_BATCHING, ...options };
    if (!Number.isInteger(o.maxBatchSize) || o.maxBatchSize < 1) throw new RangeError('maxBatchSize must be an integer ≥ 1');
    if (!(o.maxQueueDelayMs >= 0)) throw new RangeError('maxQueueDelayMs must be ≥ 0');
    if (!Number.isInteger(o.maxQueueSize) || o.maxQueueSize < 0) throw new RangeError('maxQueueSize must be an integer ≥ 0');
    this.options = o;
  }

  get size(): number {
    return this.#queue.length;
  }

  /** Adds an item; false when the queue is full. */
  push(item: T, now: number): boolean {
    if (this.options.maxQueueSize > 0 && this.#queue.length >= this.options.maxQueueSize) return false;
    this.#queue.push({ item, arrivedAt: now });
    return true;
  }

  /** Arrival time of the oldest waiting item. */
  oldest(): number | undefined {
    return this.#queue[0]?.arrivedAt;
  }

  /** Whether a batch may be taken now. */
  ready(now: number): boolean {
    const first = this.#queue[0];
    if (!first) return false;
    return this.#queue.length >= this.options.maxBatchSize || now - first.arrivedAt >= this.options.maxQueueDelayMs;
  }

  /** Whether a whole batch (maxBatchSize items) waits. */
  full(): boolean {
    return this.#queue.length >= this.options.maxBatchSize;
  }

  /** Takes the next batch (oldest first, at most maxBatchSize) if ready (or, with fullOnly, full), else null. */
  take(now: number, fullOnly = false): T[] | null {
    if (fullOnly ? !this.full() : !this.ready(now)) return null;
    return this.#queue.splice(0, this.options.maxBatchSize).map((q) => q.item);
  }

  /** When the current oldest item's delay expires (for a timer), or undefined if empty. */
  deadline(): number | undefined {
    const first = this.#queue[0];
    return first ? first.arrivedAt + this.options.maxQueueDelayMs : undefined;
  }

  /** Removes one waiting item (its caller gave up: a timeout, a closed connection); false when it already left in a batch. */
  remove(item: T): boolean {
    const i = this.#queue.findIndex((q) => q.item === item);
    if (i < 0) return false;
    this.#queue.splice(i, 1);
    return true;
  }

  /** Removes and returns everything (used on shutdown to fail pending work). */
  drain(): T[] {
    return this.#queue.splice(0).map((q) => q.item);
  }
}

/**
 * Picks which model's queue an idle executor should serve: among ready queues, the one whose
 * oldest item arrived first (no model starves another). Returns its key or undefined.
 * `fullOnly` considers only queues holding a whole batch: a batch queued behind a busy executor
 * must not be cut short, since more items can join it until that executor frees. `eligible`
 * leaves out the queues this executor cannot serve (a model whose session lives elsewhere).
 */
export function pickQueue<K, T>(queues: ReadonlyMap<K, BatchQueue<T>>, now: number, fullOnly = false, eligible?: (key: K) => boolean): K | undefined {
  let best: K | undefined;
  let bestAt = Infinity;
  for (const [key, q] of queues) {
    if (fullOnly ? !q.full() : !q.ready(now)) continue;
    if (eligible && !eligible(key)) continue;
    const at = q.oldest()!;
    if (at < bestAt) {
      bestAt = at;
      best = key;
    }
  }
  return best;
}

/**
 * The earliest deadline among non-empty queues, for arming one timer. With `after`, only
 * deadlines later than it: a batch whose delay has already expired and still waits is waiting
 * for a busy executor, whose completion schedules again (a timer for it would spin).
 */
export function nextDeadline<T>(queues: Iterable<BatchQueue<T>>, after = -Infinity): number | undefined {
  let min: number | undefined;
  for (const q of queues) {
    const d = q.deadline();
    if (d !== undefined && d > after && (min === undefined || d < min)) min = d;
  }
  return min;
}
