/**
 * The HTTP API's edges against a real engine (no database, no Redis): the per-input timeout
 * (504, queued work dropped, the gate held while work really runs, the late result cached),
 * CORS, response compression and key-protected metrics.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { createEngine, type Engine } from '../../../src/inference/engine.ts';
import { buildServer, type Server } from '../../../src/server/app.ts';
import { testSettings } from '../../helpers/server.ts';

const FIX = path.resolve(import.meta.dirname, '../../fixtures/images');
const KEY = 'edge-test-key-0123456789abcdef';

let engine: Engine;
let photos: Buffer[];

before(async () => {
  [engine, ...photos] = await Promise.all([
    createEngine({ workers: 1, preload: ['content-safety', 'objects'] }),
    ...['coffee.jpg', 'chelsea.jpg', 'astronaut.jpg', 'motorcycle.jpg', 'camera-gray.png', 'chelsea-exif6.jpg'].map((f) => readFile(path.join(FIX, f))),
  ]);
  // load the detector before the timing-sensitive test
  await engine.detect(photos[0]!, { model: 'objects' });
});

after(() => engine?.close());

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Model executions so far, from the batch-size histogram. */
async function executions(srv: Server): Promise<number> {
  const body = (await srv.app.inject({ url: '/health/metrics' })).body;
  return Number(/modelship_inference_batch_size_count\S* (\d+)/.exec(body)?.[1] ?? 'NaN');
}

describe('request timeout', () => {
  let srv: Server;
  before(async () => {
    // Detection takes well over 40 ms per image here, so every request times out.
    srv = await buildServer({ settings: testSettings({ requestTimeoutMs: 40, maxConcurrent: 16 }), engine, logger: false });
    await srv.service.warmUp({ image: photos[0]! });
  });
  after(() => srv.app.close());

  test('504 with code timeout; queued inputs are dropped, not run; the gate frees when the running one ends; its late result is cached', async () => {
    assert.equal((await engine.info()).workers, 1);
    // warmUp's detection runs in the background: one more call behind it (one worker, FIFO) waits it out
    await engine.detect(photos[0]!, { model: 'objects' });
    const executionsBefore = await executions(srv);
    const started = performance.now();
    const rs = await Promise.all(photos.map((p) => srv.app.inject({ method: 'POST', url: '/v1/detect', headers: { 'content-type': 'application/octet-stream' }, payload: p })));
    const answeredMs = performance.now() - started;
    for (const r of rs) {
      assert.equal(r.statusCode, 504, r.body);
      const body = r.json();
      assert.equal(body.code, 'timeout');
      assert.match(body.error, /request timeout \(40 ms\)/);
      assert.ok(body.requestId);
    }
    // Six images would take several hundred ms to detect one after another: the answers did not wait for them.
    assert.ok(answeredMs < 2000, `answered after ${answeredMs.toFixed(0)} ms`);
    // At most the two inputs a worker holds (the running one and the one queued behind it) still run.
    assert.ok(srv.service.gate.inflight > 0, 'the gate counts the input still running');
    await until(() => srv.service.gate.inflight === 0, 10_000);
    const metrics = (await srv.app.inject({ url: '/health/metrics' })).body;
    assert.match(metrics, /modelship_inference_rejected_total\{reason="timeout"\} 6/);
    // Inputs that never reached a worker were never run: the batch-size histogram counts executions.
    const ran = (await executions(srv)) - executionsBefore;
    // (none, on a machine so loaded that no decode finished within the timeout)
    assert.ok(ran <= 2, `executions of abandoned inputs: ${ran}`);
    // A retry of an input that finished after its timeout is answered from the cache. Retries go
    // one at a time to an idle server: admission is decided before the body is read (so before
    // the cache is asked), and a busy server refuses what cannot finish within the timeout.
    const hitOrTimeout = [];
    for (const p of photos) {
      await until(() => srv.service.gate.inflight === 0, 10_000);
      hitOrTimeout.push(await srv.app.inject({ method: 'POST', url: '/v1/detect', headers: { 'content-type': 'application/octet-stream' }, payload: p }));
    }
    const hits = hitOrTimeout.filter((r) => r.statusCode === 200 && r.json().results[0].cached === true).length;
    assert.equal(hits, ran, 'each input that ran after its timeout answers its retry from the cache');
    await until(() => srv.service.gate.inflight === 0, 10_000);
    // The server still answers normally.
    const health = await srv.app.inject({ url: '/health/ready' });
    assert.equal(health.statusCode, 200, health.body);
  });
});

