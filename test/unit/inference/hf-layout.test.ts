import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveHfManifest, isHfLayout, labelsFromConfig, readmeLicense, type HfLayoutInput } from '../../../src/inference/hf-layout.ts';
import { chooseVariant, onnxVariants } from '../../../src/inference/hf-variant.ts';
import { validateManifest } from '../../../src/inference/manifest.ts';

const hub = (spec: string, extra: Partial<Extract<HfLayoutInput['source'], { kind: 'hub' }>> = {}): HfLayoutInput['source'] => ({ kind: 'hub', spec, repo: spec.slice(3).replace(/@.*/, ''), commit: 'a'.repeat(40), ...extra });
const imagenet = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [String(i), `class ${i}`]));
/** The files of Xenova/resnet-50 as the Hub lists them. */
const xenovaResnet = ['.gitattributes', 'README.md', 'config.json', 'preprocessor_config.json', 'onnx/model.onnx', 'onnx/model_fp16.onnx', 'onnx/model_quantized.onnx', 'onnx/model_int8.onnx', 'onnx/model_uint8.onnx', 'onnx/model_q4.onnx', 'onnx/model_bnb4.onnx', 'onnx/model_q4f16.onnx'];
const resnetConfig = { architectures: ['ResNetForImageClassification'], model_type: 'resnet', id2label: imagenet(1000) };
const convnextPre = { image_processor_type: 'ConvNextImageProcessor', crop_pct: 0.875, do_normalize: true, do_rescale: true, do_resize: true, image_mean: [0.485, 0.456, 0.406], image_std: [0.229, 0.224, 0.225], resample: 3, rescale_factor: 0.00392156862745098, size: { shortest_edge: 224 } };

test('ResNet-50 export: fp32 chosen over seven variants and said why; resize 256 → crop 224 from crop_pct; a valid ONNX manifest', () => {
  const d = deriveHfManifest({ files: xenovaResnet, config: resnetConfig, preprocessor: convnextPre, source: hub('hf:Xenova/resnet-50', { license: 'apache-2.0' }) });
  assert.equal(d.variant.file, 'onnx/model.onnx');
  assert.match(d.notes[0]!, /^model onnx\/model\.onnx: full precision.*; also present: quantized, int8, uint8, q4, bnb4, fp16, q4f16 \(choose with --variant\)$/);
  const m = d.manifest as { input: Record<string, unknown>; name: string; version: string; license: { spdx: string }; labels: string[]; output: unknown };
  assert.deepEqual(m.input, { width: 224, height: 224, resize: 'cover', shorterSide: 256, scale: 0.00392156862745098, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: 'RGB' });
  assert.ok(d.notes.some((n) => n === 'input: shorter side to 256, centre crop 224×224 (ConvNextImageProcessor: shortest_edge 224 / crop_pct 0.875)'), d.notes.join('\n'));
  assert.equal(m.name, 'resnet-50');
  assert.equal(m.version, 'aaaaaaaaaaaa');
  assert.equal(m.license.spdx, 'apache-2.0');
  assert.equal(m.labels.length, 1000);
  assert.deepEqual(m.output, { type: 'logits' });
  assert.deepEqual(d.requiredFiles.sort(), ['README.md', 'config.json', 'onnx/model.onnx', 'preprocessor_config.json']);
  const v = validateManifest(d.manifest);
  assert.ok(v.ok, JSON.stringify(v));
});

test('--variant picks by short name or path; an unknown one lists what exists', () => {
  const files = xenovaResnet;
  const input = { files, config: resnetConfig, preprocessor: convnextPre, source: hub('hf:Xenova/resnet-50') };
  assert.equal(deriveHfManifest(input, { variant: 'int8' }).variant.file, 'onnx/model_int8.onnx');
  assert.equal(deriveHfManifest(input, { variant: 'onnx/model_uint8.onnx' }).variant.key, 'uint8');
  assert.throws(() => deriveHfManifest(input, { variant: 'int4' }), (e: Error & { hint?: string; exitCode?: number }) => {
    assert.match(e.message, /no variant "int4"/);
    assert.match(e.hint ?? '', /fp32 \(onnx\/model\.onnx\), quantized \(onnx\/model_quantized\.onnx\), int8/);
    assert.equal(e.exitCode, 2);
    return true;
  });
  // Without fp32, an int8 variant ranks before fp16 (slow on CPU) and 4-bit ones.
  assert.equal(chooseVariant(['onnx/model_fp16.onnx', 'onnx/model_q4.onnx', 'onnx/model_int8.onnx']).ok && (chooseVariant(['onnx/model_fp16.onnx', 'onnx/model_q4.onnx', 'onnx/model_int8.onnx']) as { chosen: { key: string } }).chosen.key, 'int8');
  // A root model.onnx counts; onnx/ wins over a root copy of the same key; external data travels with it.
  const v = onnxVariants(['model.onnx', 'onnx/model.onnx', 'onnx/model.onnx_data', 'onnx/encoder_model.onnx']);
  assert.deepEqual(v.map((x) => x.file), ['onnx/model.onnx', 'model.onnx']);
  assert.deepEqual(v[0]!.dataFiles, ['onnx/model.onnx_data']);
});

