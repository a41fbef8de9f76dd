import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import type { Engine } from './engine.ts';
import { InputError, ModelLoadError, type CliTask, type Detection, type Prediction } from './types.ts';
import { SNIFF_BYTES, sniffImage } from './sniff.ts';

/**
 * `modelship classify` as a library call: expand the inputs, run them through the engine with a
 * bounded number in flight (so decoding overlaps inference), report each result as it finishes.
 */

export interface JobResultOk {
  input: string;
  task: CliTask;
  model: string;
  version: string;
  backend: string;
  durationMs: number;
  notes?: string[];
  predictions?: Prediction[];
  detections?: Detection[];
}

export interface JobResultError {
  input: string;
  error: string;
}

export type JobResult = JobResultOk | JobResultError;

export interface JobInput {
  /** Shown in results: a path, `path:line`, or `text:N`. */
  id: string;
  load: () => Promise<Uint8Array | string>;
}

export interface JobOptions {
  task: CliTask;
  model?: string | undefined;
  topK?: number | undefined;
  threshold?: number | undefined;
  /** Inputs in flight at once. */
  inFlight: number;
  maxInputBytes: number;
  onResult?: (r: JobResult, index: number) => void;
  onProgress?: (done: number, total: number, failed: number) => void;
}

export interface JobSummary {
  inputs: number;
  failed: number;
  seconds: number;
  perSecond: number;
  backend: string;
  workers: number;
  results: JobResult[];
}

const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.jpe', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.heic', '.heif', '.jxl', '.svg', '.bmp', '.dib']);
const TEXT_EXT = new Set(['.txt', '.text', '.md', '.csv', '.tsv', '']);

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

async function isImageFile(file: string): Promise<boolean> {
  if (!IMAGE_EXT.has(path.extname(file).toLowerCase())) {
    // no known extension: look at the bytes
    const fh = await open(file, 'r');
    try {
      const head = new Uint8Array(SNIFF_BYTES);
      const { bytesRead } = await fh.read(head, 0, SNIFF_BYTES, 0);
      return sniffImage(head.subarray(0, bytesRead));
    } finally {
      await fh.close();
    }
  }
  return true;
}

/**
 * Expands PATHs into inputs. Images: files as given, directories walked for image files.
 * Text: each non-empty line of each file is one input (directories walked for text files),
 * plus each `--text` string.
 */
export async function collectInputs(paths: string[], texts: string[], task: CliTask, cwd: string, maxInputBytes: number): Promise<JobInput[]> {
  const inputs: JobInput[] = [];
  for (const raw of paths) {
    const abs = path.resolve(cwd, raw);
    let st;
    try {
      st = await stat(abs);
    } catch {
      throw new UserError(`no such file or directory: ${raw}`, { exitCode: 2 });
    }
    const files = st.isDirectory() ? await walk(abs) : [abs];
    const shown = (f: string) => (st.isDirectory() ? path.join(raw, path.relative(abs, f)) : raw);
    for (const f of files) {
      if (task === 'text') {
        if (st.isDirectory() && !TEXT_EXT.has(path.extname(f).toLowerCase())) continue;
        let text: string;
        try {
          text = Buffer.from(await readLimited(f, maxInputBytes)).toString('utf8');
        } catch (err) {
          if (!(err instanceof InputError)) throw err;
          inputs.push({ id: shown(f), load: () => Promise.reject(err) });
          continue;
        }
        const lines = text.split(/\r?\n/);
        lines.forEach((line, i) => {
          if (line.trim() !== '') inputs.push({ id: `${shown(f)}:${i + 1}`, load: () => Promise.resolve(line) });
        });
      } else {
        if (st.isDirectory() && !(await isImageFile(f))) continue;
        inputs.push({ id: shown(f), load: () => readLimited(f, maxInputBytes) });
      }
    }
  }
  texts.forEach((t, i) => inputs.push({ id: texts.length === 1 ? 'text' : `text:${i + 1}`, load: () => Promise.resolve(t) }));
  return inputs;
}

