/**
 * The HTTP API against a real engine, PostgreSQL (random database) and Redis (random prefix):
 * every route, limit and error, auth, cache hit path, overload, KServe V2, hostile inputs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { createEngine, type Engine } from '../../../src/inference/engine.ts';
import { buildServer, type Server } from '../../../src/server/app.ts';
import { createPool, createRedis, waitForRedis } from '../../../src/services/connect.ts';
import { createKey, revokeKey } from '../../../src/server/keys.ts';
import { cleanRedis, createTestDatabase, randomPrefix, REDIS_URL_TEST, testSettings } from '../../helpers/server.ts';

const FIX = path.resolve(import.meta.dirname, '../../fixtures/images');
const STATIC_KEY = 'static-test-key-0123456789';

function multipart(files: { name: string; data: Buffer | string; type?: string }[], boundary = 'XtestBoundary123'): { payload: Buffer; headers: Record<string, string> } {
  const chunks: Buffer[] = [];
  for (const f of files) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${f.name}"\r\nContent-Type: ${f.type ?? 'application/octet-stream'}\r\n\r\n`));
    chunks.push(Buffer.isBuffer(f.data) ? f.data : Buffer.from(f.data));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/** A valid PNG claiming 100000×100000 pixels (a decompression bomb's shape). */
function bombPng(): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(100000, 0);
  ihdr.writeUInt32BE(100000, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(Buffer.alloc(1000))), chunk('IEND', Buffer.alloc(0))]);
}

let engine: Engine;
let db: { url: string; drop: () => Promise<void> };
let pool: Pool;
let redis: Redis;
const prefix = randomPrefix();
let srv: Server;
let coffee: Buffer;
let chelsea: Buffer;
let truncated: Buffer;
let key: string;

before(async () => {
  [engine, db, coffee, chelsea, truncated] = await Promise.all([
    createEngine({ workers: 1, preload: ['content-safety', 'sentiment'] }),
    createTestDatabase(),
    readFile(path.join(FIX, 'coffee.jpg')),
    readFile(path.join(FIX, 'chelsea.jpg')),
    readFile(path.join(FIX, 'truncated.jpg')),
  ]);
  pool = createPool(db.url, 5);
  redis = createRedis(REDIS_URL_TEST);
  assert.ok(await waitForRedis(redis, 3000), 'Redis reachable');
  const settings = testSettings({ databaseUrl: db.url, redisUrl: REDIS_URL_TEST, authRequired: true, staticKeys: [STATIC_KEY], color: 'blue', rateLimit: { enabled: false, perMinute: 60, burst: 100 } });
  srv = await buildServer({ settings, engine, pool, redis, logger: false, redisPrefix: `${prefix}:` });
  await srv.service.warmUp({ image: coffee });
  key = (await createKey(pool, 'tests')).key;
});

after(async () => {
  await srv?.app.close();
  await pool?.end();
  redis?.disconnect();
  await cleanRedis(REDIS_URL_TEST, prefix);
  await db?.drop();
  await engine?.close();
});

const auth = () => ({ authorization: `Bearer ${key}` });

