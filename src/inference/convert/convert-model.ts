/**
 * `modelship models convert`: a TF.js model directory (manifest.json + model.json + shards) →
 * model.onnx beside it, and the manifest switched to `runtime: "onnx"` with a `tfjs` block so
 * the TF.js files stay selectable. model.onnx is written first, then the manifest, each
 * atomically: an interrupted run leaves the old manifest, which still names the TF.js files.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../../util/errors.ts';
import { writeFileAtomic } from '../../util/fs-atomic.ts';
import { formatIssues, tfjsVariant, validateManifest } from '../manifest.ts';
import { checkAgainstTfjs, type CheckResult } from './check.ts';
import { listModels } from '../registry.ts';
import { fileIOHandler } from '../tfjs-runtime.ts';
import { ConversionError } from './errors.ts';
import { convertKerasModel, type KerasTopology } from './keras-layers.ts';
import type { OnnxModel } from './onnx-graph.ts';
import { encodeOnnx } from './onnx-write.ts';
import { convertTfGraph, type TfGraphModelJson } from './tf-graph.ts';
import { WeightDecodeError, decodeWeights, type WeightSpec } from './tfjs-weights.ts';

export const ONNX_FILE = 'model.onnx';

export interface ConvertedModel {
  onnx: Uint8Array;
  model: OnnxModel;
  format: 'graph-model' | 'layers-model';
}

/** Converts the TF.js model at `modelJsonPath` (graph or layers) in memory. */
export async function convertTfjsFiles(modelJsonPath: string, format: 'graph-model' | 'layers-model', meta: { producerVersion: string; metadata?: Record<string, string> }): Promise<ConvertedModel> {
  let artifacts;
  try {
    artifacts = await fileIOHandler(modelJsonPath).load!();
  } catch (err) {
    throw new UserError(`cannot read the TF.js model ${modelJsonPath}: ${(err as Error).message}`, { hint: 'check the files with `modelship models verify NAME`', cause: err });
  }
  const specs = (artifacts.weightSpecs ?? []) as WeightSpec[];
  const data = artifacts.weightData;
  if (data !== undefined && !(data instanceof ArrayBuffer)) throw new UserError(`${modelJsonPath}: sharded weight buffers are not supported by the converter`);
  const where = path.basename(modelJsonPath);
  try {
    const weights = decodeWeights(data ?? new ArrayBuffer(0), specs);
    const opts = { producerVersion: meta.producerVersion, metadata: { 'modelship.source-format': `tfjs-${format}`, ...meta.metadata } };
    const model = format === 'graph-model'
      ? convertTfGraph({ modelTopology: artifacts.modelTopology as TfGraphModelJson['modelTopology'], signature: artifacts.signature as TfGraphModelJson['signature'] }, weights, opts)
      : convertKerasModel(artifacts.modelTopology as KerasTopology, weights, opts);
    return { onnx: encodeOnnx(model), model, format };
  } catch (err) {
    if (err instanceof ConversionError || err instanceof WeightDecodeError) {
      throw new UserError(`cannot convert ${where} to ONNX: ${err.message}`, {
        hint: err instanceof ConversionError && err.unsupported.length
          ? 'run the model with TF.js (runtime "tfjs"), or export it to ONNX from its original framework (e.g. tf2onnx, torch.onnx) and add that with `modelship models add`'
          : 'check the files with `modelship models verify NAME`',
        cause: err,
      });
    }
    throw err;
  }
}

export interface ConvertDirResult {
  dir: string;
  name: string;
  format: 'graph-model' | 'layers-model';
  onnxFile: string;
  bytes: number;
  sha256: string;
  nodes: number;
  ops: Record<string, number>;
  inputs: string[];
  outputs: string[];
  manifest: Record<string, unknown>;
  /** TF.js vs ONNX Runtime on a probe input (undefined when skipped or not possible). */
  check?: CheckResult | undefined;
}

