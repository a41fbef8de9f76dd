import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { UserError } from '../util/errors.ts';

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
    /** `fill` stretches to the input size (no crop); `cover` crops the centre; `contain` letterboxes. */
    resize: z.enum(['fill', 'cover', 'contain']).default('fill'),
    /** value = (pixel(0..255) * scale - mean[c]) / std[c] */
    scale: z.number().positive().default(1 / 255),
    mean: rgb.default([0, 0, 0]),
    std: rgb.refine((s) => s.every((v) => v !== 0), 'std values must not be 0').default([1, 1, 1]),
    dtype: z.enum(['float32', 'int32']).default('float32'),
  })
  .strict();

const tokenizerSchema = z
  .object({
    type: z.literal('word-index'),
    /** JSON file mapping word → integer index, relative to the model directory. */
    vocab: z.string().min(1),
    maxLength: z.number().int().positive().max(4096),
    oovIndex: z.number().int().nonnegative().default(1),
    padIndex: z.number().int().nonnegative().default(0),
    padding: z.enum(['pre', 'post']).default('pre'),
    truncating: z.enum(['pre', 'post']).default('pre'),
    lowercase: z.boolean().default(true),
  })
  .strict();

const classificationOutput = z
  .object({
    /** `probabilities`: use as is; `logits`: softmax first; `sigmoid`: independent per-class sigmoid. */
    type: z.enum(['probabilities', 'logits', 'sigmoid']),
    /** Output node for graph models with several outputs. */
    tensor: z.string().optional(),
  })
  .strict();

const detectionOutput = z
  .object({
    type: z.literal('detections'),
    tensor: z.string().optional(),
    layout: z.literal('x1y1x2y2-score-class'),
    /** Box coordinates as the model emits them: pixels of the model input or 0..1. */
    coordinates: z.enum(['input-pixels', 'normalized']),
    minScore: z.number().min(0).max(1).default(0.2),
    iouThreshold: z.number().min(0).max(1).default(0.4),
    maxDetections: z.number().int().positive().default(20),
    /** Added to the class value before it indexes the labels (e.g. -1 for 1-based classes). */
    classOffset: z.number().int().default(0),
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

const tfjsFormat = {
  runtime: z.literal('tfjs'),
  format: z.enum(['graph-model', 'layers-model']),
  modelFile: z.string().min(1).default('model.json'),
};

const imageClassification = z.object({ ...common, ...tfjsFormat, task: z.literal('image-classification'), input: imageInputSchema, output: classificationOutput }).strict();
const objectDetection = z.object({ ...common, ...tfjsFormat, task: z.literal('object-detection'), input: imageInputSchema, output: detectionOutput }).strict();
const textClassificationTfjs = z
  .object({ ...common, ...tfjsFormat, task: z.literal('text-classification'), tokenizer: tokenizerSchema, output: classificationOutput })
  .strict();
const textClassificationLexicon = z
  .object({
    ...common,
    task: z.literal('text-classification'),
    runtime: z.literal('lexicon'),
    lexicon: z.object({ package: z.literal('vader-sentiment'), algorithm: z.literal('vader') }).strict(),
  })
  .strict();

export const manifestSchema = z.union([imageClassification, objectDetection, textClassificationTfjs, textClassificationLexicon]);

export type ModelManifest = z.infer<typeof manifestSchema>;
export type ImageInputSpec = z.infer<typeof imageInputSchema>;
export type TokenizerSpec = z.infer<typeof tokenizerSchema>;
export type DetectionOutputSpec = z.infer<typeof detectionOutput>;
export type ClassificationOutputSpec = z.infer<typeof classificationOutput>;
export type Task = ModelManifest['task'];
export type TfjsManifest = Exclude<ModelManifest, { runtime: 'lexicon' }>;

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
  const variants: Record<string, z.ZodType> = {
    'image-classification/tfjs': imageClassification,
    'object-detection/tfjs': objectDetection,
    'text-classification/tfjs': textClassificationTfjs,
    'text-classification/lexicon': textClassificationLexicon,
  };
  const key = `${String(obj.task)}/${String(obj.runtime)}`;
  const schema = variants[key];
  if (!schema) {
    const issues: ManifestIssue[] = [];
    const tasks = ['image-classification', 'object-detection', 'text-classification'];
    if (!tasks.includes(String(obj.task))) issues.push({ path: 'task', message: `expected one of ${tasks.join(', ')}; got ${JSON.stringify(obj.task)}` });
    else issues.push({ path: 'runtime', message: `expected ${obj.task === 'text-classification' ? '"tfjs" or "lexicon"' : '"tfjs"'}; got ${JSON.stringify(obj.runtime)}` });
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
  return parseLabels(text);
}

/** One label per line; blank trailing lines ignored; `\r\n` tolerated. */
export function parseLabels(text: string): string[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  return lines.map((l) => l.trim());
}
