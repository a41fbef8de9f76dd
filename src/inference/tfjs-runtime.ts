import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { TfjsManifest } from './manifest.ts';
import type { ModelFeeds, RuntimeModel, TensorData } from './runtime.ts';

/**
 * Loads TF.js models from disk without tfjs-node: `tf.loadGraphModel('file://…')` needs the
 * native package, so a small IOHandler reads `model.json` and its shards (in manifest order).
 */
export function fileIOHandler(modelJsonPath: string): tf.io.IOHandler {
  const dir = path.dirname(modelJsonPath);
  return {
    load: async () => {
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(await readFile(modelJsonPath, 'utf8')) as tf.io.ModelJSON;
      } catch (err) {
        throw new Error(`${path.basename(modelJsonPath)} cannot be read: ${(err as Error).message}`, { cause: err });
      }
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const files: string[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const p of group.paths) {
            const file = path.resolve(dir, p);
            if (path.relative(dir, file).startsWith('..')) throw new Error(`weight path ${p} leaves the model directory`);
            files.push(file);
          }
        }
        const data = await readShards(files);
        const want = weightBytes(specs);
        if (want !== undefined && data.byteLength < want) {
          throw new Error(`the weight files (${files.map((f) => path.basename(f)).join(', ')}) hold ${data.byteLength} bytes but ${path.basename(modelJsonPath)} describes ${want}: a file is truncated or belongs to another model; copy the model again, then check it with \`modelship models verify\``);
        }
        return [specs, data];
      });
    },
  };
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, complex64: 8 };

/** Bytes the weight specs need (quantized weights at their stored width); undefined when not computable (strings). */
export function weightBytes(specs: tf.io.WeightsManifestEntry[]): number | undefined {
  let total = 0;
  for (const w of specs) {
    const bytes = DTYPE_BYTES[w.quantization?.dtype ?? w.dtype];
    if (bytes === undefined) return undefined;
    total += w.shape.reduce((a, b) => a * b, 1) * bytes;
  }
  return total;
}

/**
 * Reads the weight shards, in order, into one ArrayBuffer with no intermediate copies: every
 * transient copy of the weights counts towards each worker's peak RSS.
 */
async function readShards(files: string[]): Promise<ArrayBuffer> {
  const handles = await Promise.all(files.map((f) => open(f, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new Error(err.code === 'ENOENT' ? `weight file ${path.basename(f)} is missing from ${path.dirname(f)}` : `weight file ${f} cannot be opened: ${err.message}`, { cause: err });
  })));
  try {
    const sizes = await Promise.all(handles.map(async (h) => (await h.stat()).size));
    const out = new ArrayBuffer(sizes.reduce((a, b) => a + b, 0));
    let offset = 0;
    for (const [i, h] of handles.entries()) {
      const size = sizes[i]!;
      let done = 0;
      while (done < size) {
        const { bytesRead } = await h.read(new Uint8Array(out, offset + done, size - done), 0, size - done, done);
        if (bytesRead === 0) throw new Error(`weight file ${files[i]} shrank while it was read`);
        done += bytesRead;
      }
      offset += size;
    }
    return out;
  } finally {
    await Promise.all(handles.map((h) => h.close()));
  }
}

export type { RuntimeModel, TensorData } from './runtime.ts';

/** TF.js models take one input tensor: a feed by name is reduced to its only entry. */
function single(feeds: ModelFeeds): TensorData {
  if (!(feeds instanceof Map)) return feeds;
  if (feeds.size !== 1) throw new Error(`a TF.js model takes one input tensor, got ${feeds.size} (${[...feeds.keys()].join(', ')})`);
  return feeds.values().next().value!;
}

