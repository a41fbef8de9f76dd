/**
 * The Open Inference Protocol (KServe V2) as its clients use it, against a real engine and a real
 * listening server: tritonclient.http's and KServe's REST client's requests replayed byte for byte
 * (see test/helpers/v2-clients.ts for what each sends and how each reads the answer), tensor
 * validation against the model metadata, requested outputs, readiness of a model that cannot
 * load, ids, 405s, 415s and probes during a drain.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type net from 'node:net';
import path from 'node:path';
import { createEngine, type Engine } from '../../../src/inference/engine.ts';
import { BUNDLED_MODELS_DIR } from '../../../src/inference/registry.ts';
import { buildServer, type Server } from '../../../src/server/app.ts';
import { testSettings } from '../../helpers/server.ts';
import { rawRequest } from '../../helpers/raw-http.ts';
import { kserveInferRequest, kserveInferResponse, KServeHTTPStatusError, tritonGet, tritonInferRequest, tritonInferResult, TritonError, type ClientInput } from '../../helpers/v2-clients.ts';

const FIX = path.resolve(import.meta.dirname, '../../fixtures/images');
const KEY = 'v2-test-key-0123456789abcdef';
const LABELS = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];

let dir: string;
let engine: Engine;
let srv: Server;
let port: number;
let coffee: Buffer;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ms-v2-'));
  for (const m of ['content-safety', 'sentiment', 'objects']) await cp(path.join(BUNDLED_MODELS_DIR, m), path.join(dir, m), { recursive: true });
  // A registered model whose weights are damaged: it is listed, it cannot load.
  await cp(path.join(BUNDLED_MODELS_DIR, 'content-safety'), path.join(dir, 'broken'), { recursive: true });
  const manifest = JSON.parse(await readFile(path.join(dir, 'broken', 'manifest.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(path.join(dir, 'broken', 'manifest.json'), JSON.stringify({ ...manifest, name: 'broken' }));
  // damaged whichever runtime loads it: the ONNX file and the TF.js weights
  await truncate(path.join(dir, 'broken', 'model.onnx'), 50_000);
  await truncate(path.join(dir, 'broken', 'group1-shard1of1.bin'), 50_000);
  // A sound model nobody has used yet.
  await cp(path.join(BUNDLED_MODELS_DIR, 'content-safety'), path.join(dir, 'spare'), { recursive: true });
  const spare = JSON.parse(await readFile(path.join(dir, 'spare', 'manifest.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(path.join(dir, 'spare', 'manifest.json'), JSON.stringify({ ...spare, name: 'spare' }));
  coffee = await readFile(path.join(FIX, 'coffee.jpg'));
  engine = await createEngine({ workers: 1, preload: ['content-safety', 'sentiment'], registry: { bundledDir: dir, env: { MODELSHIP_DATA_DIR: path.join(dir, 'data') } } });
  srv = await buildServer({ settings: testSettings({ maxConcurrent: 16 }), engine, logger: false });
  await srv.service.warmUp({ image: coffee });
  // warmUp loads the detector in the background: let it finish, so no test closes the engine
  // while a model is still loading (ONNX Runtime aborts the process then; see the report)
  for (let i = 0; i < 600 && srv.service.models.get('objects').state !== 'ready'; i++) await new Promise((r) => setTimeout(r, 100));
  await srv.app.listen({ host: '127.0.0.1', port: 0 });
  port = (srv.app.server.address() as net.AddressInfo).port;
});

after(async () => {
  await srv?.app.close();
  await engine?.close();
  await rm(dir, { recursive: true, force: true });
});

const send = (w: { head: string[]; body: Buffer }) => rawRequest(port, w.head, w.body);
const image = (binary: boolean, elements: (Buffer | string)[] = [coffee]): ClientInput => ({ name: 'image', shape: [elements.length], datatype: 'BYTES', elements, binary });
const text = (binary: boolean, elements: string[]): ClientInput => ({ name: 'text', shape: [elements.length], datatype: 'BYTES', elements, binary });

function assertRanked(labels: (string | number)[], scores: (string | number)[], k: number): void {
  assert.equal(labels.length, k);
  assert.equal(scores.length, k);
  for (const l of labels) assert.ok(LABELS.includes(l as string), `label ${String(l)}`);
  for (let i = 1; i < k; i++) assert.ok((scores[i - 1] as number) >= (scores[i] as number), 'scores are ranked');
  assert.equal(labels[0], 'Neutral'); // a cup of coffee
}

describe('tritonclient.http, byte for byte', () => {
  test('infer with its defaults: binary input, no Content-Type, binary_data_output: true', async () => {
    const w = tritonInferRequest({ port, model: 'content-safety', inputs: [image(true)], requestId: 'triton-1' });
    assert.ok(!w.head.some((h) => /^content-type:/i.test(h)), 'tritonclient sends no Content-Type');
    const r = await send(w);
    assert.equal(r.status, 200, r.body.toString('utf8').slice(0, 300));
    assert.ok(r.headers['inference-header-content-length'], 'binary outputs announce the JSON length');
    const res = tritonInferResult(r);
    assert.equal(res.result.id, 'triton-1');
    assert.equal(res.result.model_name, 'content-safety');
    const labels = res.asNumpy('label')!;
    const scores = res.asNumpy('score')!;
    assert.deepEqual(labels.shape, [1, 5]);
    assert.deepEqual(scores.shape, [1, 5]);
    assertRanked(labels.values, scores.values, 5);
    assert.ok(Math.abs((scores.values as number[]).reduce((a, b) => a + b, 0) - 1) < 1e-3, 'probabilities sum to 1');
  });

  test('requested outputs: only those, binary or JSON each as asked', async () => {
    const w = tritonInferRequest({ port, model: 'content-safety', inputs: [image(true, [coffee, coffee])], outputs: [{ name: 'score', binary_data: false }], parameters: { top_k: 2 } });
    const r = await send(w);
    const res = tritonInferResult(r);
    const outs = (res.result.outputs as { name: string; data?: number[] }[]);
    assert.deepEqual(outs.map((o) => o.name), ['score']);
    assert.equal(res.asNumpy('label'), null);
    const scores = res.asNumpy('score')!;
    assert.deepEqual(scores.shape, [2, 2]);
    assert.equal(r.headers['inference-header-content-length'], undefined, 'no binary output: plain JSON');
    assert.equal(r.headers['content-type'], 'application/json');
  });

  test('JSON input (binary_data=False) on the text model, binary label output', async () => {
    const w = tritonInferRequest({ port, model: 'sentiment', inputs: [text(false, ['I love this!', 'this is awful'])], outputs: [{ name: 'label', binary_data: true }] });
    const res = tritonInferResult(await send(w));
    const labels = res.asNumpy('label')!;
    assert.deepEqual(labels.shape, [2, 3]);
    assert.equal(labels.values[0], 'positive');
    assert.equal(labels.values[3], 'negative');
  });

  test('binary UTF-8 text input', async () => {
    const res = tritonInferResult(await send(tritonInferRequest({ port, model: 'sentiment', inputs: [text(true, ['I love this café ☕, it is wonderful 😀'])] })));
    assert.equal(res.asNumpy('label')!.values[0], 'positive');
  });

  test('errors come back as the client reads them: {"error": ...} for any status but 200', async () => {
    const unknownOut = await send(tritonInferRequest({ port, model: 'content-safety', inputs: [image(true)], outputs: [{ name: 'probabilities' }] }));
    assert.equal(unknownOut.status, 400);
    assert.throws(() => tritonInferResult(unknownOut), (e: Error) => e instanceof TritonError && /unknown output "probabilities".*"label", "score"/.test(e.message));
    const classification = await send(tritonInferRequest({ port, model: 'content-safety', inputs: [image(true)], outputs: [{ name: 'label', class_count: 3 }] }));
    assert.throws(() => tritonInferResult(classification), /classification extension is not supported/);
    const wrongName = await send(tritonInferRequest({ port, model: 'content-safety', inputs: [{ ...image(true), name: 'INPUT0' }] }));
    assert.throws(() => tritonInferResult(wrongName), /unknown input "INPUT0": model content-safety takes one input "image"/);
  });

  test('server metadata lists the binary extension; server and model readiness as the client asks (no key)', async () => {
    const meta = await send(tritonGet(port, '/v2'));
    assert.equal(meta.status, 200);
    assert.ok((JSON.parse(meta.body.toString()) as { extensions: string[] }).extensions.includes('binary_tensor_data'));
    assert.equal((await send(tritonGet(port, '/v2/health/ready'))).status, 200);
    assert.equal((await send(tritonGet(port, '/v2/models/content-safety/ready'))).status, 200);
    const md = JSON.parse((await send(tritonGet(port, '/v2/models/content-safety'))).body.toString()) as { inputs: { name: string; shape: number[] }[]; outputs: { name: string }[] };
    assert.deepEqual(md.inputs, [{ name: 'image', datatype: 'BYTES', shape: [-1] }]);
    assert.deepEqual(md.outputs.map((o) => o.name), ['label', 'score']);
  });
});

describe('KServe InferenceRESTClient, byte for byte', () => {
  test('JSON body without Content-Type (httpx content=orjson bytes)', async () => {
    const w = kserveInferRequest({ port, model: 'sentiment', id: '8c6a1f9e-kserve', inputs: [text(false, ['great', 'awful'])] });
    const out = kserveInferResponse(await send(w));
    assert.equal(out.id, '8c6a1f9e-kserve');
    assert.equal(out.model_name, 'sentiment');
    assert.deepEqual(out.outputs.map((o) => [o.name, o.shape]), [['label', [2, 3]], ['score', [2, 3]]]);
    assert.equal(out.outputs[0]!.values[0], 'positive');
  });

  test('binary input: application/octet-stream + inference-header-content-length; binary_data_output', async () => {
    const w = kserveInferRequest({ port, model: 'content-safety', id: 'ks-2', inputs: [image(true)], parameters: { binary_data_output: true } });
    const r = await send(w);
    assert.equal(r.status, 200, r.body.toString('utf8').slice(0, 300));
    const out = kserveInferResponse(r);
    assertRanked(out.outputs[0]!.values, out.outputs[1]!.values, 5);
  });

  test('an error carries Content-Type exactly application/json, so the client reads its message', async () => {
    const w = kserveInferRequest({ port, model: 'sentiment', id: 'ks-3', inputs: [{ ...text(false, ['a']), shape: [2] }] });
    const r = await send(w);
    assert.equal(r.status, 400);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.throws(() => kserveInferResponse(r), (e: Error) => e instanceof KServeHTTPStatusError && /shape \[2\] describes 2 element\(s\) but "data" holds 1/.test(e.message));
  });
});

describe('tensors are checked against the model metadata', () => {
  const infer = (body: unknown, model = 'sentiment') => srv.app.inject({ method: 'POST', url: `/v2/models/${model}/infer`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });
  const cases: [string, unknown, RegExp][] = [
    ['shape [2] with one element', { inputs: [{ name: 'text', shape: [2], datatype: 'BYTES', data: ['a'] }] }, /describes 2 element\(s\) but "data" holds 1/],
    ['shape [1] with two elements', { inputs: [{ name: 'text', shape: [1], datatype: 'BYTES', data: ['a', 'b'] }] }, /describes 1 element\(s\) but "data" holds 2/],
    ['shape [-1]', { inputs: [{ name: 'text', shape: [-1], datatype: 'BYTES', data: ['a'] }] }, /non-negative integers/],
    ['no shape', { inputs: [{ name: 'text', datatype: 'BYTES', data: ['a'] }] }, /has no "shape"/],
    ['no name', { inputs: [{ shape: [1], datatype: 'BYTES', data: ['a'] }] }, /has no "name"/],
    ['a wrong input name', { inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: ['a'] }] }, /unknown input "image": model sentiment takes one input "text"/],
    ['no datatype', { inputs: [{ name: 'text', shape: [1], data: ['a'] }] }, /has no "datatype"/],
    ['a wrong datatype', { inputs: [{ name: 'text', shape: [1], datatype: 'FP32', data: [1] }] }, /datatype FP32; expected BYTES/],
    ['no data', { inputs: [{ name: 'text', shape: [1], datatype: 'BYTES' }] }, /has no "data"/],
    ['a rank-2 shape', { inputs: [{ name: 'text', shape: [1, 1], datatype: 'BYTES', data: [['a']] }] }, /has 2 dimension\(s\); the model's is \[-1\]/],
    ['a non-string id', { id: 42, inputs: [{ name: 'text', shape: [1], datatype: 'BYTES', data: ['a'] }] }, /"id" must be a string/],
    ['an unknown output', { inputs: [{ name: 'text', shape: [1], datatype: 'BYTES', data: ['a'] }], outputs: [{ name: 'scores' }] }, /unknown output "scores"/],
    ['no inputs', { inputs: [] }, /non-empty list/],
  ];
  for (const [what, body, message] of cases) {
    test(`400 for ${what}`, async () => {
      const r = await infer(body);
      assert.equal(r.statusCode, 400, r.body);
      assert.match(r.json().error, message);
    });
  }

  test('nested data that matches a rank-1 shape, the request id echoed, exactly the requested outputs', async () => {
    const r = await infer({ id: 'req-7', inputs: [{ name: 'text', shape: [2], datatype: 'BYTES', data: [['good'], ['bad']] }], outputs: [{ name: 'score' }] });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.json().id, 'req-7');
    assert.deepEqual(r.json().outputs.map((o: { name: string }) => o.name), ['score']);
    assert.deepEqual(r.json().outputs[0].shape, [2, 3]);
  });

  test('415 for a body that is clearly not JSON; none, JSON and octet-stream are read as JSON', async () => {
    const body = JSON.stringify({ inputs: [{ name: 'text', shape: [1], datatype: 'BYTES', data: ['nice'] }] });
    for (const ct of ['text/plain', 'image/jpeg', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded']) {
      const r = await srv.app.inject({ method: 'POST', url: '/v2/models/sentiment/infer', headers: { 'content-type': ct }, payload: body });
      assert.equal(r.statusCode, 415, `${ct}: ${r.body}`);
      assert.match(r.json().error, /inference request is JSON/);
    }
    for (const ct of ['application/json', 'application/json; charset=utf-8', 'application/octet-stream']) {
      const r = await srv.app.inject({ method: 'POST', url: '/v2/models/sentiment/infer', headers: { 'content-type': ct }, payload: body });
      assert.equal(r.statusCode, 200, `${ct}: ${r.body}`);
    }
  });
});

describe('readiness tells the truth', () => {
  test('a model whose weights cannot load is not ready, before and after its inference fails; the server stays ready and names it', async () => {
    const before = await srv.app.inject({ url: '/v2/models/broken/ready' });
    assert.equal(before.statusCode, 503, before.body);
    assert.equal(before.json().ready, false);
    const inf = await srv.app.inject({ method: 'POST', url: '/v2/models/broken/infer', headers: { 'content-type': 'application/json' }, payload: { inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [coffee.toString('base64')] }] } });
    assert.equal(inf.statusCode, 503, inf.body);
    const afterInf = await srv.app.inject({ url: '/v2/models/broken/ready' });
    assert.equal(afterInf.statusCode, 503);
    assert.deepEqual({ ready: afterInf.json().ready, state: afterInf.json().state }, { ready: false, state: 'failed' });
    assert.match(afterInf.json().error, /./);
    // the other models keep serving; the server's readiness names the broken one
    assert.equal((await srv.app.inject({ url: '/v2/models/content-safety/ready' })).statusCode, 200);
    assert.equal((await srv.app.inject({ url: '/v2/health/ready' })).statusCode, 200);
    const h = await srv.app.inject({ url: '/health/ready' });
    assert.equal(h.statusCode, 200, h.body);
    assert.ok(h.json().checks.models.detail?.broken?.broken, h.body);
    const d = (await srv.app.inject({ url: '/health/detailed' })).json() as { models: { name: string; state: string }[] };
    assert.equal(d.models.find((m) => m.name === 'broken')!.state, 'failed');
    assert.equal(d.models.find((m) => m.name === 'content-safety')!.state, 'ready');
    const metrics = (await srv.app.inject({ url: '/health/metrics' })).body;
    assert.match(metrics, /modelship_model_ready\{model="broken"\} 0/);
    assert.match(metrics, /modelship_model_ready\{model="content-safety"\} 1/);
  });

  test('a model not loaded yet is not ready; the probe loads it and it turns ready', async () => {
    const first = await srv.app.inject({ url: '/v2/models/spare/ready' });
    assert.equal(first.statusCode, 503, first.body);
    assert.equal(first.json().ready, false);
    const end = Date.now() + 60_000;
    let last = first;
    while (Date.now() < end && last.statusCode !== 200) {
      await new Promise((r) => setTimeout(r, 200));
      last = await srv.app.inject({ url: '/v2/models/spare/ready' });
    }
    assert.equal(last.statusCode, 200, last.body);
    assert.deepEqual(last.json(), { name: 'spare', ready: true });
  });
});

describe('routes, keys and the drain', () => {
  test('a wrong method on an existing route is 405 with Allow', async () => {
    const r = await srv.app.inject({ method: 'GET', url: '/v2/models/sentiment/infer' });
    assert.equal(r.statusCode, 405, r.body);
    assert.equal(r.headers.allow, 'POST');
    const h = await srv.app.inject({ method: 'DELETE', url: '/v1/classify/text' });
    assert.equal(h.statusCode, 405);
    assert.equal((await srv.app.inject({ method: 'GET', url: '/v2/nothing/here' })).statusCode, 404);
  });

  test('model readiness needs no key (a Kubernetes probe carries none); infer does', async () => {
    const authed = await buildServer({ settings: testSettings({ authRequired: true, staticKeys: [KEY] }), engine, logger: false });
    try {
      await authed.service.warmUp({ image: coffee });
      for (let i = 0; i < 600 && authed.service.models.get('objects').state !== 'ready'; i++) await new Promise((r) => setTimeout(r, 100)); // its background detector run
      assert.equal((await authed.app.inject({ url: '/v2/models/content-safety/ready' })).statusCode, 200);
      assert.equal((await authed.app.inject({ url: '/v2/models/content-safety/versions/nsfwjs-4.3.0/ready' })).statusCode, 200);
      assert.equal((await authed.app.inject({ url: '/v2/health/ready' })).statusCode, 200);
      assert.equal((await authed.app.inject({ url: '/v2/models/content-safety' })).statusCode, 401);
      assert.equal((await authed.app.inject({ method: 'POST', url: '/v2/models/sentiment/infer', payload: { inputs: [{ name: 'text', shape: [1], datatype: 'BYTES', data: ['x'] }] } })).statusCode, 401);
    } finally {
      await authed.app.close();
    }
  });

  test('per-model ready probes count as health probes: they do not hold a drain open', async () => {
    const before = srv.drain.lastRequestAt;
    for (let i = 0; i < 5; i++) await srv.app.inject({ url: '/v2/models/content-safety/ready' });
    assert.equal(srv.drain.lastRequestAt, before, 'a ready probe does not count as traffic');
    srv.drain.draining = true;
    try {
      const r = await srv.app.inject({ url: '/v2/models/content-safety/ready' });
      assert.equal(r.statusCode, 503);
      assert.equal(r.json().state, 'draining');
    } finally {
      srv.drain.draining = false;
    }
  });
});