describe('health and metrics', () => {
  test('/health, /health/live, /health/ready, /health/detailed answer without a key and carry the colour', async () => {
    const h = await srv.app.inject({ url: '/health' });
    assert.equal(h.statusCode, 200);
    assert.equal(h.headers['x-modelship-color'], 'blue');
    assert.equal(h.json().color, 'blue');
    assert.equal((await srv.app.inject({ url: '/health/live' })).statusCode, 200);
    const r = await srv.app.inject({ url: '/health/ready' });
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(Object.keys(r.json().checks).sort(), ['database', 'models', 'redis']);
    const d = await srv.app.inject({ url: '/health/detailed' });
    const body = d.json();
    assert.equal(d.statusCode, 200);
    assert.equal(body.components.database.ok, true);
    assert.equal(typeof body.components.database.latencyMs, 'number');
    assert.ok(body.backend.name);
    assert.ok(body.models.some((m: { name: string }) => m.name === 'content-safety'));
    assert.equal(typeof body.memory.rssBytes, 'number');
    assert.equal(typeof body.disk.freeBytes, 'number');
    assert.ok(body.queue.inference);
  });

  test('/health/metrics exports the contract names', async () => {
    await srv.app.inject({ method: 'POST', url: '/v1/classify/text', headers: auth(), payload: { text: 'metrics please' } });
    const m = await srv.app.inject({ url: '/health/metrics' });
    assert.equal(m.statusCode, 200);
    for (const name of ['http_requests_total', 'http_request_duration_seconds_bucket', 'modelship_inference_duration_seconds_bucket', 'modelship_inference_batch_size_bucket', 'modelship_inference_queue_depth', 'modelship_cache_misses_total', 'modelship_cache_hits_total', 'modelship_db_pool', 'modelship_jobs', 'process_cpu_user_seconds_total', 'modelship_inference_rejected_total']) {
      assert.match(m.body, new RegExp(`^(# TYPE )?${name}`, 'm'), name);
    }
    assert.match(m.body, /http_requests_total\{method="POST",route="\/v1\/classify\/text",status="200"/);
  });
});

describe('auth', () => {
  test('401 without a key or with a wrong one, 200 with a valid one, 403 once revoked', async () => {
    const none = await srv.app.inject({ method: 'POST', url: '/v1/classify/text', payload: { text: 'hi' }, headers: { 'x-request-id': 'req-abc-1' } });
    assert.equal(none.statusCode, 401);
    assert.equal(none.headers['www-authenticate'], 'Bearer');
    assert.equal(none.json().requestId, 'req-abc-1');
    assert.equal(none.headers['x-request-id'], 'req-abc-1');
    const wrong = await srv.app.inject({ method: 'POST', url: '/v1/classify/text', payload: { text: 'hi' }, headers: { authorization: `Bearer ${key.slice(0, -2)}zz` } });
    assert.equal(wrong.statusCode, 401);
    assert.equal((await srv.app.inject({ method: 'POST', url: '/v1/classify/text', payload: { text: 'hi' }, headers: { authorization: `Bearer ${STATIC_KEY}` } })).statusCode, 200);
    const temp = await createKey(pool, 'temp');
    const ok = await srv.app.inject({ method: 'POST', url: '/v1/classify/text', payload: { text: 'hi' }, headers: { authorization: `Bearer ${temp.key}` } });
    assert.equal(ok.statusCode, 200);
    await revokeKey(pool, temp.record.id);
    const revoked = await srv.app.inject({ method: 'POST', url: '/v1/classify/text', payload: { text: 'hi' }, headers: { authorization: `Bearer ${temp.key}` } });
    assert.equal(revoked.statusCode, 403);
    assert.equal(revoked.json().code, 'key_revoked');
  });
});

describe('classification', () => {
  test('raw image body: model, version, backend, timings; the second identical request is a cache hit', async () => {
    const a = await srv.app.inject({ method: 'POST', url: '/v1/classify/image?topK=2', headers: { ...auth(), 'content-type': 'image/jpeg' }, payload: chelsea });
    assert.equal(a.statusCode, 200, a.body);
    const body = a.json();
    assert.equal(body.model, 'content-safety');
    assert.ok(body.version);
    assert.ok(body.backend);
    assert.equal(body.results[0].predictions.length, 2);
    assert.equal(body.results[0].cached, false);
    assert.equal(typeof body.timings.totalMs, 'number');
    const before = await srv.app.inject({ url: '/health/metrics' });
    const hits = (t: string) => Number(/^modelship_cache_hits_total(?:\{[^}]*\})? (\d+)/m.exec(t)?.[1] ?? 0);
    const b = await srv.app.inject({ method: 'POST', url: '/v1/classify/image?topK=2', headers: { ...auth(), 'content-type': 'image/jpeg' }, payload: chelsea });
    assert.equal(b.json().results[0].cached, true);
    assert.deepEqual(b.json().results[0].predictions, body.results[0].predictions);
    const afterM = await srv.app.inject({ url: '/health/metrics' });
    assert.equal(hits(afterM.body), hits(before.body) + 1);
    assert.equal(body.results[0].notes, undefined); // a plain sRGB JPEG needs no conversion
    const cmyk = await srv.app.inject({ method: 'POST', url: '/v1/classify/image', headers: { ...auth(), 'content-type': 'image/jpeg' }, payload: await readFile(path.join(FIX, 'coffee-cmyk.jpg')) });
    assert.equal(cmyk.statusCode, 200, cmyk.body);
    assert.deepEqual(cmyk.json().results[0].notes, ['CMYK converted to sRGB']);
  });

  test('multipart with several files: per-file results, a corrupt one reported in place', async () => {
    const mp = multipart([{ name: 'coffee.jpg', data: coffee, type: 'image/jpeg' }, { name: '../../etc/passwd', data: truncated, type: 'image/jpeg' }]);
    const r = await srv.app.inject({ method: 'POST', url: '/v1/classify/image', headers: { ...auth(), ...mp.headers }, payload: mp.payload });
    assert.equal(r.statusCode, 200, r.body);
    const res = r.json().results;
    assert.equal(res[0].file, 'coffee.jpg');
    assert.ok(res[0].predictions.length > 0);
    assert.equal(res[1].file, 'passwd');
    assert.equal(res[1].code, 'bad_image');
  });

  test('400 corrupt image, 415 not an image / unsupported type, 404 unknown model', async () => {
    const c = await srv.app.inject({ method: 'POST', url: '/v1/classify/image', headers: { ...auth(), 'content-type': 'image/jpeg' }, payload: truncated });
    assert.equal(c.statusCode, 400, c.body);
    assert.ok(c.json().requestId);
    const t = await srv.app.inject({ method: 'POST', url: '/v1/classify/image', headers: { ...auth(), 'content-type': 'image/png' }, payload: 'just some text, not pixels at all' });
    assert.equal(t.statusCode, 415, t.body);
    const ct = await srv.app.inject({ method: 'POST', url: '/v1/classify/image', headers: { ...auth(), 'content-type': 'application/xml' }, payload: '<x/>' });
    assert.equal(ct.statusCode, 415);
    const m = await srv.app.inject({ method: 'POST', url: '/v1/classify/image?model=nope', headers: { ...auth(), 'content-type': 'image/jpeg' }, payload: coffee });
    assert.equal(m.statusCode, 404, m.body);
    const wrongTask = await srv.app.inject({ method: 'POST', url: '/v1/classify/image?model=sentiment', headers: { ...auth(), 'content-type': 'image/jpeg' }, payload: coffee });
    assert.equal(wrongTask.statusCode, 400);
  });

  test('image dimensions over the pixel limit (zip-bomb-like PNG) → 413 before decoding', async () => {
    const r = await srv.app.inject({ method: 'POST', url: '/v1/classify/image', headers: { ...auth(), 'content-type': 'image/png' }, payload: bombPng() });
    assert.equal(r.statusCode, 413, r.body);
  });

  test('text: one, many, limits, bad JSON, non-UTF-8, nesting bombs', async () => {
    const one = await srv.app.inject({ method: 'POST', url: '/v1/classify/text', headers: auth(), payload: { text: 'What a wonderful, happy day!' } });
    assert.equal(one.statusCode, 200);
    assert.equal(one.json().model, 'sentiment');
    assert.equal(one.json().results[0].predictions[0].label, 'positive');
    const many = await srv.app.inject({ method: 'POST', url: '/v1/classify/text', headers: auth(), payload: { texts: ['good', 'terrible awful day'] } });
    assert.equal(many.json().results.length, 2);
    const plain = await srv.app.inject({ method: 'POST', url: '/v1/classify/text', headers: { ...auth(), 'content-type': 'text/plain' }, payload: 'I hate this' });
    assert.equal(plain.statusCode, 200);
    const long = await srv.app.inject({ method: 'POST', url: '/v1/classify/text', headers: auth(), payload: { text: 'good '.repeat(20000) } });
    assert.equal(long.statusCode, 200, 'a 100k-character text is within the limit');
    const tooLong = await srv.app.inject({ method: 'POST', url: '/v1/classify/text', headers: auth(), payload: { text: 'x'.repeat(100_001) } });
    assert.equal(tooLong.statusCode, 413);
    const bad = await srv.app.inject({ method: 'POST', url: '/v1/classify/text', headers: { ...auth(), 'content-type': 'application/json' }, payload: '{"text": "unterminated' });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'bad_json');
    const latin1 = await srv.app.inject({ method: 'POST', url: '/v1/classify/text', headers: { ...auth(), 'content-type': 'application/json' }, payload: Buffer.concat([Buffer.from('{"text": "caf'), Buffer.from([0xe9]), Buffer.from('"}')]) });
    assert.equal(latin1.statusCode, 400);
    assert.equal(latin1.json().code, 'bad_encoding');
    const nest = await srv.app.inject({ method: 'POST', url: '/v1/classify/text', headers: { ...auth(), 'content-type': 'application/json' }, payload: `{"text":${'['.repeat(200_000)}${']'.repeat(200_000)}}` });
    assert.ok(nest.statusCode >= 400 && nest.statusCode < 500, `nesting bomb → ${nest.statusCode}`);
    const empty = await srv.app.inject({ method: 'POST', url: '/v1/classify/text', headers: auth(), payload: { text: '   ' } });
    assert.equal(empty.statusCode, 400);
    const emptyBody = await srv.app.inject({ method: 'POST', url: '/v1/classify/text', headers: { ...auth(), 'content-type': 'application/json' }, payload: '' });
    assert.equal(emptyBody.statusCode, 400);
  });

  test('detect: boxes with label, score, x/y/width/height', async () => {
    const r = await srv.app.inject({ method: 'POST', url: '/v1/detect?threshold=0.2', headers: { ...auth(), 'content-type': 'image/jpeg' }, payload: chelsea });
    assert.equal(r.statusCode, 200, r.body);
    const res = r.json().results[0];
    assert.equal(r.json().model, 'objects');
    assert.ok(res.width > 0 && res.height > 0);
    assert.ok(Array.isArray(res.detections));
    for (const d of res.detections) assert.deepEqual(Object.keys(d.box).sort(), ['height', 'width', 'x', 'y']);
  });

  test('/v1/models lists the bundled models', async () => {
    const r = await srv.app.inject({ url: '/v1/models', headers: auth() });
    const names = r.json().models.map((m: { name: string }) => m.name);
    for (const n of ['content-safety', 'objects', 'sentiment']) assert.ok(names.includes(n), n);
  });
});

