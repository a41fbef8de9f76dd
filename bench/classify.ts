/**
 * npm run bench:classify — ONNX Runtime against TF.js-wasm and against itself, side by side in
 * one run. The machine is shared: every figure of a model comes from one child process that
 * alternates short timed bursts of each variant, round after round, so a neighbour's load falls on
 * all of them alike; a ratio is the median of the per-round ratios (paired), a rate the median
 * of its bursts.
 *
 * For every ONNX image model (the bundled ones, and the shared MobileNetV2-int8 and YOLOX-Nano of
 * ../shared/models when that folder exists):
 *   bare 1        a bare `session.run` loop, one single-threaded session, on pre-decoded,
 *                 pre-normalised tensors (no decoding, no pool);
 *   bare N pool   N threads, each with its own single-threaded session;
 *   bare N intra  one session with N intra-op threads (ORT's own threading);
 *   pipe 1        the whole pipeline (decode → pool → output decoding) of `modelship classify` /
 *                 `serve` on one worker with one single-threaded session (one core);
 *   pipe N pool / pipe N intra   the same on N workers, with the model's sessions as `pool` or
 *                 `intra-op` (threading.ts); `policy` is what the model runs by default.
 * Targets (issue 14, 2 cores): pipeline ≥ 0.8× bare at the same thread count; N cores ≥ 1.7× one
 * (pipeline, the model's policy); for a bundled model with TF.js files, ORT ≥ 4× TF.js-wasm (whole
 * pipeline, bare ratio beside it). Then `modelship serve` with the three default models: peak RSS
 * < 400 MB and cold start to the first result < 1.5 s.
 * Options: --rounds N (default 5), --burst-ms N (default 2500), --only NAME, --serve-only
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
interface BenchModel { name: string; task: Task; dir: string; tfjs: boolean; label: string }

function argNumber(flag: string): number | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? Number(process.argv[i + 1]) : undefined;
}
function argString(flag: string): string | undefined {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function photos(n: number): Promise<Buffer[]> {
  const all = await Promise.all(PHOTOS.map((f) => readFile(path.join(FIXTURES, f))));
  return Array.from({ length: n }, (_, i) => all[i % all.length]!);
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
    await model.dispose();
  }
  const per = m.input.width * m.input.height * 3;
  const tensors = await Promise.all((await photos(n)).map(async (b) => L.normalizePixels((await L.decodeImage(b, m.input)).pixels, m.input, new Float32Array(per), 0, layout)));
  const shape = layout === 'NCHW' ? [1, 3, m.input.height, m.input.width] : [1, m.input.height, m.input.width, 3];
  return { tensors, shape, manifest: m };
}

/** Runs `step` until `ms` have passed; returns the number of steps done and the time taken. */
async function timed(ms: number, step: () => Promise<void>): Promise<{ count: number; elapsed: number }> {
  const t0 = performance.now();
  let count = 0;
  while (performance.now() - t0 < ms) {
    await step();
    count++;
  }
  return { count, elapsed: performance.now() - t0 };
}

/** A bare ORT session in this thread with `threads` intra-op threads: a burst runner. */
async function bareSession(dir: string, threads: number): Promise<{ burst: (ms: number) => Promise<{ count: number; elapsed: number }>; close: () => Promise<void> }> {
  const L = await lib();
  const { tensors, shape, manifest } = await preparedInputs(dir, PHOTOS.length);
  const ort = L.loadOrt();
  const s = await ort.InferenceSession.create(path.join(dir, (manifest as ManifestModule.OnnxManifest).modelFile), L.ortSessionOptions('cpu', { intraOpThreads: threads }));
  const name = s.inputNames[0]!;
  const feeds = tensors.map((t) => ({ [name]: new ort.Tensor('float32', t, shape) }));
  let i = 0;
  const burst = (ms: number) => timed(ms, async () => {
    const out = await s.run(feeds[i++ % feeds.length]!);
    for (const t of Object.values(out)) t.dispose();
  });
  await burst(300); // first runs allocate
  return { burst, close: () => s.release() };
}

