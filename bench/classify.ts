/**
 * npm run bench:classify
 *
 * For each bundled image model: images/s through the full pipeline (decode → worker pool →
 * decoding of outputs) with 1 worker and with N workers (one per core), a bare `predict` loop
 * in one thread on the same, pre-decoded images (pipeline overhead = pipeline time per image on
 * 1 worker ÷ bare time per image), cold start to first result in a fresh process, and peak RSS.
 * Targets (2 cores): N workers ≥ 1.8× one worker; pipeline ≤ 1.15× bare; peak RSS < 400 MB.
 *
 * Each pipeline measurement runs in its own process (peak RSS = that run's, workers included).
 * Options: --images N (inputs per run, default 48 for content-safety, 16 for objects)
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
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
  { name: 'content-safety', task: 'image', images: 48 },
  { name: 'objects', task: 'detect', images: 16 },
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
    await runPipeline(engine, task, model, inputs.slice(0, workers * 2)); // warm-up: every worker loads the model
    const c0 = process.cpuUsage(); // all threads of the process, workers included
    const s = await runPipeline(engine, task, model, inputs);
    const c = process.cpuUsage(c0);
    return { perSec: inputs.length / s, backend: engine.backend.name, cpuMsPerImage: (c.user + c.system) / 1000 / inputs.length };
  } finally {
    await engine.close();
  }
}

/** The same model, in this thread, on pre-decoded and pre-normalised inputs: predict only. */
async function bareRate(model: string, inputs: Buffer[]): Promise<{ perSec: number; cpuMsPerImage: number }> {
  const { BUNDLED_MODELS_DIR, loadManifest, loadTfjsModel, normalizePixels, decodeImage } = await lib();
  const dir = path.join(BUNDLED_MODELS_DIR, model);
  const { manifest } = await loadManifest(dir);
  const m = manifest as Extract<TfjsManifest, { input: unknown }>;
  const runtime = await loadTfjsModel(dir, m);
  const ready = await Promise.all(inputs.map(async (b) => normalizePixels((await decodeImage(b, m.input)).pixels, m.input)));
  const shape = [1, m.input.height, m.input.width, 3];
  for (const x of ready.slice(0, 2)) await runtime.predict({ data: x, shape });
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (const x of ready) await runtime.predict({ data: x, shape });
  const s = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  runtime.dispose();
  return { perSec: inputs.length / s, cpuMsPerImage: (c.user + c.system) / 1000 / inputs.length };
}

/** Each pipeline run in a fresh process, so that its peak RSS is its own. */
async function pipelineInChild(workers: number, task: Task, model: string, n: number): Promise<{ perSec: number; backend: string; peakMb: number; cpuMsPerImage: number }> {
  const { stdout } = await promisify(execFile)(process.execPath, [fileURLToPath(import.meta.url), '--pipeline-child', model, task, String(workers), String(n)], { cwd: path.join(here, '..') });
  return JSON.parse(stdout) as { perSec: number; backend: string; peakMb: number; cpuMsPerImage: number };
}

async function pipelineChild(): Promise<void> {
  const [model, task, workers, n] = process.argv.slice(3) as [string, Task, string, string];
  const r = await pipelineRate(Number(workers), task, model, pick(await loadPhotos(), Number(n)));
  process.stdout.write(`${JSON.stringify({ ...r, peakMb: process.resourceUsage().maxRSS / 1024 })}\n`);
}

async function coldStart(model: string, task: Task): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, [fileURLToPath(import.meta.url), '--cold-child', model, task], { cwd: path.join(here, '..') });
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

async function main(): Promise<void> {
  if (process.argv[2] === '--cold-child') return coldChild();
  if (process.argv[2] === '--pipeline-child') return pipelineChild();
  const cores = os.availableParallelism();
  const photos = await loadPhotos();
  console.log(`bench:classify — ${os.cpus()[0]?.model ?? 'cpu'} × ${cores}, Node ${process.version}, load average ${os.loadavg()[0]!.toFixed(2)}`);
  if (os.loadavg()[0]! > cores / 2) console.log('note: the machine is busy; wall-clock rates and scaling are unreliable, CPU ms per image is not');
  const rows: string[][] = [['model', 'backend', 'images', '1 worker img/s', `${cores} workers img/s`, 'scale', 'bare predict img/s', 'pipeline/bare', 'cold start ms', `peak RSS MB (${cores} workers)`, 'CPU ms/img pipeline', 'CPU ms/img bare']];
  const checks: string[] = [];
  for (const m of MODELS) {
    const n = argNumber('--images') ?? m.images;
    const one = await pipelineInChild(1, m.task, m.name, n);
    const many = await pipelineInChild(cores, m.task, m.name, n);
    const cold = await coldStart(m.name, m.task);
    rows.push([m.name, one.backend, String(n), one.perSec.toFixed(1), many.perSec.toFixed(1), `${(many.perSec / one.perSec).toFixed(2)}×`, '', '', String(cold), many.peakMb.toFixed(0), one.cpuMsPerImage.toFixed(1), '']);
    checks.push(`${m.name}: peak RSS ${many.peakMb < 400 ? 'meets' : 'MISSES'} < 400 MB (${many.peakMb.toFixed(0)} MB with ${cores} workers)`);
  }
  const { initBackend } = await lib();
  const backend = await initBackend(await import('@tensorflow/tfjs-core'));
  for (const [i, m] of MODELS.entries()) {
    const inputs = pick(photos, argNumber('--images') ?? m.images);
    const bare = await bareRate(m.name, inputs);
    const row = rows[i + 1]!;
    const onePerSec = Number(row[3]);
    const ratio = bare.perSec / onePerSec; // pipeline time per image ÷ bare time per image
    const cpuRatio = Number(row[10]) / bare.cpuMsPerImage;
    row[6] = `${bare.perSec.toFixed(1)} (${backend.name})`;
    row[7] = `${ratio.toFixed(2)}×`;
    row[11] = bare.cpuMsPerImage.toFixed(1);
    const scale = Number(row[5]!.replace('×', ''));
    checks.push(`${m.name}: ${cores} workers ${scale >= 1.8 ? 'meets' : 'MISSES'} ≥1.8× (${scale.toFixed(2)}×); pipeline/bare ${ratio <= 1.15 ? 'meets' : 'MISSES'} ≤1.15× (${ratio.toFixed(2)}× wall, ${cpuRatio.toFixed(2)}× CPU incl. decoding)`);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) console.log(r.map((v, c) => v.padEnd(widths[c]!)).join('  '));
  for (const c of checks) console.log(c);
}

await main();
