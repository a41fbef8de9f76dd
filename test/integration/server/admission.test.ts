/**
 * Admission before the body is read, over real sockets: an overloaded server answers 503 as soon
 * as the headers arrive (a small body is then drained, a large one closes the connection),
 * `Expect: 100-continue` gets its 100 only when the body is wanted, the deadline refuses what
 * could not finish in time, and the media-type and jobs refusals the README promises.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { createEngine, type Engine } from '../../../src/inference/engine.ts';
import { buildServer, type Server } from '../../../src/server/app.ts';
import { testSettings } from '../../helpers/server.ts';
import { parseResponse, rawRequest, type RawResponse } from '../../helpers/raw-http.ts';

const FIX = path.resolve(import.meta.dirname, '../../fixtures/images');
let engine: Engine;
let srv: Server;
let port: number;
let coffee: Buffer;

before(async () => {
  coffee = await readFile(path.join(FIX, 'coffee.jpg'));
  engine = await createEngine({ workers: 1, preload: ['content-safety', 'sentiment'] });
  srv = await buildServer({ settings: testSettings({ maxConcurrent: 4 }), engine, logger: false });
  await srv.service.warmUp({ image: coffee });
  await srv.app.listen({ host: '127.0.0.1', port: 0 });
  port = (srv.app.server.address() as net.AddressInfo).port;
});
after(async () => {
  await srv?.app.close();
  await engine?.close();
});

/** Sends the head only and reads until a complete response arrives (or `ms` pass). */
function headOnly(head: string[], ms = 5000): Promise<{ res: RawResponse | undefined; closed: boolean; sock: net.Socket }> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let closed = false;
    const finish = () => {
      clearTimeout(timer);
      resolve({ res: parseResponse(buf, closed), closed, sock });
    };
    const timer = setTimeout(finish, ms);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (parseResponse(buf, false)) {
        // give the server a moment to close the connection if it means to
        setTimeout(finish, 200);
      }
    });
    sock.on('end', () => (closed = true));
    sock.on('close', () => (closed = true));
    sock.on('error', () => (closed = true));
    sock.write(`${head.join('\r\n')}\r\n\r\n`);
  });
}

/** Takes every gate slot, as requests in flight would. */
function fillGate(): () => void {
  const n = srv.service.gate.tryAcquire(srv.service.gate.max);
  assert.equal(n, srv.service.gate.max);
  return () => srv.service.gate.release(n);
}

describe('overload is decided before the body is read', () => {
  test('a 50 KB upload gets 503 + Retry-After from its headers alone; the connection stays usable', async () => {
    const release = fillGate();
    try {
      const { res, closed, sock } = await headOnly(['POST /v1/classify/image HTTP/1.1', 'Host: x', 'Content-Type: image/jpeg', `Content-Length: ${50 * 1024}`]);
      assert.ok(res, 'an answer came before any byte of the body was sent');
      assert.equal(res.status, 503);
      assert.equal(res.headers['retry-after'], '1');
      assert.equal(JSON.parse(res.body.toString()).code, 'overloaded');
      assert.equal(closed, false, 'a small body is drained, not a reason to close');
      sock.destroy();
    } finally {
      release();
    }
  });

  test('a large upload gets 503 and Connection: close, nothing of it is read', async () => {
    const release = fillGate();
    try {
      const { res, closed } = await headOnly(['POST /v1/classify/image HTTP/1.1', 'Host: x', 'Content-Type: image/jpeg', `Content-Length: ${20 * 1024 * 1024}`]);
      assert.equal(res?.status, 503);
      assert.equal(res?.headers.connection, 'close');
      assert.equal(closed, true);
    } finally {
      release();
    }
  });

  test('the V2 infer route and the text route are refused the same way', async () => {
    const release = fillGate();
    try {
      for (const [url, ct] of [['/v2/models/content-safety/infer', 'application/json'], ['/v1/classify/text', 'application/json']]) {
        const { res, sock } = await headOnly([`POST ${url} HTTP/1.1`, 'Host: x', `Content-Type: ${ct}`, 'Content-Length: 40000']);
        assert.equal(res?.status, 503, url);
        sock.destroy();
      }
    } finally {
      release();
    }
  });

  test('the deadline: with 60 s to answer and 24 s of machine time per input measured, a third call is refused at once', async () => {
    const tight = await buildServer({ settings: testSettings({ maxConcurrent: 500, requestTimeoutMs: 60_000 }), engine, logger: false });
    try {
      tight.service.times.observe('content-safety', 24_000, 1);
      const held = tight.service.gate.tryAcquire(2); // two calls ahead: (2 + 1) × 24 s > 80 % of 60 s
      const r = await tight.app.inject({ method: 'POST', url: '/v1/classify/image', headers: { 'content-type': 'image/jpeg' }, payload: coffee });
      assert.equal(r.statusCode, 503, r.body);
      assert.match(r.json().error, /cannot finish this request within the request timeout \(60 s\)/);
      tight.service.gate.release(held);
      tight.service.gate.tryAcquire(1);
      const ok = await tight.app.inject({ method: 'POST', url: '/v1/classify/image', headers: { 'content-type': 'image/jpeg' }, payload: coffee });
      assert.equal(ok.statusCode, 200, ok.body); // (1 + 1) × 24 s ≤ 48 s
      const m = (await tight.app.inject({ url: '/health/metrics' })).body;
      assert.match(m, /modelship_inference_rejected_total\{reason="deadline"\} 1/);
    } finally {
      await tight.app.close();
    }
  });
});