test('a repo without an ONNX file (microsoft/resnet-50) is refused, naming what it holds and what to use instead', () => {
  assert.throws(() => deriveHfManifest({ files: ['config.json', 'pytorch_model.bin', 'model.safetensors', 'tf_model.h5', 'flax_model.msgpack'], config: resnetConfig, source: hub('hf:microsoft/resnet-50') }), (e: Error & { hint?: string }) => {
    assert.equal(e.message, 'hf:microsoft/resnet-50 has no ONNX model file: it holds pytorch_model.bin, model.safetensors, tf_model.h5, flax_model.msgpack (PyTorch/TensorFlow weights), which modelship does not run');
    assert.match(e.hint ?? '', /usually hf:Xenova\/resnet-50 or hf:onnx-community\/resnet-50\), or export one: optimum-cli export onnx --model microsoft\/resnet-50 DIR/);
    return true;
  });
  assert.throws(() => deriveHfManifest({ files: ['config.json', 'onnx/encoder_model.onnx', 'onnx/decoder_model.onnx'], config: resnetConfig, source: hub('hf:x/seq2seq') }), /its \.onnx files \(onnx\/encoder_model\.onnx, onnx\/decoder_model\.onnx\) are not a whole model\.onnx/);
});

test('RoBERTa sentiment export: text task, labels, 512 tokens from tokenizer_config, tokenizer.json required', () => {
  const files = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt', 'onnx/model.onnx', 'onnx/model_quantized.onnx'];
  const config = { architectures: ['RobertaForSequenceClassification'], model_type: 'roberta', max_position_embeddings: 514, id2label: { 0: 'negative', 1: 'neutral', 2: 'positive' } };
  const d = deriveHfManifest({ files, config, tokenizerConfig: { model_max_length: 512 }, source: hub('hf:Xenova/twitter-roberta-base-sentiment-latest') });
  const m = d.manifest as { task: string; tokenizer: unknown; labels: string[] };
  assert.equal(m.task, 'text-classification');
  assert.deepEqual(m.tokenizer, { type: 'huggingface', file: 'tokenizer.json', maxLength: 512, config: 'tokenizer_config.json' });
  assert.deepEqual(m.labels, ['negative', 'neutral', 'positive']);
  assert.ok(validateManifest(d.manifest).ok);
  // Without model_max_length: RoBERTa's 514 positions hold 512 tokens.
  const d2 = deriveHfManifest({ files, config, tokenizerConfig: { model_max_length: 1e30 }, source: hub('hf:x/y') });
  assert.equal((d2.manifest as { tokenizer: { maxLength: number } }).tokenizer.maxLength, 512);
  assert.ok(d2.notes.some((n) => /max_position_embeddings 514 less the 2 RoBERTa reserves/.test(n)));
  assert.throws(() => deriveHfManifest({ files: files.filter((f) => f !== 'tokenizer.json'), config, source: hub('hf:x/y') }), /no tokenizer\.json \(only vocab\.json, merges\.txt, the older "slow" tokenizer files\)/);
});

