/**
 * Converts the models that npm packages ship into the bundled `models/` directory:
 *
 * - content-safety: nsfwjs stores its MobileNetV2 (a Keras/TF.js layers model) as two UMD JS
 *   modules, the topology as an object and the weights as a base64 string. We write them back as
 *   a plain `model.json` + binary shard that any TF.js IOHandler can read.
 * - objects: @vladmandic/human ships the CenterNet/MobileNetV3 COCO detector as a graph model
 *   (`centernet.json` + `centernet.bin`); we copy it under stable names.
 * - sentiment: the VADER lexicon model runs from the `vader-sentiment` package; only a manifest.
 *
 * content-safety and objects are then converted to ONNX (model.onnx) by the converter behind
 * `modelship models convert` (src/inference/convert/), and their manifests switched to
 * `runtime: "onnx"` with the TF.js files kept under `tfjs` (chosen when a TF.js backend is
 * forced). The conversion fails, naming the op, if a model uses one the converter lacks.
 *
 * Run: node scripts/convert-models.ts   (needs the devDependencies nsfwjs and @vladmandic/human)
 * The output is committed; this script exists so that anyone can reproduce it byte for byte.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile, copyFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertModelDirectory } from '../src/inference/convert/convert-model.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
const outRoot = process.argv[2] ? path.resolve(process.argv[2]) : path.join(root, 'models');

interface WeightsGroup { paths: string[]; weights: unknown[] }

/** The package's folder (some packages do not export ./package.json, so no require.resolve). */
function packageDir(name: string): string {
  return path.join(root, 'node_modules', name);
}

function sha256(buf: Buffer | string): string {
  return createHash('sha256').update(buf).digest('hex');
}

