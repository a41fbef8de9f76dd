import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadLayersModel, type LayersModel } from '@tensorflow/tfjs-layers';
import { createEngine, type Engine } from '../../../src/inference/engine.ts';
import { InputError } from '../../../src/inference/types.ts';

const fixture = (name: string) => readFile(new URL(`../../fixtures/images/${name}`, import.meta.url));
const modelsDir = new URL('../../../models/', import.meta.url);

/**
 * Reference: the same MobileNetV2 run by TF.js's plain-JS cpu backend in this process, fed by a
 * straightforward preprocessing written out here (upright, alpha on white, sRGB, 224×224 linear,
 * /255). The engine runs wasm in worker threads with its own code path.
 */
let reference: LayersModel;
const LABELS = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];

async function referenceScores(file: string): Promise<number[]> {
  const raw = await sharp(await fixture(file)).rotate().flatten({ background: '#ffffff' }).toColourspace('srgb')
    .resize(224, 224, { fit: 'fill', kernel: 'linear' }).removeAlpha().raw({ depth: 'uchar' }).toBuffer();
  return tf.tidy(() => {
    const x = tf.tensor4d(Float32Array.from(raw, (v) => v / 255), [1, 224, 224, 3]);
    return Array.from((reference.predict(x) as tf.Tensor).dataSync());
  });
}

let engine: Engine;

before(async () => {
  await tf.setBackend('cpu');
  const json = JSON.parse(await readFile(new URL('content-safety/model.json', modelsDir), 'utf8')) as { modelTopology: object; weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[] };
  const shard = await readFile(new URL('content-safety/group1-shard1of1.bin', modelsDir));
  reference = await loadLayersModel(tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest[0]!.weights,
    weightData: shard.buffer.slice(shard.byteOffset, shard.byteOffset + shard.byteLength),
  }));
  engine = await createEngine({ workers: 2 });
});

after(async () => {
  await engine?.close();
});

describe('content-safety on real photographs', () => {
  for (const file of ['chelsea.jpg', 'astronaut.jpg', 'coffee.jpg', 'coffee-cmyk.jpg', 'astronaut-alpha.png', 'camera-gray.png']) {
    test(`${file}: every class probability matches the cpu reference within 1e-3`, async () => {
      const [got, want] = await Promise.all([engine.classifyImage(await fixture(file)), referenceScores(file)]);
      assert.equal(got.model, 'content-safety');
      assert.equal(got.backend, engine.backend.name);
      assert.equal(got.predictions.length, 5);
      for (const p of got.predictions) {
        const w = want[LABELS.indexOf(p.label)]!;
        assert.ok(Math.abs(p.score - w) < 1e-3, `${p.label}: engine ${p.score} vs reference ${w}`);
      }
      // These are ordinary photos: the model calls them Neutral.
      assert.equal(got.predictions[0]!.label, 'Neutral');
    });
  }

  test('EXIF orientation is honoured: the rotated-with-tag copy scores like the upright photo', async () => {
    const up = await engine.classifyImage(await fixture('chelsea.jpg'));
    const tagged = await engine.classifyImage(await fixture('chelsea-exif6.jpg'));
    const want = await referenceScores('chelsea-exif6.jpg');
    for (const p of tagged.predictions) assert.ok(Math.abs(p.score - want[LABELS.indexOf(p.label)]!) < 1e-3);
    for (const p of tagged.predictions) {
      const q = up.predictions.find((x) => x.label === p.label)!;
      assert.ok(Math.abs(p.score - q.score) < 0.05, `${p.label}: ${p.score} vs upright ${q.score}`);
    }
  });

  test('topK and threshold', async () => {
    const r = await engine.classifyImage(await fixture('coffee.jpg'), { topK: 2 });
    assert.equal(r.predictions.length, 2);
    const t = await engine.classifyImage(await fixture('coffee.jpg'), { threshold: 0.5 });
    assert.deepEqual(t.predictions.map((p) => p.label), ['Neutral']);
  });

  test('16-bit PNG and animated GIF (first frame) are handled', async () => {
    const r16 = await engine.classifyImage(await fixture('chelsea-16bit.png'));
    assert.equal(r16.predictions[0]!.label, 'Neutral');
    const gif = await engine.classifyImage(await fixture('animated.gif'));
    assert.equal(gif.predictions.length, 5);
    // what the decoder did is reported with the result; a plain sRGB JPEG carries no notes
    assert.deepEqual(r16.notes, ['16-bit samples reduced to 8-bit']);
    assert.match(gif.notes?.join() ?? '', /^first of \d+ frames$/);
    assert.deepEqual((await engine.classifyImage(await fixture('coffee-cmyk.jpg'))).notes, ['CMYK converted to sRGB']);
    assert.equal((await engine.classifyImage(await fixture('chelsea.jpg'))).notes, undefined);
  });
});

