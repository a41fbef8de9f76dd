/**
 * Admission control for inference requests, decided before any work is done for them. Pure.
 *
 * Two limits, as Triton's queue policy with a timeout: the gate (`maxConcurrentClassifications`
 * inference calls queued or running) and the deadline: an input is admitted only when the work
 * already admitted ahead of it, at the service time measured so far, lets it finish within the
 * request timeout. Everything else gets 503 at once, so the machine spends its cores on inputs
 * that will be answered in time instead of on inputs that will time out.
 *
 * The service time is measured per model as `latency / inputs in the system when it started`:
 * at saturation that is the time the whole machine needs per input (one input's execution time
 * divided by the parallelism), at low load it is pessimistic, which only matters near a deadline.
 */

import { formatMs } from '../util/duration.ts';

/** Share of the request timeout an admitted input's predicted completion may use (the rest is margin). */
export const DEADLINE_SHARE = 0.8;
/** Weight of a new sample in the moving average of the per-input service time. */
const EWMA_WEIGHT = 0.1;

export type RejectReason = 'queue_full' | 'deadline';

export type Decision =
  | { admit: true; predictedMs: number | undefined }
  | { admit: false; reason: RejectReason; retryAfterSeconds: number; predictedMs: number | undefined; message: string };

export interface DecisionInput {
  /** Calls (slots) admitted and not finished. */
  inflight: number;
  /** The gate's size. */
  max: number;
  /** Slots this request asks for (its parallelism: at most its number of inputs). */
  want: number;
  /** Measured time the machine needs per input of this model (undefined: nothing measured yet). */
  perInputMs: number | undefined;
  /** The request timeout (per input). */
  timeoutMs: number;
}

/** Whether to run a request now; never refuses when nothing is in flight (refusing could not help anyone). */
export function decide(i: DecisionInput): Decision {
  const want = Math.max(1, Math.min(i.want, i.max));
  const predictedMs = i.perInputMs === undefined ? undefined : (i.inflight + want) * i.perInputMs;
  if (i.inflight === 0) return { admit: true, predictedMs };
  if (i.inflight + want > i.max) {
    return { admit: false, reason: 'queue_full', retryAfterSeconds: 1, predictedMs, message: `the inference queue is full (${i.max} calls queued or running); retry shortly` };
  }
  const budget = i.timeoutMs * DEADLINE_SHARE;
  if (predictedMs !== undefined && predictedMs > budget) {
    const overMs = predictedMs - budget;
    return {
      admit: false,
      reason: 'deadline',
      retryAfterSeconds: Math.max(1, Math.ceil(overMs / 1000)),
      predictedMs,
      message: `the server cannot finish this request within the request timeout (${formatMs(i.timeoutMs)}): ${i.inflight} calls are ahead of it at about ${formatMs(Math.round(i.perInputMs!))} each; retry shortly`,
    };
  }
  return { admit: true, predictedMs };
}

/** Per-model moving average of the per-input service time (see the module comment). */
export class ServiceTimes {
  readonly #perInput = new Map<string, number>();

  /** Records one input that took `latencyMs` and started with `inSystem` calls in flight (itself included). */
  observe(model: string, latencyMs: number, inSystem: number): void {
    if (!Number.isFinite(latencyMs) || latencyMs < 0) return;
    const sample = latencyMs / Math.max(1, inSystem);
    const old = this.#perInput.get(model);
    this.#perInput.set(model, old === undefined ? sample : old + EWMA_WEIGHT * (sample - old));
  }

  perInputMs(model: string): number | undefined {
    return this.#perInput.get(model);
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.#perInput].map(([k, v]) => [k, Math.round(v * 10) / 10]));
  }
}

/** Admission gate: a request reserves one slot per input (at most `max`) or is refused at once. */
export class Gate {
  readonly max: number;
  #inflight = 0;
  readonly #onChange: (n: number) => void;
  constructor(max: number, onChange: (n: number) => void = () => {}) {
    this.max = max;
    this.#onChange = onChange;
  }
  get inflight(): number {
    return this.#inflight;
  }
  /** Reserves slots for `inputs` inputs; returns how many were reserved (parallelism), or 0 when full. */
  tryAcquire(inputs: number): number {
    const want = Math.max(1, Math.min(inputs, this.max));
    if (this.#inflight + want > this.max) return 0;
    this.#inflight += want;
    this.#onChange(this.#inflight);
    return want;
  }
  release(n: number): void {
    this.#inflight = Math.max(0, this.#inflight - n);
    this.#onChange(this.#inflight);
  }
}
