import { UserError } from '../util/errors.ts';
import { chooseVariant, type VariantInfo } from './hf-variant.ts';
import type { Task } from './manifest.ts';

/**
 * A model directory as the Hugging Face Hub holds it (`config.json` with `id2label`,
 * `preprocessor_config.json`, `tokenizer.json`, `onnx/model*.onnx`) → a modelship manifest, with a
 * note for everything derived so that `models add` can say what it decided and why. Pure: the
 * caller reads the files; nothing here touches the disk or the network.
 */

export interface HfLayoutInput {
  /** Repository-relative paths of every file present (or listed by the Hub). */
  files: readonly string[];
  config: unknown;
  preprocessor?: unknown;
  tokenizerConfig?: unknown;
  /** `license:` from README.md's front matter, when there is one. */
  readmeLicense?: string | undefined;
  /** Where it came from: the directory, or the Hub repo and the commit it was read at. */
  source: { kind: 'dir'; dir: string } | { kind: 'hub'; spec: string; repo: string; commit: string; license?: string | undefined; pipelineTag?: string | undefined; sha256?: Record<string, string> };
}

export interface HfLayoutOptions {
  /** `fp32`, `int8`, `quantized`, … or a path such as `onnx/model_int8.onnx`. */
  variant?: string | undefined;
  name?: string | undefined;
  task?: Task | undefined;
}

export interface Derivation {
  manifest: Record<string, unknown>;
  variant: VariantInfo;
  /** What was derived and from where, one sentence each. */
  notes: string[];
  /** Files the model needs at run time (to download from the Hub, or to check in a directory). */
  requiredFiles: string[];
}

export const HF_LAYOUT_MARKER = 'config.json';

/** Whether a directory's file list looks like a Hub model (and has no modelship manifest). */
export function isHfLayout(files: readonly string[]): boolean {
  return files.includes(HF_LAYOUT_MARKER) && !files.includes('manifest.json');
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** `id2label` → labels in class order; the keys must be 0…n-1. */
export function labelsFromConfig(config: Obj): string[] {
  const id2label = config.id2label;
  if (!isObj(id2label) || Object.keys(id2label).length === 0) {
    throw new UserError('config.json has no "id2label": modelship needs the class names in class order', { hint: 'add "id2label": {"0": "first class", …} to config.json (transformers writes it when the model is saved with its labels)' });
  }
  const entries = Object.entries(id2label).map(([k, v]) => [Number(k), v] as const);
  const labels: string[] = [];
  for (const [i, v] of entries.sort((a, b) => a[0] - b[0])) {
    if (!Number.isInteger(i) || i !== labels.length) throw new UserError(`config.json: id2label keys must be 0…${entries.length - 1} without gaps; key ${JSON.stringify(String(i))} is out of place`);
    if (typeof v !== 'string') throw new UserError(`config.json: id2label["${i}"] is ${JSON.stringify(v)}, not a string`);
    labels.push(v);
  }
  return labels;
}

function deriveTask(input: HfLayoutInput, config: Obj, opts: HfLayoutOptions, notes: string[]): Task {
  if (opts.task) {
    notes.push(`task ${opts.task}: as asked (--task)`);
    return opts.task;
  }
  const arch = Array.isArray(config.architectures) && typeof config.architectures[0] === 'string' ? config.architectures[0] : undefined;
  const modelType = typeof config.model_type === 'string' ? config.model_type : undefined;
  const byArch: [RegExp, Task][] = [[/ForImageClassification$/, 'image-classification'], [/ForSequenceClassification$/, 'text-classification'], [/ForObjectDetection$/, 'object-detection']];
  for (const [re, task] of byArch) {
    if (arch && re.test(arch)) {
      notes.push(`task ${task}: config.json architectures is ${arch}`);
      return task;
    }
  }
  if (modelType && /^yolo/i.test(modelType)) {
    notes.push(`task object-detection: config.json model_type is ${modelType}`);
    return 'object-detection';
  }
  const tag = input.source.kind === 'hub' ? input.source.pipelineTag : undefined;
  if (tag === 'image-classification' || tag === 'text-classification' || tag === 'object-detection') {
    notes.push(`task ${tag}: the Hub's pipeline tag`);
    return tag;
  }
  throw new UserError(`cannot tell what the model does: config.json architectures is ${arch ?? '(none)'}, model_type ${modelType ?? '(none)'}`, {
    hint: 'modelship runs image classification (…ForImageClassification), text classification (…ForSequenceClassification) and YOLO detection; if this is one of them, say so with --task',
    exitCode: 2,
  });
}

/** transformers' `size` / `crop_size`: an int, `{height,width}`, `{shortest_edge}` or `{longest_edge}`. */
function sizeOf(v: unknown): { height?: number; width?: number; shortest?: number; longest?: number } | undefined {
  if (num(v) !== undefined) return { height: v as number, width: v as number };
  if (!isObj(v)) return undefined;
  const out: { height?: number; width?: number; shortest?: number; longest?: number } = {};
  if (num(v.height) !== undefined && num(v.width) !== undefined) {
    out.height = v.height as number;
    out.width = v.width as number;
  }
  if (num(v.shortest_edge) !== undefined) out.shortest = v.shortest_edge as number;
  if (num(v.longest_edge) !== undefined) out.longest = v.longest_edge as number;
  return Object.keys(out).length ? out : undefined;
}

const triple = (v: unknown): [number, number, number] | undefined => {
  if (num(v) !== undefined) return [v as number, v as number, v as number];
  return Array.isArray(v) && v.length === 3 && v.every((x) => num(x) !== undefined) ? (v as [number, number, number]) : undefined;
};

/** Defaults of the processors whose files may leave mean/std out (transformers' image_utils constants). */
const IMAGENET_DEFAULT: { mean: [number, number, number]; std: [number, number, number] } = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const IMAGENET_STANDARD: { mean: [number, number, number]; std: [number, number, number] } = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };

