/**
 * The server's side of the inference engine: admission (the gate bounded by
 * `maxConcurrentClassifications` and the deadline, see admission.ts; 503 + Retry-After beyond
 * them), the result cache, timeouts, each model's readiness and the inference metrics. The engine itself (worker pool, batcher) is shared with `classify`.
 */
import type { Engine } from '../inference/engine.ts';
import type { Task } from '../inference/manifest.ts';
import { InputError, ModelLoadError } from '../inference/errors.ts';
import type { ClassificationResult, DetectionResult } from '../inference/types.ts';
import { formatMs } from '../util/duration.ts';
import { withTimeout } from '../util/timeout.ts';
import { ApiError, inputProblem, toApiError } from './errors.ts';
import { cacheKey, type ResultCache } from './cache.ts';
import type { Metrics } from './metrics.ts';
import type { ServerSettings } from './settings.ts';
import { decide, Gate, ServiceTimes } from './admission.ts';
import { ModelStates } from './model-states.ts';
import { warmupImage } from './sample.ts';

export { Gate } from './admission.ts';

export type ApiTask = 'image' | 'text' | 'detect';

export const ENGINE_TASK: Record<ApiTask, Task> = { image: 'image-classification', text: 'text-classification', detect: 'object-detection' };

export interface InferOptions {
  model?: string | undefined;
  topK?: number | undefined;
  threshold?: number | undefined;
  maxDetections?: number | undefined;
  /** The caller gave up (the client closed the connection): inputs not started are dropped. */
  signal?: AbortSignal | undefined;
}

export type InferResult = (ClassificationResult | DetectionResult) & { cached: boolean };

export interface InferenceServiceOptions {
  engine: Engine;
  cache: ResultCache;
  metrics: Metrics;
  maxConcurrent: number;
  timeoutMs: number;
  defaults: { image: string; text: string; detect: string };
  /** With maxBatchSize 1 every model call is a batch of one; otherwise the engine must report batches. */
}

export class InferenceService {
  readonly engine: Engine;
  readonly gate: Gate;
  /** Measured per-input service time per model (the deadline half of admission). */
  readonly times = new ServiceTimes();
  /** Loaded / warm / failed, per model. */
  readonly models: ModelStates;
  readonly #o: InferenceServiceOptions;
  #warm = false;
  #warmError: string | undefined;

  constructor(o: InferenceServiceOptions) {
    this.#o = o;
    this.engine = o.engine;
    this.gate = new Gate(o.maxConcurrent, (n) => o.metrics.queueDepth.set(n));
    this.models = new ModelStates((name, st) => o.metrics.modelReady.set({ model: name }, st.state === 'ready' ? 1 : 0));
    // one series per backend really in use (TF.js and ONNX Runtime providers), as models load
    const report = (b: { name: string; device: string }) => o.metrics.backendInfo.set({ backend: b.name, device: b.device }, 1);
    const known = [...o.engine.providers.values()];
    for (const b of known.length > 0 ? known : [o.engine.backend]) if (!b.name.startsWith('none')) report(b);
    o.engine.onBackend((_model, b) => report(b));
  }

  get warm(): boolean {
    return this.#warm;
  }
  get warmError(): string | undefined {
    return this.#warmError;
  }

  modelName(task: ApiTask, requested: string | undefined): string {
    return requested ?? this.#o.defaults[task];
  }