type RawManifest = Record<string, unknown> & { provenance?: Record<string, unknown> };

function sha256(buf: Uint8Array | string): string {
  return createHash('sha256').update(buf).digest('hex');
}

/**
 * The manifest after conversion: runtime "onnx", modelFile model.onnx, the TF.js files under
 * `tfjs`, and the conversion and checksum recorded in provenance. Pure.
 */
export function onnxManifest(raw: RawManifest, source: { format: 'graph-model' | 'layers-model'; modelFile: string }, onnxSha256: string, tool: string): RawManifest {
  const out: RawManifest = {};
  const tfjs = { format: source.format, modelFile: source.modelFile };
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'format' || k === 'tfjs' || k === 'modelFile') continue;
    out[k] = v;
    // runtime, modelFile and the TF.js files stay together, where the manifest had them
    if (k === 'runtime') Object.assign(out, { runtime: 'onnx', modelFile: ONNX_FILE, tfjs });
  }
  if (!('runtime' in raw)) Object.assign(out, { runtime: 'onnx', modelFile: ONNX_FILE, tfjs });
  const prov = { ...(raw.provenance ?? { source: 'unknown' }) };
  const before = typeof prov.conversion === 'string' ? prov.conversion.replace(/; then TF\.js → ONNX .*$/, '') : undefined;
  const step = `then TF.js → ONNX (opset 17, float32 weights) by ${tool}`;
  prov.conversion = before ? `${before}; ${step}` : step.replace(/^then /, '');
  const sums = { ...(prov.sha256 as Record<string, string> | undefined) };
  sums[ONNX_FILE] = onnxSha256;
  prov.sha256 = sums;
  out.provenance = prov;
  return out;
}

/** The TF.js source a manifest names, or a UserError saying why it has none. */
export function tfjsSource(raw: RawManifest, file: string, force: boolean): { format: 'graph-model' | 'layers-model'; modelFile: string } {
  const isFormat = (f: unknown): f is 'graph-model' | 'layers-model' => f === 'graph-model' || f === 'layers-model';
  if (raw.runtime === 'tfjs') {
    if (!isFormat(raw.format)) throw new UserError(`${file}: format must be "graph-model" or "layers-model"; got ${JSON.stringify(raw.format)}`);
    return { format: raw.format, modelFile: typeof raw.modelFile === 'string' ? raw.modelFile : 'model.json' };
  }
  if (raw.runtime === 'onnx') {
    const t = raw.tfjs as { format?: unknown; modelFile?: unknown } | undefined;
    if (!t) throw new UserError(`${file}: the model is already ONNX and names no TF.js files to convert from`, { hint: 'nothing to do: it runs on ONNX Runtime' });
    if (!force) throw new UserError(`${file}: the model is already converted to ONNX (${String(raw.modelFile ?? ONNX_FILE)})`, { hint: 'add --force to convert its TF.js files again' });
    if (!isFormat(t.format)) throw new UserError(`${file}: tfjs.format must be "graph-model" or "layers-model"; got ${JSON.stringify(t.format)}`);
    return { format: t.format, modelFile: typeof t.modelFile === 'string' ? t.modelFile : 'model.json' };
  }
  throw new UserError(`${file}: runtime ${JSON.stringify(raw.runtime)} has no network to convert`, { hint: 'only TF.js graph and layers models convert to ONNX' });
}

