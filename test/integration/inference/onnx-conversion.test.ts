import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { initBackend } from '../../../src/inference/backend.ts';
import { convertModelDirectory } from '../../../src/inference/convert/convert-model.ts';
import { decodeImage } from '../../../src/inference/decode.ts';
import { loadManifest, tfjsVariant, type OnnxManifest } from '../../../src/inference/manifest.ts';
import { decodeDetections, parseDetectionRows } from '../../../src/inference/postprocess.ts';
import { normalizePixels, resizeGeometry } from '../../../src/inference/preprocess.ts';
import { loadTfjsModel } from '../../../src/inference/tfjs-runtime.ts';
import type { RuntimeModel } from '../../../src/inference/runtime.ts';

/**
 * The bundled models' ONNX conversions give TF.js's outputs on the repository's real sample
 * photos: every class probability within 1e-4, every detection box within 1 px (score 1e-4), with
 * model.onnx run in real ONNX Runtime and model.json in TF.js (the machine's default backend).
 * And the committed model.onnx is exactly what scripts/convert-models.ts produces.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const imagesDir = path.join(root, 'test/fixtures/images');

async function photos(): Promise<string[]> {
  // truncated.jpg is a damaged file that the decoder rightly refuses
  return (await readdir(imagesDir)).filter((f) => /\.(jpe?g|png|gif)$/i.test(f) && f !== 'truncated.jpg').sort();
}

interface Side {
  manifest: OnnxManifest;
  tfjs: RuntimeModel;
  onnx: ort.InferenceSession;
}

async function open(name: string): Promise<Side> {
  const dir = path.join(root, 'models', name);
  const { manifest } = await loadManifest(dir);
  assert.equal(manifest.runtime, 'onnx', `${name} runs on ONNX Runtime by default`);
  const m = manifest as OnnxManifest;
  const t = tfjsVariant(m);
  assert.ok(t, `${name} keeps its TF.js files`);
  return {
    manifest: m,
    tfjs: await loadTfjsModel(dir, t, 'test'),
    onnx: await ort.InferenceSession.create(path.join(dir, m.modelFile), { logSeverityLevel: 3, intraOpNumThreads: 1 }),
  };
}

async function both(side: Side, file: string): Promise<{ tfjs: Float32Array; onnx: Float32Array; shape: number[]; input: { width: number; height: number } }> {
  if (!('input' in side.manifest)) throw new Error('image model expected');
  const spec = side.manifest.input;
  const img = await decodeImage(await readFile(path.join(imagesDir, file)), spec);
  const x = normalizePixels(img.pixels, spec);
  const shape = [1, spec.height, spec.width, 3];
  const a = await side.tfjs.predict({ data: x, shape });
  const outName = side.manifest.output.tensor ?? side.onnx.outputNames[0]!;
  const r = await side.onnx.run({ [side.onnx.inputNames[0]!]: new ort.Tensor('float32', x, shape) }, [outName]);
  const b = r[outName]!;
  assert.deepEqual([...b.dims], a.shape, `${file}: output shapes differ`);
  return { tfjs: a.data as Float32Array, onnx: b.data as Float32Array, shape: a.shape, input: img };
}

describe('bundled models: ONNX conversion = TF.js', () => {
  let backend = '';
  before(async () => {
    backend = (await initBackend(tf)).name;
  });

  describe('content-safety (Keras layers MobileNetV2)', () => {
    let side: Side;
    before(async () => {
      side = await open('content-safety');
    });
    after(async () => {
      side?.tfjs.dispose();
      await side?.onnx.release();
    });

    test('every class probability on every sample photo within 1e-4 of TF.js', async () => {
      const files = await photos();
      assert.ok(files.length >= 8, 'the sample photos are there');
      for (const f of files) {
        const { tfjs, onnx } = await both(side, f);
        assert.equal(tfjs.length, 5);
        for (let i = 0; i < tfjs.length; i++) assert.ok(Math.abs(tfjs[i]! - onnx[i]!) <= 1e-4, `${f} class ${i}: TF.js (${backend}) ${tfjs[i]} vs ONNX ${onnx[i]}`);
        const top = (v: Float32Array) => v.indexOf(Math.max(...v));
        assert.equal(top(onnx), top(tfjs), `${f}: same top class`);
      }
    });
  });

  describe('objects (TF graph CenterNet)', () => {
    let side: Side;
    before(async () => {
      side = await open('objects');
    });
    after(async () => {
      side?.tfjs.dispose();
      await side?.onnx.release();
    });

    test('every raw detection row and every decoded detection on every sample photo: boxes within 1 px, scores within 1e-4', async () => {
      const m = side.manifest;
      if (m.task !== 'object-detection') throw new Error('detector expected');
      const labels = (await readFile(path.join(root, 'models/objects/labels.txt'), 'utf8')).trim().split('\n');
      let total = 0;
      for (const f of await photos()) {
        const { tfjs, onnx, shape, input } = await both(side, f);
        const rt = parseDetectionRows(tfjs);
        const ro = parseDetectionRows(onnx);
        assert.equal(ro.length, rt.length, `${f}: row count`);
        rt.forEach((a, i) => {
          const b = ro[i]!;
          for (const k of ['x1', 'y1', 'x2', 'y2'] as const) assert.ok(Math.abs(a[k] - b[k]) <= 1, `${f} row ${i} ${k}: ${a[k]} vs ${b[k]}`);
          assert.ok(Math.abs(a.score - b.score) <= 1e-4, `${f} row ${i} score: ${a.score} vs ${b.score}`);
          assert.equal(b.cls, a.cls, `${f} row ${i} class`);
        });
        const geometry = { transform: resizeGeometry(input.width, input.height, m.input), inputWidth: m.input.width, inputHeight: m.input.height, width: input.width, height: input.height };
        const dt = decodeDetections(tfjs, shape, m.output, labels, geometry);
        const dn = decodeDetections(onnx, shape, m.output, labels, geometry);
        assert.deepEqual(dn.map((d) => d.label), dt.map((d) => d.label), `${f}: same detections`);
        dt.forEach((a, i) => {
          const b = dn[i]!;
          for (const k of ['x', 'y', 'width', 'height'] as const) assert.ok(Math.abs(a.box[k] - b.box[k]) <= 1, `${f} detection ${i} ${k}: ${a.box[k]} vs ${b.box[k]} px`);
          assert.ok(Math.abs(a.score - b.score) <= 1e-4, `${f} detection ${i} score`);
        });
        total += dt.length;
      }
      assert.ok(total >= 10, `the photos give real detections (${total})`);
    });
  });

  describe('reproducible', () => {
    let tmp: string;
    before(async () => {
      tmp = await mkdtemp(path.join(tmpdir(), 'ms-convert-'));
    });
    after(async () => {
      await rm(tmp, { recursive: true, force: true });
    });

    for (const name of ['content-safety', 'objects']) {
      test(`${name}: converting the TF.js files again gives the committed model.onnx byte for byte, and its sha256 is the manifest's`, async () => {
        const committed = await readFile(path.join(root, 'models', name, 'model.onnx'));
        const { manifest } = await loadManifest(path.join(root, 'models', name));
        const sum = createHash('sha256').update(committed).digest('hex');
        assert.equal(manifest.provenance.sha256?.['model.onnx'], sum);
        const dir = path.join(tmp, name);
        await cp(path.join(root, 'models', name), dir, { recursive: true });
        const r = await convertModelDirectory(dir, { force: true, producerVersion: 'scripts/convert-models.ts', tool: 'scripts/convert-models.ts (src/inference/convert)' });
        assert.equal(r.sha256, sum);
        assert.deepEqual(JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')), JSON.parse(await readFile(path.join(root, 'models', name, 'manifest.json'), 'utf8')));
      });
    }
  });
});
