import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptsMediaType, decodeRequest, deserializeBytes, encodeResponse, serializeBytes, signature, splitBody } from '../../../src/server/v2/protocol.ts';
import { ApiError } from '../../../src/services/errors.ts';
import { ProxyTrust, parseTrustEntry, isTrusted, blockListOf, normalizeAddress } from '../../../src/server/proxy-trust.ts';
import { RouteIndex } from '../../../src/server/route-index.ts';
import { ModelStates, RETRY_FAILED_MS } from '../../../src/services/model-states.ts';

const limits = { maxElements: 10, maxFileSize: 1000, maxTextLength: 50 };
const text = signature('text-classification');
const image = signature('image-classification');
const is400 = (re: RegExp) => (e: unknown) => e instanceof ApiError && e.status === 400 && re.test(e.message);

test('media types: none, JSON and octet-stream are V2 bodies; the rest is not', () => {
  for (const ok of [undefined, '', 'application/json', 'Application/JSON; charset=utf-8', 'application/octet-stream', 'application/vnd.x+json']) assert.equal(acceptsMediaType(ok), true, String(ok));
  for (const no of ['text/plain', 'image/jpeg', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'application/xml']) assert.equal(acceptsMediaType(no), false, no);
});

test('binary extension: split at Inference-Header-Content-Length; BYTES length-prefixed', () => {
  const json = '{"inputs":[]}';
  const body = Buffer.concat([Buffer.from(json), Buffer.from([1, 2, 3])]);
  const s = splitBody(body, String(json.length));
  assert.deepEqual(s.json, { inputs: [] });
  assert.deepEqual([...s.binary], [1, 2, 3]);
  assert.deepEqual(splitBody(Buffer.from(json), undefined).binary.length, 0);
  assert.throws(() => splitBody(body, '999'), is400(/only 16/));
  assert.throws(() => splitBody(body, '-1'), is400(/byte count/));
  assert.throws(() => splitBody(Buffer.from('{bad'), undefined), (e: unknown) => e instanceof ApiError && e.code === 'bad_json');
  const ser = serializeBytes([Buffer.from('ab'), Buffer.alloc(0), Buffer.from('é')]);
  assert.deepEqual([...ser.subarray(0, 4)], [2, 0, 0, 0]);
  assert.deepEqual(deserializeBytes(ser, 'x').map((b) => b.toString()), ['ab', '', 'é']);
  assert.throws(() => deserializeBytes(Buffer.from([5, 0, 0, 0, 1]), 'input "t"'), is400(/claims 5 bytes/));
  assert.throws(() => deserializeBytes(Buffer.from([5, 0]), 'input "t"'), is400(/4-byte length/));
});