/** `provider` is the TF.js backend that is active in this thread (reported with every result). */
export async function loadTfjsModel(dir: string, manifest: TfjsManifest, provider: string): Promise<RuntimeModel> {
  const file = path.join(dir, manifest.modelFile);
  const handler = fileIOHandler(file);
  const outputName = manifest.output.tensor;
  if (manifest.format === 'layers-model') {
    // imported on demand: each worker only pays (in memory) for the model formats it runs
    const { loadLayersModel } = await import('@tensorflow/tfjs-layers');
    const model: LayersModel = await loadLayersModel(handler);
    const dim0 = model.inputs[0]?.shape[0];
    return {
      fixedBatch: typeof dim0 === 'number' ? dim0 : null,
      provider,
      imageLayout: 'NHWC',
      inputs: [],
      predict: async (feeds) => runAndRead(single(feeds), (x) => model.predict(x) as tf.Tensor | tf.Tensor[], outputName, model.outputNames),
      dispose: () => model.dispose(),
    };
  }
  const { loadGraphModel } = await import('@tensorflow/tfjs-converter');
  const model: GraphModel = await loadGraphModel(handler);
  releaseArtifactWeights(model);
  const shape = model.inputs[0]?.shape;
  const dim0 = shape?.[0];
  let useAsync = false;
  return {
    fixedBatch: typeof dim0 === 'number' && dim0 > 0 ? dim0 : null,
    provider,
    imageLayout: 'NHWC',
    inputs: [],
    predict: async (feeds) => {
      const input = single(feeds);
      const x = tf.tensor(input.data, input.shape, dtypeOf(input));
      try {
        if (!useAsync) {
          try {
            return await readOutput(outputName ? model.execute(x, outputName) : model.execute(x), outputName, model.outputs.map((o) => o.name));
          } catch (err) {
            // graphs with control flow / dynamic ops must run through executeAsync
            if (!/executeAsync|dynamic/i.test((err as Error).message)) throw err;
            useAsync = true;
          }
        }
        return await readOutput(await (outputName ? model.executeAsync(x, outputName) : model.executeAsync(x)), outputName, model.outputs.map((o) => o.name));
      } finally {
        x.dispose();
      }
    },
    dispose: () => model.dispose(),
  };
}

/**
 * A GraphModel keeps its load artifacts, weight bytes included, only to be able to `save()` them
 * again. The weights already live in tensors (in wasm/native memory), so that copy is dropped.
 */
function releaseArtifactWeights(model: GraphModel): void {
  const artifacts = (model as unknown as { artifacts?: { weightData?: unknown } }).artifacts;
  if (artifacts && 'weightData' in artifacts) artifacts.weightData = undefined;
}

function dtypeOf(input: TensorData): 'float32' | 'int32' {
  return input.data instanceof Int32Array ? 'int32' : 'float32';
}

async function runAndRead(input: TensorData, fn: (x: tf.Tensor) => tf.Tensor | tf.Tensor[], outputName: string | undefined, names: string[]): Promise<TensorData> {
  const x = tf.tensor(input.data, input.shape, dtypeOf(input));
  try {
    return await readOutput(fn(x), outputName, names);
  } finally {
    x.dispose();
  }
}

/** Picks the wanted output (by name, else the first), reads it and disposes all outputs. */
async function readOutput(out: tf.Tensor | tf.Tensor[] | tf.NamedTensorMap, outputName: string | undefined, names: string[]): Promise<TensorData> {
  let list: tf.Tensor[];
  let chosen: tf.Tensor | undefined;
  if (out instanceof tf.Tensor) {
    list = [out];
    chosen = out;
  } else if (Array.isArray(out)) {
    list = out;
    const i = outputName ? names.indexOf(outputName) : 0;
    chosen = out[i >= 0 ? i : 0];
  } else {
    list = Object.values(out);
    chosen = outputName ? out[outputName] : list[0];
  }
  try {
    if (!chosen) throw new Error(`model has no output ${outputName ?? '(first)'}`);
    const data = (await chosen.data()) as Float32Array | Int32Array;
    return { data: data instanceof Int32Array ? data : Float32Array.from(data), shape: chosen.shape.slice() };
  } finally {
    for (const t of list) t.dispose();
  }
}
