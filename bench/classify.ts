/**
 * npm run bench:classify — ONNX Runtime against TF.js-wasm and against itself, side by side in
 * one run (each measurement in a fresh child process, so its peak RSS is its own; rates are
 * medians over rounds; ratios are of medians measured in the same run).
 *
 * For every ONNX image model (the bundled ones once converted, and the shared MobileNetV2-int8
 * and YOLOX-Nano of ../shared/models):
 *   bare 1        a bare `session.run` loop, one single-threaded session, on pre-decoded,
 *                 pre-normalised tensors (no decoding, no pool);
 *   bare N pool   N threads, each with its own single-threaded session (the pool's design);
 *   bare N intra  one session with N intra-op threads (ORT's own threading);
 *   1 worker / N workers  the whole pipeline (decode → pool → output decoding) of
 *                 `modelship classify` / `serve`, single-threaded sessions.
 * Targets (issue 14, 2 cores): pipeline ≥ 0.8× bare at the same thread count; N workers ≥ 1.7×
 * one worker; for a bundled model with TF.js files, ORT ≥ 4× TF.js-wasm (whole pipeline, bare
 * ratio beside it). Then `modelship serve` with the three default models: peak RSS < 400 MB and
 * cold start to the first result < 1.5 s.
 * Options: --images N (per run, default 64), --rounds N (default 3), --serve-only
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { promisify } from 'node:util';
import type * as BackendModule from '../src/inference/backend.ts';
import type * as DecodeModule from '../src/inference/decode.ts';
import type * as EngineModule from '../src/inference/engine.ts';
import type * as ManifestModule from '../src/inference/manifest.ts';
import type * as OnnxRuntimeModule from '../src/inference/onnx-runtime.ts';
import type * as OnnxProviderModule from '../src/inference/onnx-provider.ts';
import type * as PreprocessModule from '../src/inference/preprocess.ts';
import type * as RegistryModule from '../src/inference/registry.ts';
import type * as TfjsRuntimeModule from '../src/inference/tfjs-runtime.ts';
import { sharedModelDir, sharedModelsPresent, SKIP_REASON } from '../test/integration/inference/shared-models.ts';

// The pipeline runs from dist/, i.e. what `modelship classify` and `serve` run (`npm run
// bench:classify` builds first).
const DIST = new URL('../dist/inference/', import.meta.url);
async function lib() {
  if (!existsSync(new URL('engine.js', DIST))) throw new Error('dist/ is missing: run `npm run build` (npm run bench:classify does)');
  const mods = await Promise.all(['engine', 'backend', 'decode', 'manifest', 'preprocess', 'registry', 'tfjs-runtime', 'onnx-provider', 'onnx-runtime'].map((m) => import(new URL(`${m}.js`, DIST).href)));
  return Object.assign({}, ...mods) as typeof EngineModule & typeof BackendModule & typeof DecodeModule & typeof ManifestModule & typeof PreprocessModule & typeof RegistryModule & typeof TfjsRuntimeModule & typeof OnnxProviderModule & typeof OnnxRuntimeModule;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.join(here, '..');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'images');
const PHOTOS = ['chelsea.jpg', 'astronaut.jpg', 'coffee.jpg', 'motorcycle.jpg', 'camera-gray.png', 'coffee-cmyk.jpg', 'astronaut-alpha.png', 'chelsea-exif6.jpg'];
const CHILD = { cwd: ROOT, env: { ...process.env, MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' }, maxBuffer: 1 << 24 };

type Task = 'image' | 'detect';
interface BenchModel { name: string; task: Task; dir: string }

function argNumber(flag: string): number | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? Number(process.argv[i + 1]) : undefined;
}

async function photos(n: number): Promise<Buffer[]> {
  const all = await Promise.all(PHOTOS.map((f) => readFile(path.join(FIXTURES, f))));
  return Array.from({ length: n }, (_, i) => all[i % all.length]!);
}

const WARM_UP_MS = 1500;
async function warmUp(step: () => Promise<unknown>): Promise<void> {
  const t0 = performance.now();
  do await step();
  while (performance.now() - t0 < WARM_UP_MS);
}

// --- children ----------------------------------------------------------------------------------

/** The model's inputs, decoded and normalised once, in the layout the model takes. */
async function preparedInputs(dir: string, n: number): Promise<{ tensors: Float32Array[]; shape: number[]; manifest: ManifestModule.NetworkManifest }> {
  const L = await lib();
  const { manifest } = await L.loadManifest(dir);
  const m = manifest as Extract<ManifestModule.NetworkManifest, { input: unknown }>;
  let layout: 'NHWC' | 'NCHW' = 'NHWC';
  if (m.runtime === 'onnx') {
    const model = await L.loadOnnxModel(dir, m, { intraOpThreads: 1 });
    layout = model.imageLayout ?? 'NHWC';
    model.dispose();
  }
  const per = m.input.width * m.input.height * 3;
  const tensors = await Promise.all((await photos(n)).map(async (b) => L.normalizePixels((await L.decodeImage(b, m.input)).pixels, m.input, new Float32Array(per), 0, layout)));
  const shape = layout === 'NCHW' ? [1, 3, m.input.height, m.input.width] : [1, m.input.height, m.input.width, 3];
  return { tensors, shape, manifest: m };
}

