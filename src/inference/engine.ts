import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import { WrongTaskError } from './errors.ts';
import { DEFAULT_BATCHING, type BatchingOptions } from './batcher.ts';
import { nativeBackendInstalled, parseBackend, type ForcedBackend } from './backend.ts';
import { decodeImage, decoderName, DEFAULT_LIMITS, type DecodeLimits } from './decode.ts';
import { tfjsVariant, type ModelManifest, type NetworkManifest, type Task } from './manifest.ts';
import { decodeDetections, rankPredictions, toScores } from './postprocess.ts';
import { resizeGeometry } from './preprocess.ts';
import { DEFAULT_MODEL, listModels, type ModelEntry, type RegistryOptions } from './registry.ts';
import { getModel } from './model-lookup.ts';
import { classifySentiment } from './sentiment.ts';
import { parseVocab, tokenize } from './tokenizer.ts';
import { loadHfEncoder, type HfTextEncoder, type HfTokenizerSpec } from './hf-tokenizer.ts';
import { WorkerPool, type PoolModel } from './pool.ts';
import { chooseThreads, describePlan, planThreads, type ThreadChoice, type ThreadPlan } from './threading.ts';
import { isHubSpec } from '../config/hub-ref.ts';
import { InputError, type BackendInfo, type ClassificationResult, type DetectionResult } from './types.ts';
import { Listeners } from '../util/listeners.ts';

/**
 * The inference engine shared by `modelship classify` and the API server. Runtime-neutral surface:
 * callers pass bytes or text and get labelled results; which runtime runs a model (TF.js in a
 * worker pool, the VADER lexicon in-process, later ONNX Runtime) is the manifest's business.
 */

export interface EngineOptions {
  /** Worker threads for TF.js models. Default: one per core (1 when a native TF backend is installed: it threads itself). */
  workers?: number | undefined;
  batching?: Partial<BatchingOptions> | undefined;
  /** Force a backend (TF.js or an ONNX Runtime provider); default from MODELSHIP_BACKEND, else automatic. */
  backend?: string | undefined;
  /**
   * ONNX Runtime intra-op threads per session for every ONNX model (overrides the manifests);
   * default from MODELSHIP_ONNX_THREADS, else each model's own thread policy (threading.ts).
   */
  onnxThreads?: number | undefined;
  /** The config's `models.threads`: a thread policy by model name, `*` for every ONNX model. */
  threads?: Readonly<Record<string, ThreadChoice>> | undefined;
  limits?: Partial<DecodeLimits> | undefined;
  registry?: RegistryOptions | undefined;
  /** Start the TF.js worker pool on first use of a TF.js model instead of at once (a lexicon-only run never loads TF.js). */
  lazy?: boolean | undefined;
  /** A worker still on one batch after this long is stopped and replaced (see PoolOptions.hangTimeoutMs). Default 120 s. */
  workerTimeoutMs?: number | undefined;
  /** Models to load at start (warm-up); others load on first use. */
  preload?: string[] | undefined;
}

export interface ClassifyOptions {
  model?: string | undefined;
  topK?: number | undefined;
  threshold?: number | undefined;
  /** Give up on this input: it is not decoded or run if it has not started (the call rejects with the signal's reason). */
  signal?: AbortSignal | undefined;
}

