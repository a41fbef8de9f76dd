import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile, cp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { main } from '../../../src/cli/main.ts';

const fixtures = fileURLToPath(new URL('../../fixtures/images/', import.meta.url));
const modelsDir = fileURLToPath(new URL('../../../models/', import.meta.url));
let tmp: string;
let env: NodeJS.ProcessEnv;

async function run(args: string[], cwd = tmp): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '', stderr = '';
  const code = await main(['node', 'modelship', ...args], {
    cwd,
    env,
    streams: { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } },
  });
  return { code, stdout, stderr };
}

/** A copy of the bundled content-safety model under another name, to damage. */
async function copyOfContentSafety(name: string): Promise<string> {
  const dir = path.join(tmp, name);
  await cp(path.join(modelsDir, 'content-safety'), dir, { recursive: true });
  const m = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify({ ...m, name }));
  return dir;
}

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'modelship-classify-'));
  env = { ...process.env, MODELSHIP_DATA_DIR: path.join(tmp, 'data'), NO_COLOR: '1' };
  delete env.MODELSHIP_BACKEND;
  await mkdir(path.join(tmp, 'photos', 'more'), { recursive: true });
  await copyFile(path.join(fixtures, 'chelsea.jpg'), path.join(tmp, 'photos', 'chelsea.jpg'));
  await copyFile(path.join(fixtures, 'coffee.jpg'), path.join(tmp, 'photos', 'more', 'coffee.jpg'));
  await copyFile(path.join(fixtures, 'truncated.jpg'), path.join(tmp, 'photos', 'truncated.jpg'));
  await writeFile(path.join(tmp, 'photos', 'empty.jpg'), '');
  await writeFile(path.join(tmp, 'photos', 'notes.txt'), 'not an image: skipped by the walk\n');
  await writeFile(path.join(tmp, 'reviews.txt'), 'I love it, wonderful!\n\nThis is awful and broken.\n');
});

