/**
 * The per-IP rate limit cannot be bypassed with a client-chosen X-Forwarded-For: through the real
 * rendered nginx (Debian's nginx on 127.0.0.1, see test/helpers/nginx-run.ts) in front of a real
 * API, and straight at the API from a peer it does not trust. A load balancer listed in
 * api.trustedProxies is believed (the client behind it gets its own bucket).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { randomInt } from 'node:crypto';
import { createEngine, type Engine } from '../../../src/inference/engine.ts';
import { buildServer, type Server } from '../../../src/server/app.ts';
import { testSettings } from '../../helpers/server.ts';
import { configWith } from '../../helpers/render-config.ts';
import { runRenderedNginx, type RunningNginx } from '../../helpers/nginx-run.ts';
import { skipUnless } from '../../helpers/tools.ts';

const skip = skipUnless('nginx');
const BURST = 20;
const N = 60;

let engine: Engine;
before(async () => {
  engine = await createEngine({ lazy: true });
});
after(() => engine?.close());

async function api(trustedProxies?: string[]): Promise<{ srv: Server; port: number; ips: string[] }> {
  const base = testSettings({ rateLimit: { enabled: true, perMinute: 60, burst: BURST } });
  const srv = await buildServer({ settings: { ...base, ...(trustedProxies ? { trustedProxies } : {}) }, engine, logger: false });
  const ips: string[] = [];
  srv.app.addHook('onRequest', async (req) => {
    ips.push(req.ip);
  });
  await srv.app.listen({ host: '127.0.0.1', port: 0 });
  return { srv, port: (srv.app.server.address() as net.AddressInfo).port, ips };
}

const randomIp = () => `${randomInt(1, 224)}.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;

/** POSTs a text classification with the given X-Forwarded-For, from `localAddress`; returns the status. */
function post(port: number, xff: string, localAddress = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ text: 'fine' });
    const req = http.request({ host: '127.0.0.1', port, localAddress, method: 'POST', path: '/v1/classify/text', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-forwarded-for': xff } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function count429(port: number, xff: () => string, localAddress?: string): Promise<{ limited: number; ok: number; other: number[] }> {
  let limited = 0;
  let ok = 0;
  const other: number[] = [];
  for (let i = 0; i < N; i++) {
    const s = await post(port, xff(), localAddress);
    if (s === 429) limited++;
    else if (s === 200) ok++;
    else other.push(s);
  }
  return { limited, ok, other };
}

describe('through the rendered nginx', { skip }, () => {
  let a: Awaited<ReturnType<typeof api>>;
  let nginx: RunningNginx;
  before(async () => {
    a = await api();
    // nginx's own limit_req is not what is tested here: raise it out of the way
    nginx = await runRenderedNginx(configWith({ tls: { mode: 'off' }, rateLimit: { nginx: { ratePerSecond: 10000, burst: 10000 } } }), a.port);
  });
  after(async () => {
    await nginx?.stop();
    await a?.srv.app.close();
  });

  test('nginx sets X-Forwarded-For to the address it saw: a random "X-Forwarded-For: <ip>, 127.0.0.1" per request still hits one bucket', async () => {
    const r = await count429(nginx.port, () => `${randomIp()}, 127.0.0.1`);
    assert.deepEqual(r.other, [], nginx.errorLog());
    assert.ok(r.limited >= N - BURST - 5, `${r.limited} × 429 of ${N} (burst ${BURST}); the API saw ${new Set(a.ips).size} distinct client addresses`);
    assert.deepEqual([...new Set(a.ips)], ['127.0.0.1']);
    assert.match(nginx.conf, /proxy_set_header X-Forwarded-For \$remote_addr;/);
  });
});

describe('a load balancer listed in api.trustedProxies', { skip }, () => {
  let a: Awaited<ReturnType<typeof api>>;
  let nginx: RunningNginx;
  before(async () => {
    a = await api();
    nginx = await runRenderedNginx(configWith({ tls: { mode: 'off' }, api: { trustedProxies: ['127.0.0.2'] }, rateLimit: { nginx: { ratePerSecond: 10000, burst: 10000 } } }), a.port);
  });
  after(async () => {
    await nginx?.stop();
    await a?.srv.app.close();
  });

  test('is believed: clients behind it get their own buckets; a client that is not the balancer still cannot choose its address', async () => {
    assert.match(nginx.conf, /set_real_ip_from 127\.0\.0\.2\/32;/);
    const viaLb = await count429(nginx.port, () => `${randomIp()}, ${randomIp()}`, '127.0.0.2');
    assert.equal(viaLb.limited, 0, 'each client behind the balancer has its own bucket');
    assert.ok(a.ips.every((ip) => ip !== '127.0.0.1' && ip !== '127.0.0.2'), 'the API sees the client behind the balancer');
    const direct = await count429(nginx.port, () => `${randomIp()}, 127.0.0.2`, '127.0.0.1');
    assert.ok(direct.limited >= N - BURST - 5, `${direct.limited} × 429`);
  });
});

describe('straight at the API', () => {
  test('X-Forwarded-For from a peer that is not a trusted proxy is ignored', async () => {
    const a = await api(['127.0.0.2']);
    try {
      const r = await count429(a.port, () => randomIp());
      assert.ok(r.limited >= N - BURST - 5, `${r.limited} × 429`);
      assert.deepEqual([...new Set(a.ips)], ['127.0.0.1']);
    } finally {
      await a.srv.app.close();
    }
  });
});
