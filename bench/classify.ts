/**
 * npm run bench:classify
 *
 * For each bundled image model: images/s through the full pipeline (decode → worker pool →
 * decoding of outputs) with 1 worker and with N workers (one per core), a bare `predict` loop
 * in one thread on the same, pre-decoded images (pipeline overhead = pipeline time per image on
 * 1 worker ÷ bare time per image), cold start to first result in a fresh process, and peak RSS.
 * Targets (2 cores): N workers ≥ 1.8× one worker; pipeline ≤ 1.15× bare; peak RSS < 400 MB.
 *
 * Each measurement runs in its own process (peak RSS = that run's, workers included) after a
 * 2.5 s warm-up (V8 compiles TF.js for the first few dozen inferences). A round is
 * bare, 1 worker, N workers back to back; rates are medians over rounds (shared machines are noisy).
 * Options: --images N (inputs per run, default 96 for content-safety, 32 for objects), --rounds N (3)
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { promisify } from 'node:util';
import type * as BackendModule from '../src/inference/backend.ts';
import type * as DecodeModule from '../src/inference/decode.ts';
import type * as EngineModule from '../src/inference/engine.ts';
import type * as ManifestModule from '../src/inference/manifest.ts';
import type * as PreprocessModule from '../src/inference/preprocess.ts';
import type * as RegistryModule from '../src/inference/registry.ts';
import type * as RuntimeModule from '../src/inference/tfjs-runtime.ts';

type Engine = EngineModule.Engine;
type TfjsManifest = ManifestModule.TfjsManifest;

// The pipeline runs from dist/, i.e. what `modelship classify` and `serve` run (`npm run
// bench:classify` builds first). From src/, every worker would also carry Node's TypeScript
// stripper: about 10 MB of RSS per thread that no user pays.
const DIST = new URL('../dist/inference/', import.meta.url);
async function lib() {
  if (!existsSync(new URL('engine.js', DIST))) throw new Error('dist/ is missing: run `npm run build` (npm run bench:classify does)');
  const [engine, backend, decode, manifest, preprocess, registry, runtime] = await Promise.all([
    import(new URL('engine.js', DIST).href) as Promise<typeof EngineModule>,
    import(new URL('backend.js', DIST).href) as Promise<typeof BackendModule>,
    import(new URL('decode.js', DIST).href) as Promise<typeof DecodeModule>,
    import(new URL('manifest.js', DIST).href) as Promise<typeof ManifestModule>,
    import(new URL('preprocess.js', DIST).href) as Promise<typeof PreprocessModule>,
    import(new URL('registry.js', DIST).href) as Promise<typeof RegistryModule>,
    import(new URL('tfjs-runtime.js', DIST).href) as Promise<typeof RuntimeModule>,
  ]);
  return { ...engine, ...backend, ...decode, ...manifest, ...preprocess, ...registry, ...runtime };
}

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURES = path.join(here, '..', 'test', 'fixtures', 'images');
const PHOTOS = ['chelsea.jpg', 'astronaut.jpg', 'coffee.jpg', 'motorcycle.jpg', 'camera-gray.png', 'coffee-cmyk.jpg', 'astronaut-alpha.png', 'chelsea-exif6.jpg'];

type Task = 'image' | 'detect';
const MODELS: { name: string; task: Task; images: number }[] = [
  { name: 'content-safety', task: 'image', images: 96 },
  { name: 'objects', task: 'detect', images: 32 },
];

function argNumber(flag: string): number | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? Number(process.argv[i + 1]) : undefined;
}

async function loadPhotos(): Promise<Buffer[]> {
  return Promise.all(PHOTOS.map((f) => readFile(path.join(FIXTURES, f))));
}

function pick(photos: Buffer[], n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => photos[i % photos.length]!);
}

async function runPipeline(engine: Engine, task: Task, model: string, inputs: Buffer[]): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const lane = async () => {
    while (next < inputs.length) {
      const buf = inputs[next++]!;
      if (task === 'image') await engine.classifyImage(buf, { model });
      else await engine.detect(buf, { model });
    }
  };
  await Promise.all(Array.from({ length: engine.workers * 2 + 1 }, lane));
  return (performance.now() - t0) / 1000;
}

async function pipelineRate(workers: number, task: Task, model: string, inputs: Buffer[]): Promise<{ perSec: number; backend: string; cpuMsPerImage: number }> {
  const { createEngine } = await lib();
  const engine = await createEngine({ workers });
  try {
    await warmUp(() => runPipeline(engine, task, model, inputs.slice(0, workers * 4))); // every worker loads the model, V8 settles
    const c0 = process.cpuUsage(); // all threads of the process, workers included
    const s = await runPipeline(engine, task, model, inputs);
    const c = process.cpuUsage(c0);
    return { perSec: inputs.length / s, backend: engine.backend.name, cpuMsPerImage: (c.user + c.system) / 1000 / inputs.length };
  } finally {
    await engine.close();
  }
}

/**
 * Runs `step` for at least WARM_UP_MS: V8 keeps compiling (and recompiling) TF.js's JavaScript for
 * the first few dozen inferences; a server runs for hours, so the steady state is what counts.
 */