describe('a client that hangs up', () => {
  let srv: Server;
  before(async () => {
    srv = await buildServer({ settings: testSettings({ maxConcurrent: 16 }), engine, logger: false });
    await srv.service.warmUp({ image: photos[0]! });
    await engine.detect(photos[0]!, { model: 'objects' }); // waits out warmUp's background detection
    await srv.app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(() => srv.app.close());

  test('its inputs still queued are dropped; the one running finishes; the server goes on', async () => {
    const executionsBefore = await executions(srv);
    const boundary = 'hangupBoundary42';
    const parts = photos.map((p, i) => Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="p${i}.jpg"\r\nContent-Type: application/octet-stream\r\n\r\n`), p, Buffer.from('\r\n')]));
    const body = Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]);
    const { port } = srv.app.server.address() as net.AddressInfo;
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write(`POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}\r\n\r\n`);
    sock.write(body);
    // hang up as soon as the first has started: on ONNX Runtime a detection takes ~0.1 s, so
    // waiting longer lets the next ones start before the server sees the close
    await until(() => srv.service.gate.inflight > 0, 5000);
    sock.destroy();
    await until(() => srv.service.gate.inflight === 0, 10_000);
    const ran = (await executions(srv)) - executionsBefore;
    assert.ok(ran <= 2, `inputs run after the client left: ${ran} of ${photos.length}`);
    const metrics = (await srv.app.inject({ url: '/health/metrics' })).body;
    assert.match(metrics, /modelship_inference_rejected_total\{reason="client_closed"\} 1/);
    await until(() => srv.drain.inflight === 0, 3000); // the drain count does not leak the abandoned request
    const r = await srv.app.inject({ method: 'POST', url: '/v1/detect', headers: { 'content-type': 'application/octet-stream' }, payload: photos[2]! });
    assert.equal(r.statusCode, 200, r.body);
  });
});

describe('a model whose files cannot load', () => {
  test('503 model_unavailable naming the model and the cause; the server goes on with its other models', async () => {
    const { cp, mkdtemp, rm, truncate, writeFile: write } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { BUNDLED_MODELS_DIR } = await import('../../../src/inference/registry.ts');
    const dir = await mkdtemp(path.join(tmpdir(), 'ms-broken-api-'));
    await cp(path.join(BUNDLED_MODELS_DIR, 'content-safety'), path.join(dir, 'content-safety'), { recursive: true });
    await cp(path.join(BUNDLED_MODELS_DIR, 'content-safety'), path.join(dir, 'broken'), { recursive: true });
    const manifest = JSON.parse(await readFile(path.join(dir, 'broken', 'manifest.json'), 'utf8')) as Record<string, unknown>;
    await write(path.join(dir, 'broken', 'manifest.json'), JSON.stringify({ ...manifest, name: 'broken' }));
    await truncate(path.join(dir, 'broken', 'model.onnx'), 50_000);
    const own = await createEngine({ workers: 1, registry: { bundledDir: dir, env: { MODELSHIP_DATA_DIR: path.join(dir, 'data') } } });
    const srv = await buildServer({ settings: testSettings(), engine: own, logger: false });
    try {
      const r = await srv.app.inject({ method: 'POST', url: '/v1/classify/image?model=broken', headers: { 'content-type': 'image/jpeg' }, payload: photos[0]! });
      assert.equal(r.statusCode, 503, r.body);
      assert.equal(r.json().code, 'model_unavailable');
      assert.match(r.json().error, /model broken cannot be loaded on this server: .*model\.onnx/);
      const ok = await srv.app.inject({ method: 'POST', url: '/v1/classify/image?model=content-safety', headers: { 'content-type': 'image/jpeg' }, payload: photos[0]! });
      assert.equal(ok.statusCode, 200, ok.body);
    } finally {
      await srv.app.close();
      await own.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('CORS, compression and metrics behind a key', () => {
  let srv: Server;
  before(async () => {
    const base = testSettings({ env: { MODELSHIP_METRICS_AUTH: '1' } });
    srv = await buildServer({
      settings: { ...base, authRequired: true, staticKeys: [KEY], cors: { origins: ['https://app.example.com'], credentials: false }, compression: { enabled: true, minBytes: 1024 } },
      engine,
      logger: false,
    });
  });
  after(() => srv.app.close());

  test('CORS: a listed origin is allowed (preflight and actual request), others get no CORS headers', async () => {
    const pre = await srv.app.inject({ method: 'OPTIONS', url: '/v1/classify/text', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,authorization' } });
    assert.ok(pre.statusCode === 204 || pre.statusCode === 200, `preflight ${pre.statusCode}`);
    assert.equal(pre.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.match(String(pre.headers['access-control-allow-methods']), /POST/);
    const ok = await srv.app.inject({ method: 'POST', url: '/v1/classify/text', headers: { origin: 'https://app.example.com', authorization: `Bearer ${KEY}` }, payload: { text: 'What a lovely day' } });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.match(String(ok.headers['access-control-expose-headers']), /x-request-id/);
    // An error answer carries the CORS headers too, so the page can read why it failed.
    const denied = await srv.app.inject({ method: 'POST', url: '/v1/classify/text', headers: { origin: 'https://app.example.com' }, payload: { text: 'hello' } });
    assert.equal(denied.statusCode, 401);
    assert.equal(denied.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.equal(srv.drain.inflight, 0, 'preflights and refusals leave the drain count balanced');
    const evil = await srv.app.inject({ method: 'POST', url: '/v1/classify/text', headers: { origin: 'https://evil.example.net', authorization: `Bearer ${KEY}` }, payload: { text: 'hello' } });
    assert.equal(evil.headers['access-control-allow-origin'], undefined);
    const evilPre = await srv.app.inject({ method: 'OPTIONS', url: '/v1/classify/text', headers: { origin: 'https://evil.example.net', 'access-control-request-method': 'POST' } });
    assert.equal(evilPre.headers['access-control-allow-origin'], undefined);
  });

  test('compression: a large answer is gzip- or brotli-encoded when asked for and decodes to the same JSON; small ones are not', async () => {
    const texts = Array.from({ length: 200 }, (_, i) => `sentence number ${i} is rather good and quite pleasant`);
    const plain = await srv.app.inject({ method: 'POST', url: '/v1/classify/text', headers: { authorization: `Bearer ${KEY}` }, payload: { texts } });
    assert.equal(plain.statusCode, 200);
    assert.equal(plain.headers['content-encoding'], undefined);
    const gz = await srv.app.inject({ method: 'POST', url: '/v1/classify/text', headers: { authorization: `Bearer ${KEY}`, 'accept-encoding': 'gzip' }, payload: { texts } });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.ok(gz.rawPayload.length < plain.rawPayload.length / 3, `gzip ${gz.rawPayload.length} vs ${plain.rawPayload.length} bytes`);
    const a = JSON.parse(zlib.gunzipSync(gz.rawPayload).toString('utf8'));
    const b = plain.json();
    assert.equal(a.results.length, 200);
    assert.deepEqual(a.results.map((r: { predictions: unknown }) => r.predictions), b.results.map((r: { predictions: unknown }) => r.predictions));
    const br = await srv.app.inject({ method: 'POST', url: '/v1/classify/text', headers: { authorization: `Bearer ${KEY}`, 'accept-encoding': 'br' }, payload: { texts } });
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(JSON.parse(zlib.brotliDecompressSync(br.rawPayload).toString('utf8')).results.length, 200);
    const small = await srv.app.inject({ url: '/health/live', headers: { 'accept-encoding': 'gzip' } });
    assert.equal(small.statusCode, 200);
    assert.equal(small.headers['content-encoding'], undefined);
  });

  test('MODELSHIP_METRICS_AUTH=1: /health/metrics and /metrics need a key; the other health routes stay open', async () => {
    for (const url of ['/health/metrics', '/metrics']) {
      const no = await srv.app.inject({ url });
      assert.equal(no.statusCode, 401, `${url} without a key`);
      const wrong = await srv.app.inject({ url, headers: { authorization: 'Bearer nope-nope-nope' } });
      assert.equal(wrong.statusCode, 401);
      const yes = await srv.app.inject({ url, headers: { authorization: `Bearer ${KEY}` } });
      assert.equal(yes.statusCode, 200);
      assert.match(yes.body, /http_requests_total/);
    }
    assert.equal((await srv.app.inject({ url: '/health/live' })).statusCode, 200);
    assert.equal((await srv.app.inject({ url: '/health' })).statusCode, 200);
  });
});