export interface DetectOptions {
  model?: string | undefined;
  threshold?: number | undefined;
  maxDetections?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface EngineInfo {
  /** The TF.js backend (or "none" when no TF.js model has run). */
  backend: BackendInfo;
  /** The backend each model that has run (or been warmed) really uses: `onnx-cpu`, `onnx-cuda`, `wasm-simd`… */
  providers: Record<string, BackendInfo>;
  workers: number;
  decoder: string;
  batching: BatchingOptions;
  limits: DecodeLimits;
  /** `backend`: what really runs the model, once it has run (always for the lexicon); `threads`: an ONNX model's thread plan. */
  models: { name: string; task: Task; version: string; runtime: string; source: string; backend?: string; threads?: ThreadPlan & { summary: string } }[];
}

export interface Engine {
  classifyImage(input: Uint8Array, opts?: ClassifyOptions): Promise<ClassificationResult>;
  classifyText(text: string, opts?: ClassifyOptions): Promise<ClassificationResult>;
  detect(input: Uint8Array, opts?: DetectOptions): Promise<DetectionResult>;
  /** Resolves a model (default for the task when name is undefined) and checks its task. */
  model(name: string | undefined, task: Task): Promise<ModelEntry>;
  info(): Promise<EngineInfo>;
  /**
   * The name a model spec (a config default: `objects`, `hf:ORG/NAME`) is listed under, once it
   * has been resolved (an `hf:` spec names its manifest's model); undefined while it is not.
   */
  resolvedName(spec: string): string | undefined;
  /** Loads a model into a worker (one run on a blank input) and returns the backend that really runs it. */
  warm(name: string): Promise<BackendInfo>;
  /** The TF.js backend, or the provider of the ONNX models when no TF.js model runs. */
  readonly backend: BackendInfo;
  /** The backend of each model that has run, by model name. */
  readonly providers: ReadonlyMap<string, BackendInfo>;
  readonly workers: number;
  /** Subscribes to the backend each model really runs on, as it becomes known; returns unsubscribe. */
  onBackend(listener: (model: string, backend: BackendInfo) => void): () => void;
  /** Subscribes to the size of every model execution (dynamic batching); returns unsubscribe. */
  onBatch(listener: (size: number, model: string) => void): () => void;
  close(): Promise<void>;
}

/**
 * One worker per core: a `pool` model has a single-threaded session in each, an `intra-op` one a
 * session with a thread per core in one of them (threading.ts), and a wasm TF.js backend takes no
 * threads in Node. With MODELSHIP_ONNX_THREADS=N for every model, cores / N. A forced native
 * TF.js backend threads itself: one worker.
 */
export function defaultWorkers(forced?: ForcedBackend, onnxThreads = 1): number {
  if (forced?.runtime === 'tfjs' && (forced.tfjs === 'tfjs-node' || forced.tfjs === 'tfjs-node-gpu') && nativeBackendInstalled()) return 1;
  return Math.max(1, Math.floor(os.availableParallelism() / onnxThreads));
}

/** What createEngine settles once: the forced backend, thread and worker counts, limits. */
interface EngineSettings {
  forced: ForcedBackend | undefined;
  onnxThreads: number | undefined;
  cores: number;
  batching: BatchingOptions;
  limits: DecodeLimits;
  workers: number;
  registry: RegistryOptions;
  threads: EngineOptions['threads'];
  workerTimeoutMs: number | undefined;
  /** TF.js is initialised in every worker at start (a registry model runs on it), else on first use. */
  tfjsEager: boolean;
}

async function engineSettings(opts: EngineOptions): Promise<EngineSettings> {
  let forced: ForcedBackend | undefined;
  try {
    forced = parseBackend(opts.backend ?? process.env.MODELSHIP_BACKEND);
  } catch (err) {
    throw new UserError((err as Error).message, { exitCode: 2 });
  }
  const onnxThreads = opts.onnxThreads ?? parseThreads(process.env.MODELSHIP_ONNX_THREADS);
  const workers = opts.workers ?? defaultWorkers(forced, onnxThreads ?? 1);
  if (!Number.isInteger(workers) || workers < 1) throw new UserError(`workers must be a positive integer, got ${workers}`, { exitCode: 2 });
  const registry = opts.registry ?? {};
  // TF.js is initialised in every worker at start when a model of the registry runs on it (as
  // before ONNX Runtime existed); otherwise on first use only, so an ONNX-only server never
  // carries TF.js in memory.
  const tfjsEager = forced?.runtime === 'tfjs' || (forced === undefined && !opts.lazy && (await listModels(registry).catch(() => [])).some((m) => !('error' in m) && m.manifest.runtime === 'tfjs'));
  return {
    forced,
    onnxThreads,
    cores: os.availableParallelism(),
    batching: { ...DEFAULT_BATCHING, ...opts.batching },
    limits: { ...DEFAULT_LIMITS, ...opts.limits },
    workers,
    registry,
    threads: opts.threads,
    workerTimeoutMs: opts.workerTimeoutMs,
    tfjsEager,
  };
}

/**
 * The engine: models resolved and cached by name, inputs decoded or tokenised here and run in the
 * worker pool (started at once, or with `lazy` on first use of a network model: a run that only
 * needs the lexicon model then never starts it).
 */
class PooledEngine implements Engine {
  readonly #s: EngineSettings;
  #pool: WorkerPool | undefined;
  #starting: Promise<WorkerPool> | undefined;
  #closed = false;
  // Registered before the pool exists (it starts on first use): the pool's events are passed on.
  readonly #batchListeners = new Listeners<[size: number, model: string]>();
  readonly #backendListeners = new Listeners<[model: string, backend: BackendInfo]>();
  readonly #entries = new Map<string, ModelEntry>();
  readonly #vocabs = new Map<string, Map<string, number>>();
  readonly #encoders = new Map<string, Promise<HfTextEncoder>>();