/** One bare ORT loop in this thread: `threads` intra-op threads. */
async function bareOrtLoop(dir: string, n: number, threads: number, ready?: () => Promise<void>): Promise<number> {
  const L = await lib();
  const { tensors, shape, manifest } = await preparedInputs(dir, n);
  const ort = L.loadOrt();
  const s = await ort.InferenceSession.create(path.join(dir, (manifest as ManifestModule.OnnxManifest).modelFile), L.ortSessionOptions('cpu', { intraOpThreads: threads }));
  const name = s.inputNames[0]!;
  const feeds = tensors.map((t) => ({ [name]: new ort.Tensor('float32', t, shape) }));
  await warmUp(async () => {
    for (const f of feeds.slice(0, 4)) await s.run(f);
  });
  await ready?.();
  const t0 = performance.now();
  for (const f of feeds) await s.run(f);
  const rate = n / ((performance.now() - t0) / 1000);
  await s.release();
  return rate;
}

async function bareTfjsLoop(dir: string, n: number): Promise<number> {
  const L = await lib();
  const { tensors, shape, manifest } = await preparedInputs(dir, n);
  const t = L.tfjsVariant(manifest)!;
  const backend = await L.initBackend(await import('@tensorflow/tfjs-core'), 'wasm');
  const model = await L.loadTfjsModel(dir, t, backend.name);
  await warmUp(async () => {
    for (const x of tensors.slice(0, 4)) await model.predict({ data: x, shape });
  });
  const t0 = performance.now();
  for (const x of tensors) await model.predict({ data: x, shape });
  return n / ((performance.now() - t0) / 1000);
}

/** N threads, each with its own single-threaded session, started together. */
async function barePool(dir: string, n: number, threads: number): Promise<number> {
  const ws = Array.from({ length: threads }, () => new Worker(new URL(import.meta.url), { workerData: { dir, n } }));
  try {
    await Promise.all(ws.map((w) => new Promise((resolve, reject) => w.once('message', resolve).once('error', reject))));
    const t0 = performance.now();
    await Promise.all(ws.map((w) => new Promise((resolve) => { w.once('message', resolve); w.postMessage('go'); })));
    return (threads * n) / ((performance.now() - t0) / 1000);
  } finally {
    await Promise.all(ws.map((w) => w.terminate()));
  }
}

async function poolThread(): Promise<void> {
  const { dir, n } = workerData as { dir: string; n: number };
  await bareOrtLoop(dir, n, 1, () => new Promise<void>((resolve) => {
    parentPort!.once('message', () => resolve());
    parentPort!.postMessage('ready');
  })).then((r) => parentPort!.postMessage(r));
}

async function pipeline(dataDir: string, model: BenchModel, n: number, workers: number, onnxThreads: number): Promise<{ perSec: number; backend: string }> {
  const { createEngine } = await lib();
  const engine = await createEngine({ workers, onnxThreads, registry: { env: { ...process.env, MODELSHIP_DATA_DIR: dataDir } } });
  const inputs = await photos(n);
  const run = async (xs: Buffer[]) => {
    let next = 0;
    const lane = async () => {
      while (next < xs.length) {
        const b = xs[next++]!;
        if (model.task === 'image') await engine.classifyImage(b, { model: model.name });
        else await engine.detect(b, { model: model.name });
      }
    };
    await Promise.all(Array.from({ length: workers * 2 + 1 }, lane));
  };
  try {
    await warmUp(() => run(inputs.slice(0, workers * 4)));
    const t0 = performance.now();
    await run(inputs);
    return { perSec: n / ((performance.now() - t0) / 1000), backend: engine.providers.get(model.name)?.name ?? engine.backend.name };
  } finally {
    await engine.close();
  }
}