/** Converts the TF.js model of a model directory in place (see the file comment). */
export async function convertModelDirectory(dir: string, opts: { force?: boolean; producerVersion: string; tool?: string; check?: boolean }): Promise<ConvertDirResult> {
  const manifestFile = path.join(dir, 'manifest.json');
  let text: string;
  try {
    text = await readFile(manifestFile, 'utf8');
  } catch (err) {
    throw new UserError(`no manifest at ${manifestFile}`, { hint: 'a model directory needs a manifest.json (see `modelship models info content-safety` for an example)', cause: err });
  }
  let raw: RawManifest;
  try {
    raw = JSON.parse(text) as RawManifest;
  } catch (err) {
    throw new UserError(`${manifestFile}: not valid JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UserError(`${manifestFile}: expected a JSON object`);
  const source = tfjsSource(raw, manifestFile, opts.force ?? false);
  const modelJson = path.resolve(dir, source.modelFile);
  if (path.relative(dir, modelJson).startsWith('..')) throw new UserError(`${manifestFile}: modelFile ${source.modelFile} leaves the model directory`);
  const tool = opts.tool ?? `modelship ${opts.producerVersion} (models convert)`;
  const converted = await convertTfjsFiles(modelJson, source.format, { producerVersion: opts.producerVersion, metadata: { 'modelship.model': String(raw.name ?? path.basename(dir)) } });
  const hash = sha256(converted.onnx);
  const manifest = onnxManifest(raw, source, hash, tool);
  const checked = validateManifest(manifest);
  if (!checked.ok) throw new UserError(`the converted manifest would not load:\n${formatIssues(manifestFile, checked.issues)}`, { hint: 'fix manifest.json (it is unchanged), then convert again' });
  let check: CheckResult | undefined;
  const variant = checked.manifest.runtime === 'lexicon' ? undefined : tfjsVariant(checked.manifest);
  if (opts.check !== false && variant) {
    check = await checkAgainstTfjs(dir, variant, converted.onnx, 'output' in variant ? variant.output.tensor : undefined);
    if (check && !(check.maxAbsDiff <= check.tolerance)) {
      throw new UserError(
        `the converted model does not compute what the TF.js model computes: on a probe input, output ${check.output} differs by up to ${check.maxAbsDiff.toExponential(2)} (allowed ${check.tolerance.toExponential(2)}, TF.js on ${check.tfjsBackend}); nothing was written`,
        { hint: 'keep running it with TF.js, and report this model to the modelship maintainers (a converter bug); --no-check writes the file anyway' },
      );
    }
  }
  const onnxFile = path.join(dir, ONNX_FILE);
  await writeFileAtomic(onnxFile, converted.onnx);
  await writeFileAtomic(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
  const ops: Record<string, number> = {};
  for (const n of converted.model.nodes) ops[n.op] = (ops[n.op] ?? 0) + 1;
  return {
    dir,
    name: String(raw.name ?? path.basename(dir)),
    format: source.format,
    onnxFile,
    bytes: converted.onnx.byteLength,
    sha256: hash,
    nodes: converted.model.nodes.length,
    ops,
    inputs: converted.model.inputs.map((i) => i.name),
    outputs: converted.model.outputs.map((o) => o.name),
    manifest,
    check,
  };
}

/**
 * `models convert TARGET`: a directory (anything with a slash, `.`, or an existing directory)
 * or the name of a model registered with `models add`. Bundled models ship converted already.
 */
export async function resolveConvertTarget(target: string, opts: { env: NodeJS.ProcessEnv; cwd: string }): Promise<string> {
  const asPath = path.resolve(opts.cwd, target);
  const isDir = await stat(asPath).then((s) => s.isDirectory(), () => false);
  if (isDir) return asPath;
  if (target.includes('/') || target.startsWith('.')) throw new UserError(`${asPath} is not a directory`, { hint: 'give a model directory (with manifest.json) or a registered model name' });
  const all = await listModels({ env: opts.env });
  const found = all.find((m) => m.name === target);
  if (!found) throw new UserError(`unknown model "${target}"`, { hint: 'give a registered model name (modelship models list) or a model directory', exitCode: 2 });
  if (found.source === 'bundled') throw new UserError(`"${target}" is a bundled model: it ships with its ONNX conversion already`, { hint: 'to convert a copy, copy its directory and run `modelship models convert DIR --to onnx` on the copy' });
  return found.dir;
}