describe('Expect: 100-continue', () => {
  test('over the size limit: 413 at once, no 100 Continue, connection closed', async () => {
    const { res, closed } = await headOnly(['POST /v1/classify/image HTTP/1.1', 'Host: x', 'Content-Type: image/jpeg', `Content-Length: ${600 * 1024 * 1024}`, 'Expect: 100-continue']);
    assert.ok(res, 'answered without the body');
    assert.deepEqual(res.interim, [], 'no 100 Continue before the refusal');
    assert.equal(res.status, 413);
    assert.equal(closed, true);
  });

  test('overloaded: 503 without 100 Continue, connection closed (the client may or may not send the body)', async () => {
    const release = fillGate();
    try {
      const { res, closed } = await headOnly(['POST /v1/classify/image HTTP/1.1', 'Host: x', 'Content-Type: image/jpeg', 'Content-Length: 1000', 'Expect: 100-continue']);
      assert.deepEqual(res?.interim, []);
      assert.equal(res?.status, 503);
      assert.equal(closed, true);
    } finally {
      release();
    }
  });

  test('a request that can be served gets 100 Continue, then its answer', async () => {
    const r = await rawRequest(port, ['POST /v1/classify/image HTTP/1.1', 'Host: x', 'Content-Type: image/jpeg', `Content-Length: ${coffee.length}`, 'Expect: 100-continue'], coffee);
    assert.deepEqual(r.interim, [100]);
    assert.equal(r.status, 200, r.body.toString());
  });
});

describe('media types and jobs', () => {
  test('415 for an image sent to the text route', async () => {
    const r = await srv.app.inject({ method: 'POST', url: '/v1/classify/text', headers: { 'content-type': 'image/jpeg' }, payload: coffee });
    assert.equal(r.statusCode, 415, r.body);
    assert.match(r.json().error, /text classification takes application\/json/);
  });

  test('/v1/jobs without PostgreSQL and Redis: 503 jobs_unavailable with what to configure', async () => {
    const r = await srv.app.inject({ method: 'POST', url: '/v1/jobs', headers: { 'content-type': 'application/json' }, payload: { texts: ['a'] } });
    assert.equal(r.statusCode, 503, r.body);
    assert.equal(r.json().code, 'jobs_unavailable');
    assert.match(r.json().hint, /DATABASE_URL and REDIS_URL/);
    assert.equal(r.headers['retry-after'], undefined, 'a missing database is configuration, not load: no Retry-After');
  });
});