test('requests: required fields, shape against data and metadata, ids, outputs', () => {
  const base = { inputs: [{ name: 'text', shape: [2], datatype: 'BYTES', data: ['a', 'b'] }] };
  const d = decodeRequest(base, Buffer.alloc(0), text, 'sentiment', limits);
  assert.deepEqual(d.elements, ['a', 'b']);
  assert.deepEqual(d.outputs, [{ name: 'label', binary: false }, { name: 'score', binary: false }]);
  assert.equal(d.id, undefined);
  // KServe's to_dict sends "parameters": null and "data": null keys
  assert.deepEqual(decodeRequest({ id: 'x', inputs: [{ name: 'text', shape: [1], datatype: 'BYTES', data: ['a'], parameters: null }], parameters: null }, Buffer.alloc(0), text, 's', limits).id, 'x');
  assert.throws(() => decodeRequest({ ...base, id: 7 }, Buffer.alloc(0), text, 's', limits), is400(/"id" must be a string/));
  assert.throws(() => decodeRequest({ inputs: [{ ...base.inputs[0], shape: [3] }] }, Buffer.alloc(0), text, 's', limits), is400(/describes 3 element/));
  assert.throws(() => decodeRequest({ inputs: [{ ...base.inputs[0], shape: [1.5] }] }, Buffer.alloc(0), text, 's', limits), is400(/non-negative integers/));
  assert.throws(() => decodeRequest({ inputs: [base.inputs[0], base.inputs[0]] }, Buffer.alloc(0), text, 's', limits), is400(/2 input tensors given/));
  assert.throws(() => decodeRequest({ inputs: [{ ...base.inputs[0], data: ['a', 1] }] }, Buffer.alloc(0), text, 's', limits), is400(/element 1 is not a string/));
  assert.throws(() => decodeRequest({ inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: ['not base64!'] }] }, Buffer.alloc(0), image, 'c', limits), is400(/not base64/));
  assert.throws(() => decodeRequest({ inputs: [{ ...base.inputs[0], shape: [11], data: Array(11).fill('a') }] }, Buffer.alloc(0), text, 's', limits), (e: unknown) => e instanceof ApiError && e.status === 413);
  assert.throws(() => decodeRequest({ inputs: [{ ...base.inputs[0], shape: [1], data: ['x'.repeat(51)] }] }, Buffer.alloc(0), text, 's', limits), (e: unknown) => e instanceof ApiError && e.status === 413 && e.code === 'text_too_long');
  assert.throws(() => decodeRequest('[]', Buffer.alloc(0), text, 's', limits), is400(/JSON object/));
  const outs = decodeRequest({ ...base, outputs: [{ name: 'score', parameters: { binary_data: true } }], parameters: { binary_data_output: false } }, Buffer.alloc(0), text, 's', limits);
  assert.deepEqual(outs.outputs, [{ name: 'score', binary: true }]);
  assert.throws(() => decodeRequest({ ...base, outputs: [{ name: 'score' }, { name: 'score' }] }, Buffer.alloc(0), text, 's', limits), is400(/requested twice/));
  assert.throws(() => decodeRequest({ ...base, parameters: { binary_data_output: 'yes' } }, Buffer.alloc(0), text, 's', limits), is400(/binary_data_output/));
});

test('binary inputs: sizes must add up, data and binary are exclusive, text must be UTF-8', () => {
  const blob = serializeBytes([Buffer.from('good'), Buffer.from('bad')]);
  const t = (p: Record<string, unknown>, shape = [2]) => ({ inputs: [{ name: 'text', shape, datatype: 'BYTES', parameters: p }] });
  assert.deepEqual(decodeRequest(t({ binary_data_size: blob.length }), blob, text, 's', limits).elements, ['good', 'bad']);
  assert.throws(() => decodeRequest(t({ binary_data_size: blob.length }, [3]), blob, text, 's', limits), is400(/describes 3 element\(s\) but the binary data holds 2/));
  assert.throws(() => decodeRequest(t({ binary_data_size: blob.length + 1 }), blob, text, 's', limits), is400(/goes past the end/));
  assert.throws(() => decodeRequest(t({ binary_data_size: 4 + 4 }, [1]), blob, text, 's', limits), is400(/not claimed/));
  assert.throws(() => decodeRequest({ inputs: [{ name: 'text', shape: [2], datatype: 'BYTES', data: ['a', 'b'], parameters: { binary_data_size: 1 } }] }, blob, text, 's', limits), is400(/both "data" and/));
  const latin = serializeBytes([Buffer.from([0xff, 0xfe])]);
  assert.throws(() => decodeRequest(t({ binary_data_size: latin.length }, [1]), latin, text, 's', limits), is400(/not UTF-8/));
  const img = serializeBytes([Buffer.from([0xff, 0xd8, 0xff])]);
  assert.deepEqual([...(decodeRequest({ inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: img.length } }] }, img, image, 'c', limits).elements[0] as Buffer)], [0xff, 0xd8, 0xff]);
});

test('responses: exactly the requested outputs, binary ones after the JSON with their sizes', () => {
  const tensors = [
    { name: 'label', datatype: 'BYTES' as const, shape: [1, 2], data: ['a', 'b'] },
    { name: 'score', datatype: 'FP32' as const, shape: [1, 2], data: [0.75, 0.25] },
  ];
  const head = { model_name: 'm', model_version: '1', id: 'r' };
  const j = encodeResponse(head, tensors, [{ name: 'score', binary: false }]);
  assert.equal(j.headerLength, undefined);
  assert.deepEqual(JSON.parse(j.body.toString()).outputs, [{ name: 'score', datatype: 'FP32', shape: [1, 2], data: [0.75, 0.25] }]);
  const b = encodeResponse(head, tensors, [{ name: 'label', binary: true }, { name: 'score', binary: true }]);
  const json = JSON.parse(b.body.subarray(0, b.headerLength).toString()) as { outputs: { parameters: { binary_data_size: number } }[] };
  assert.equal(json.outputs[0]!.parameters.binary_data_size, 4 + 1 + 4 + 1);
  assert.equal(json.outputs[1]!.parameters.binary_data_size, 8);
  const tail = b.body.subarray(b.headerLength);
  assert.deepEqual(deserializeBytes(tail.subarray(0, 10), 'x').map(String), ['a', 'b']);
  assert.equal(tail.readFloatLE(10), 0.75);
  assert.equal(tail.readFloatLE(14), 0.25);
});