describe('objects (CenterNet COCO) finds the obvious object', () => {
  test('astronaut: a person covering most of the frame', async () => {
    const r = await engine.detect(await fixture('astronaut.jpg'));
    const top = r.detections[0]!;
    assert.equal(top.label, 'person');
    assert.ok(top.score > 0.5);
    assert.ok(top.box.width * top.box.height > 0.4 * 512 * 512);
  });

  test('motorcycle photo: a motorcycle; coffee photo: a cup', async () => {
    const m = await engine.detect(await fixture('motorcycle.jpg'));
    assert.equal(m.detections[0]!.label, 'motorcycle');
    const c = await engine.detect(await fixture('coffee.jpg'));
    assert.equal(c.detections[0]!.label, 'cup');
  });

  test('chelsea: one animal box around the cat (this model labels her "dog"), in upright original pixels', async () => {
    const r = await engine.detect(await fixture('chelsea.jpg'));
    assert.equal(r.width, 451);
    assert.equal(r.height, 300);
    const top = r.detections[0]!;
    assert.ok(['cat', 'dog'].includes(top.label), top.label);
    assert.ok(top.box.width > 300 && top.box.height > 200, JSON.stringify(top.box));
    // the EXIF-tagged copy gives the same box in the displayed orientation
    const rot = await engine.detect(await fixture('chelsea-exif6.jpg'));
    assert.equal(rot.width, 451);
    assert.equal(rot.height, 300);
    const b = rot.detections[0]!.box;
    assert.ok(Math.abs(b.x - top.box.x) < 10 && Math.abs(b.y - top.box.y) < 10 && Math.abs(b.width - top.box.width) < 10, JSON.stringify(b));
  });
});

describe('sentiment (VADER lexicon)', () => {
  const cases: [string, string][] = [
    ['I absolutely love this camera, the pictures are wonderful!', 'positive'],
    ['This is the worst service I have ever had. Terrible and rude.', 'negative'],
    ['The meeting is scheduled for Tuesday at 10am.', 'neutral'],
    ['The food was not good.', 'negative'], // negation flips "good"
  ];
  for (const [text, want] of cases) {
    test(`"${text}" → ${want}`, async () => {
      const r = await engine.classifyText(text);
      assert.equal(r.backend, 'lexicon');
      assert.equal(r.predictions[0]!.label, want);
      assert.ok(Math.abs(r.predictions.reduce((s, p) => s + p.score, 0) - 1) < 1e-9);
    });
  }
});

describe('bad inputs fail alone with a clear error', () => {
  async function code(p: Promise<unknown>): Promise<string> {
    try {
      await p;
    } catch (err) {
      assert.ok(err instanceof InputError, String(err));
      return `${err.code}: ${err.message}`;
    }
    assert.fail('expected an InputError');
  }

  test('truncated JPEG (scikit-image\'s truncated.jpg), empty, not an image', async () => {
    assert.match(await code(engine.classifyImage(await fixture('truncated.jpg'))), /^corrupt: corrupt or truncated image/);
    assert.match(await code(engine.classifyImage(new Uint8Array(0))), /^empty: empty file/);
    assert.match(await code(engine.classifyImage(new TextEncoder().encode('just some text, not a picture'))), /^unsupported: not an image/);
    const full = await fixture('chelsea.jpg');
    assert.match(await code(engine.classifyImage(full.subarray(0, 2000))), /^corrupt: /);
  });

  test('a PNG declaring 100000×100000 pixels is refused from its header, before decoding', async () => {
    const png = Buffer.from(await fixture('camera-gray.png'));
    png.writeUInt32BE(100_000, 16);
    png.writeUInt32BE(100_000, 20);
    const { crc32 } = await import('node:zlib');
    png.writeUInt32BE(crc32(png.subarray(12, 29)), 29); // keep the IHDR chunk's CRC valid
    const t0 = performance.now();
    assert.match(await code(engine.detect(png)), /^too-large: image is 100000×100000 \(10000\.0 Mpx\), over the limit of 50\.0 Mpx; refused before decoding/);
    assert.ok(performance.now() - t0 < 1000);
  });

  test('a small pixel limit refuses an ordinary photo; the engine keeps working afterwards', async () => {
    const small = await createEngine({ workers: 1, limits: { maxPixels: 100_000 } });
    try {
      assert.match(await code(small.classifyImage(await fixture('astronaut.jpg'))), /^too-large: image is 512×512/);
      const ok = await small.classifyImage(await fixture('camera-gray.png')); // 256×256 fits
      assert.equal(ok.predictions.length, 5);
    } finally {
      await small.close();
    }
  });
});

describe('a lazy engine', () => {
  test('runs the lexicon model without starting TF.js, and starts its pool on the first TF.js model', async () => {
    const lazy = await createEngine({ workers: 1, lazy: true });
    try {
      let batches = 0;
      lazy.onBatch(() => batches++);
      const t = await lazy.classifyText('What a wonderful, friendly place');
      assert.equal(t.backend, 'lexicon');
      assert.match(lazy.backend.name, /^none/); // no worker thread, no TF.js backend yet
      const r = await lazy.classifyImage(await fixture('chelsea.jpg'));
      assert.equal(r.backend, lazy.backend.name);
      assert.match(lazy.backend.name, /^(onnx-cpu|wasm|cpu|tfjs)/); // the bundled model runs on ONNX Runtime
      assert.equal(batches, 1); // listeners registered before the pool existed still hear of batches
    } finally {
      await lazy.close();
    }
  });
});

