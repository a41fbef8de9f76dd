import { existsSync } from 'node:fs';
import { mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The three real third-party ONNX models of `../shared/models` (test data: never copied into the
 * repository). A test model directory holds a manifest written here and symlinks to the shared
 * files, as a user's directory would hold the files themselves.
 */
export const SHARED_MODELS = path.resolve(fileURLToPath(new URL('../../../', import.meta.url)), '..', 'shared', 'models');
export const sharedModelsPresent = existsSync(path.join(SHARED_MODELS, 'README.md'));
export const SKIP_REASON = `${SHARED_MODELS} is absent: the real-model tests need the shared ONNX models (see its README)`;

export const MANIFESTS = {
  mobilenet: {
    files: { 'model.onnx': 'mobilenetv2-12-int8/mobilenetv2-12-int8.onnx', 'labels.json': 'mobilenetv2-12-int8/imagenet-simple-labels.json' },
    manifest: {
      schemaVersion: 1, name: 'mobilenetv2-int8', version: '12-int8', task: 'image-classification', runtime: 'onnx',
      input: { width: 224, height: 224, resize: 'cover', shorterSide: 256, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
      output: { type: 'logits' }, labels: 'labels.json', license: { spdx: 'Apache-2.0' }, provenance: { source: 'ONNX Model Zoo mobilenetv2-12-int8' },
    },
  },
  yolox: {
    files: { 'model.onnx': 'yolox-nano/yolox_nano.onnx', 'coco80.txt': 'yolox-nano/coco80.txt', LICENSE: 'yolox-nano/LICENSE' },
    manifest: {
      schemaVersion: 1, name: 'yolox-nano', version: 'opset11', task: 'object-detection', runtime: 'onnx',
      input: { width: 416, height: 416, resize: 'contain', align: 'top-left', padValue: 114, channelOrder: 'BGR', scale: 1 },
      output: { type: 'detections', layout: 'yolox', strides: [8, 16, 32], minScore: 0.3, iouThreshold: 0.45, maxDetections: 50 },
      labels: 'coco80.txt', license: { spdx: 'Apache-2.0', file: 'LICENSE' }, provenance: { source: 'Megvii YOLOX-Nano' },
    },
  },
  news: {
    files: { 'model.onnx': 'news-topic/model.onnx', 'vocab.json': 'news-topic/vocab.json', 'labels.json': 'news-topic/labels.json', LICENSE: 'news-topic/LICENSE' },
    manifest: {
      schemaVersion: 1, name: 'news-topic', version: 'whitelightning', task: 'text-classification', runtime: 'onnx',
      tokenizer: { type: 'word-index', vocab: 'vocab.json', maxLength: 30, oovIndex: 1, padIndex: 0, padding: 'post', truncating: 'pre' },
      output: { type: 'probabilities' }, labels: 'labels.json', license: { spdx: 'MIT', file: 'LICENSE' }, provenance: { source: 'WhiteLightning news_topic_clf' },
    },
  },
} as const;

/** A model directory: the manifest (with `patch` applied over it) and symlinks to the shared files. */
export async function sharedModelDir(which: keyof typeof MANIFESTS, patch: Record<string, unknown> = {}): Promise<string> {
  const spec = MANIFESTS[which];
  const dir = await mkdtemp(path.join(tmpdir(), `ms-${which}-`));
  for (const [name, rel] of Object.entries(spec.files)) await symlink(path.join(SHARED_MODELS, rel), path.join(dir, name));
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify({ ...spec.manifest, ...patch }, null, 2));
  return dir;
}

/** RFC 4180 CSV (quoted fields, doubled quotes, newlines inside quotes). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [], field = '', quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
