import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { UserError } from '../util/errors.ts';
import { hfTokenizerSchema } from './hf-tokenizer.ts';

/**
 * A model directory's `manifest.json`: what the model does, how to feed it and how to read its
 * output. The engine never guesses: everything it needs about a model is here.
 */

const rgb = z.tuple([z.number(), z.number(), z.number()]);

export const imageInputSchema = z
  .object({
    width: z.number().int().positive().max(4096),
    height: z.number().int().positive().max(4096),
    channels: z.literal(3).default(3),
    /**
     * `fill` stretches to the input size (no crop); `cover` crops the centre; `contain` letterboxes
     * (see `align` and `padValue`).
     */
    resize: z.enum(['fill', 'cover', 'contain']).default('fill'),
    /**
     * With `cover`: first scale the shorter side to this many pixels, then centre-crop
     * width×height (the torchvision / Hugging Face "resize 256, crop 224" convention). Absent:
     * the crop is as large as the image allows.
     */
    shorterSide: z.number().int().positive().max(8192).optional(),
    /** With `contain`: where the scaled image sits on the canvas (YOLOX pastes at the top-left). */
    align: z.enum(['center', 'top-left']).default('center'),
    /** With `contain`: the grey level (0..255, all three channels) of the padding; YOLO uses 114. */
    padValue: z.number().int().min(0).max(255).default(0),
    /** value = (pixel(0..255) * scale - mean[c]) / std[c]; mean/std in the order of `channelOrder`. */
    scale: z.number().positive().default(1 / 255),
    mean: rgb.default([0, 0, 0]),
    std: rgb.refine((s) => s.every((v) => v !== 0), 'std values must not be 0').default([1, 1, 1]),
    dtype: z.enum(['float32', 'int32']).default('float32'),
    /** Channel order the network was trained on. */
    channelOrder: z.enum(['RGB', 'BGR']).default('RGB'),
    /**
     * Tensor layout. TF.js models are NHWC; for ONNX models the default is read from the model's
     * input shape ([N,3,H,W] → NCHW, [N,H,W,3] → NHWC).
     */
    layout: z.enum(['NHWC', 'NCHW']).optional(),
    /** The model input this feeds (ONNX), when the model has more than one. */
    tensor: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.shorterSide !== undefined) {
      if (v.resize !== 'cover') ctx.addIssue({ code: 'custom', path: ['shorterSide'], message: `only applies with resize "cover" (resize is "${v.resize}")` });
      else if (v.shorterSide < Math.max(v.width, v.height)) ctx.addIssue({ code: 'custom', path: ['shorterSide'], message: `${v.shorterSide} is smaller than the ${v.width}×${v.height} crop taken from it; use at least ${Math.max(v.width, v.height)}` });
    }
  });

/** Keras `Tokenizer`'s default `filters`: each is replaced by `split` before splitting. */
export const KERAS_DEFAULT_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n';

export const wordIndexTokenizerSchema = z
  .object({
    type: z.literal('word-index'),
    /** JSON file mapping word → integer index, relative to the model directory. */
    vocab: z.string().min(1),
    maxLength: z.number().int().positive().max(4096),
    /** Index of unknown words (Keras `oov_token`'s index, usually 1); null drops them, as Keras does without an `oov_token`. */
    oovIndex: z.number().int().nonnegative().nullable().default(1),
    padIndex: z.number().int().nonnegative().default(0),
    /** Keras `pad_sequences`: pad before (`pre`, its default) or after (`post`) the ids. */
    padding: z.enum(['pre', 'post']).default('pre'),
    /** Keras `pad_sequences`: drop ids from the start (`pre`: keep the last maxLength) or the end. */
    truncating: z.enum(['pre', 'post']).default('pre'),
    lowercase: z.boolean().default(true),
    /** Characters replaced by `split` before splitting (Keras `filters`). */
    filters: z.string().default(KERAS_DEFAULT_FILTERS),
    /** Word separator (Keras `split`). */
    split: z.string().min(1).default(' '),
    /** Keras `num_words`: only ids below this are kept (others become oovIndex, or are dropped). */
    numWords: z.number().int().positive().optional(),
    /** The model input this feeds (ONNX), when the model has more than one. */
    tensor: z.string().min(1).optional(),
  })
  .strict();