after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('modelship classify', () => {
  test('a directory walk: JSON array, per-input errors, the others continue, exit 1', async () => {
    const r = await run(['classify', 'photos', '--format', 'json', '--concurrency', '2']);
    assert.equal(r.code, 1, r.stderr);
    const results = JSON.parse(r.stdout) as Record<string, unknown>[];
    assert.deepEqual(results.map((x) => x.input), ['photos/chelsea.jpg', 'photos/empty.jpg', 'photos/more/coffee.jpg', 'photos/truncated.jpg']);
    const ok = results[0]!;
    assert.deepEqual(Object.keys(ok), ['input', 'task', 'model', 'version', 'backend', 'durationMs', 'predictions']);
    assert.equal(ok.task, 'image');
    assert.equal(ok.model, 'content-safety');
    assert.equal(ok.backend, 'onnx-cpu', 'the bundled model runs on ONNX Runtime');
    assert.deepEqual(results[1], { input: 'photos/empty.jpg', error: 'empty file' });
    assert.deepEqual(Object.keys(results[3]!), ['input', 'error']);
    assert.match(String(results[3]!.error), /corrupt or truncated/);
    assert.equal((results[2]!.predictions as { label: string }[])[0]!.label, 'Neutral');
    assert.match(r.stderr, /4 inputs, 2 failed, .* img\/s, backend \S+, 2 workers/);
  });

  test('a device or a FIFO given as PATH fails alone, at once (never read)', async () => {
    const { execFileSync } = await import('node:child_process');
    const fifo = path.join(tmp, 'pipe.jpg');
    execFileSync('mkfifo', [fifo]);
    const r = await run(['classify', '/dev/zero', fifo, path.join(fixtures, 'coffee.jpg'), '--format', 'json']);
    assert.equal(r.code, 1, r.stderr);
    const results = JSON.parse(r.stdout) as { input: string; error?: string }[];
    assert.deepEqual(results.map((x) => x.error?.replace(/ \(.*/, '')), ['not a regular file', 'not a regular file', undefined]);
    assert.match(results[0]!.error!, /a device/);
    assert.match(results[1]!.error!, /a FIFO/);
    const text = await run(['classify', '--task', 'text', '/dev/zero', '--text', 'fine', '--format', 'json']);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /not a regular file/);
    await rm(fifo);
  });

  test('detect as ndjson: one object per line with boxes', async () => {
    const r = await run(['classify', '--task', 'detect', path.join(fixtures, 'astronaut.jpg'), '--format', 'ndjson', '--top', '1']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { input: string; task: string; detections: { label: string; box: Record<string, number> }[] });
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.task, 'detect');
    assert.equal(lines[0]!.detections.length, 1);
    assert.equal(lines[0]!.detections[0]!.label, 'person');
    assert.deepEqual(Object.keys(lines[0]!.detections[0]!.box), ['x', 'y', 'width', 'height']);
  });

  test('text: --text and a file of lines, CSV with one row per prediction', async () => {
    const r = await run(['classify', '--task', 'text', 'reviews.txt', '--format', 'csv', '--top', '1']);
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.trim().split('\n');
    assert.equal(rows[0], 'input,task,model,version,backend,durationMs,rank,label,score,x,y,width,height,error');
    assert.match(rows[1]!, /^reviews\.txt:1,text,sentiment,vader-lexicon-[\d.]+,lexicon,[\d.]+,1,positive,/);
    assert.match(rows[2]!, /^reviews\.txt:3,text,sentiment,.*,1,negative,/);
    const t = await run(['--json', 'classify', '--text', 'What a fantastic, happy day!']);
    assert.equal(t.code, 0);
    const [res] = JSON.parse(t.stdout) as { input: string; predictions: { label: string }[] }[];
    assert.equal(res!.input, 'text');
    assert.equal(res!.predictions[0]!.label, 'positive');
  });

  test('--out writes the file and keeps stdout empty', async () => {
    const r = await run(['classify', path.join(fixtures, 'coffee.jpg'), '--out', 'out.json', '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    const saved = JSON.parse(await readFile(path.join(tmp, 'out.json'), 'utf8')) as unknown[];
    assert.equal(saved.length, 1);
    assert.match(r.stderr, /results written to .*out\.json/);
  });

  test('usage errors exit 2 with a hint', async () => {
    assert.equal((await run(['classify'])).code, 2);
    assert.equal((await run(['classify', 'photos', '--top', '0'])).code, 2);
    assert.equal((await run(['classify', 'photos', '--threshold', '1.5'])).code, 2);
    assert.equal((await run(['classify', 'nope'])).code, 2);
    const unknown = await run(['classify', path.join(fixtures, 'coffee.jpg'), '--model', 'content-safty']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown model "content-safty"[\s\S]*did you mean "content-safety"/);
    const wrongTask = await run(['classify', '--task', 'detect', path.join(fixtures, 'coffee.jpg'), '--model', 'content-safety']);
    assert.equal(wrongTask.code, 2);
    assert.match(wrongTask.stderr, /does the task image-classification, not object-detection/);
  });
});

describe('modelship models', () => {
  test('list shows the bundled models with task, runtime and licence', async () => {
    const r = await run(['--json', 'models', 'list']);
    assert.equal(r.code, 0);
    const list = JSON.parse(r.stdout) as { name: string; task: string; runtime: string; license: string; labels: number }[];
    assert.deepEqual(list.map((m) => [m.name, m.task, m.runtime, m.license, m.labels]), [
      ['content-safety', 'image-classification', 'onnx', 'MIT', 5],
      ['objects', 'object-detection', 'onnx', 'MIT', 80],
      ['sentiment', 'text-classification', 'lexicon', 'Apache-2.0', 3],
    ]);
  });

  test('info reports the backend really in use', async () => {
    const r = await run(['--json', 'models', 'info', 'content-safety']);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout) as { backend: { name: string; skipped: unknown[] }; manifest: { input: { width: number } }; labels: string[] };
    assert.equal(info.backend.name, 'onnx-cpu', 'the provider that really runs the bundled ONNX model');
    assert.equal(info.manifest.input.width, 224);
    const saved = env;
    env = { ...env, MODELSHIP_BACKEND: 'wasm' };
    const forced = await run(['--json', 'models', 'info', 'content-safety']).finally(() => {
      env = saved;
    });
    assert.equal(forced.code, 0, forced.stderr);
    assert.match((JSON.parse(forced.stdout) as typeof info).backend.name, /^wasm/, 'a forced TF.js backend runs the TF.js files');
    assert.deepEqual(info.labels, ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy']);
    const text = await run(['models', 'info', 'sentiment']);
    assert.match(text.stdout, /runtime\s+lexicon \(VADER rules \+ lexicon, not a neural network\)/);
  });

  test('verify runs the self-test on the bundled detector', async () => {
    const r = await run(['models', 'verify', 'objects']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /ok\s+sha256 centernet\.bin: matches provenance/);
    assert.match(r.stdout, /verified: objects human-[\d.]+ on \S+/);
  });

  test('verify fails when a weight shard was tampered with', async () => {
    const dir = await copyOfContentSafety('tampered');
    const bin = await readFile(path.join(dir, 'group1-shard1of1.bin'));
    bin[100] = bin[100]! ^ 0xff;
    await writeFile(path.join(dir, 'group1-shard1of1.bin'), bin);
    assert.equal((await run(['models', 'add', dir])).code, 0);
    const r = await run(['models', 'verify', 'tampered']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /FAIL\s+sha256 group1-shard1of1\.bin: expected/);
  });

  test('classify with a model whose weights cannot load stops at once with one clear error, not one per input', async () => {
    const dir = await copyOfContentSafety('truncated-model');
    // damaged after `models add` (which would refuse it): as when a disk or a copy goes wrong later
    assert.equal((await run(['models', 'add', dir])).code, 0);
    const bin = await readFile(path.join(dir, 'model.onnx'));
    await writeFile(path.join(dir, 'model.onnx'), bin.subarray(0, 100_000));
    const many = Array.from({ length: 40 }, () => path.join(fixtures, 'coffee.jpg'));
    const r = await run(['classify', ...many, '--model', 'truncated-model', '--format', 'ndjson', '--concurrency', '4']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /model "truncated-model" cannot be loaded, so no input can run: .*model\.onnx/);
    assert.match(r.stderr, /modelship models verify truncated-model/);
    assert.equal(r.stdout.trim(), '', 'no per-input error lines');
  });

  test('add refuses an invalid manifest with the exact field', async () => {
    const dir = path.join(tmp, 'broken');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify({ schemaVersion: 1, name: 'broken', version: '1', task: 'image-classification', runtime: 'tfjs', format: 'graph-model', input: { width: 0, height: 224 }, output: { type: 'logits' }, labels: ['a'], license: { spdx: 'MIT' }, provenance: { source: 'x' } }));
    const r = await run(['models', 'add', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /broken\/manifest\.json: input\.width: /);
  });

  test('add + classify a user TF.js text model (word-index tokenizer); scores match the model run directly', async () => {
    await tf.setBackend('cpu');
    const vocab = { good: 2, great: 3, bad: 4, awful: 5, movie: 6 };
    const model = tfl.sequential({
      layers: [
        tfl.layers.embedding({ inputDim: 10, outputDim: 4, inputLength: 6, embeddingsInitializer: tfl.initializers.randomUniform({ minval: -1, maxval: 1, seed: 7 }) }),
        tfl.layers.globalAveragePooling1d(),
        tfl.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }),
      ],
    });
    const dir = path.join(tmp, 'tiny-text');
    await mkdir(dir, { recursive: true });
    await model.save(tf.io.withSaveHandler(async (art) => {
      const weights = Buffer.from(art.weightData as ArrayBuffer);
      await writeFile(path.join(dir, 'weights.bin'), weights);
      await writeFile(path.join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: art.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: art.weightSpecs }] }));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    await writeFile(path.join(dir, 'vocab.json'), JSON.stringify(vocab));
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify({
      schemaVersion: 1, name: 'tiny-text', version: '0.1', task: 'text-classification', runtime: 'tfjs', format: 'layers-model',
      tokenizer: { type: 'word-index', vocab: 'vocab.json', maxLength: 6 }, output: { type: 'probabilities' },
      labels: ['neg', 'pos'], license: { spdx: 'MIT' }, provenance: { source: 'made by this test' },
    }));
    const add = await run(['models', 'add', dir, '--copy']);
    assert.equal(add.code, 0, add.stderr);
    const r = await run(['--json', 'classify', '--model', 'tiny-text', '--text', 'A great movie, not bad']);
    assert.equal(r.code, 0, r.stderr);
    const [res] = JSON.parse(r.stdout) as { model: string; predictions: { label: string; score: number }[] }[];
    assert.equal(res!.model, 'tiny-text');
    // reference: ids by hand — "a"→OOV 1, great 3, movie 6, "not"→1, bad 4; pre-padded to 6
    const want = (model.predict(tf.tensor2d([[0, 1, 3, 6, 1, 4]], [1, 6], 'int32')) as tf.Tensor).dataSync();
    for (const p of res!.predictions) assert.ok(Math.abs(p.score - want[p.label === 'neg' ? 0 : 1]!) < 1e-5, `${p.label} ${p.score} vs ${Array.from(want)}`);
    const list = JSON.parse((await run(['--json', 'models', 'list'])).stdout) as { name: string; source: string }[];
    assert.ok(list.some((m) => m.name === 'tiny-text' && m.source === 'user'));
  });
});
