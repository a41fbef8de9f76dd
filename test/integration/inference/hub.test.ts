import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readFile, readlink, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createEngine } from '../../../src/inference/engine.ts';
import { buildServer } from '../../../src/server/app.ts';
import { testSettings } from '../../helpers/server.ts';
import { runCli } from '../../helpers/cli.ts';
import { HubMirror, imageClassifierRepo, MIRROR_TOKEN, type MirrorRepoSpec } from '../../helpers/hub-mirror.ts';
import { tinyTextClassifier } from '../../helpers/tiny-text-model.ts';
import { wordPiece } from '../../fixtures/tokenizers.ts';
import { SHARED_MODELS, sharedModelsPresent, SKIP_REASON } from './shared-models.ts';

/**
 * `models add hf:ORG/NAME` against a local mirror that speaks the Hub's HTTP contract, serving the
 * shared MobileNetV2 laid out as a Hub repository at test time (never copied into the repo), and a
 * tiny real text model with a tokenizer.json. No request leaves 127.0.0.1.
 */

const fixture = (name: string) => path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'fixtures', 'images', name);

const textConfig = { architectures: ['BertForSequenceClassification'], model_type: 'bert', max_position_embeddings: 512, id2label: { 0: 'negative', 1: 'positive' }, label2id: { negative: 0, positive: 1 } };
// Rows by token id of the fixture WordPiece vocab: [PAD] pushes hard to "negative" (so unmasked
// padding shows), "great" (7) to positive, "un" (8) to negative.
const embeddings: [number, number][] = Array.from({ length: 13 }, () => [0, 0] as [number, number]);
embeddings[0] = [50, -50];
embeddings[7] = [0, 3];
embeddings[8] = [2, 0];

function textRepo(id: string): MirrorRepoSpec {
  return {
    id,
    license: 'mit',
    files: [
      { path: 'config.json', bytes: Buffer.from(JSON.stringify(textConfig)) },
      { path: 'tokenizer.json', bytes: Buffer.from(JSON.stringify(wordPiece)) },
      { path: 'tokenizer_config.json', bytes: Buffer.from(JSON.stringify({ model_max_length: 8, do_lower_case: true, pad_token: '[PAD]' })) },
      { path: 'onnx/model.onnx', bytes: tinyTextClassifier(embeddings) },
    ],
  };
}