const tokenizerSchema = wordIndexTokenizerSchema;

const classificationOutput = z
  .object({
    /** `probabilities`: use as is; `logits`: softmax first; `sigmoid`: independent per-class sigmoid. */
    type: z.enum(['probabilities', 'logits', 'sigmoid']),
    /** Output node for graph models with several outputs. */
    tensor: z.string().optional(),
  })
  .strict();

/**
 * Detector output layouts:
 * - `x1y1x2y2-score-class`: `[N,6]` rows, already decoded (the bundled CenterNet);
 * - `yolox`: `[1,N,5+C]` rows `x,y,w,h,obj,cls…` as grid offsets, decoded with `strides`;
 * - `yolov5`: `[1,N,5+C]` rows `cx,cy,w,h,obj,cls…` in input pixels;
 * - `yolov8`: `[1,4+C,N]` columns `cx,cy,w,h,cls…` in input pixels (YOLOv8/YOLO11, no objectness).
 */
export const DETECTION_LAYOUTS = ['x1y1x2y2-score-class', 'yolox', 'yolov5', 'yolov8'] as const;

const detectionOutput = z
  .object({
    type: z.literal('detections'),
    tensor: z.string().optional(),
    layout: z.enum(DETECTION_LAYOUTS),
    /** Box coordinates as the model emits them: pixels of the model input or 0..1. */
    coordinates: z.enum(['input-pixels', 'normalized']).default('input-pixels'),
    minScore: z.number().min(0).max(1).default(0.2),
    iouThreshold: z.number().min(0).max(1).default(0.4),
    maxDetections: z.number().int().positive().default(20),
    /** Added to the class value before it indexes the labels (e.g. -1 for 1-based classes). */
    classOffset: z.number().int().default(0),
    /** `per-class` (boxes of different classes never suppress each other) or `class-agnostic`. Default: per-class for the YOLO layouts, class-agnostic otherwise. */
    nms: z.enum(['per-class', 'class-agnostic']).optional(),
    /** YOLOX grid strides, in the order the model emits the grids. */
    strides: z.array(z.number().int().positive()).min(1).default([8, 16, 32]),
    /** Whether objectness/class scores still need a sigmoid (exports without it in the graph). */
    sigmoid: z.boolean().default(false),
  })
  .strict();

const licenseSchema = z.object({ spdx: z.string().min(1), file: z.string().optional() }).strict();
const provenanceSchema = z
  .object({
    source: z.string().min(1),
    path: z.string().optional(),
    conversion: z.string().optional(),
    sha256: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/, 'expected a hex SHA-256')).optional(),
  })
  .strict();

const common = {
  schemaVersion: z.literal(1),
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lowercase letters, digits, ".", "_", "-"; at most 64'),
  version: z.string().min(1),
  description: z.string().optional(),
  /** A file with one label per line, or the labels inline. */
  labels: z.union([z.string().min(1), z.array(z.string()).min(1)]),
  license: licenseSchema,
  provenance: provenanceSchema,
};

const tfjsFormatEnum = z.enum(['graph-model', 'layers-model']);
const tfjsFormat = {
  runtime: z.literal('tfjs'),
  format: tfjsFormatEnum,
  modelFile: z.string().min(1).default('model.json'),
};

/**
 * An ONNX model (`runtime: "onnx"`), run by ONNX Runtime. `tfjs` optionally names the same
 * network as TF.js files in the same directory: used when a TF.js backend is forced
 * (`--backend` / `MODELSHIP_BACKEND`).
 */
const onnxFormat = {
  runtime: z.literal('onnx'),
  modelFile: z.string().min(1).default('model.onnx'),
  tfjs: z.object({ format: tfjsFormatEnum, modelFile: z.string().min(1).default('model.json') }).strict().optional(),
  /**
   * The thread policy measured faster for this model (threading.ts): `pool` (a single-threaded
   * session per worker), `intra-op` (one session, a thread per core) or intra-op threads per session.
   */
  threads: z.union([z.enum(['pool', 'intra-op']), z.int().min(1).max(256)]).optional(),
};

