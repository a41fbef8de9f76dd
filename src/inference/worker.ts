import v8 from 'node:v8';
import vm from 'node:vm';
import { parentPort } from 'node:worker_threads';
import type { ForcedBackend } from './backend.ts';
import type { NetworkManifest } from './manifest.ts';
import { normalizePixels } from './preprocess.ts';
import type { ModelFeeds, RuntimeModel } from './runtime.ts';
import { batchFeeds } from './text-feeds.ts';
import { ModelLoadError, type BackendInfo } from './types.ts';

/**
 * One inference worker. It holds its own copy of each model it has been asked to run, in the
 * runtime the manifest names: ONNX Runtime (one session with the intra-op threads the model's
 * thread plan gives it, see threading.ts) or TF.js (whose backend it initialises on the first TF.js
 * model, so a worker that only runs ONNX models never loads TF.js). Sessions and models are
 * created once and kept for the worker's life.
 */

export type WorkerItem =
  | { kind: 'pixels'; pixels: Uint8Array }
  | { kind: 'ids'; ids: Int32Array }
  /** A text encoded by a tokenizer.json (hf-tokenizer.ts): variable length, padded per batch. */
  | { kind: 'tokens'; ids: Int32Array; typeIds: Int32Array | undefined; padId: number; maxLength: number };

export type WorkerRequest =
  | { type: 'init'; id: number; forced?: ForcedBackend | undefined; tfjs: boolean }
  /** `load.threads`: the ONNX Runtime intra-op threads of the model's session here (threading.ts). */
  | { type: 'run'; id: number; model: string; load?: { dir: string; manifest: NetworkManifest; threads: number }; items: WorkerItem[] }
  /**
   * Sent by the pool's close: the worker finishes the request it is running (native session
   * work cannot be interrupted: terminating a thread while ONNX Runtime loads or runs aborts the
   * whole process), fails the ones queued behind it, releases every model and answers.
   */
  | { type: 'close'; id: number };

export interface WorkerOutput {
  data: Float32Array;
  shape: number[];
}

export type WorkerResponse =
  | { id: number; ok: true; backend: BackendInfo | undefined }
  | { id: number; ok: true; outputs: WorkerOutput[]; inferMs: number; provider: BackendInfo }
  | { id: number; ok: false; error: string; loadFailed?: boolean };

const port = parentPort;
if (!port) throw new Error('worker.ts must run as a worker thread');

/**
 * A full GC right after a model load frees the transient copies of its weights (file bytes,
 * decoded arrays) before the first inference grows the heap: otherwise both count towards
 * the peak RSS. `gc` is exposed to a fresh context only; the flag is harmless elsewhere.
 */
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

/**
 * One input buffer reused across runs (grown on demand): the runtime copies its input when the
 * tensor is created (ONNX Runtime reads it during the synchronous run), and a fresh
 * multi-megabyte array per image only churns the allocator (which on glibc keeps the freed memory
 * in per-thread arenas: RSS). Requests run one at a time (see `handle`), so one batch never
 * overwrites another's input.
 */
let scratch = new ArrayBuffer(0);
function inputBuffer<T extends Float32ArrayConstructor | Int32ArrayConstructor>(n: number, type: T): InstanceType<T> {
  if (scratch.byteLength < n * 4) scratch = new ArrayBuffer(n * 4);
  return new type(scratch, 0, n) as InstanceType<T>;
}

/** One batch as the model's input tensor data, in the layout the model takes. */
function modelInput(manifest: NetworkManifest, model: RuntimeModel, items: WorkerItem[]): ModelFeeds {
  if (items[0]?.kind === 'tokens') {
    const first = items[0];
    const encoded = items.map((it) => {
      if (it.kind !== 'tokens') throw new Error('text model given a non-text input');
      return { ids: it.ids, typeIds: it.typeIds };
    });
    return new Map(batchFeeds(encoded, first.padId, model.inputs, first.maxLength).map((f) => [f.name, { data: f.data, shape: f.shape }]));
  }
  if ('input' in manifest) {
    const { width, height } = manifest.input;
    const per = width * height * 3;
    const layout = model.imageLayout ?? 'NHWC';
    const data = inputBuffer(per * items.length, manifest.input.dtype === 'int32' ? Int32Array : Float32Array);
    items.forEach((it, i) => {
      if (it.kind !== 'pixels') throw new Error('image model given a non-image input');
      normalizePixels(it.pixels, manifest.input, data, i * per, layout);
    });
    return { data, shape: layout === 'NCHW' ? [items.length, 3, height, width] : [items.length, height, width, 3] };
  }
  const len = manifest.tokenizer.maxLength;
  const data = new Int32Array(len * items.length);
  items.forEach((it, i) => {
    if (it.kind !== 'ids') throw new Error('text model given a non-text input');
    data.set(it.ids, i * len);
  });
  return { data, shape: [items.length, len] };
}