test('ViT-style processors resize without a crop; missing mean/std take the processor\'s defaults and say so', () => {
  const d = deriveHfManifest({ files: ['config.json', 'model.onnx'], config: { architectures: ['ViTForImageClassification'], id2label: { 0: 'a', 1: 'b' } }, preprocessor: { image_processor_type: 'ViTImageProcessor', size: { height: 224, width: 224 }, do_normalize: true }, source: { kind: 'dir', dir: '/m/My_Model' } });
  const m = d.manifest as { input: Record<string, unknown>; name: string; license: { spdx: string } };
  assert.equal(m.input.resize, 'fill');
  assert.deepEqual(m.input.mean, [0.5, 0.5, 0.5]);
  assert.ok(d.notes.some((n) => /image_mean\/image_std missing: ViTImageProcessor's defaults/.test(n)));
  assert.equal(m.name, 'my_model');
  assert.equal(m.license.spdx, 'NOASSERTION');
  assert.ok(d.notes.some((n) => /licence unknown/.test(n)));
  // shortest_edge + crop_size (CLIP/BiT style)
  const c = deriveHfManifest({ files: ['config.json', 'model.onnx'], config: { architectures: ['BitForImageClassification'], id2label: { 0: 'a' } }, preprocessor: { size: { shortest_edge: 256 }, crop_size: { height: 224, width: 224 }, do_center_crop: true, image_mean: [0, 0, 0], image_std: [1, 1, 1] }, source: { kind: 'dir', dir: '/m/x' } });
  assert.deepEqual([(c.manifest as { input: Record<string, unknown> }).input.shorterSide, (c.manifest as { input: Record<string, unknown> }).input.width], [256, 224]);
  assert.ok(validateManifest(c.manifest).ok);
});

test('YOLO exports are detection with their decoding layout; DETR-style detection is refused clearly', () => {
  const d = deriveHfManifest({ files: ['config.json', 'onnx/model.onnx'], config: { model_type: 'yolov8', id2label: { 0: 'person', 1: 'bicycle' } }, preprocessor: { size: { height: 640, width: 640 } }, source: hub('hf:x/yolov8n') });
  const m = d.manifest as { task: string; input: Record<string, unknown>; output: Record<string, unknown> };
  assert.equal(m.task, 'object-detection');
  assert.equal(m.output.layout, 'yolov8');
  assert.deepEqual([m.input.resize, m.input.padValue, m.input.width], ['contain', 114, 640]);
  assert.ok(validateManifest(d.manifest).ok, JSON.stringify(validateManifest(d.manifest)));
  assert.equal((deriveHfManifest({ files: ['config.json', 'onnx/model.onnx'], config: { model_type: 'yolov10', id2label: { 0: 'a' } }, source: hub('hf:x/y') }).manifest as { output: { layout: string } }).output.layout, 'x1y1x2y2-score-class');
  assert.throws(() => deriveHfManifest({ files: ['config.json', 'onnx/model.onnx'], config: { architectures: ['DetrForObjectDetection'], id2label: { 0: 'a' } }, preprocessor: {}, source: hub('hf:facebook/detr') }), /object detection with DetrForObjectDetection is not supported/);
});

test('the task comes from architectures, model_type or the Hub tag, else --task is asked for', () => {
  const base = { files: ['config.json', 'model.onnx', 'tokenizer.json'], source: hub('hf:x/y', { pipelineTag: 'text-classification' }) };
  assert.equal((deriveHfManifest({ ...base, config: { id2label: { 0: 'a' } } }).manifest as { task: string }).task, 'text-classification');
  assert.throws(() => deriveHfManifest({ ...base, source: { kind: 'dir', dir: '/x' }, config: { id2label: { 0: 'a' } } }), (e: Error & { hint?: string; exitCode?: number }) => /say so with --task/.test(e.hint ?? '') && e.exitCode === 2);
  assert.equal((deriveHfManifest({ ...base, source: { kind: 'dir', dir: '/x' }, config: { id2label: { 0: 'a' } } }, { task: 'text-classification' }).manifest as { task: string }).task, 'text-classification');
});

test('labels: id2label in key order, gaps and non-strings refused; problem_type multi-label → sigmoid', () => {
  assert.deepEqual(labelsFromConfig({ id2label: { 10: 'k', 2: 'c', 0: 'a', 1: 'b', 3: 'd', 4: 'e', 5: 'f', 6: 'g', 7: 'h', 8: 'i', 9: 'j' } }), ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k']);
  assert.throws(() => labelsFromConfig({ id2label: { 0: 'a', 2: 'c' } }), /key "2" is out of place/);
  assert.throws(() => labelsFromConfig({ id2label: { 0: 3 } }), /id2label\["0"\] is 3, not a string/);
  assert.throws(() => labelsFromConfig({}), /config\.json has no "id2label"/);
  const d = deriveHfManifest({ files: ['config.json', 'model.onnx', 'tokenizer.json'], config: { architectures: ['BertForSequenceClassification'], problem_type: 'multi_label_classification', id2label: { 0: 'toxic', 1: 'insult' } }, source: { kind: 'dir', dir: '/x' } });
  assert.deepEqual((d.manifest as { output: unknown }).output, { type: 'sigmoid' });
});

test('layout detection and README licence front matter', () => {
  assert.equal(isHfLayout(['config.json', 'onnx/model.onnx']), true);
  assert.equal(isHfLayout(['config.json', 'manifest.json', 'model.onnx']), false);
  assert.equal(readmeLicense('---\nlanguage: en\nlicense: "mit"\ntags: [a]\n---\n# x'), 'mit');
  assert.equal(readmeLicense('# no front matter\nlicense: mit'), undefined);
});
