import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { formatIssues, parseLabels, validateManifest } from '../../../src/inference/manifest.ts';

const base = {
  schemaVersion: 1,
  name: 'my-model',
  version: '1',
  task: 'image-classification',
  runtime: 'tfjs',
  format: 'graph-model',
  input: { width: 224, height: 224 },
  output: { type: 'logits' },
  labels: ['a', 'b'],
  license: { spdx: 'MIT' },
  provenance: { source: 'trained in-house' },
};

test('the bundled manifests are valid and name their label files', async () => {
  for (const name of ['content-safety', 'objects', 'sentiment']) {
    const raw: unknown = JSON.parse(await readFile(new URL(`../../../models/${name}/manifest.json`, import.meta.url), 'utf8'));
    const r = validateManifest(raw);
    assert.equal(r.ok, true, `${name}: ${r.ok ? '' : JSON.stringify(r.issues)}`);
    if (r.ok) assert.equal(r.manifest.name, name);
  }
});

test('defaults are filled in: fill resize, 1/255 scaling, zero mean, unit std', () => {
  const r = validateManifest(base);
  assert.ok(r.ok);
  assert.ok('input' in r.manifest);
  assert.deepEqual(r.manifest.input, { width: 224, height: 224, channels: 3, resize: 'fill', align: 'center', padValue: 0, scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1], dtype: 'float32', channelOrder: 'RGB' });
  assert.equal(r.manifest.runtime === 'tfjs' && r.manifest.modelFile, 'model.json');
});

test('errors name the exact field', () => {
  const r = validateManifest({ ...base, input: { width: -3, height: 224, std: [1, 0, 1] }, license: {} });
  assert.equal(r.ok, false);
  if (r.ok) return;
  const paths = r.issues.map((i) => i.path).sort();
  assert.deepEqual(paths, ['input.std', 'input.width', 'license.spdx']);
  assert.match(r.issues.find((i) => i.path === 'input.std')!.message, /must not be 0/);
  assert.match(formatIssues('m/manifest.json', r.issues), /^m\/manifest.json: input\.(width|std): /m);
});

test('unknown keys are rejected (typos do not pass silently)', () => {
  const r = validateManifest({ ...base, lables: ['x'] });
  assert.equal(r.ok, false);
  if (!r.ok) assert.ok(r.issues.some((i) => /lables/.test(i.message)), JSON.stringify(r.issues));
});

test('an unknown task or runtime is reported as such, not as a union mismatch', () => {
  const t = validateManifest({ ...base, task: 'segmentation' });
  assert.deepEqual(t.ok ? [] : t.issues.map((i) => i.path), ['task']);
  const rt = validateManifest({ ...base, runtime: 'torchscript' });
  assert.equal(rt.ok, false);
  if (!rt.ok) {
    assert.equal(rt.issues[0]!.path, 'runtime');
    assert.match(rt.issues[0]!.message, /expected "onnx" or "tfjs"; got "torchscript"/);
  }
  const notObj = validateManifest([1]);
  assert.equal(notObj.ok, false);
});

test('detection manifests need the layout; coordinates default to input pixels', () => {
  const r = validateManifest({ ...base, task: 'object-detection', output: { type: 'detections' } });
  assert.equal(r.ok, false);
  if (!r.ok) assert.deepEqual(r.issues.map((i) => i.path).sort(), ['output.layout']);
  const ok = validateManifest({ ...base, task: 'object-detection', output: { type: 'detections', layout: 'yolov8' } });
  assert.ok(ok.ok && ok.manifest.task === 'object-detection' && ok.manifest.output.coordinates === 'input-pixels');
});

test('text models take a tokenizer; lexicon models a lexicon', () => {
  const { input: _input, ...noInput } = base;
  const text = validateManifest({ ...noInput, task: 'text-classification', tokenizer: { type: 'word-index', vocab: 'vocab.json', maxLength: 100 } });
  assert.ok(text.ok, text.ok ? '' : JSON.stringify(text.issues));
  if (text.ok && 'tokenizer' in text.manifest && text.manifest.tokenizer.type === 'word-index') assert.equal(text.manifest.tokenizer.padding, 'pre');
  const lex = validateManifest({ schemaVersion: 1, name: 's', version: '1', task: 'text-classification', runtime: 'lexicon', lexicon: { package: 'vader-sentiment', algorithm: 'vader' }, labels: 'labels.txt', license: { spdx: 'Apache-2.0' }, provenance: { source: 'npm' } });
  assert.ok(lex.ok);
});

test('label files: one per line, trailing blank lines and CRLF tolerated', () => {
  assert.deepEqual(parseLabels('cat\r\ndog\n\n'), ['cat', 'dog']);
  assert.deepEqual(parseLabels('a\n b \n'), ['a', 'b']);
});