describe('Open Inference Protocol (KServe V2)', () => {
  test('server metadata, health, model metadata, ready, infer', async () => {
    assert.equal((await srv.app.inject({ url: '/v2' })).json().name, 'modelship');
    assert.equal((await srv.app.inject({ url: '/v2/health/live' })).statusCode, 200);
    assert.deepEqual((await srv.app.inject({ url: '/v2/health/ready' })).json(), { ready: true });
    const meta = await srv.app.inject({ url: '/v2/models/content-safety', headers: auth() });
    assert.equal(meta.json().name, 'content-safety');
    assert.equal(meta.json().inputs[0].datatype, 'BYTES');
    const ready = await srv.app.inject({ url: '/v2/models/content-safety/ready', headers: auth() });
    assert.equal(ready.statusCode, 200);
    assert.equal((await srv.app.inject({ url: '/v2/models/nope', headers: auth() })).statusCode, 404);
    const inf = await srv.app.inject({ method: 'POST', url: '/v2/models/content-safety/infer', headers: auth(), payload: { id: 'r1', inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [coffee.toString('base64')] }], parameters: { top_k: 3 } } });
    assert.equal(inf.statusCode, 200, inf.body);
    const out = inf.json();
    assert.equal(out.model_name, 'content-safety');
    assert.equal(out.id, 'r1');
    assert.deepEqual(out.outputs[0].shape, [1, 3]);
    assert.equal(out.outputs[1].datatype, 'FP32');
    const txt = await srv.app.inject({ method: 'POST', url: '/v2/models/sentiment/infer', headers: auth(), payload: { inputs: [{ name: 'text', shape: [2], datatype: 'BYTES', data: ['great', 'awful'] }] } });
    assert.equal(txt.statusCode, 200, txt.body);
    assert.deepEqual(txt.json().outputs[0].shape, [2, 3]);
    const bad = await srv.app.inject({ method: 'POST', url: '/v2/models/content-safety/infer', headers: auth(), payload: { inputs: [{ name: 'image', datatype: 'FP32', data: [1] }] } });
    assert.equal(bad.statusCode, 400);
    assert.equal(typeof bad.json().error, 'string');
  });
});