/** A pool thread of the bench: one single-threaded bare session, bursts on command. */
async function poolThread(): Promise<void> {
  const { dir } = workerData as { dir: string };
  const b = await bareSession(dir, 1);
  parentPort!.on('message', (msg: { ms: number } | 'close') => {
    if (msg === 'close') void b.close().then(() => parentPort!.postMessage('closed'));
    else void b.burst(msg.ms).then((r) => parentPort!.postMessage(r));
  });
  parentPort!.postMessage('ready');
}

/** N threads each with a single-threaded session: one burst runs on all together. */
async function barePool(dir: string, threads: number) {
  const ws = Array.from({ length: threads }, () => new Worker(new URL(import.meta.url), { workerData: { dir } }));
  await Promise.all(ws.map((w) => new Promise((resolve, reject) => w.once('message', resolve).once('error', reject))));
  return {
    burst: async (ms: number) => {
      const rs = await Promise.all(ws.map((w) => new Promise<{ count: number; elapsed: number }>((resolve) => { w.once('message', resolve); w.postMessage({ ms }); })));
      return { count: rs.reduce((a, r) => a + r.count, 0), elapsed: Math.max(...rs.map((r) => r.elapsed)) };
    },
    close: async () => {
      await Promise.all(ws.map((w) => new Promise((resolve) => { w.once('message', resolve); w.postMessage('close'); })));
      await Promise.all(ws.map((w) => w.terminate()));
    },
  };
}

async function bareTfjs(dir: string) {
  const L = await lib();
  const { tensors, shape, manifest } = await preparedInputs(dir, PHOTOS.length);
  const t = L.tfjsVariant(manifest)!;
  const backend = await L.initBackend(await import('@tensorflow/tfjs-core'), 'wasm');
  const model = await L.loadTfjsModel(dir, t, backend.name);
  let i = 0;
  const burst = (ms: number) => timed(ms, async () => void (await model.predict({ data: tensors[i++ % tensors.length]!, shape })));
  await burst(300);
  return { burst, close: async () => model.dispose() };
}

/** The whole pipeline through an engine (what classify and serve run), `lanes` inputs in flight. */
async function pipelineRunner(dataDir: string, model: BenchModel, o: Parameters<typeof EngineModule.createEngine>[0] & { workers: number }) {
  const { createEngine } = await lib();
  const engine = await createEngine({ ...o, registry: { env: { ...process.env, MODELSHIP_DATA_DIR: dataDir } } });
  const inputs = await photos(PHOTOS.length);
  const one = async (b: Buffer) => {
    if (model.task === 'image') await engine.classifyImage(b, { model: model.name });
    else await engine.detect(b, { model: model.name });
  };
  let next = 0;
  const burst = async (ms: number) => {
    const t0 = performance.now();
    let count = 0;
    const lane = async () => {
      while (performance.now() - t0 < ms) {
        await one(inputs[next++ % inputs.length]!);
        count++;
      }
    };
    await Promise.all(Array.from({ length: o.workers * 2 + 1 }, lane));
    return { count, elapsed: performance.now() - t0 };
  };
  await burst(600); // loads the model in every worker it runs on
  const info = await engine.info();
  const plan = info.models.find((m) => m.name === model.name)?.threads;
  return { burst, close: () => engine.close(), backend: engine.providers.get(model.name)?.name ?? engine.backend.name, policy: plan ? `${plan.layout} (${plan.from})` : '-' };
}

type Variant = 'bare1' | 'barePool' | 'bareIntra' | 'pipe1' | 'pipePool' | 'pipeIntra' | 'pipePolicy' | 'tfjsPipe' | 'tfjsBare';