async function pkgVersion(name: string): Promise<string> {
  const pkg = JSON.parse(await readFile(path.join(packageDir(name), 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

async function contentSafety(): Promise<void> {
  const dir = path.join(outRoot, 'content-safety');
  await mkdir(dir, { recursive: true });
  const pkgDir = packageDir('nsfwjs');
  const srcDir = path.join(pkgDir, 'dist/models/mobilenet_v2');
  const topo = require(path.join(srcDir, 'model.min.js')) as { modelTopology: unknown; weightsManifest: WeightsGroup[] };
  const shardB64 = require(path.join(srcDir, 'group1-shard1of1.min.js')) as string;
  if (typeof shardB64 !== 'string') throw new Error('nsfwjs shard module did not export a base64 string');
  const shard = Buffer.from(shardB64, 'base64');
  const shardName = 'group1-shard1of1.bin';
  if (topo.weightsManifest.length !== 1) throw new Error('expected one weight group in nsfwjs MobileNetV2');
  const modelJson = {
    format: 'layers-model',
    generatedBy: 'nsfwjs MobileNetV2 (keras 2.2.4)',
    convertedBy: 'modelship scripts/convert-models.ts',
    modelTopology: topo.modelTopology,
    weightsManifest: topo.weightsManifest.map((g) => ({ ...g, paths: [shardName] })),
  };
  const modelText = `${JSON.stringify(modelJson)}\n`;
  await writeFile(path.join(dir, 'model.json'), modelText);
  await writeFile(path.join(dir, shardName), shard);
  const labels = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];
  await writeFile(path.join(dir, 'labels.txt'), `${labels.join('\n')}\n`);
  await copyFile(path.join(pkgDir, 'LICENSE'), path.join(dir, 'LICENSE'));
  const version = await pkgVersion('nsfwjs');
  await writeJson(path.join(dir, 'manifest.json'), {
    schemaVersion: 1,
    name: 'content-safety',
    version: `nsfwjs-${version}`,
    description: 'Content-safety image classifier (MobileNetV2, 5 classes) from nsfwjs.',
    task: 'image-classification',
    runtime: 'tfjs',
    format: 'layers-model',
    modelFile: 'model.json',
    input: { width: 224, height: 224, channels: 3, resize: 'fill', scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] },
    output: { type: 'probabilities' },
    labels: 'labels.txt',
    license: { spdx: 'MIT', file: 'LICENSE' },
    provenance: {
      source: `npm:nsfwjs@${version}`,
      path: 'dist/models/mobilenet_v2/{model.min.js,group1-shard1of1.min.js}',
      conversion: 'scripts/convert-models.ts: UMD modules (topology object + base64 weights) → model.json + binary shard',
      sha256: { 'model.json': sha256(modelText), [shardName]: sha256(shard) },
    },
  });
}

async function objects(): Promise<void> {
  const dir = path.join(outRoot, 'objects');
  await mkdir(dir, { recursive: true });
  const pkgDir = packageDir('@vladmandic/human');
  const src = JSON.parse(await readFile(path.join(pkgDir, 'models/centernet.json'), 'utf8')) as { weightsManifest: WeightsGroup[] };
  const shardName = 'centernet.bin';
  const modelText = `${JSON.stringify({ ...src, weightsManifest: src.weightsManifest.map((g) => ({ ...g, paths: [shardName] })) })}\n`;
  const bin = await readFile(path.join(pkgDir, 'models/centernet.bin'));
  await writeFile(path.join(dir, 'model.json'), modelText);
  await writeFile(path.join(dir, shardName), bin);
  const labelSrc = await readFile(path.join(pkgDir, 'src/object/labels.ts'), 'utf8');
  const labels = [...labelSrc.matchAll(/label: '([^']+)'/g)].map((m) => m[1]);
  if (labels.length !== 80) throw new Error(`expected 80 COCO labels, found ${labels.length}`);
  await writeFile(path.join(dir, 'labels.txt'), `${labels.join('\n')}\n`);
  await copyFile(path.join(pkgDir, 'LICENSE'), path.join(dir, 'LICENSE'));
  const version = await pkgVersion('@vladmandic/human');
  await writeJson(path.join(dir, 'manifest.json'), {
    schemaVersion: 1,
    name: 'objects',
    version: `human-${version}`,
    description: 'COCO-80 object detector (CenterNet on MobileNetV3) from @vladmandic/human.',
    task: 'object-detection',
    runtime: 'tfjs',
    format: 'graph-model',
    modelFile: 'model.json',
    input: { width: 512, height: 512, channels: 3, resize: 'fill', scale: 1, mean: [0, 0, 0], std: [1, 1, 1] },
    output: {
      type: 'detections',
      tensor: 'tower_0/detections',
      layout: 'x1y1x2y2-score-class',
      coordinates: 'input-pixels',
      minScore: 0.2,
      iouThreshold: 0.4,
      maxDetections: 20,
    },
    labels: 'labels.txt',
    license: { spdx: 'MIT', file: 'LICENSE' },
    provenance: {
      source: `npm:@vladmandic/human@${version}`,
      path: 'models/centernet.{json,bin}, labels from src/object/labels.ts',
      conversion: 'copied; weightsManifest path renamed',
      sha256: { 'model.json': sha256(modelText), [shardName]: sha256(bin) },
    },
  });
}

async function sentiment(): Promise<void> {
  const dir = path.join(outRoot, 'sentiment');
  await mkdir(dir, { recursive: true });
  const pkgDir = packageDir('vader-sentiment');
  await copyFile(path.join(pkgDir, 'LICENSE'), path.join(dir, 'LICENSE'));
  await writeFile(path.join(dir, 'labels.txt'), 'negative\nneutral\npositive\n');
  const version = await pkgVersion('vader-sentiment');
  await writeJson(path.join(dir, 'manifest.json'), {
    schemaVersion: 1,
    name: 'sentiment',
    version: `vader-lexicon-${version}`,
    description: 'Lexicon-based sentiment (VADER rules + lexicon, not a neural network) from vader-sentiment.',
    task: 'text-classification',
    runtime: 'lexicon',
    lexicon: { package: 'vader-sentiment', algorithm: 'vader' },
    labels: 'labels.txt',
    license: { spdx: 'Apache-2.0', file: 'LICENSE' },
    provenance: { source: `npm:vader-sentiment@${version}`, conversion: 'none: runs from the npm package at run time' },
  });
}

/** TF.js files → model.onnx + an ONNX manifest. A fixed producer string keeps the bytes reproducible across modelship versions. */
async function toOnnx(name: string): Promise<void> {
  const r = await convertModelDirectory(path.join(outRoot, name), { force: true, producerVersion: 'scripts/convert-models.ts', tool: 'scripts/convert-models.ts (src/inference/convert)' });
  console.log(`${name}: ${r.format} → ${path.relative(root, r.onnxFile)} (${(r.bytes / 1e6).toFixed(1)} MB, ${r.nodes} nodes, sha256 ${r.sha256.slice(0, 12)}…)`);
}

await contentSafety();
await objects();
await sentiment();
await toOnnx('content-safety');
await toOnnx('objects');
console.log(`models written to ${outRoot}`);
