import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../helpers/cli.ts';

/**
 * `modelship models convert NAME|DIR --to onnx` on a user's TF.js model: a copy of the bundled
 * content-safety TF.js files with a TF.js manifest, registered through `models add`.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const photo = path.join(root, 'test/fixtures/images/chelsea.jpg');

/** A TF.js model directory as a user has it: the bundled model's TF.js files, a "tfjs" manifest. */
async function tfjsCopy(dest: string, name: string): Promise<void> {
  const src = path.join(root, 'models/content-safety');
  await cp(src, dest, { recursive: true, filter: (f) => !f.endsWith('model.onnx') });
  const m = JSON.parse(await readFile(path.join(src, 'manifest.json'), 'utf8')) as Record<string, unknown> & { tfjs: { format: string; modelFile: string }; provenance: { sha256: Record<string, string> } };
  const { tfjs, ...rest } = m;
  delete rest.provenance.sha256['model.onnx'];
  await writeFile(path.join(dest, 'manifest.json'), JSON.stringify({ ...rest, name, runtime: 'tfjs', format: tfjs.format, modelFile: tfjs.modelFile }, null, 2));
}

describe('modelship models convert', () => {
  let tmp: string;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'ms-convert-cli-'));
    env = { MODELSHIP_DATA_DIR: path.join(tmp, 'data') };
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  test('a registered TF.js model converts by name; classify then runs it on ONNX Runtime with TF.js\'s scores, and --backend wasm still runs TF.js', async () => {
    const dir = path.join(tmp, 'my-safety');
    await tfjsCopy(dir, 'my-safety');
    assert.equal((await runCli(['models', 'add', dir], { env })).code, 0);
    const before = await runCli(['classify', photo, '--model', 'my-safety', '--json'], { env });
    assert.equal(before.code, 0, before.stderr);
    const r = await runCli(['models', 'convert', 'my-safety', '--to', 'onnx', '--json'], { env });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { ok: boolean; from: string; to: string; file: string; sha256: string; ops: Record<string, number>; check: { output: string; maxAbsDiff: number; tolerance: number } };
    assert.equal(out.ok, true);
    assert.equal(out.check.output, 'dense_3', 'checked on the output the manifest reads');
    assert.ok(out.check.maxAbsDiff <= 1e-6, `TF.js vs ONNX Runtime on the probe: ${out.check.maxAbsDiff}`);
    assert.equal(out.from, 'layers-model');
    assert.equal(out.file, path.join(dir, 'model.onnx'));
    assert.ok((out.ops.Conv ?? 0) >= 50, 'the MobileNetV2 convolutions are there');
    const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as { runtime: string; modelFile: string; tfjs: unknown; provenance: { sha256: Record<string, string>; conversion: string } };
    assert.equal(manifest.runtime, 'onnx');
    assert.equal(manifest.modelFile, 'model.onnx');
    assert.deepEqual(manifest.tfjs, { format: 'layers-model', modelFile: 'model.json' });
    assert.equal(manifest.provenance.sha256['model.onnx'], out.sha256);
    assert.match(manifest.provenance.conversion, /TF\.js → ONNX \(opset 17/);

    const after = await runCli(['classify', photo, '--model', 'my-safety', '--json'], { env });
    assert.equal(after.code, 0, after.stderr);
    const [b] = JSON.parse(before.stdout) as { backend: string; predictions: { label: string; score: number }[] }[];
    const [a] = JSON.parse(after.stdout) as typeof b[];
    assert.match(a!.backend, /^onnx-/);
    assert.doesNotMatch(b!.backend, /^onnx-/);
    assert.deepEqual(a!.predictions.map((p) => p.label), b!.predictions.map((p) => p.label));
    a!.predictions.forEach((p, i) => assert.ok(Math.abs(p.score - b!.predictions[i]!.score) <= 1e-4, `${p.label}: ${p.score} vs ${b!.predictions[i]!.score}`));

    const forced = await runCli(['classify', photo, '--model', 'my-safety', '--json'], { env: { ...env, MODELSHIP_BACKEND: 'wasm' } });
    assert.equal(forced.code, 0, forced.stderr);
    assert.match((JSON.parse(forced.stdout) as { backend: string }[])[0]!.backend, /^wasm/);

    const again = await runCli(['models', 'convert', 'my-safety', '--to', 'onnx'], { env });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already converted to ONNX/);
    assert.match(again.stderr, /--force/);
  });

  test('a model using a layer the converter lacks fails naming it, and leaves the directory as it was', async () => {
    const dir = path.join(tmp, 'lstm');
    await tfjsCopy(dir, 'lstm');
    const modelJson = path.join(dir, 'model.json');
    const j = JSON.parse(await readFile(modelJson, 'utf8')) as { modelTopology: { model_config: { config: { layers: { class_name: string }[] } } } };
    j.modelTopology.model_config.config.layers[5]!.class_name = 'LSTM';
    await writeFile(modelJson, JSON.stringify(j));
    const manifestBefore = await readFile(path.join(dir, 'manifest.json'), 'utf8');
    const r = await runCli(['models', 'convert', dir, '--to', 'onnx'], { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot convert model\.json to ONNX: the model uses a Keras layer the ONNX converter does not support: LSTM \(1 layer, e\.g\. /);
    assert.match(r.stderr, /hint: run the model with TF\.js/);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, 'no stack trace');
    assert.equal(await readFile(path.join(dir, 'manifest.json'), 'utf8'), manifestBefore);
    await assert.rejects(stat(path.join(dir, 'model.onnx')), /ENOENT/);
  });

  test('usage errors: another target format (exit 2), a bundled model, an unknown name, a path that is not a directory', async () => {
    const fmt = await runCli(['models', 'convert', 'content-safety', '--to', 'tflite'], { env });
    assert.equal(fmt.code, 2);
    assert.match(fmt.stderr, /the only target format is onnx/);
    const bundled = await runCli(['models', 'convert', 'content-safety', '--to', 'onnx'], { env });
    assert.equal(bundled.code, 1);
    assert.match(bundled.stderr, /bundled model: it ships with its ONNX conversion already/);
    const unknown = await runCli(['models', 'convert', 'nope', '--to', 'onnx'], { env });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown model "nope"/);
    const notDir = await runCli(['models', 'convert', './missing-dir', '--to', 'onnx'], { env, cwd: tmp });
    assert.equal(notDir.code, 1);
    assert.match(notDir.stderr, /missing-dir is not a directory/);
  });
});