describe('limits on a small-limit server', () => {
  let small: Server;
  before(async () => {
    const settings = testSettings({ maxConcurrent: 1, rateLimit: { enabled: false, perMinute: 60, burst: 100 }, limits: { ...testSettings().limits, maxFileSize: 60_000, maxFiles: 2, maxRequestSize: 100_000 } });
    small = await buildServer({ settings, engine, logger: false });
    await small.service.warmUp({ image: coffee });
  });
  after(() => small.app.close());

  test('413: file over the limit, too many files, request over the limit, raw body over the file limit', async () => {
    const big = Buffer.alloc(70_000, 1);
    let mp = multipart([{ name: 'big.jpg', data: big }]);
    let r = await small.app.inject({ method: 'POST', url: '/v1/classify/image', headers: mp.headers, payload: mp.payload });
    assert.equal(r.statusCode, 413, r.body);
    assert.equal(r.json().code, 'file_too_large');
    mp = multipart([{ name: 'a', data: 'x' }, { name: 'b', data: 'y' }, { name: 'c', data: 'z' }]);
    r = await small.app.inject({ method: 'POST', url: '/v1/classify/image', headers: mp.headers, payload: mp.payload });
    assert.equal(r.statusCode, 413, r.body);
    assert.equal(r.json().code, 'too_many_files');
    mp = multipart([{ name: 'a', data: Buffer.alloc(55_000, 2) }, { name: 'b', data: Buffer.alloc(55_000, 3) }]);
    r = await small.app.inject({ method: 'POST', url: '/v1/classify/image', headers: mp.headers, payload: mp.payload });
    assert.equal(r.statusCode, 413, r.body);
    r = await small.app.inject({ method: 'POST', url: '/v1/classify/image', headers: { 'content-type': 'image/jpeg' }, payload: big });
    assert.equal(r.statusCode, 413, r.body);
  });

  test('503 + Retry-After when more inference calls than maxConcurrentClassifications are queued', async () => {
    const rs = await Promise.all(Array.from({ length: 6 }, (_, i) => small.app.inject({ method: 'POST', url: `/v1/classify/image?topK=${i + 1}`, headers: { 'content-type': 'image/jpeg' }, payload: chelsea })));
    const codes = rs.map((r) => r.statusCode);
    assert.ok(codes.includes(200), codes.join());
    const busy = rs.find((r) => r.statusCode === 503);
    assert.ok(busy, `expected a 503 among ${codes.join()}`);
    assert.equal(busy.headers['retry-after'], '1');
    assert.equal(busy.json().code, 'overloaded');
  });

  test('jobs without PostgreSQL/Redis: 503 saying what to configure', async () => {
    const r = await small.app.inject({ method: 'POST', url: '/v1/jobs', payload: { texts: ['a'] } });
    assert.equal(r.statusCode, 503);
    assert.match(r.json().error, /DATABASE_URL/);
  });
});