const WARM_UP_MS = 2500;
async function warmUp(step: () => Promise<unknown>): Promise<void> {
  const t0 = performance.now();
  do await step();
  while (performance.now() - t0 < WARM_UP_MS);
}

/** The same model, in this thread, on pre-decoded and pre-normalised inputs: predict only. */
async function prepareBare(model: string, inputs: Buffer[]): Promise<() => Promise<{ perSec: number; cpuMsPerImage: number }>> {
  const { BUNDLED_MODELS_DIR, loadManifest, loadTfjsModel, normalizePixels, decodeImage } = await lib();
  const dir = path.join(BUNDLED_MODELS_DIR, model);
  const { manifest } = await loadManifest(dir);
  const m = manifest as Extract<TfjsManifest, { input: unknown }>;
  const runtime = await loadTfjsModel(dir, m, 'bench');
  const ready = await Promise.all(inputs.map(async (b) => normalizePixels((await decodeImage(b, m.input)).pixels, m.input)));
  const shape = [1, m.input.height, m.input.width, 3];
  await warmUp(async () => {
    for (const x of ready.slice(0, 4)) await runtime.predict({ data: x, shape });
  });
  return async () => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (const x of ready) await runtime.predict({ data: x, shape });
    const s = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    runtime.dispose();
    return { perSec: inputs.length / s, cpuMsPerImage: (c.user + c.system) / 1000 / inputs.length };
  };
}

/** A bare thread: prepares, says ready, runs its loop on "go", reports its rate. */
async function bareThread(): Promise<void> {
  const { model, n } = workerData as { model: string; n: number };
  const { initBackend } = await lib();
  await initBackend(await import('@tensorflow/tfjs-core'));
  const run = await prepareBare(model, pick(await loadPhotos(), n));
  parentPort!.postMessage('ready');
  parentPort!.once('message', () => void run().then((r) => parentPort!.postMessage(r)));
}

/**
 * The bare loop on `threads` threads at once, each with its own backend, no decoding: how far the
 * model alone scales on this machine (memory bandwidth, shared caches), the ceiling for the pool.
 */
async function bareOnThreads(model: string, n: number, threads: number): Promise<number> {
  const ws = Array.from({ length: threads }, () => new Worker(new URL(import.meta.url), { workerData: { model, n } }));
  try {
    await Promise.all(ws.map((w) => new Promise((resolve, reject) => w.once('message', resolve).once('error', reject))));
    const t0 = performance.now();
    await Promise.all(ws.map((w) => new Promise((resolve) => { w.once('message', resolve); w.postMessage('go'); })));
    return (threads * n) / ((performance.now() - t0) / 1000);
  } finally {
    await Promise.all(ws.map((w) => w.terminate()));
  }
}