function deriveImageInput(pre: Obj | undefined, notes: string[], detection: boolean): Record<string, unknown> {
  if (!pre) {
    if (detection) {
      notes.push('input 640×640 letterboxed (grey 114), values /255: the YOLO export convention (no preprocessor_config.json)');
      return { width: 640, height: 640, resize: 'contain', align: 'center', padValue: 114, scale: 1 / 255 };
    }
    throw new UserError('preprocessor_config.json is missing: it says how images are resized and normalised', { hint: 'copy it from the original model\'s repository (the one this ONNX export was made from)' });
  }
  const kind = String(pre.image_processor_type ?? pre.feature_extractor_type ?? 'image processor');
  const size = sizeOf(pre.size);
  const crop = sizeOf(pre.crop_size);
  const doCrop = pre.do_center_crop === true || (pre.do_center_crop === undefined && crop !== undefined);
  const doResize = pre.do_resize !== false;
  const input: Record<string, unknown> = {};
  if (detection) {
    const h = size?.height ?? size?.shortest ?? 640;
    const w = size?.width ?? size?.shortest ?? 640;
    Object.assign(input, { width: w, height: h, resize: 'contain', align: 'center', padValue: 114 });
    notes.push(`input ${w}×${h} letterboxed (grey 114): ${kind} size`);
  } else if (!doResize || !size) {
    throw new UserError(`preprocessor_config.json (${kind}): no usable "size" (${JSON.stringify(pre.size)})`, { hint: 'expected an int, {"height","width"} or {"shortest_edge"}' });
  } else if (size.shortest !== undefined && num(pre.crop_pct) !== undefined && !crop) {
    // ConvNeXt / ResNet processors: below 384 px, resize the shorter side to shortest_edge / crop_pct, then crop shortest_edge.
    const s = size.shortest;
    if (s < 384) {
      const shorter = Math.floor(s / (pre.crop_pct as number));
      Object.assign(input, { width: s, height: s, resize: 'cover', shorterSide: shorter });
      notes.push(`input: shorter side to ${shorter}, centre crop ${s}×${s} (${kind}: shortest_edge ${s} / crop_pct ${pre.crop_pct})`);
    } else {
      Object.assign(input, { width: s, height: s, resize: 'fill' });
      notes.push(`input: resized to ${s}×${s} (${kind}: shortest_edge ${s} ≥ 384 is warped, not cropped)`);
    }
  } else if (size.shortest !== undefined) {
    const c = doCrop && crop?.width && crop.height ? crop : { width: size.shortest, height: size.shortest };
    const shorter = Math.max(size.shortest, c.width!, c.height!);
    Object.assign(input, { width: c.width, height: c.height, resize: 'cover', shorterSide: shorter });
    notes.push(`input: shorter side to ${shorter}, centre crop ${c.width}×${c.height} (${kind}: shortest_edge ${size.shortest}${doCrop ? `, crop_size ${c.width}×${c.height}` : ', no crop_size: square crop'})`);
  } else if (size.height !== undefined && size.width !== undefined) {
    if (doCrop && crop?.width && crop.height && (crop.width < size.width || crop.height < size.height)) {
      Object.assign(input, { width: crop.width, height: crop.height, resize: 'cover', shorterSide: Math.max(size.width, size.height) });
      notes.push(`input: resized to ${size.width}×${size.height}, centre crop ${crop.width}×${crop.height} (${kind}), taken as shorter side ${Math.max(size.width, size.height)} then crop`);
    } else {
      Object.assign(input, { width: size.width, height: size.height, resize: 'fill' });
      notes.push(`input: resized to ${size.width}×${size.height}, no crop (${kind} size)`);
    }
  } else {
    throw new UserError(`preprocessor_config.json (${kind}): "size" ${JSON.stringify(pre.size)} has no height/width or shortest_edge`, { hint: 'modelship cannot derive an input size from longest_edge alone; write a manifest.json instead' });
  }
  const rescale = pre.do_rescale === false ? 1 : (num(pre.rescale_factor) ?? 1 / 255);
  input.scale = rescale;
  if (pre.do_normalize === false) {
    notes.push(`values × ${+rescale.toPrecision(6)}, not normalised (do_normalize false)`);
  } else {
    let mean = triple(pre.image_mean);
    let std = triple(pre.image_std);
    if (!mean || !std) {
      const fallback = /ViT|Deit|Beit|Swin|Siglip/i.test(kind) ? IMAGENET_STANDARD : IMAGENET_DEFAULT;
      mean ??= fallback.mean;
      std ??= fallback.std;
      notes.push(`image_mean/image_std missing: ${kind}'s defaults [${mean.join(', ')}] / [${std.join(', ')}]`);
    } else {
      notes.push(`values (pixel × ${+rescale.toPrecision(6)} − [${mean.join(', ')}]) / [${std.join(', ')}] (image_mean, image_std)`);
    }
    if (std.some((s) => s === 0)) throw new UserError('preprocessor_config.json: image_std has a 0');
    input.mean = mean;
    input.std = std;
  }
  // Hugging Face image models are trained on RGB; the layout (NCHW for these exports) is read from the model itself.
  input.channelOrder = 'RGB';
  return input;
}