describe('Hugging Face Hub through a local mirror', { concurrency: false, skip: sharedModelsPresent ? false : SKIP_REASON }, () => {
  let mirror: HubMirror;
  let tmp: string;
  let mobilenet: Buffer;
  let mobileSha: string;
  let commit: string;
  const REPO = 'test-org/mobilenetv2-onnx';

  const env = (name: string, extra: Record<string, string> = {}) => ({
    HOME: path.join(tmp, name, 'home'),
    HF_ENDPOINT: mirror.url,
    HF_HUB_CACHE: path.join(tmp, name, 'hub'),
    MODELSHIP_DATA_DIR: path.join(tmp, name, 'data'),
    ...extra,
  });
  const cdn = () => mirror.requests((r) => r.path.startsWith('/cdn/') && r.method === 'GET');

  before(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'ms-hub-'));
    mirror = await HubMirror.start();
    mobilenet = await readFile(path.join(SHARED_MODELS, 'mobilenetv2-12-int8', 'mobilenetv2-12-int8.onnx'));
    const labels = JSON.parse(await readFile(path.join(SHARED_MODELS, 'mobilenetv2-12-int8', 'imagenet-simple-labels.json'), 'utf8')) as string[];
    const r = mirror.addRepo(imageClassifierRepo(REPO, mobilenet, labels));
    commit = r.commit;
    mobileSha = r.files.find((f) => f.path === 'onnx/model_quantized.onnx')!.sha256;
    mirror.addRepo({ ...imageClassifierRepo('test-org/private-mobilenet', mobilenet, labels), private: true });
    mirror.addRepo({ ...imageClassifierRepo('test-org/gated-mobilenet', mobilenet, labels), gated: true });
    mirror.addRepo({
      id: 'microsoft/resnet-50',
      files: [
        { path: 'config.json', bytes: Buffer.from(JSON.stringify({ architectures: ['ResNetForImageClassification'], id2label: { 0: 'tench' } })) },
        { path: 'pytorch_model.bin', bytes: Buffer.alloc(20_000, 1) },
        { path: 'model.safetensors', bytes: Buffer.alloc(20_000, 2) },
        { path: 'tf_model.h5', bytes: Buffer.alloc(20_000, 3) },
      ],
    });
    mirror.addRepo(textRepo('test-org/tiny-sentiment'));
  });

  after(async () => {
    await mirror?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  test('downloads what the model needs into the huggingface_hub cache layout, says what it derived, and classifies the sample photos', async () => {
    const e = env('first');
    const r = await runCli(['models', 'add', `hf:${REPO}`, '--json'], { env: e });
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.name, 'mobilenetv2-onnx');
    assert.equal(j.task, 'image-classification');
    assert.equal(j.modelFile, 'onnx/model_quantized.onnx');
    assert.equal(j.hub.commit, commit);
    assert.ok(j.derived.some((n: string) => /model onnx\/model_quantized\.onnx: no full-precision model\.onnx/.test(n)), j.derived.join('\n'));
    assert.ok(j.derived.some((n: string) => /shorter side to 256, centre crop 224×224/.test(n)), j.derived.join('\n'));
    assert.ok(j.derived.some((n: string) => /1000 labels from config\.json id2label/.test(n)));
    assert.deepEqual(j.hub.downloaded.sort(), ['README.md', 'config.json', 'onnx/model_quantized.onnx', 'preprocessor_config.json']);
    assert.equal(j.manifest.license.spdx, 'apache-2.0');
    assert.deepEqual(j.manifest.provenance.sha256, { 'onnx/model_quantized.onnx': mobileSha });

    // The layout huggingface_hub reads: refs/main → commit, snapshot symlinks → blobs named by etag.
    const repoDir = path.join(e.HF_HUB_CACHE, 'models--test-org--mobilenetv2-onnx');
    assert.equal(await readFile(path.join(repoDir, 'refs', 'main'), 'utf8'), commit);
    const link = path.join(repoDir, 'snapshots', commit, 'onnx', 'model_quantized.onnx');
    assert.ok((await lstat(link)).isSymbolicLink());
    assert.equal(await readlink(link), `../../../blobs/${mobileSha}`);
    assert.equal((await stat(path.join(repoDir, 'blobs', mobileSha))).size, mobilenet.length);
    assert.deepEqual((await readdir(path.join(repoDir, 'blobs'))).filter((f) => f.endsWith('.incomplete')), []);
    // The Hub's 302 to its CDN was followed, without the (absent) token.
    assert.equal(cdn().length, 1);

    const c = await runCli(['classify', fixture('chelsea.jpg'), fixture('coffee.jpg'), fixture('motorcycle.jpg'), '--model', 'mobilenetv2-onnx', '--top', '3', '--json'], { env: e });
    assert.equal(c.code, 0, c.stderr);
    const results = JSON.parse(c.stdout) as { input: string; backend: string; predictions: { label: string; score: number }[] }[];
    const top = Object.fromEntries(results.map((x) => [path.basename(x.input), x.predictions]));
    assert.equal(top['chelsea.jpg']![0]!.label, 'Egyptian Mau', JSON.stringify(top['chelsea.jpg']));
    assert.ok(top['chelsea.jpg']!.slice(1).some((p) => p.label === 'tabby cat'));
    assert.equal(top['coffee.jpg']![0]!.label, 'espresso');
    // 0.595 with sharp's linear resample of this JPEG (see onnx-models.test.ts for why not the shared README's 0.99)
    assert.ok(top['coffee.jpg']![0]!.score > 0.45, `espresso ${top['coffee.jpg']![0]!.score}`);
    assert.equal(top['motorcycle.jpg']![0]!.label, 'moped');
    assert.equal(results[0]!.backend, 'onnx-cpu');

    // A second add finds every file in the cache: nothing crosses the network again.
    const before = cdn().length;
    const again = await runCli(['models', 'add', `hf:${REPO}`, '--force', '--json'], { env: e });
    assert.equal(again.code, 0, again.stderr);
    const j2 = JSON.parse(again.stdout);
    assert.deepEqual(j2.hub.downloaded, []);
    assert.equal(j2.hub.bytes, 0);
    assert.ok(j2.hub.cached.includes('onnx/model_quantized.onnx'));
    assert.equal(cdn().length, before);

    // The config's models.image may name it as hf:… : resolved through the cache, no download.
    const engine = await createEngine({ workers: 1, lazy: true, registry: { env: { ...e, MODELSHIP_DATA_DIR: path.join(tmp, 'first', 'other-data') } } });
    try {
      const res = await engine.classifyImage(await readFile(fixture('coffee.jpg')), { model: `hf:${REPO}` });
      assert.equal(res.predictions[0]!.label, 'espresso');
      // Resolved, not registered, and still listed (the server's /v1/models and /v2/models read this).
      assert.ok((await engine.info()).models.some((m) => m.name === 'mobilenetv2-onnx' && m.runtime === 'onnx'));
      // /v1/models flags it as the default although the config names it by its hf: spec.
      const settings = testSettings();
      const srv = await buildServer({ settings: { ...settings, models: { ...settings.models, image: `hf:${REPO}` } }, engine, logger: false });
      try {
        const list = (await srv.app.inject({ url: '/v1/models' })).json() as { models: { name: string; default: boolean }[] };
        assert.deepEqual(list.models.filter((m) => m.default).map((m) => m.name).sort(), ['mobilenetv2-onnx', settings.models.text, settings.models.detection].sort());
      } finally {
        await srv.app.close();
      }
    } finally {
      await engine.close();
    }
    assert.equal(cdn().length, before);

    // Offline (HF_HUB_OFFLINE=1, endpoint unreachable) the cached snapshot still serves.
    const off = await runCli(['models', 'add', `hf:${REPO}`, '--name', 'offline-copy', '--json'], { env: { ...e, HF_HUB_OFFLINE: '1', HF_ENDPOINT: 'http://127.0.0.1:9' } });
    assert.equal(off.code, 0, off.stderr);
    assert.equal(JSON.parse(off.stdout).hub.commit, commit);

    // The Hub cache cleaned behind modelship's back: the model is listed as broken, with the way back.
    await rm(e.HF_HUB_CACHE, { recursive: true, force: true });
    const list = await runCli(['models', 'list'], { env: e });
    assert.equal(list.code, 1);
    assert.match(list.stdout, /mobilenetv2-onnx\s+BROKEN.*hf:test-org\/mobilenetv2-onnx is no longer in the Hub cache/);
    const info = await runCli(['models', 'info', 'mobilenetv2-onnx'], { env: e });
    assert.match(info.stderr, /hint: .*download it again: modelship models add hf:test-org\/mobilenetv2-onnx --force/);
  });

  test('an interrupted transfer resumes with a Range request, within the run and across runs', async () => {
    const e = env('resume');
    mirror.cutOnce.set(mobileSha, 1_000_000);
    const start = mirror.log.length;
    const r = await runCli(['models', 'add', `hf:${REPO}`], { env: e });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /onnx\/model_quantized\.onnx: connection to 127\.0\.0\.1:\d+ lost after \d+ of 3655033 bytes .*; retrying/);
    assert.match(r.stderr, /resuming onnx\/model_quantized\.onnx at [\d.]+(KiB|MiB) of 3\.\dMiB/);
    const gets = mirror.log.slice(start).filter((x) => x.path.startsWith('/cdn/') && x.method === 'GET');
    assert.equal(gets.length, 2);
    assert.equal(gets[0]!.range, undefined);
    // It resumes where the kept bytes end (the cut is at 1 MB; what reached the file may be a little less).
    const from = Number(/^bytes=(\d+)-$/.exec(gets[1]!.range ?? '')?.[1]);
    assert.ok(from > 500_000 && from <= 1_000_000, `resumed from ${gets[1]!.range}`);
    assert.equal(gets[1]!.sent, mobilenet.length - from, 'only the missing bytes were fetched again');
    assert.equal((await stat(path.join(e.HF_HUB_CACHE, 'models--test-org--mobilenetv2-onnx', 'blobs', mobileSha))).size, mobilenet.length);

    // A partial file left by an earlier run (killed, network lost) is resumed, not restarted.
    const e2 = env('resume2');
    const blobs = path.join(e2.HF_HUB_CACHE, 'models--test-org--mobilenetv2-onnx', 'blobs');
    await mkdir(blobs, { recursive: true });
    await writeFile(path.join(blobs, `${mobileSha}.incomplete`), mobilenet.subarray(0, 1_500_000));
    const start2 = mirror.log.length;
    const r2 = await runCli(['models', 'add', `hf:${REPO}`], { env: e2 });
    assert.equal(r2.code, 0, r2.stderr);
    const gets2 = mirror.log.slice(start2).filter((x) => x.path.startsWith('/cdn/') && x.method === 'GET');
    assert.deepEqual(gets2.map((g) => [g.range, g.sent]), [['bytes=1500000-', mobilenet.length - 1_500_000]]);
    assert.equal((await stat(path.join(blobs, mobileSha))).size, mobilenet.length);

    // A server that ignores Range answers 200 with the whole file: the partial is replaced, not appended to.
    const e3 = env('resume3');
    const blobs3 = path.join(e3.HF_HUB_CACHE, 'models--test-org--mobilenetv2-onnx', 'blobs');
    await mkdir(blobs3, { recursive: true });
    await writeFile(path.join(blobs3, `${mobileSha}.incomplete`), mobilenet.subarray(0, 700_000));
    mirror.ignoreRange = true;
    try {
      const r3 = await runCli(['models', 'add', `hf:${REPO}`], { env: e3 });
      assert.equal(r3.code, 0, r3.stderr);
    } finally {
      mirror.ignoreRange = false;
    }
    assert.equal((await stat(path.join(blobs3, mobileSha))).size, mobilenet.length);
  });

  test('bytes that do not hash to the sha256 the Hub lists are refused, and nothing is kept', async () => {
    const e = env('corrupt');
    mirror.corrupt.add(mobileSha);
    try {
      const r = await runCli(['models', 'add', `hf:${REPO}`], { env: e });
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`onnx/model_quantized\\.onnx: checksum mismatch: the Hub says sha256 ${mobileSha}, the downloaded bytes hash to [0-9a-f]{64}`));
      assert.match(r.stderr, /nothing was kept/);
      const blobs = await readdir(path.join(e.HF_HUB_CACHE, 'models--test-org--mobilenetv2-onnx', 'blobs'));
      assert.ok(!blobs.some((b) => b.startsWith(mobileSha)), `left behind: ${blobs.join(', ')}`);
      const list = await runCli(['models', 'list', '--json'], { env: e });
      assert.ok(!JSON.parse(list.stdout).some((m: { name: string }) => m.name === 'mobilenetv2-onnx'), 'not registered');
    } finally {
      mirror.corrupt.delete(mobileSha);
    }
  });

  test('a private repo: 401 without a token says so; HF_TOKEN opens it and is sent to the Hub, not to its CDN', async () => {
    const e = env('private');
    const r = await runCli(['models', 'add', 'hf:test-org/private-mobilenet'], { env: e });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /hf:test-org\/private-mobilenet: repository not found, or it is private and no token was given/);
    assert.match(r.stderr, /hint: .*set HF_TOKEN to a read token/);
    const bad = await runCli(['models', 'add', 'hf:test-org/private-mobilenet'], { env: { ...e, HF_TOKEN: 'hf_wrong' } });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /the Hub refused the token from HF_TOKEN/);
    const start = mirror.log.length;
    const ok = await runCli(['models', 'add', 'hf:test-org/private-mobilenet'], { env: { ...e, HF_TOKEN: MIRROR_TOKEN } });
    assert.equal(ok.code, 0, ok.stderr);
    const seen = mirror.log.slice(start);
    assert.ok(seen.filter((x) => !x.path.startsWith('/cdn/')).every((x) => x.auth === `Bearer ${MIRROR_TOKEN}`));
    // The CDN the Hub redirects to is another origin: it never sees the token.
    const cdnSeen = seen.filter((x) => x.path.startsWith('/cdn/'));
    assert.ok(cdnSeen.length > 0);
    assert.ok(cdnSeen.every((x) => x.auth === undefined), 'no Authorization header on the CDN');
  });

  test('a repo with PyTorch weights only is refused before any download, naming an ONNX export instead', async () => {
    const start = mirror.log.length;
    const r = await runCli(['models', 'add', 'hf:microsoft/resnet-50'], { env: env('noonnx') });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /hf:microsoft\/resnet-50 has no ONNX model file: it holds pytorch_model\.bin, model\.safetensors, tf_model\.h5 \(PyTorch\/TensorFlow weights\)/);
    assert.match(r.stderr, /hint: name an ONNX export of the same model instead \(on the Hub such exports are usually hf:Xenova\/resnet-50 or hf:onnx-community\/resnet-50\)/);
    assert.deepEqual(mirror.log.slice(start).filter((x) => x.path.includes('/resolve/')), []);
  });

  test('gated repos, unknown revisions and unknown repos are told apart', async () => {
    const g = await runCli(['models', 'add', 'hf:test-org/gated-mobilenet'], { env: env('gated') });
    assert.equal(g.code, 1);
    assert.match(g.stderr, /hf:test-org\/gated-mobilenet is a gated repository: its authors must grant access first/);
    const rev = await runCli(['models', 'add', `hf:${REPO}@v9-nope`], { env: env('rev') });
    assert.equal(rev.code, 1);
    assert.match(rev.stderr, /revision "v9-nope" does not exist in test-org\/mobilenetv2-onnx/);
    const pinned = await runCli(['models', 'add', `hf:${REPO}@${commit}`, '--json'], { env: env('rev') });
    assert.equal(pinned.code, 0, pinned.stderr);
    const none = await runCli(['models', 'add', 'hf:test-org/does-not-exist'], { env: { ...env('none'), HF_TOKEN: MIRROR_TOKEN } });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /hf:test-org\/does-not-exist: repository not found \(the Hub said: Repository not found\)/);
    const malformed = await runCli(['models', 'add', 'hf:just-a-name'], { env: env('none') });
    assert.equal(malformed.code, 2);
    assert.match(malformed.stderr, /"just-a-name" is not ORG\/NAME/);
    const down = await runCli(['models', 'add', `hf:${REPO}`], { env: { ...env('down'), HF_ENDPOINT: 'http://127.0.0.1:9' } });
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach 127\.0\.0\.1:9: ECONNREFUSED/);
  });

  test('a derived manifest that does not fit the model is refused at add, naming the model\'s real input', async () => {
    const spec = imageClassifierRepo('test-org/wrong-size', mobilenet, Array.from({ length: 1000 }, (_, i) => `c${i}`));
    const pre = JSON.parse(spec.files.find((f) => f.path === 'preprocessor_config.json')!.bytes.toString());
    spec.files = spec.files.map((f) => (f.path === 'preprocessor_config.json' ? { ...f, bytes: Buffer.from(JSON.stringify({ ...pre, size: { shortest_edge: 320 }, crop_size: { height: 320, width: 320 } })) } : f));
    mirror.addRepo(spec);
    const e = env('wrong');
    const r = await runCli(['models', 'add', 'hf:test-org/wrong-size'], { env: e });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot add hf:test-org\/wrong-size:\n\s+- onnx\/model_quantized\.onnx: the model's input "input" float32 \[.*,3,224,224\] takes height 224 \(manifest input\.height 320\)/);
    const list = JSON.parse((await runCli(['models', 'list', '--json'], { env: e })).stdout) as { name: string }[];
    assert.ok(!list.some((m) => m.name === 'wrong-size'));
  });

  test('a tokenizer.json text model runs in ONNX Runtime: ids, attention mask and truncation as the tokenizer defines them', async () => {
    const e = env('text');
    const r = await runCli(['models', 'add', 'hf:test-org/tiny-sentiment', '--json'], { env: e });
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.task, 'text-classification');
    assert.deepEqual(j.manifest.tokenizer, { type: 'huggingface', file: 'tokenizer.json', config: 'tokenizer_config.json', maxLength: 8, truncation: 'right' });
    assert.ok(j.derived.some((n: string) => /at most 8 tokens per text \(tokenizer_config\.json model_max_length\)/.test(n)));

    const engine = await createEngine({ workers: 1, lazy: true, batching: { maxBatchSize: 8, maxQueueDelayMs: 200 }, registry: { env: e } });
    let largest = 0;
    engine.onBatch((n) => (largest = Math.max(largest, n)));
    try {
      // Different lengths in one batch: the short one is padded with [PAD], whose embedding would flip it if the mask were not fed.
      const [great, unb, cut] = await Promise.all([
        engine.classifyText('GREAT', { model: 'tiny-sentiment' }),
        engine.classifyText('the movie was unbelievable!', { model: 'tiny-sentiment' }),
        engine.classifyText('the the the the the the the great', { model: 'tiny-sentiment' }),
      ]);
      assert.ok(largest >= 2, `the texts were batched (largest batch ${largest})`);
      assert.equal(great.predictions[0]!.label, 'positive');
      assert.ok(Math.abs(great.predictions[0]!.score - 1 / (1 + Math.exp(-3))) < 1e-5, JSON.stringify(great));
      assert.equal(unb.predictions[0]!.label, 'negative');
      assert.ok(Math.abs(unb.predictions[0]!.score - 1 / (1 + Math.exp(-2))) < 1e-5, JSON.stringify(unb));
      // [CLS] + 7 × "the" + "great" + [SEP] is 10 tokens: cut to 8 on the right, "great" is gone.
      assert.ok(Math.abs(cut.predictions[0]!.score - 0.5) < 1e-6, JSON.stringify(cut));
      assert.equal(great.backend, 'onnx-cpu');
    } finally {
      await engine.close();
    }
  });

  test('models add DIR takes a Hugging Face layout directory as it is: manifest derived, variant chosen, text classified through the CLI', async () => {
    const e = env('dir');
    const dir = path.join(tmp, 'dir', 'My-Sentiment');
    for (const f of textRepo('x/y').files) {
      await mkdir(path.dirname(path.join(dir, f.path)), { recursive: true });
      await writeFile(path.join(dir, f.path), f.bytes);
    }
    await writeFile(path.join(dir, 'onnx', 'model_fp16.onnx'), 'not used');
    const bad = await runCli(['models', 'add', dir, '--variant', 'int8'], { env: e });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /no variant "int8"/);
    assert.match(bad.stderr, /available: fp32 \(onnx\/model\.onnx\), fp16 \(onnx\/model_fp16\.onnx\)/);
    const r = await runCli(['models', 'add', dir], { env: e });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /added my-sentiment \(text-classification, 2 labels\) from /);
    assert.match(r.stdout, /- model onnx\/model\.onnx: full precision.*also present: fp16 \(choose with --variant\)/);
    assert.match(r.stdout, /- licence unknown \(no license in the model card\): recorded as NOASSERTION/);
    const c = await runCli(['classify', '--model', 'my-sentiment', '--text', 'the movie was great', '--json'], { env: e });
    assert.equal(c.code, 0, c.stderr);
    const [res] = JSON.parse(c.stdout) as { predictions: { label: string }[]; backend: string }[];
    assert.equal(res!.predictions[0]!.label, 'positive');
    assert.equal(res!.backend, 'onnx-cpu');
    const list = JSON.parse((await runCli(['models', 'list', '--json'], { env: e })).stdout) as { name: string; runtime: string }[];
    assert.equal(list.find((m) => m.name === 'my-sentiment')?.runtime, 'onnx');
  });
});