async function child(): Promise<void> {
  const [kind, a, b, c, d, e] = process.argv.slice(3);
  let out: unknown;
  if (kind === 'bare-ort') out = { perSec: await bareOrtLoop(a!, Number(b), Number(c)) };
  else if (kind === 'bare-pool') out = { perSec: await barePool(a!, Number(b), Number(c)) };
  else if (kind === 'bare-tfjs') out = { perSec: await bareTfjsLoop(a!, Number(b)) };
  else out = await pipeline(a!, JSON.parse(b!) as BenchModel, Number(c), Number(d), Number(e));
  process.stdout.write(`${JSON.stringify({ ...(out as object), peakMb: process.resourceUsage().maxRSS / 1024 })}\n`);
}

async function inChild(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ perSec: number; peakMb: number; backend?: string }> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--no-wasm-dynamic-tiering', fileURLToPath(import.meta.url), '--child', ...args], { ...CHILD, env: { ...CHILD.env, ...env } });
  return JSON.parse(stdout.trim().split('\n').pop()!) as { perSec: number; peakMb: number; backend?: string };
}

// --- serve ---------------------------------------------------------------------------------------

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    }).on('error', reject);
  });
}

/**
 * `modelship serve` on defaults (the three default models), timed from spawn to the first
 * classification result; then every task a few times; peak RSS from /proc (VmHWM).
 */