  /** Loads the default models and runs one input through each, so the first request is not slow. */
  async warmUp(sample: { image: Uint8Array }): Promise<void> {
    this.#sample = sample.image;
    try {
      await this.warmModel(this.#o.defaults.image, 'image');
      await this.warmModel(this.#o.defaults.text, 'text');
      this.#warm = true;
      this.#warmError = undefined;
      // The detector is big: load it in the background, readiness does not wait for it.
      void this.warmModel(this.#o.defaults.detect, 'detect').catch(() => {});
    } catch (err) {
      this.#warmError = (err as Error).message;
      throw err;
    }
  }

  #sample: Uint8Array | undefined;

  /** Loads a model and runs one sample input through it; records ready or failed. */
  async warmModel(name: string, task: ApiTask): Promise<void> {
    this.models.loading(name);
    try {
      if (task === 'text') await this.engine.classifyText('warm up', { model: name });
      else {
        this.#sample ??= warmupImage();
        if (task === 'detect') await this.engine.detect(this.#sample, { model: name });
        else await this.engine.classifyImage(this.#sample, { model: name });
      }
      this.models.ready(name);
    } catch (err) {
      this.models.failed(name, (err as Error).message);
      throw err;
    }
  }

  /**
   * Admission before anything is read or run (see admission.ts): throws 503 `overloaded` when the
   * gate is full, or when the work ahead would not let `want` more inputs of `model` finish in time.
   */
  admit(model: string, want: number): void {
    const d = decide({ inflight: this.gate.inflight, max: this.gate.max, want, perInputMs: this.times.perInputMs(model), timeoutMs: this.#o.timeoutMs });
    if (d.admit) return;
    this.#o.metrics.rejected.inc({ reason: d.reason });
    throw new ApiError(503, 'overloaded', d.message, { retryAfter: d.retryAfterSeconds });
  }

  /** Runs `inputs` through one task, bounded by the gate. Per-input errors are returned, not thrown. */
  async run(task: ApiTask, inputs: (Uint8Array | string)[], opts: InferOptions): Promise<(InferResult | { error: ApiError })[]> {
    const model = this.modelName(task, opts.model);
    const entry = await this.engine.model(model, ENGINE_TASK[task]);
    this.admit(model, inputs.length);
    const slots = this.gate.tryAcquire(inputs.length);
    if (slots === 0) {
      this.#o.metrics.rejected.inc({ reason: 'queue_full' });
      throw new ApiError(503, 'overloaded', `the inference queue is full (${this.gate.max} calls queued or running); retry shortly`, { retryAfter: 1 });
    }
    const stragglers: Promise<unknown>[] = [];
    try {
      return await this.#runAll(task, model, entry.manifest.version, inputs, opts, slots, stragglers, true);
    } finally {
      // An input that timed out may still be running in a worker: its slot stays taken until
      // it ends, so the gate keeps counting work the machine really does.
      if (stragglers.length === 0) this.gate.release(slots);
      else void Promise.allSettled(stragglers).then(() => this.gate.release(slots));
    }
  }

  /** Like run() without the admission gate (the queue worker bounds itself by chunk size). */
  async runUngated(task: ApiTask, inputs: (Uint8Array | string)[], opts: InferOptions): Promise<(InferResult | { error: ApiError })[]> {
    const model = this.modelName(task, opts.model);
    const entry = await this.engine.model(model, ENGINE_TASK[task]);
    return this.#runAll(task, model, entry.manifest.version, inputs, opts, Math.max(1, inputs.length), [], false);
  }

  async #runAll(task: ApiTask, model: string, version: string, inputs: (Uint8Array | string)[], opts: InferOptions, parallel: number, stragglers: Promise<unknown>[], gated: boolean): Promise<(InferResult | { error: ApiError })[]> {
    const out: (InferResult | { error: ApiError })[] = new Array(inputs.length);
    let next = 0;
    const workers = Array.from({ length: Math.min(parallel, inputs.length) }, async () => {
      while (next < inputs.length) {
        const i = next++;
        out[i] = await this.#one(task, model, version, inputs[i]!, opts, stragglers, gated);
      }
    });
    await Promise.all(workers);
    return out;
  }

  async #one(task: ApiTask, model: string, version: string, input: Uint8Array | string, opts: InferOptions, stragglers: Promise<unknown>[], gated: boolean): Promise<InferResult | { error: ApiError }> {
    const m = this.#o.metrics;
    const key = cacheKey({ task, model, version, content: input, options: { topK: opts.topK, threshold: opts.threshold, maxDetections: opts.maxDetections } });
    const hit = await this.#o.cache.get(key);
    if (hit !== undefined) {
      m.cacheHits.inc();
      return { ...(hit as ClassificationResult | DetectionResult), cached: true };
    }
    if (this.#o.cache.kind !== 'off') m.cacheMisses.inc();
    const t0 = performance.now();
    const inSystem = this.gate.inflight;
    try {
      const abort = new AbortController();
      // The result is cached even when it arrives after the timeout: the client's retry is then a hit.
      const signal = opts.signal ? AbortSignal.any([abort.signal, opts.signal]) : abort.signal;
      const call = this.#call(task, model, input, opts, signal).then((res) => {
        void this.#o.cache.set(key, res);
        return res;
      });
      const res = await this.#withTimeout(call, abort, stragglers);
      const latencyMs = performance.now() - t0;
      m.inferenceDuration.observe({ model, task: ENGINE_TASK[task], backend: res.backend }, latencyMs / 1000);
      if (gated) this.times.observe(model, latencyMs, inSystem);
      this.models.ready(model);
      // Runtimes without a batcher (the lexicon model) execute one input at a time.
      if (res.backend === 'lexicon') m.batchSize.observe(1);
      return { ...res, cached: false };
    } catch (err) {
      if (err instanceof InputError) {
        const problem = inputProblem(err, task);
        m.rejected.inc({ reason: problem.status === 413 ? 'too_large' : problem.status === 415 ? 'unsupported' : 'bad_input' });
        return { error: problem };
      }
      if (err instanceof ApiError) {
        // A timed-out input took at least the timeout: the estimate learns the machine is slower than it thought.
        if (gated && err.code === 'timeout') this.times.observe(model, this.#o.timeoutMs, inSystem);
        return { error: err };
      }
      if (err instanceof ModelLoadError) {
        this.models.failed(model, err.message);
        throw toApiError(err);
      }
      throw err;
    }
  }

  #call(task: ApiTask, model: string, input: Uint8Array | string, opts: InferOptions, signal: AbortSignal): Promise<ClassificationResult | DetectionResult> {
    if (task === 'text') return this.engine.classifyText(input as string, { model, topK: opts.topK, threshold: opts.threshold, signal });
    const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
    if (task === 'detect') return this.engine.detect(bytes, { model, threshold: opts.threshold, maxDetections: opts.maxDetections, signal });
    return this.engine.classifyImage(bytes, { model, topK: opts.topK, threshold: opts.threshold, signal });
  }

  /**
   * Answers 504 once `timeoutMs` has passed. The abort takes the input out of the engine's queue
   * if it has not started; one already running goes on and is listed in `stragglers`.
   */
  #withTimeout<T>(p: Promise<T>, abort: AbortController, stragglers: Promise<unknown>[]): Promise<T> {
    return withTimeout(p, this.#o.timeoutMs, () => {
      this.#o.metrics.rejected.inc({ reason: 'timeout' });
      const err = new ApiError(504, 'timeout', `inference took longer than the request timeout (${formatMs(this.#o.timeoutMs)}); retry later or raise api.requestTimeoutSeconds`);
      abort.abort(err);
      stragglers.push(p.catch(() => undefined));
      throw err;
    });
  }
}

/**
 * The service as the API server and the queue worker build it from the settings (the worker
 * passes its own bounds: it paces itself by chunk size and allows a longer timeout).
 */
export function serviceFor(s: ServerSettings, deps: { engine: Engine; cache: ResultCache; metrics: Metrics; maxConcurrent?: number; timeoutMs?: number }): InferenceService {
  return new InferenceService({
    engine: deps.engine,
    cache: deps.cache,
    metrics: deps.metrics,
    maxConcurrent: deps.maxConcurrent ?? s.maxConcurrent,
    timeoutMs: deps.timeoutMs ?? s.requestTimeoutMs,
    defaults: { image: s.models.image, text: s.models.text, detect: s.models.detection },
  });
}