/**
 * Children run with the environment `modelship classify` and `serve` give themselves
 * (bin/modelship.js re-executes them with MALLOC_ARENA_MAX=2; the image sets it too).
 */
const CHILD = { cwd: path.join(here, '..'), env: { ...process.env, MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' } };

/** Each pipeline run in a fresh process, so that its peak RSS is its own. */
async function pipelineInChild(workers: number, task: Task, model: string, n: number, oneCore = false): Promise<{ perSec: number; backend: string; peakMb: number; cpuMsPerImage: number }> {
  const args = [fileURLToPath(import.meta.url), '--pipeline-child', model, task, String(workers), String(n)];
  const { stdout } = await promisify(execFile)(oneCore ? 'taskset' : process.execPath, oneCore ? ['-c', '0', process.execPath, ...args] : args, CHILD);
  return JSON.parse(stdout) as { perSec: number; backend: string; peakMb: number; cpuMsPerImage: number };
}

async function pipelineChild(): Promise<void> {
  const [model, task, workers, n] = process.argv.slice(3) as [string, Task, string, string];
  const r = await pipelineRate(Number(workers), task, model, pick(await loadPhotos(), Number(n)));
  process.stdout.write(`${JSON.stringify({ ...r, peakMb: process.resourceUsage().maxRSS / 1024 })}\n`);
}

async function coldStart(model: string, task: Task): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, [fileURLToPath(import.meta.url), '--cold-child', model, task], CHILD);
  return Number(stdout.trim());
}

async function coldChild(): Promise<void> {
  const model = process.argv[3]!, task = process.argv[4] as Task;
  const buf = await readFile(path.join(FIXTURES, 'chelsea.jpg'));
  const { createEngine } = await lib();
  const engine = await createEngine({ workers: 1 });
  if (task === 'image') await engine.classifyImage(buf, { model });
  else await engine.detect(buf, { model });
  // from process start (timeOrigin) to the first result
  process.stdout.write(`${performance.now().toFixed(0)}\n`);
  await engine.close();
}

async function bareInChild(model: string, n: number, threads = 1): Promise<{ perSec: number; cpuMsPerImage: number; backend: string }> {
  // the same V8 setting as the pool gives its workers (see WorkerPool.start)
  const { stdout } = await promisify(execFile)(process.execPath, ['--no-wasm-dynamic-tiering', fileURLToPath(import.meta.url), '--bare-child', model, String(n), String(threads)], CHILD);
  return JSON.parse(stdout) as { perSec: number; cpuMsPerImage: number; backend: string };
}