async function serveRun(cwd: string, dataDir: string): Promise<{ coldMs: number; peakMb: number; backends: string[] }> {
  const port = await freePort();
  const t0 = performance.now();
  const p = spawn(process.execPath, [path.join(ROOT, 'bin', 'modelship.js'), 'serve', '--port', String(port)], { cwd, env: { ...CHILD.env, MODELSHIP_DATA_DIR: dataDir }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  // different inputs each time: the server's result cache must not answer instead of the models
  const images = await photos(PHOTOS.length);
  let k = 0;
  const post = async (route: 'image' | 'text' | 'detect'): Promise<Response> => {
    const i = k++;
    const body = route === 'text' ? JSON.stringify({ text: `The central bank raised interest rates again this quarter (${i}).` }) : (() => {
      const f = new FormData();
      f.append('file', new Blob([images[i % images.length]!]), PHOTOS[i % PHOTOS.length]!);
      return f;
    })();
    const to = route === 'detect' ? '/v1/detect' : `/v1/classify/${route}`;
    return fetch(`${url}${to}`, { method: 'POST', body, ...(route === 'text' ? { headers: { 'content-type': 'application/json' } } : {}) });
  };
  try {
    let coldMs = NaN;
    for (let i = 0; i < 600 && Number.isNaN(coldMs); i++) {
      if (p.exitCode !== null) throw new Error(`serve exited (${p.exitCode}): ${stderr.slice(-500)}`);
      const r = await post('image').catch(() => undefined);
      if (r?.ok) coldMs = performance.now() - t0;
      else await new Promise((res) => setTimeout(res, 20));
    }
    if (Number.isNaN(coldMs)) throw new Error('serve gave no result within the polling budget');
    const backends = new Set<string>();
    for (let i = 0; i < 12; i++) {
      for (const route of ['image', 'text', 'detect'] as const) {
        const r = await post(route);
        if (!r.ok) throw new Error(`${route}: HTTP ${r.status} ${await r.text()}`);
        backends.add(`${route}:${((await r.json()) as { backend: string }).backend}`);
      }
    }
    const status = await readFile(`/proc/${p.pid}/status`, 'utf8');
    const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
    return { coldMs, peakMb: hwm / 1024, backends: [...backends] };
  } finally {
    if (p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((res) => p.once('exit', res));
      p.kill('SIGTERM');
      await exited;
    }
  }
}

// --- report --------------------------------------------------------------------------------------

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
const f1 = (x: number) => x.toFixed(1);
const spread = (xs: number[]) => (xs.length > 1 ? `${f1(median(xs))} (${f1(Math.min(...xs))}–${f1(Math.max(...xs))})` : f1(xs[0]!));
const verdict = (ok: boolean) => (ok ? 'meets' : 'MISSES');

async function main(): Promise<void> {
  const cores = os.availableParallelism();
  const rounds = Math.max(1, argNumber('--rounds') ?? 3);
  const n = argNumber('--images') ?? 64;
  console.log(`bench:classify — ${os.cpus()[0]?.model ?? 'cpu'} × ${cores}, Node ${process.version}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, ${rounds} rounds of ${n} images`);
  if (os.loadavg()[0]! > cores / 2) console.log('note: the machine is busy (load above half the cores): wall-clock rates and scaling are depressed by the neighbours, ratios measured side by side less so');
  const L = await lib();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ms-bench-'));
  const dirs: string[] = [];
  const models: (BenchModel & { tfjs: boolean; label: string })[] = [];
  try {
    for (const e of await L.listModels({ env: { ...process.env, MODELSHIP_DATA_DIR: dataDir } })) {
      if ('error' in e || e.manifest.task === 'text-classification') continue;
      const task: Task = e.manifest.task === 'image-classification' ? 'image' : 'detect';
      if (e.manifest.runtime !== 'onnx') {
        console.log(`missing: bundled model ${e.name} has no ONNX file yet (runtime ${e.manifest.runtime}): no ORT vs TF.js figures for it (it needs models/${e.name}/model.onnx from scripts/convert-models.ts)`);
        continue;
      }
      models.push({ name: e.name, task, dir: e.dir, tfjs: L.tfjsVariant(e.manifest) !== undefined, label: `${e.name} (bundled)` });
    }
    if (sharedModelsPresent) {
      const env = { ...process.env, MODELSHIP_DATA_DIR: dataDir };
      for (const [which, task] of [['mobilenet', 'image'], ['yolox', 'detect']] as const) {
        const dir = await sharedModelDir(which);
        dirs.push(dir);
        const e = await L.addModel(dir, { env });
        models.push({ name: e.name, task, dir, tfjs: false, label: `${e.name} (shared)` });
      }
    } else console.log(`missing: ${SKIP_REASON}`);

    const rows: string[][] = [['model', 'backend', 'bare 1', `bare ${cores} pool`, `bare ${cores} intra`, '1 worker', `${cores} workers`, `${cores}w/1w`, 'pipe/bare 1', `pipe/bare ${cores}`, 'threads pick', 'TF.js-wasm pipe', 'ORT/TF.js pipe', 'ORT/TF.js bare', 'peak MB']];
    const checks: string[] = [];
    for (const m of process.argv.includes('--serve-only') ? [] : models) {
      const r = { b1: [] as number[], bp: [] as number[], bi: [] as number[], p1: [] as number[], pn: [] as number[], tp: [] as number[], tb: [] as number[], peak: [] as number[] };
      let backend = '';
      for (let i = 0; i < rounds; i++) {
        const b1 = await inChild(['bare-ort', m.dir, String(n), '1']);
        const bp = await inChild(['bare-pool', m.dir, String(n), String(cores)]);
        const bi = await inChild(['bare-ort', m.dir, String(n), String(cores)]);
        const p1 = await inChild(['pipeline', dataDir, JSON.stringify(m), String(n), '1', '1']);
        const pn = await inChild(['pipeline', dataDir, JSON.stringify(m), String(n), String(cores), '1']);
        r.b1.push(b1.perSec); r.bp.push(bp.perSec); r.bi.push(bi.perSec); r.p1.push(p1.perSec); r.pn.push(pn.perSec);
        r.peak.push(pn.peakMb, p1.peakMb);
        backend = pn.backend ?? '';
        if (m.tfjs) {
          const tp = await inChild(['pipeline', dataDir, JSON.stringify(m), String(Math.max(8, n / 4)), String(cores), '1'], { MODELSHIP_BACKEND: 'wasm' });
          const tb = await inChild(['bare-tfjs', m.dir, String(Math.max(8, n / 4))]);
          r.tp.push(tp.perSec); r.tb.push(tb.perSec);
        }
      }
      const scale = median(r.pn) / median(r.p1);
      const pipe1 = median(r.p1) / median(r.b1);
      const pipeN = median(r.pn) / median(r.bp);
      const pick = median(r.bp) >= median(r.bi) ? `pool of ${cores} single-threaded` : `1 session × ${cores} threads`;
      const ortVsTfjs = m.tfjs ? median(r.pn) / median(r.tp) : NaN;
      const bareVsTfjs = m.tfjs ? median(r.b1) / median(r.tb) : NaN;
      rows.push([m.label, backend, spread(r.b1), spread(r.bp), spread(r.bi), spread(r.p1), spread(r.pn), `${scale.toFixed(2)}×`, `${pipe1.toFixed(2)}×`, `${pipeN.toFixed(2)}×`, pick, m.tfjs ? spread(r.tp) : '-', m.tfjs ? `${ortVsTfjs.toFixed(1)}×` : '-', m.tfjs ? `${bareVsTfjs.toFixed(1)}×` : '-', f1(Math.max(...r.peak))]);
      checks.push(`${m.label}: ${cores} workers ${verdict(scale >= 1.7)} ≥ 1.7× one worker (${scale.toFixed(2)}×; the bare model alone: ${(median(r.bp) / median(r.b1)).toFixed(2)}× on a pool of ${cores})`);
      checks.push(`${m.label}: pipeline ${verdict(pipe1 >= 0.8 && pipeN >= 0.8)} ≥ 0.8× bare session.run at the same thread count (${pipe1.toFixed(2)}× on 1, ${pipeN.toFixed(2)}× on ${cores})`);
      if (m.tfjs) checks.push(`${m.label}: ORT ${verdict(ortVsTfjs >= 4)} ≥ 4× TF.js-wasm, whole pipeline on ${cores} workers (${ortVsTfjs.toFixed(1)}×; bare model ${bareVsTfjs.toFixed(1)}×)`);
      checks.push(`${m.label}: threads — ${pick} is faster here (pool ${f1(median(r.bp))} vs intra-op ${f1(median(r.bi))} img/s)`);
    }
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
    console.log('img/s, median (min–max) over rounds; bare = session.run on pre-decoded tensors; pool = one single-threaded session per thread; intra = one session with N intra-op threads');
    for (const row of rows) console.log(row.map((v, c) => v.padEnd(widths[c]!)).join('  '));
    for (const c of checks) console.log(c);

    // the bundled defaults, then (context until they are ONNX) the shared ONNX models as defaults
    const setups: [string, string | undefined][] = [['three default models', undefined]];
    if (sharedModelsPresent) setups.push(['shared ONNX models as defaults (mobilenetv2-int8, news-topic, yolox-nano)', 'version: 1\nproject: bench\ntls:\n  mode: "off"\nmodels:\n  image: mobilenetv2-int8\n  text: news-topic\n  detection: yolox-nano\n']);
    if (sharedModelsPresent) {
      const news = await sharedModelDir('news');
      dirs.push(news);
      await L.addModel(news, { env: { ...process.env, MODELSHIP_DATA_DIR: dataDir } });
    }
    for (const [what, config] of setups) {
      const serveDir = await mkdtemp(path.join(os.tmpdir(), 'ms-bench-serve-'));
      dirs.push(serveDir);
      if (config) await writeFile(path.join(serveDir, 'modelship.config.yaml'), config);
      const serves = [] as Awaited<ReturnType<typeof serveRun>>[];
      for (let i = 0; i < rounds; i++) serves.push(await serveRun(serveDir, config ? dataDir : serveDir));
      const cold = median(serves.map((s) => s.coldMs)), peak = Math.max(...serves.map((s) => s.peakMb));
      console.log(`serve, ${what} (${serves[0]!.backends.join(', ')}): cold start to first result ${serves.map((s) => s.coldMs.toFixed(0)).join(' / ')} ms, peak RSS ${serves.map((s) => s.peakMb.toFixed(0)).join(' / ')} MB`);
      console.log(`serve, ${what}: peak RSS ${verdict(peak < 400)} < 400 MB (${peak.toFixed(0)} MB); cold start ${verdict(cold < 1500)} < 1.5 s (median ${cold.toFixed(0)} ms)`);
    }
    console.log(`load average after the run: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  } finally {
    for (const d of [dataDir, ...dirs]) await rm(d, { recursive: true, force: true });
  }
}

if (!isMainThread) await poolThread();
else if (process.argv[2] === '--child') await child();
else await main();