describe('abandoned inputs', () => {
  test('an aborted signal drops inputs still queued (never run), the running one finishes, the engine goes on', async () => {
    const one = await createEngine({ workers: 1 });
    try {
      const photo = await fixture('coffee.jpg');
      await one.classifyImage(photo); // model loaded
      let batches = 0;
      one.onBatch(() => batches++);
      const abort = new AbortController();
      const reason = new Error('the client went away');
      const calls = Array.from({ length: 6 }, () => one.classifyImage(photo, { signal: abort.signal }));
      await new Promise((r) => setTimeout(r, 5)); // all decoded and queued; the worker holds at most two
      abort.abort(reason);
      const settled = await Promise.allSettled(calls);
      const done = settled.filter((s) => s.status === 'fulfilled').length;
      const dropped = settled.filter((s) => s.status === 'rejected');
      assert.ok(done <= 2 + 1, `at most what the worker held (or was being decoded) ran: ${done}`);
      assert.ok(dropped.length >= 3);
      for (const d of dropped) assert.equal((d as PromiseRejectedResult).reason, reason);
      assert.equal(batches, done, 'only inputs that ran were executed');
      await assert.rejects(one.classifyImage(photo, { signal: abort.signal }), (e) => e === reason); // already aborted: not even decoded
      const after = await one.classifyImage(photo);
      assert.equal(after.predictions.length, 5);
    } finally {
      await one.close();
    }
  });
});

describe('BMP and formats libvips lacks', () => {
  test('a BMP of a photograph decodes to the same pixels and scores as the PNG of those pixels; HEIC and PSD are named', async () => {
    const { data, info } = await sharp(await fixture('motorcycle.jpg')).raw().toBuffer({ resolveWithObject: true });
    // 24-bit bottom-up BMP written by hand
    const stride = Math.ceil((info.width * 3) / 4) * 4;
    const bmp = Buffer.alloc(54 + stride * info.height);
    bmp.write('BM');
    bmp.writeUInt32LE(bmp.length, 2);
    bmp.writeUInt32LE(54, 10);
    bmp.writeUInt32LE(40, 14);
    bmp.writeInt32LE(info.width, 18);
    bmp.writeInt32LE(info.height, 22);
    bmp.writeUInt16LE(1, 26);
    bmp.writeUInt16LE(24, 28);
    for (let y = 0; y < info.height; y++) {
      for (let x = 0; x < info.width; x++) {
        const s = (y * info.width + x) * 3, d = 54 + (info.height - 1 - y) * stride + x * 3;
        bmp[d] = data[s + 2]!;
        bmp[d + 1] = data[s + 1]!;
        bmp[d + 2] = data[s]!;
      }
    }
    const png = await sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } }).png().toBuffer();
    const [fromBmp, fromPng] = await Promise.all([engine.classifyImage(bmp, { topK: 5 }), engine.classifyImage(png, { topK: 5 })]);
    assert.deepEqual(fromBmp.predictions, fromPng.predictions);
    const det = await engine.detect(bmp);
    assert.equal(det.width, info.width);
    assert.equal(det.height, info.height);
    const heic = Buffer.from('\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic' + '\x00'.repeat(64), 'latin1');
    await assert.rejects(engine.classifyImage(heic), (e) => e instanceof InputError && e.code === 'unsupported' && /HEIC.*convert it to JPEG/.test(e.message));
    await assert.rejects(engine.classifyImage(Buffer.from('8BPS\x00\x01' + '\x00'.repeat(64), 'latin1')), (e) => e instanceof InputError && /Photoshop/.test(e.message));
  });
});

describe('broken model files', () => {
  test('a truncated weight file and a missing one are named, with what to do', async () => {
    const { mkdtemp, cp, truncate, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const { getModel } = await import('../../../src/inference/model-lookup.ts');
    const { loadTfjsModel } = await import('../../../src/inference/tfjs-runtime.ts');
    const { tfjsVariant } = await import('../../../src/inference/manifest.ts');
    const entry = await getModel('content-safety');
    const dir = await mkdtemp(path.join(tmpdir(), 'ms-broken-'));
    try {
      await cp(entry.dir, dir, { recursive: true });
      // the bundled model runs on ONNX Runtime; these are its TF.js files (the forced-TF.js path)
      const manifest = tfjsVariant(entry.manifest as Parameters<typeof tfjsVariant>[0])!;
      await truncate(path.join(dir, 'group1-shard1of1.bin'), 100_000);
      await assert.rejects(loadTfjsModel(dir, manifest, 'test'), /hold 100000 bytes but model\.json describes \d+: a file is truncated or belongs to another model/);
      await rm(path.join(dir, 'group1-shard1of1.bin'));
      await assert.rejects(loadTfjsModel(dir, manifest, 'test'), /weight file group1-shard1of1\.bin is missing/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