function deriveTokenizer(input: HfLayoutInput, config: Obj, notes: string[]): Record<string, unknown> {
  if (!input.files.includes('tokenizer.json')) {
    const legacy = ['vocab.txt', 'vocab.json', 'merges.txt', 'sentencepiece.bpe.model', 'spiece.model'].filter((f) => input.files.includes(f));
    throw new UserError(`no tokenizer.json${legacy.length ? ` (only ${legacy.join(', ')}, the older "slow" tokenizer files)` : ''}`, {
      hint: 'save a fast tokenizer beside the model: AutoTokenizer.from_pretrained(…).save_pretrained(DIR) writes tokenizer.json',
    });
  }
  const tc = isObj(input.tokenizerConfig) ? input.tokenizerConfig : {};
  let maxLength: number | undefined;
  const mml = num(tc.model_max_length);
  if (mml !== undefined && mml > 0 && mml <= 65536) {
    maxLength = Math.floor(mml);
    notes.push(`at most ${maxLength} tokens per text (tokenizer_config.json model_max_length)`);
  } else {
    const mpe = num(config.max_position_embeddings);
    if (mpe !== undefined && mpe > 0) {
      // RoBERTa-family position ids start after the padding index: 514 positions hold 512 tokens.
      const offset = /roberta|camembert|longformer|bart/i.test(String(config.model_type ?? '')) ? 2 : 0;
      maxLength = Math.min(65536, Math.floor(mpe - offset));
      notes.push(`at most ${maxLength} tokens per text (config.json max_position_embeddings ${mpe}${offset ? ' less the 2 RoBERTa reserves' : ''})`);
    } else {
      maxLength = 512;
      notes.push('at most 512 tokens per text (no model_max_length or max_position_embeddings: the BERT-family default)');
    }
  }
  const spec: Record<string, unknown> = { type: 'huggingface', file: 'tokenizer.json', maxLength };
  if (input.files.includes('tokenizer_config.json')) spec.config = 'tokenizer_config.json';
  if (tc.truncation_side === 'left') {
    spec.truncation = 'left';
    notes.push('long texts lose their start (truncation_side left)');
  }
  return spec;
}