  constructor(settings: EngineSettings) {
    this.#s = settings;
  }

  get backend(): BackendInfo {
    if (this.#pool?.backend) return this.#pool.backend;
    const onnx = [...(this.#pool?.providers.values() ?? [])].find((p) => p.runtime === 'onnx');
    return onnx ?? NOT_STARTED;
  }

  get providers(): ReadonlyMap<string, BackendInfo> {
    return this.#pool?.providers ?? new Map<string, BackendInfo>();
  }

  get workers(): number {
    return this.#pool?.size ?? this.#s.workers;
  }

  startPool(): Promise<WorkerPool> {
    // a request that reaches the pool after close() must not start a new one (it would keep the process alive)
    if (this.#closed && !this.#starting) return Promise.reject(new Error('the inference pool was closed'));
    const { workers, batching, forced, tfjsEager, workerTimeoutMs } = this.#s;
    this.#starting ??= WorkerPool.start({ workers, batching, forced, tfjs: tfjsEager, hangTimeoutMs: workerTimeoutMs }).then(
      (p) => {
        this.#pool = p;
        p.onBatch((size, model) => this.#batchListeners.emit(size, model));
        p.onBackend((model, backend) => this.#backendListeners.emit(model, backend));
        return p;
      },
      (err: unknown) => {
        throw new UserError(`could not start the inference engine: ${(err as Error).message}`, { hint: 'unset MODELSHIP_BACKEND to let modelship pick a backend that works here' });
      },
    );
    return this.#starting;
  }

  /** Resolves a model once (registry or hf:) and keeps it under the name it was asked by. */
  async remember(name: string): Promise<ModelEntry> {
    const e = await getModel(name, this.#s.registry);
    this.#entries.set(name, e);
    return e;
  }

  model = async (name: string | undefined, task: Task): Promise<ModelEntry> => {
    const n = name ?? DEFAULT_MODEL[task];
    const e = this.#entries.get(n) ?? (await this.remember(n));
    if (e.manifest.task !== task) {
      throw new WrongTaskError(n, `model "${n}" does the task ${e.manifest.task}, not ${task}`, { hint: `pick a ${task} model (modelship models list)` });
    }
    return e;
  };

  onBackend(listener: (model: string, backend: BackendInfo) => void): () => void {
    return this.#backendListeners.add(listener);
  }

  onBatch(listener: (size: number, model: string) => void): () => void {
    return this.#batchListeners.add(listener);
  }

  /** A text through the model's tokenizer.json (loaded once per model), as a worker item. */
  async #hfItem(e: ModelEntry, spec: HfTokenizerSpec, text: string) {
    let enc = this.#encoders.get(e.name);
    if (!enc) {
      enc = loadHfEncoder(e.dir, spec);
      this.#encoders.set(e.name, enc);
      enc.catch(() => this.#encoders.delete(e.name));
    }
    const encoder = await enc;
    const r = encoder.encode(text);
    return { kind: 'tokens' as const, ids: Int32Array.from(r.ids), typeIds: r.typeIds ? Int32Array.from(r.typeIds) : undefined, padId: encoder.padId, maxLength: spec.maxLength };
  }

  /** An ONNX model's thread plan (threading.ts): config, then MODELSHIP_ONNX_THREADS, then its manifest, then the default. */
  #planFor(e: ModelEntry): ThreadPlan | undefined {
    const s = this.#s;
    if (s.forced?.runtime === 'tfjs') return undefined;
    // the configured size, not pool.size: that dips while a crashed worker is being replaced
    return modelThreadPlan(e, { cores: s.cores, workers: s.workers, config: s.threads, env: s.onnxThreads });
  }

  /** The manifest the pool runs for this model: its own, or the TF.js variant when a TF.js backend is forced. */
  #poolModel(e: ModelEntry): PoolModel {
    const m = e.manifest as NetworkManifest;
    const forced = this.#s.forced;
    if (forced?.runtime === 'tfjs' && m.runtime === 'onnx') {
      const t = tfjsVariant(m);
      if (!t) throw new UserError(`model "${e.name}" is an ONNX model with no TF.js files, and MODELSHIP_BACKEND/--backend forces the TF.js backend ${forced.tfjs}`, { hint: 'unset MODELSHIP_BACKEND, or force onnx-cpu / onnx-cuda', exitCode: 2 });
      return { name: e.name, dir: e.dir, manifest: t };
    }
    if (forced?.runtime === 'onnx' && m.runtime === 'tfjs') {
      throw new UserError(`model "${e.name}" is a TF.js model, and MODELSHIP_BACKEND/--backend forces the ONNX Runtime provider ${forced.onnx}`, { hint: `convert it (modelship models convert ${e.name} --to onnx), or unset MODELSHIP_BACKEND`, exitCode: 2 });
    }
    const plan = this.#planFor(e);
    return { name: e.name, dir: e.dir, manifest: m, ...(plan ? { threads: { sessions: plan.sessions, threadsPerSession: plan.threadsPerSession } } : {}) };
  }

  async #runImage(e: ModelEntry, input: Uint8Array, signal: AbortSignal | undefined) {
    const m = e.manifest as Extract<ModelManifest, { input: unknown }>;
    signal?.throwIfAborted();
    const img = await decodeImage(input, m.input, this.#s.limits);
    // The pixels are transferred to the worker: copy into a plain ArrayBuffer (sharp's output
    // is externally allocated memory, which cannot be transferred).
    const pixels = img.pixels.slice();
    const out = await (await this.startPool()).run(this.#poolModel(e), { kind: 'pixels', pixels }, signal);
    return { img, out, input: m.input };
  }

  async classifyImage(input: Uint8Array, o: ClassifyOptions = {}): Promise<ClassificationResult> {
    const t0 = performance.now();
    const e = await this.model(o.model, 'image-classification');
    const m = e.manifest as Extract<ModelManifest, { task: 'image-classification' }>;
    const { img, out } = await this.#runImage(e, input, o.signal);
    const predictions = rankPredictions(toScores(out.data, m.output), e.labels, { topK: o.topK, threshold: o.threshold });
    return { model: e.name, version: m.version, backend: out.provider.name, durationMs: round(performance.now() - t0), ...notesOf(img.notes), predictions };
  }

  async detect(input: Uint8Array, o: DetectOptions = {}): Promise<DetectionResult> {
    const t0 = performance.now();
    const e = await this.model(o.model, 'object-detection');
    const m = e.manifest as Extract<ModelManifest, { task: 'object-detection' }>;
    const { img, out } = await this.#runImage(e, input, o.signal);
    const detections = decodeDetections(out.data, out.shape, m.output, e.labels, {
      transform: resizeGeometry(img.width, img.height, m.input),
      inputWidth: m.input.width,
      inputHeight: m.input.height,
      width: img.width,
      height: img.height,
    }, { threshold: o.threshold, maxDetections: o.maxDetections });
    return { model: e.name, version: m.version, backend: out.provider.name, durationMs: round(performance.now() - t0), ...notesOf(img.notes), width: img.width, height: img.height, detections };
  }

  async classifyText(text: string, o: ClassifyOptions = {}): Promise<ClassificationResult> {
    const t0 = performance.now();
    const e = await this.model(o.model, 'text-classification');
    const m = e.manifest as Extract<ModelManifest, { task: 'text-classification' }>;
    if (text.trim() === '') throw new InputError('empty', 'empty text');
    const result = (scores: ArrayLike<number>, backend: string): ClassificationResult => ({
      model: e.name,
      version: m.version,
      backend,
      durationMs: round(performance.now() - t0),
      predictions: rankPredictions(scores, e.labels, { topK: o.topK, threshold: o.threshold }),
    });
    if (m.runtime === 'lexicon') {
      const all = classifySentiment(text);
      return result(e.labels.map((l) => all.find((p) => p.label === l)?.score ?? 0), 'lexicon');
    }
    if (m.tokenizer.type === 'huggingface') {
      const out = await (await this.startPool()).run(this.#poolModel(e), await this.#hfItem(e, m.tokenizer, text), o.signal);
      return result(toScores(out.data, m.output), out.provider.name);
    }
    let vocab = this.#vocabs.get(e.name);
    if (!vocab) {
      vocab = parseVocab(JSON.parse(await readFile(path.join(e.dir, m.tokenizer.vocab), 'utf8')));
      this.#vocabs.set(e.name, vocab);
    }
    o.signal?.throwIfAborted();
    const out = await (await this.startPool()).run(this.#poolModel(e), { kind: 'ids', ids: tokenize(text, vocab, m.tokenizer) }, o.signal);
    return result(toScores(out.data, m.output), out.provider.name);
  }

  async warm(name: string): Promise<BackendInfo> {
    const e = await this.remember(name);
    const m = e.manifest;
    if (m.runtime === 'lexicon') return LEXICON;
    const p = await this.startPool();
    const pm = this.#poolModel(e);
    const item = 'input' in m
      ? { kind: 'pixels' as const, pixels: new Uint8Array(m.input.width * m.input.height * 3) }
      : m.tokenizer.type === 'huggingface' ? await this.#hfItem(e, m.tokenizer, 'warm up') : { kind: 'ids' as const, ids: new Int32Array(m.tokenizer.maxLength) };
    return (await p.run(pm, item)).provider;
  }

  resolvedName(spec: string): string | undefined {
    return this.#entries.get(spec)?.name ?? (isHubSpec(spec) ? undefined : spec);
  }

  async info(): Promise<EngineInfo> {
    const all = await listModels(this.#s.registry);
    const p = await this.startPool();
    const entries = [...this.#entries.values()];
    // Models named by hf:ORG/NAME (the config's defaults) are resolved, not registered: list them too.
    const resolved = entries.filter((e, i, a) => !all.some((m) => m.name === e.name) && a.findIndex((x) => x.name === e.name) === i);
    return {
      backend: this.backend,
      providers: Object.fromEntries(p.providers),
      workers: p.size,
      decoder: decoderName(),
      batching: this.#s.batching,
      limits: this.#s.limits,
      models: [...all.filter((m): m is ModelEntry => !('error' in m)), ...resolved].map((m) => {
        const backend = m.manifest.runtime === 'lexicon' ? 'lexicon' : p.providers.get(m.name)?.name;
        const plan = this.#planFor(m);
        return { name: m.name, task: m.manifest.task, version: m.manifest.version, runtime: m.manifest.runtime, source: m.source, ...(backend ? { backend } : {}), ...(plan ? { threads: { ...plan, summary: describePlan(plan) } } : {}) };
      }),
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#starting) await (await this.#starting.catch(() => undefined))?.close();
  }
}

export async function createEngine(opts: EngineOptions = {}): Promise<Engine> {
  const engine = new PooledEngine(await engineSettings(opts));
  if (!opts.lazy) await engine.startPool();
  for (const name of opts.preload ?? []) await engine.remember(name);
  return engine;
}

/**
 * How an ONNX model's sessions use `cores` cores over `workers` workers: the config's choice, else
 * MODELSHIP_ONNX_THREADS, else the manifest's, else the default (threading.ts). Undefined for a
 * model ONNX Runtime does not run.
 */
export function modelThreadPlan(e: ModelEntry, o: { cores: number; workers: number; config?: Readonly<Record<string, ThreadChoice>> | undefined; env?: number | undefined }): ThreadPlan | undefined {
  const m = e.manifest;
  if (m.runtime !== 'onnx') return undefined;
  const { choice, from } = chooseThreads(e.name, { config: o.config, env: o.env, manifest: m.threads });
  return planThreads(choice, o.cores, o.workers, from);
}

/**
 * The thread plan `serve` and `classify` use for a model on this machine with their default
 * workers and this environment (MODELSHIP_ONNX_THREADS; the config's models.threads not applied).
 */
export function defaultThreadPlan(e: ModelEntry, env: NodeJS.ProcessEnv = process.env): ThreadPlan | undefined {
  const onnxThreads = parseThreads(env.MODELSHIP_ONNX_THREADS);
  let forced: ForcedBackend | undefined;
  try {
    forced = parseBackend(env.MODELSHIP_BACKEND);
  } catch {
    forced = undefined;
  }
  if (forced?.runtime === 'tfjs') return undefined;
  return modelThreadPlan(e, { cores: os.availableParallelism(), workers: defaultWorkers(forced, onnxThreads ?? 1), env: onnxThreads });
}

/** What `engine.backend` says before any network model has run. */
const NOT_STARTED: BackendInfo = { name: 'none (no model loaded yet)', tfBackend: 'none', device: 'cpu', skipped: [] };
const LEXICON: BackendInfo = { name: 'lexicon', tfBackend: 'none', device: 'cpu', skipped: [], runtime: 'lexicon' };

/** MODELSHIP_ONNX_THREADS: a positive integer, or undefined when unset (each model's own policy). */
export function parseThreads(v: string | undefined): number | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new UserError(`MODELSHIP_ONNX_THREADS=${v} is not a positive integer`, { hint: 'use 1 (a single-threaded session in every worker) or the number of cores (one session with a thread per core), or unset it to let each model use its own thread policy', exitCode: 2 });
  return n;
}

function notesOf(notes: string[]): { notes?: string[] } {
  return notes.length > 0 ? { notes } : {};
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