/** TF.js image models take NHWC: an NCHW layout there is a mistake, not a wish. */
const tfjsImageInput = imageInputSchema.refine((i) => i.layout !== 'NCHW', { path: ['layout'], message: 'TF.js models take NHWC input; NCHW applies to ONNX models (runtime "onnx")' });
const imageClassification = z.object({ ...common, ...tfjsFormat, task: z.literal('image-classification'), input: tfjsImageInput, output: classificationOutput }).strict();
const objectDetection = z.object({ ...common, ...tfjsFormat, task: z.literal('object-detection'), input: tfjsImageInput, output: detectionOutput }).strict();
const textClassificationTfjs = z
  .object({ ...common, ...tfjsFormat, task: z.literal('text-classification'), tokenizer: tokenizerSchema, output: classificationOutput })
  .strict();
const imageClassificationOnnx = z.object({ ...common, ...onnxFormat, task: z.literal('image-classification'), input: imageInputSchema, output: classificationOutput }).strict();
const objectDetectionOnnx = z.object({ ...common, ...onnxFormat, task: z.literal('object-detection'), input: imageInputSchema, output: detectionOutput }).strict();
const textClassificationOnnx = z
  // ONNX text models also take a Hugging Face tokenizer.json (hf-tokenizer.ts).
  .object({ ...common, ...onnxFormat, task: z.literal('text-classification'), tokenizer: z.discriminatedUnion('type', [wordIndexTokenizerSchema, hfTokenizerSchema]), output: classificationOutput })
  .strict();
const textClassificationLexicon = z
  .object({
    ...common,
    task: z.literal('text-classification'),
    runtime: z.literal('lexicon'),
    lexicon: z.object({ package: z.literal('vader-sentiment'), algorithm: z.literal('vader') }).strict(),
  })
  .strict();

/** Every (task, runtime) pair a manifest may declare, with its schema. */
export const MANIFEST_VARIANTS: Record<string, z.ZodType> = {
  'image-classification/tfjs': imageClassification,
  'object-detection/tfjs': objectDetection,
  'text-classification/tfjs': textClassificationTfjs,
  'image-classification/onnx': imageClassificationOnnx,
  'object-detection/onnx': objectDetectionOnnx,
  'text-classification/onnx': textClassificationOnnx,
  'text-classification/lexicon': textClassificationLexicon,
};

export const manifestSchema = z.union([imageClassification, objectDetection, textClassificationTfjs, imageClassificationOnnx, objectDetectionOnnx, textClassificationOnnx, textClassificationLexicon]);

export type ModelManifest = z.infer<typeof manifestSchema>;
export type ImageInputSpec = z.infer<typeof imageInputSchema>;
export type TokenizerSpec = z.infer<typeof tokenizerSchema>;
export type DetectionOutputSpec = z.infer<typeof detectionOutput>;
export type ClassificationOutputSpec = z.infer<typeof classificationOutput>;
export type Task = ModelManifest['task'];
/** A neural network run by a runtime (TF.js or ONNX Runtime), as opposed to the lexicon. */
export type NetworkManifest = Exclude<ModelManifest, { runtime: 'lexicon' }>;
export type TfjsManifest = Extract<ModelManifest, { runtime: 'tfjs' }>;
export type OnnxManifest = Extract<ModelManifest, { runtime: 'onnx' }>;
export type RuntimeName = ModelManifest['runtime'];

/**
 * The TF.js view of an ONNX manifest that names TF.js files of the same network (`tfjs`), for a
 * forced TF.js backend; undefined when it names none. TF.js models take NHWC input.
 */
export function tfjsVariant(m: NetworkManifest): TfjsManifest | undefined {
  if (m.runtime === 'tfjs') return m;
  if (!m.tfjs) return undefined;
  const { tfjs, ...rest } = m;
  const base = { ...rest, runtime: 'tfjs' as const, format: tfjs.format, modelFile: tfjs.modelFile };
  return ('input' in base ? { ...base, input: { ...base.input, layout: 'NHWC' as const } } : base) as TfjsManifest;
}

/** One precise problem in a manifest: `file: path.to.field: message`. */
export interface ManifestIssue {
  path: string;
  message: string;
}

/**
 * Validates a parsed manifest. Picks the variant by `task` + `runtime` first so that the errors
 * are about that variant's fields instead of a union's "no match" noise.
 */