/** One model, every variant, interleaved bursts over rounds: img/s per variant per round. */
async function modelChild(dataDir: string, model: BenchModel, rounds: number, burstMs: number): Promise<{ rates: Record<Variant, number[]>; backend: string; policy: string; peakMb: number }> {
  const cores = os.availableParallelism();
  const runners: Partial<Record<Variant, { burst: (ms: number) => Promise<{ count: number; elapsed: number }>; close: () => Promise<void> }>> = {};
  runners.bare1 = await bareSession(model.dir, 1);
  runners.barePool = await barePool(model.dir, cores);
  runners.bareIntra = await bareSession(model.dir, cores);
  runners.pipe1 = await pipelineRunner(dataDir, model, { workers: 1, threads: { '*': 'pool' } });
  runners.pipePool = await pipelineRunner(dataDir, model, { workers: cores, threads: { '*': 'pool' } });
  runners.pipeIntra = await pipelineRunner(dataDir, model, { workers: cores, threads: { '*': 'intra-op' } });
  const policy = await pipelineRunner(dataDir, model, { workers: cores });
  runners.pipePolicy = policy;
  if (model.tfjs) {
    runners.tfjsPipe = await pipelineRunner(dataDir, model, { workers: cores, backend: 'wasm' });
    runners.tfjsBare = await bareTfjs(model.dir);
  }
  const rates = Object.fromEntries(Object.keys(runners).map((k) => [k, [] as number[]])) as Record<Variant, number[]>;
  try {
    for (let r = 0; r < rounds; r++) {
      for (const [k, run] of Object.entries(runners) as [Variant, NonNullable<(typeof runners)[Variant]>][]) {
        // TF.js-wasm is ~5× slower: a longer burst gives it as many images
        const b = await run.burst(k.startsWith('tfjs') ? burstMs * 2 : burstMs);
        rates[k].push(b.count / (b.elapsed / 1000));
      }
    }
  } finally {
    for (const run of Object.values(runners)) await run.close();
  }
  return { rates, backend: policy.backend, policy: policy.policy, peakMb: process.resourceUsage().maxRSS / 1024 };
}