test('proxy trust: IPs, CIDRs, named ranges, host names; X-Forwarded-For is believed only from them', async () => {
  assert.equal(typeof parseTrustEntry('10.0.0.0/8'), 'object');
  assert.equal(typeof parseTrustEntry('fd00::/8'), 'object');
  assert.equal(typeof parseTrustEntry('nginx'), 'object');
  assert.match(parseTrustEntry('10.0.0.0/33') as string, /prefix length must be 0-32/);
  assert.match(parseTrustEntry('1.2.3.4/8/9') as string, /not an IP address/);
  assert.match(parseTrustEntry('999.1.1.1') as string, /not an IP address/);
  assert.match(parseTrustEntry('bad host!') as string, /not an IP address/);
  const list = blockListOf(['loopback', '10.1.0.0/16'].flatMap((e) => parseTrustEntry(e) as never[]));
  assert.equal(isTrusted(list, '127.0.0.1'), true);
  assert.equal(isTrusted(list, '::1'), true);
  assert.equal(isTrusted(list, '::ffff:10.1.2.3'), true);
  assert.equal(isTrusted(list, '10.2.0.1'), false);
  assert.equal(isTrusted(list, 'garbage'), false);
  assert.equal(normalizeAddress('::ffff:1.2.3.4'), '1.2.3.4');
  const t = new ProxyTrust(['nginx'], { resolve: async (n) => (n === 'nginx' ? ['172.18.0.5'] : []) });
  assert.equal(t.trusts('172.18.0.5'), false, 'not resolved yet: trusts nothing');
  await t.start();
  assert.equal(t.trusts('172.18.0.5'), true);
  assert.equal(t.trusts('172.18.0.6'), false);
  t.stop();
  const down = new ProxyTrust(['nginx'], { resolve: async () => { throw new Error('ENOTFOUND'); } });
  await down.refresh();
  assert.equal(down.trusts('172.18.0.5'), false);
  assert.throws(() => new ProxyTrust(['10.0.0.0/99']), /prefix length/);
});

test('route index: 405 material — which methods a concrete path has', () => {
  const r = new RouteIndex();
  r.add('POST', '/v2/models/:name/infer');
  r.add('GET', '/v1/jobs/:id');
  r.add('OPTIONS', '*');
  assert.deepEqual(r.allowed('/v2/models/abc/infer'), ['POST']);
  assert.deepEqual(r.allowed('/v1/jobs/123'), ['GET', 'HEAD']);
  assert.deepEqual(r.allowed('/v1/jobs/123/x'), []);
  assert.deepEqual(r.allowed('/nothing'), [], 'the CORS catch-all says nothing about a path');
});

test('model states: unloaded → loading → ready; failed with a reason, retried after a while', () => {
  const changes: string[] = [];
  const m = new ModelStates((n, s) => changes.push(`${n}:${s.state}`));
  assert.equal(m.get('a').state, 'unloaded');
  assert.equal(m.shouldLoad('a', 0), true);
  m.loading('a', 1);
  assert.equal(m.shouldLoad('a', 2), false);
  m.ready('a', 3);
  m.loading('a', 4); // a ready model stays ready
  assert.equal(m.get('a').state, 'ready');
  m.failed('b', 'truncated weights', 10);
  assert.deepEqual(m.broken(), { b: 'truncated weights' });
  assert.equal(m.shouldLoad('b', 11), false);
  assert.equal(m.shouldLoad('b', 10 + RETRY_FAILED_MS), true);
  assert.deepEqual(changes, ['a:loading', 'a:ready', 'b:failed']);
});