function deriveDetectionOutput(config: Obj, notes: string[]): Record<string, unknown> {
  const modelType = String(config.model_type ?? '').toLowerCase();
  const arch = Array.isArray(config.architectures) ? String(config.architectures[0]) : '';
  let layout: string;
  if (/^yolo(v8|v9|11|12)/.test(modelType)) layout = 'yolov8';
  else if (/^yolov5|^yolov7/.test(modelType)) layout = 'yolov5';
  else if (/^yolox/.test(modelType)) layout = 'yolox';
  else if (/^yolov10/.test(modelType)) layout = 'x1y1x2y2-score-class';
  else {
    throw new UserError(`object detection with ${arch || modelType || 'this architecture'} is not supported`, {
      hint: 'modelship decodes YOLO exports (YOLOX, YOLOv5, YOLOv8/11, YOLOv10); DETR-style models (logits + pred_boxes) are not supported yet',
    });
  }
  notes.push(`detections decoded as ${layout} (config.json model_type ${modelType}), per-class NMS`);
  return { type: 'detections', layout, coordinates: 'input-pixels', minScore: 0.25, iouThreshold: 0.45, maxDetections: 100 };
}

function sanitizeName(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 64) || 'model';
}

/** Derives the manifest of a Hugging Face layout model. Throws a UserError naming the file and field at fault. */
export function deriveHfManifest(input: HfLayoutInput, opts: HfLayoutOptions = {}): Derivation {
  const notes: string[] = [];
  const where = input.source.kind === 'hub' ? input.source.spec : input.source.dir;
  const choice = chooseVariant(input.files, opts.variant);
  if (!choice.ok) {
    if (choice.reason === 'unknown-variant') {
      throw new UserError(`${where}: ${choice.message}`, { hint: `available: ${choice.available.map((v) => `${v.key} (${v.file})`).join(', ')}`, exitCode: 2 });
    }
    const exportName = input.source.kind === 'hub' ? input.source.repo.split('/')[1]! : 'NAME';
    const weights = input.files.filter((f) => /\.(bin|safetensors|h5|msgpack|pt|pth|ckpt|tflite)$/.test(f));
    throw new UserError(`${where} has no ONNX model file${weights.length ? `: it holds ${weights.slice(0, 4).join(', ')}${weights.length > 4 ? ', …' : ''} (PyTorch/TensorFlow weights), which modelship does not run` : ''}${choice.otherOnnx.length ? `; its .onnx files (${choice.otherOnnx.slice(0, 3).join(', ')}) are not a whole model.onnx` : ''}`, {
      hint: `name an ONNX export of the same model instead (on the Hub such exports are usually hf:Xenova/${exportName} or hf:onnx-community/${exportName}), or export one: optimum-cli export onnx --model ${input.source.kind === 'hub' ? input.source.repo : 'ORG/NAME'} DIR, then modelship models add DIR`,
      details: { reason: 'no-onnx' },
    });
  }
  const variant = choice.chosen;
  notes.push(`model ${variant.file}: ${choice.reason}${choice.others.length ? `; also present: ${choice.others.map((v) => v.key).join(', ')} (choose with --variant)` : ''}`);
  if (variant.key === 'fp16' || variant.key === 'q4f16') notes.push(`${variant.key} runs slowly on CPU; prefer fp32 or an int8 variant there`);

  if (!isObj(input.config)) throw new UserError(`${where}: config.json is missing or not a JSON object`, { hint: 'a Hugging Face model directory has a config.json with the architecture and id2label' });
  const config = input.config;
  const task = deriveTask(input, config, opts, notes);
  const labels = labelsFromConfig(config);
  const generic = labels.every((l, i) => l === `LABEL_${i}`);
  notes.push(`${labels.length} labels from config.json id2label${generic ? ' (generic LABEL_0…: the model card may say what they mean)' : `: ${labels.slice(0, 5).join(', ')}${labels.length > 5 ? ', …' : ''}`}`);

  const pre = isObj(input.preprocessor) ? input.preprocessor : undefined;
  const required = new Set<string>(['config.json', variant.file, ...variant.dataFiles]);
  const body: Record<string, unknown> = {};
  if (task === 'text-classification') {
    body.tokenizer = deriveTokenizer(input, config, notes);
    required.add('tokenizer.json');
    if (input.files.includes('tokenizer_config.json')) required.add('tokenizer_config.json');
  } else {
    body.input = deriveImageInput(pre, notes, task === 'object-detection');
    if (input.files.includes('preprocessor_config.json')) required.add('preprocessor_config.json');
  }
  if (task === 'object-detection') body.output = deriveDetectionOutput(config, notes);
  else {
    const multi = config.problem_type === 'multi_label_classification';
    body.output = { type: multi ? 'sigmoid' : 'logits' };
    notes.push(multi ? 'scores: independent sigmoid per label (problem_type multi_label_classification)' : 'scores: softmax of the logits');
  }

  const hubLicense = input.source.kind === 'hub' ? input.source.license : undefined;
  const license = hubLicense ?? input.readmeLicense;
  if (!license) notes.push('licence unknown (no license in the model card): recorded as NOASSERTION; check it before serving');
  if (input.files.includes('README.md')) required.add('README.md');
  const name = opts.name ?? (input.source.kind === 'hub' ? sanitizeName(input.source.repo.split('/')[1]!) : sanitizeName(input.source.dir.split(/[\\/]/).filter(Boolean).pop() ?? 'model'));
  const provenance: Record<string, unknown> = input.source.kind === 'hub'
    ? { source: `${input.source.spec.replace(/@.*$/, '')}@${input.source.commit}`, path: variant.file, conversion: 'Hugging Face layout, manifest derived by modelship' }
    : { source: `Hugging Face layout directory ${input.source.dir}`, path: variant.file, conversion: 'manifest derived by modelship' };
  const sha = input.source.kind === 'hub' ? input.source.sha256?.[variant.file] : undefined;
  if (sha) provenance.sha256 = { [variant.file]: sha };
  const manifest: Record<string, unknown> = {
    schemaVersion: 1,
    name,
    version: input.source.kind === 'hub' ? input.source.commit.slice(0, 12) : 'local',
    description: `${typeof config.architectures === 'object' && Array.isArray(config.architectures) ? String(config.architectures[0]) : String(config.model_type ?? 'model')} from ${where}${variant.key === 'fp32' ? '' : ` (${variant.key})`}`,
    task,
    runtime: 'onnx',
    modelFile: variant.file,
    labels,
    license: { spdx: license ?? 'NOASSERTION', ...(input.files.includes('LICENSE') ? { file: 'LICENSE' } : {}) },
    provenance,
    ...body,
  };
  if (input.files.includes('LICENSE')) required.add('LICENSE');
  return { manifest, variant, notes, requiredFiles: [...required] };
}

/** `license: mit` from a README's YAML front matter. */
export function readmeLicense(readme: string): string | undefined {
  const m = /^---\r?\n([\s\S]*?)\r?\n---/.exec(readme);
  const l = m ? /^license:\s*["']?([^\s"'#]+)/m.exec(m[1]!) : null;
  return l?.[1];
}