async function child(): Promise<void> {
  const [dataDir, model, rounds, burstMs] = process.argv.slice(3);
  const out = await modelChild(dataDir!, JSON.parse(model!) as BenchModel, Number(rounds), Number(burstMs));
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

async function inChild(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Awaited<ReturnType<typeof modelChild>>> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--no-wasm-dynamic-tiering', fileURLToPath(import.meta.url), '--child', ...args], { ...CHILD, env: { ...CHILD.env, ...env } });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Awaited<ReturnType<typeof modelChild>>;
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

/** Median over rounds of the per-round ratio a/b (paired: both measured in the same round). */
function pairedRatio(a: number[], b: number[]): number {
  return median(a.map((x, i) => x / b[i]!));
}
const x2 = (r: number) => `${r.toFixed(2)}×`;

async function main(): Promise<void> {
  const cores = os.availableParallelism();
  const rounds = Math.max(1, argNumber('--rounds') ?? 5);
  const burstMs = argNumber('--burst-ms') ?? 2500;
  const only = argString('--only');
  const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');
  console.log(`bench:classify — ${os.cpus()[0]?.model ?? 'cpu'} × ${cores}, Node ${process.version}, load average ${load()}, ${rounds} rounds of interleaved ${burstMs} ms bursts per variant`);
  if (os.loadavg()[0]! > cores / 2) console.log('note: the machine is busy (load above half the cores): wall-clock rates and scaling are depressed by the neighbours; the paired ratios much less so');
  const L = await lib();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ms-bench-'));
  const dirs: string[] = [];
  const models: BenchModel[] = [];
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
    } else console.log(`skipped: the shared MobileNetV2-int8 and YOLOX-Nano figures (${SKIP_REASON})`);

    const N = String(cores);
    const rows: string[][] = [['model', 'backend', 'bare 1', `bare ${N} pool`, `bare ${N} intra`, 'pipe 1', `pipe ${N} pool`, `pipe ${N} intra`, 'policy', `${N}c/1c`, 'pipe/bare 1', `pipe/bare ${N}`, 'faster layout (pipe; bare)', 'TF.js-wasm pipe', 'ORT/TF.js pipe', 'ORT/TF.js bare', 'peak MB']];
    const checks: string[] = [];
    for (const m of process.argv.includes('--serve-only') ? [] : models.filter((x) => !only || x.name === only)) {
      const loadBefore = load();
      const { rates: r, backend, policy, peakMb } = await inChild([dataDir, JSON.stringify(m), String(rounds), String(burstMs)]);
      const intraPolicy = policy.startsWith('intra-op');
      const pipeN = intraPolicy ? r.pipeIntra : r.pipePool;
      const bareN = intraPolicy ? r.bareIntra : r.barePool;
      const scale = pairedRatio(r.pipePolicy, r.pipe1);
      const pipe1 = pairedRatio(r.pipe1, r.bare1);
      const pipeNr = pairedRatio(pipeN, bareN);
      const pipeLayout = pairedRatio(r.pipeIntra, r.pipePool);
      const bareLayout = pairedRatio(r.bareIntra, r.barePool);
      const faster = (x: number) => (x >= 1 ? `intra-op ${x2(x)}` : `pool ${x2(1 / x)}`);
      const ortVsTfjs = m.tfjs ? pairedRatio(r.pipePolicy, r.tfjsPipe) : NaN;
      const bareVsTfjs = m.tfjs ? pairedRatio(r.bare1, r.tfjsBare) : NaN;
      rows.push([m.label, backend, spread(r.bare1), spread(r.barePool), spread(r.bareIntra), spread(r.pipe1), spread(r.pipePool), spread(r.pipeIntra), policy, x2(scale), x2(pipe1), x2(pipeNr), `${faster(pipeLayout)}; ${faster(bareLayout)}`, m.tfjs ? spread(r.tfjsPipe) : '-', m.tfjs ? `${ortVsTfjs.toFixed(1)}×` : '-', m.tfjs ? `${bareVsTfjs.toFixed(1)}×` : '-', f1(peakMb)]);
      checks.push(`${m.label} (load ${loadBefore} → ${load()}): ${cores} cores ${verdict(scale >= 1.7)} ≥ 1.7× one (${x2(scale)}, pipeline on its policy ${policy}; the bare model: pool ${x2(pairedRatio(r.barePool, r.bare1))}, intra-op ${x2(pairedRatio(r.bareIntra, r.bare1))})`);
      checks.push(`${m.label}: pipeline ${verdict(pipe1 >= 0.8 && pipeNr >= 0.8)} ≥ 0.8× bare session.run at the same thread count (${x2(pipe1)} on 1, ${x2(pipeNr)} on ${cores})`);
      if (m.tfjs) checks.push(`${m.label}: ORT ${verdict(ortVsTfjs >= 4)} ≥ 4× TF.js-wasm, whole pipeline on ${cores} workers (${ortVsTfjs.toFixed(1)}×; bare model ${bareVsTfjs.toFixed(1)}×)`);
      checks.push(`${m.label}: threads — pipeline ${faster(pipeLayout)} faster, bare ${faster(bareLayout)} faster; runs ${policy}`);
      if (!m.tfjs) checks.push(`${m.label}: ${f1(median(pipeN))} img/s through the pipeline on ${cores} cores (${f1(median(r.pipe1))} on one)`);
    }
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
    console.log(`img/s, median (min–max) of ${rounds} bursts; ratios: median of per-round ratios; bare = session.run on pre-decoded tensors; pool = a single-threaded session per thread/worker; intra = one session with ${cores} intra-op threads; policy = the model's default (threading.ts)`);
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
      for (let i = 0; i < Math.min(rounds, 3); i++) serves.push(await serveRun(serveDir, config ? dataDir : serveDir));
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