describe('hostile input over a real socket', () => {
  let url: URL;
  before(async () => {
    await srv.app.listen({ host: '127.0.0.1', port: 0 });
    const a = srv.app.server.address() as net.AddressInfo;
    url = new URL(`http://127.0.0.1:${a.port}`);
  });

  function raw(text: string | Buffer, endAfterWrite = true): Promise<string> {
    return new Promise((resolve) => {
      const sock = net.connect(Number(url.port), '127.0.0.1');
      let out = '';
      sock.on('data', (d) => (out += d.toString('latin1')));
      sock.on('error', () => resolve(out));
      sock.on('close', () => resolve(out));
      sock.write(text);
      if (endAfterWrite) setTimeout(() => sock.end(), 300);
      setTimeout(() => sock.destroy(), 3000);
    });
  }

  test('truncated multipart, wrong boundary, huge headers, garbage: 4xx each, server keeps serving', async () => {
    const k = `Bearer ${key}`;
    const head = (len: number, ct: string) => `POST /v1/classify/image HTTP/1.1\r\nHost: x\r\nAuthorization: ${k}\r\nContent-Type: ${ct}\r\nContent-Length: ${len}\r\nConnection: close\r\n\r\n`;
    const truncatedBody = `--B\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n${'x'.repeat(100)}`;
    const t = await raw(head(truncatedBody.length, 'multipart/form-data; boundary=B') + truncatedBody);
    assert.match(t, /^HTTP\/1\.1 4\d\d/, `truncated multipart: ${t.slice(0, 80)}`);
    const wrongBody = `--OTHER\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\nxx\r\n--OTHER--\r\n`;
    const w = await raw(head(wrongBody.length, 'multipart/form-data; boundary=B') + wrongBody);
    assert.match(w, /^HTTP\/1\.1 4\d\d/, `wrong boundary: ${w.slice(0, 80)}`);
    const noBoundary = await raw(head(4, 'multipart/form-data') + 'abcd');
    assert.match(noBoundary, /^HTTP\/1\.1 4\d\d/, `no boundary: ${noBoundary.slice(0, 80)}`);
    const huge = await raw(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`);
    assert.match(huge, /^HTTP\/1\.1 431/, `huge headers: ${huge.slice(0, 80)}`);
    const garbage = await raw('\x00\x01\x02 not http at all\r\n\r\n');
    assert.match(garbage, /^HTTP\/1\.1 400/);
    const after1 = await fetch(new URL('/health/ready', url));
    assert.equal(after1.status, 200);
  });

  test('an announced oversize upload is refused before it is sent', async () => {
    const r = await raw(`POST /v1/classify/image HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: ${600 * 1024 * 1024}\r\n\r\n--B\r\n`, false);
    assert.match(r, /^HTTP\/1\.1 413/, r.slice(0, 80));
    const f = await fetch(new URL('/health', url));
    assert.equal(f.status, 200);
  });
});