export function validateManifest(raw: unknown): { ok: true; manifest: ModelManifest } | { ok: false; issues: ManifestIssue[] } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, issues: [{ path: '(root)', message: 'expected a JSON object' }] };
  const obj = raw as Record<string, unknown>;
  const key = `${String(obj.task)}/${String(obj.runtime)}`;
  const schema = MANIFEST_VARIANTS[key];
  if (!schema) {
    const issues: ManifestIssue[] = [];
    const tasks = ['image-classification', 'object-detection', 'text-classification'];
    if (!tasks.includes(String(obj.task))) issues.push({ path: 'task', message: `expected one of ${tasks.join(', ')}; got ${JSON.stringify(obj.task)}` });
    else issues.push({ path: 'runtime', message: `expected ${obj.task === 'text-classification' ? '"onnx", "tfjs" or "lexicon"' : '"onnx" or "tfjs"'}; got ${JSON.stringify(obj.runtime)}` });
    return { ok: false, issues };
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { ok: true, manifest: parsed.data as ModelManifest };
  return {
    ok: false,
    issues: parsed.error.issues.map((i) => ({ path: i.path.length ? i.path.map(String).join('.') : '(root)', message: i.message })),
  };
}

export function formatIssues(file: string, issues: ManifestIssue[]): string {
  return issues.map((i) => `${file}: ${i.path}: ${i.message}`).join('\n');
}

/** Reads `DIR/manifest.json`, validates it and resolves its labels. Throws a UserError listing every problem. */
export async function loadManifest(dir: string): Promise<{ manifest: ModelManifest; labels: string[] }> {
  const file = path.join(dir, 'manifest.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UserError(`no manifest at ${file}`, { hint: 'a model directory needs a manifest.json (see `modelship models info content-safety` for an example)', cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${file}: not valid JSON: ${(err as Error).message}`);
  }
  const result = validateManifest(raw);
  if (!result.ok) throw new UserError(`invalid model manifest\n${formatIssues(file, result.issues)}`, { details: result.issues });
  const labels = await resolveLabels(dir, result.manifest);
  return { manifest: result.manifest, labels };
}

export async function resolveLabels(dir: string, manifest: ModelManifest): Promise<string[]> {
  if (Array.isArray(manifest.labels)) return manifest.labels;
  const file = path.join(dir, manifest.labels);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UserError(`labels file missing: ${file}`, { hint: 'manifest "labels" names a file relative to the model directory', cause: err });
  }
  if (manifest.labels.toLowerCase().endsWith('.json')) {
    try {
      return parseJsonLabels(JSON.parse(text));
    } catch (err) {
      throw new UserError(`${file}: ${(err as Error).message}`, { hint: 'a .json labels file holds an array of names in class order, or an object of class index → name ({"0": "cat", …})' });
    }
  }
  return parseLabels(text);
}

/** Labels as JSON: `["cat", …]` in class order, or `{"0": "cat", …}` (Keras / Hugging Face `id2label`) with every index 0..n-1. */
export function parseJsonLabels(json: unknown): string[] {
  if (Array.isArray(json)) {
    const bad = json.findIndex((l) => typeof l !== 'string');
    if (bad >= 0) throw new Error(`label ${bad} is ${JSON.stringify(json[bad])}, not a string`);
    if (json.length === 0) throw new Error('no labels');
    return json as string[];
  }
  if (typeof json !== 'object' || json === null) throw new Error('expected an array of labels or an object of index → label');
  const entries = Object.entries(json as Record<string, unknown>);
  const out: string[] = new Array<string>(entries.length);
  for (const [k, v] of entries) {
    const i = Number(k);
    if (!Number.isInteger(i) || i < 0 || i >= entries.length || String(i) !== k) throw new Error(`key ${JSON.stringify(k)} is not a class index 0..${entries.length - 1}`);
    if (typeof v !== 'string') throw new Error(`label ${k} is ${JSON.stringify(v)}, not a string`);
    out[i] = v;
  }
  if (out.length === 0) throw new Error('no labels');
  return out;
}

/** One label per line; blank trailing lines ignored; `\r\n` tolerated. */
export function parseLabels(text: string): string[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  return lines.map((l) => l.trim());
}