/**
 * Reads a regular file of at most `maxBytes`. A device, FIFO or socket is refused before it is
 * opened (reading /dev/zero or a pipe nobody writes would never end), and the read itself stops
 * at the limit, whatever size the file claimed (files that grow, /proc files that claim 0).
 */
async function readLimited(file: string, maxBytes: number): Promise<Uint8Array> {
  const st = await stat(file);
  if (!st.isFile()) throw new InputError('unsupported', `not a regular file (${st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device'}); pass image files or directories`);
  if (st.size > maxBytes) throw new InputError('too-large', `file is ${st.size} bytes, over the limit of ${maxBytes}`);
  const fh = await open(file, 'r');
  try {
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const chunk = new Uint8Array(Math.min(Math.max(st.size - total, 64 * 1024), maxBytes + 1 - total));
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
      if (total > maxBytes) throw new InputError('too-large', `file grew over the limit of ${maxBytes} bytes while it was read`);
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  } finally {
    await fh.close();
  }
}

async function runOne(engine: Engine, input: JobInput, opts: JobOptions): Promise<JobResult> {
  try {
    const data = await input.load();
    if (opts.task === 'text') {
      const r = await engine.classifyText(String(data), { model: opts.model, topK: opts.topK, threshold: opts.threshold });
      return { input: input.id, task: 'text', model: r.model, version: r.version, backend: r.backend, durationMs: r.durationMs, predictions: r.predictions };
    }
    if (typeof data === 'string') throw new InputError('unsupported', 'expected image bytes');
    if (opts.task === 'detect') {
      const r = await engine.detect(data, { model: opts.model, threshold: opts.threshold, maxDetections: opts.topK });
      return { input: input.id, task: 'detect', model: r.model, version: r.version, backend: r.backend, durationMs: r.durationMs, ...(r.notes ? { notes: r.notes } : {}), detections: r.detections };
    }
    const r = await engine.classifyImage(data, { model: opts.model, topK: opts.topK, threshold: opts.threshold });
    return { input: input.id, task: 'image', model: r.model, version: r.version, backend: r.backend, durationMs: r.durationMs, ...(r.notes ? { notes: r.notes } : {}), predictions: r.predictions };
  } catch (err) {
    // A wrong model/task is the user's mistake for every input alike: stop the job. So is a model
    // whose files cannot load: every input would fail alike, each after reading the weights again.
    if (err instanceof UserError) throw err;
    if (err instanceof ModelLoadError) throw new UserError(`model "${err.model}" cannot be loaded, so no input can run: ${err.message}`, { hint: `check it with \`modelship models verify ${err.model}\``, exitCode: 1, cause: err });
    const msg = err instanceof Error ? err.message : String(err);
    if (err instanceof InputError || (err as NodeJS.ErrnoException).code) return { input: input.id, error: msg };
    return { input: input.id, error: `inference failed: ${msg}` };
  }
}

export async function runJob(engine: Engine, inputs: JobInput[], opts: JobOptions): Promise<JobSummary> {
  const t0 = performance.now();
  const results: JobResult[] = new Array<JobResult>(inputs.length);
  let next = 0, done = 0, failed = 0, stopped = false;
  const lane = async () => {
    while (next < inputs.length && !stopped) {
      const i = next++;
      const r = await runOne(engine, inputs[i]!, opts).catch((err: unknown) => {
        stopped = true; // the other lanes take no new input
        throw err;
      });
      // The job was stopped by a fatal error (its engine is being closed): what the other lanes
      // still had in flight is not reported as if each input had failed on its own.
      if (stopped) return;
      results[i] = r;
      done++;
      if ('error' in r) failed++;
      opts.onResult?.(r, i);
      opts.onProgress?.(done, inputs.length, failed);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.inFlight, inputs.length)) }, lane));
  const seconds = (performance.now() - t0) / 1000;
  return {
    inputs: inputs.length,
    failed,
    seconds,
    perSecond: seconds > 0 ? inputs.length / seconds : 0,
    backend: opts.task === 'text' && !inputs.length ? engine.backend.name : (results.find((r): r is JobResultOk => !('error' in r))?.backend ?? engine.backend.name),
    workers: engine.workers,
    results,
  };
}