let settings: Extract<WorkerRequest, { type: 'init' }> | undefined;
let tfjsBackend: Promise<BackendInfo> | undefined;

/** Initialises TF.js (once) with the forced backend or the first that works. */
function tfjs(): Promise<BackendInfo> {
  tfjsBackend ??= (async () => {
    const [tf, { initBackend }] = await Promise.all([import('@tensorflow/tfjs-core'), import('./backend.ts')]);
    const forced = settings?.forced?.runtime === 'tfjs' ? settings.forced.tfjs : undefined;
    return { ...(await initBackend(tf, forced)), runtime: 'tfjs' as const };
  })();
  return tfjsBackend;
}

const models = new Map<string, { model: RuntimeModel; manifest: NetworkManifest; provider: BackendInfo }>();

async function load(dir: string, manifest: NetworkManifest, threads: number): Promise<{ model: RuntimeModel; provider: BackendInfo }> {
  if (manifest.runtime === 'onnx') {
    const { loadOnnxModel } = await import('./onnx-runtime.ts');
    const forced = settings?.forced?.runtime === 'onnx' ? settings.forced.onnx : undefined;
    const model = await loadOnnxModel(dir, manifest, { forced, intraOpThreads: threads });
    return { model, provider: model.providerInfo };
  }
  const backend = await tfjs();
  const { loadTfjsModel } = await import('./tfjs-runtime.ts');
  return { model: await loadTfjsModel(dir, manifest, backend.name), provider: backend };
}

async function run(req: Extract<WorkerRequest, { type: 'run' }>): Promise<{ outputs: WorkerOutput[]; inferMs: number; provider: BackendInfo }> {
  let entry = models.get(req.model);
  if (!entry) {
    if (!req.load) throw new Error(`model ${req.model} is not loaded in this worker`);
    const { dir, manifest, threads } = req.load;
    const loaded = await load(dir, manifest, threads).catch((err: unknown) => {
      throw new ModelLoadError(req.model, `could not load model ${req.model} from ${dir}: ${(err as Error).message}`, { cause: err });
    });
    entry = { ...loaded, manifest };
    models.set(req.model, entry);
    collectGarbage();
  }
  const { model, manifest, provider } = entry;
  const t0 = performance.now();
  const chunk = model.fixedBatch ?? req.items.length;
  const outputs: WorkerOutput[] = [];
  for (let start = 0; start < req.items.length; start += chunk) {
    const items = req.items.slice(start, start + chunk);
    const out = await model.predict(modelInput(manifest, model, items));
    const per = out.data.length / items.length;
    const data = out.data instanceof Float32Array ? out.data : Float32Array.from(out.data);
    for (let i = 0; i < items.length; i++) outputs.push({ data: data.slice(i * per, (i + 1) * per), shape: [1, ...out.shape.slice(1)] });
  }
  return { outputs, inferMs: performance.now() - t0, provider };
}

/** Requests run one at a time, in order: the pool may queue a second batch behind the first. */
async function handle(req: Exclude<WorkerRequest, { type: 'close' }>): Promise<void> {
  try {
    if (req.type === 'init') {
      settings = req;
      const backend = req.tfjs ? await tfjs() : undefined;
      port!.postMessage({ id: req.id, ok: true, backend } satisfies WorkerResponse);
    } else {
      const r = await run(req);
      port!.postMessage({ id: req.id, ok: true, ...r } satisfies WorkerResponse, r.outputs.map((o) => o.data.buffer as ArrayBuffer));
    }
  } catch (err) {
    port!.postMessage({ id: req.id, ok: false, error: err instanceof Error ? err.message : String(err), ...(err instanceof ModelLoadError ? { loadFailed: true } : {}) } satisfies WorkerResponse);
  }
}

let closing = false;

/** Releases every model (awaiting each ONNX Runtime session's release) once nothing runs. */
async function releaseAll(): Promise<void> {
  for (const { model } of models.values()) {
    try {
      await model.dispose();
    } catch {
      // a model that fails to release still leaves with the thread
    }
  }
  models.clear();
}

let queue: Promise<void> = Promise.resolve();
port.on('message', (req: WorkerRequest) => {
  if (req.type === 'close') {
    closing = true;
    queue = queue.then(async () => {
      await releaseAll();
      port.postMessage({ id: req.id, ok: true, backend: undefined } satisfies WorkerResponse);
    });
    return;
  }
  queue = queue.then(() =>
    closing && req.type === 'run' ? void port.postMessage({ id: req.id, ok: false, error: 'the inference pool was closed' } satisfies WorkerResponse) : handle(req),
  );
});