async function bareChild(): Promise<void> {
  const [model, n, threads] = process.argv.slice(3) as [string, string, string];
  const { initBackend } = await lib();
  const backend = await initBackend(await import('@tensorflow/tfjs-core'));
  if (Number(threads) > 1) {
    const perSec = await bareOnThreads(model, Number(n), Number(threads));
    process.stdout.write(`${JSON.stringify({ perSec, cpuMsPerImage: 0, backend: backend.name })}\n`);
    return;
  }
  const r = await (await prepareBare(model, pick(await loadPhotos(), Number(n))))();
  process.stdout.write(`${JSON.stringify({ ...r, backend: backend.name })}\n`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** "median (min–max)" of a series of rates. */
function spread(xs: number[]): string {
  return xs.length > 1 ? `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})` : xs[0]!.toFixed(1);
}

async function main(): Promise<void> {
  if (process.argv[2] === '--cold-child') return coldChild();
  if (process.argv[2] === '--pipeline-child') return pipelineChild();
  if (process.argv[2] === '--bare-child') return bareChild();
  const cores = os.availableParallelism();
  const rounds = Math.max(1, argNumber('--rounds') ?? 3);
  console.log(`bench:classify — ${os.cpus()[0]?.model ?? 'cpu'} × ${cores}, Node ${process.version}, load average ${os.loadavg()[0]!.toFixed(2)}, ${rounds} rounds`);
  if (os.loadavg()[0]! > cores / 2) console.log('note: the machine is busy; wall-clock rates and scaling are unreliable, CPU ms per image is not');
  console.log('Each round runs bare (1 and N threads), 1 worker confined to one core, 1 worker and N workers back to back, each in a fresh process; rates are the median (min–max) over rounds and ratios are of medians, so that a noisy neighbour in one round does not decide a ratio.');
  console.log('scale = N workers ÷ 1 worker (the target); per core = N workers ÷ 1 worker on 1 core (with N cores free, 1 worker still decodes on another core); bare scale = the model alone on N threads ÷ 1 thread, no decoding: the ceiling.');
  const rows: string[][] = [['model', 'backend', 'images', 'bare 1 thread img/s', `bare ${cores} threads img/s`, '1 worker on 1 core img/s', '1 worker img/s', `${cores} workers img/s`, 'scale', 'per core', 'bare scale', 'pipeline/bare', 'cold start ms', `peak RSS MB`, 'CPU ms/img pipeline', 'CPU ms/img bare']];
  const checks: string[] = [];
  for (const m of MODELS) {
    const n = argNumber('--images') ?? m.images;
    const bare: number[] = [], bareN: number[] = [], oneCore: number[] = [], one: number[] = [], many: number[] = [], peak: number[] = [], cpuOne: number[] = [], cpuBare: number[] = [];
    let backend = '';
    for (let r = 0; r < rounds; r++) {
      const b = await bareInChild(m.name, n);
      const bN = cores > 1 ? await bareInChild(m.name, n, cores) : b;
      const c = cores > 1 ? await pipelineInChild(1, m.task, m.name, n, true) : undefined;
      const o = await pipelineInChild(1, m.task, m.name, n);
      const w = await pipelineInChild(cores, m.task, m.name, n);
      bare.push(b.perSec);
      bareN.push(bN.perSec);
      if (c) oneCore.push(c.perSec);
      one.push(o.perSec);
      many.push(w.perSec);
      peak.push(w.peakMb, o.peakMb);
      cpuOne.push(o.cpuMsPerImage);
      cpuBare.push(b.cpuMsPerImage);
      backend = o.backend;
    }
    const cold = await coldStart(m.name, m.task);
    const scale = median(many) / median(one);
    const perCore = oneCore.length ? median(many) / median(oneCore) : scale;
    const bareScale = median(bareN) / median(bare);
    const ratio = median(bare) / median(one); // pipeline time per image ÷ bare time per image
    const cpuRatio = median(cpuOne) / median(cpuBare);
    const peakMb = Math.max(...peak);
    rows.push([m.name, backend, String(n), spread(bare), spread(bareN), oneCore.length ? spread(oneCore) : '-', spread(one), spread(many), `${scale.toFixed(2)}×`, `${perCore.toFixed(2)}×`, `${bareScale.toFixed(2)}×`, `${ratio.toFixed(2)}×`, String(cold), peakMb.toFixed(0), median(cpuOne).toFixed(1), median(cpuBare).toFixed(1)]);
    checks.push(`${m.name}: peak RSS ${peakMb < 400 ? 'meets' : 'MISSES'} < 400 MB (${peakMb.toFixed(0)} MB, the highest of all runs)`);
    checks.push(`${m.name}: ${cores} workers ${scale >= 1.8 ? 'meets' : 'MISSES'} ≥1.8× one worker (${scale.toFixed(2)}×); for reference: ${perCore.toFixed(2)}× one worker confined to one core, and the bare model alone scales ${bareScale.toFixed(2)}× on ${cores} threads`);
    checks.push(`${m.name}: pipeline/bare ${ratio <= 1.15 ? 'meets' : 'MISSES'} ≤1.15× (${ratio.toFixed(2)}× wall, ${cpuRatio.toFixed(2)}× CPU incl. decoding)`);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) console.log(r.map((v, c) => v.padEnd(widths[c]!)).join('  '));
  for (const c of checks) console.log(c);
}

if (isMainThread) await main();
else await bareThread();
