import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InputError } from '../../../src/inference/types.ts';
import { cacheKey, MemoryCache, stableJson } from '../../../src/services/cache.ts';
import { resultsCsv } from '../../../src/server/csv.ts';
import { csvCell } from '../../../src/util/csv.ts';
import { ApiError, inputErrorStatus } from '../../../src/services/errors.ts';
import { toHttpError } from '../../../src/server/errors.ts';
import { Gate } from '../../../src/services/inference.ts';
import { bearer, generateKey, hashKey, keyId, keyMatches } from '../../../src/server/keys.ts';
import { parseQueryOptions, parseTexts, safeFileName, decodeUtf8 } from '../../../src/server/params.ts';
import { retryAfterSeconds, takeToken } from '../../../src/server/ratelimit.ts';
import { databaseUrl, redisUrl, resolveSettings, defaultConfig, parseKeyList } from '../../../src/services/settings.ts';

test('limits: settings from defaults parse the sizes and pick a safe host', () => {
  const s = resolveSettings({ config: undefined, env: {} });
  assert.equal(s.limits.maxFileSize, 50 * 1024 * 1024);
  assert.equal(s.limits.maxRequestSize, 500 * 1024 * 1024);
  assert.equal(s.limits.maxFiles, 100);
  assert.equal(s.port, 8000);
  assert.equal(s.host, '127.0.0.1');
  assert.equal(s.authRequired, false);
  assert.equal(s.databaseUrl, undefined);
  assert.deepEqual({ perMinute: s.rateLimit.perMinute, burst: s.rateLimit.burst }, { perMinute: 60, burst: 100 });
});

test('settings: stack env builds DATABASE_URL/REDIS_URL from hosts and secrets; auth turns on', () => {
  const c = defaultConfig();
  const env = { DATABASE_HOST: 'postgres', DATABASE_PORT: '5432', REDIS_HOST: 'redis', REDIS_PORT: '6379', MODELSHIP_COLOR: 'green' };
  const dotenv = { POSTGRES_PASSWORD: 'p@ss/word', REDIS_PASSWORD: 'r' };
  assert.equal(databaseUrl(c, dotenv, env), 'postgres://modelship:p%40ss%2Fword@postgres:5432/modelship');
  assert.equal(redisUrl(c, dotenv, env), 'redis://:r@redis:6379');
  const s = resolveSettings({ config: c, dotenv, env, flags: { host: '0.0.0.0' } });
  assert.equal(s.authRequired, true);
  assert.equal(s.color, 'green');
  assert.equal(s.host, '0.0.0.0');
  assert.equal(databaseUrl(c, {}, { DATABASE_URL: 'postgres://x@y/z', DATABASE_HOST: 'h' }), 'postgres://x@y/z');
  assert.deepEqual(parseKeyList(' a, b ,,a '), ['a', 'b']);
  assert.equal(resolveSettings({ config: undefined, env: { MODELSHIP_API_KEYS: 'k1' } }).authRequired, true);
  assert.equal(resolveSettings({ config: undefined, env: { MODELSHIP_API_KEYS: 'k1', MODELSHIP_AUTH: 'off' } }).authRequired, false);
});

test('rate-limit math: burst, then one token per 60/perMinute seconds', () => {
  let b;
  for (let i = 0; i < 100; i++) {
    const r = takeToken(b, 1000, 60, 100);
    assert.equal(r.allowed, true, `request ${i}`);
    b = r.bucket;
  }
  const refused = takeToken(b, 1000, 60, 100);
  assert.equal(refused.allowed, false);
  assert.equal(refused.current, 101);
  assert.equal(refused.retryMs, 1000);
  assert.equal(retryAfterSeconds(refused.retryMs), 1);
  const later = takeToken(refused.bucket, 2000, 60, 100);
  assert.equal(later.allowed, true);
  assert.equal(takeToken(later.bucket, 2500, 60, 100).allowed, false);
  // never above burst after a long idle time
  const idle = takeToken(later.bucket, 10_000_000, 60, 100);
  assert.equal(idle.bucket.tokens, 99);
  assert.equal(retryAfterSeconds(1), 1);
  assert.equal(retryAfterSeconds(1500), 2);
});

test('error mapping: engine input errors, fastify errors, read-only database', () => {
  assert.equal(inputErrorStatus('too-large'), 413);
  assert.equal(inputErrorStatus('unsupported'), 415);
  assert.equal(inputErrorStatus('corrupt'), 400);
  assert.equal(inputErrorStatus('something-new'), 400);
  assert.equal(toHttpError(new InputError('corrupt', 'bad')).status, 400);
  assert.equal(toHttpError(new InputError('too-large', 'big')).body.code, 'image_too_large');
  assert.equal(toHttpError(Object.assign(new Error('x'), { code: 'FST_REQ_FILE_TOO_LARGE', statusCode: 413 })).body.code, 'file_too_large');
  assert.equal(toHttpError(Object.assign(new Error('x'), { code: 'FST_FILES_LIMIT', statusCode: 413 })).body.code, 'too_many_files');
  assert.equal(toHttpError(Object.assign(new Error('x'), { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 })).status, 415);
  const ro = toHttpError(Object.assign(new Error('cannot execute INSERT in a read-only transaction'), { code: '25006' }));
  assert.equal(ro.status, 503);
  assert.equal(ro.retryAfter, 30);
  const api = toHttpError(new ApiError(503, 'overloaded', 'full', { retryAfter: 1 }));
  assert.deepEqual([api.status, api.retryAfter, api.body.code], [503, 1, 'overloaded']);
  const internal = toHttpError(new Error('secret detail'));
  assert.deepEqual([internal.status, internal.body.error], [500, 'internal error']);
});

test('cache keys: content, model version and options all matter; option order does not', () => {
  const base = { task: 'image', model: 'm', version: '1', content: new Uint8Array([1, 2, 3]), options: { topK: 3, threshold: undefined } };
  const k = cacheKey(base);
  assert.equal(k, cacheKey({ ...base, options: { threshold: undefined, topK: 3 } }));
  assert.notEqual(k, cacheKey({ ...base, version: '2' }));
  assert.notEqual(k, cacheKey({ ...base, content: new Uint8Array([1, 2, 4]) }));
  assert.notEqual(k, cacheKey({ ...base, options: { topK: 4 } }));
  assert.notEqual(k, cacheKey({ ...base, task: 'detect' }));
  assert.equal(stableJson({ b: 1, a: [1, { d: 2, c: 1 }] }), '{"a":[1,{"c":1,"d":2}],"b":1}');
});

test('memory cache: TTL and LRU bound', async () => {
  const c = new MemoryCache(60, 2);
  await c.set('a', { x: 1 });
  await c.set('b', 2);
  await c.get('a');
  await c.set('c', 3);
  assert.deepEqual(await c.get('a'), { x: 1 });
  assert.equal(await c.get('b'), undefined);
  const expired = new MemoryCache(0);
  await expired.set('a', 1);
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(await expired.get('a'), undefined);
});

test('admission gate: reserves up to max, refuses beyond', () => {
  const g = new Gate(4);
  assert.equal(g.tryAcquire(3), 3);
  assert.equal(g.tryAcquire(2), 0);
  assert.equal(g.tryAcquire(1), 1);
  g.release(3);
  assert.equal(g.tryAcquire(100), 0); // wants all 4, one still held
  g.release(1);
  assert.equal(g.tryAcquire(100), 4);
});

test('CSV output: quoting, formula injection, one row per prediction or error', () => {
  assert.equal(csvCell('a,b'), '"a,b"');
  assert.equal(csvCell('say "hi"'), '"say ""hi"""');
  assert.equal(csvCell('=cmd()'), "'=cmd()");
  assert.equal(csvCell(0.5), '0.5');
  const csv = resultsCsv('image', [
    { index: 0, name: 'a.jpg', result: { predictions: [{ label: 'Neutral', score: 0.9 }, { label: 'Drawing', score: 0.1 }] }, error: null, code: null },
    { index: 1, name: 'b,c.png', result: null, error: 'corrupt image', code: 'bad_image' },
  ]);
  assert.equal(csv, 'index,name,rank,label,score,error\r\n0,a.jpg,1,Neutral,0.9,\r\n0,a.jpg,2,Drawing,0.1,\r\n1,"b,c.png",,,,corrupt image\r\n');
  const det = resultsCsv('detect', [{ index: 0, name: null, result: { detections: [{ label: 'cat', score: 0.8, box: { x: 1, y: 2, width: 3, height: 4 } }] }, error: null, code: null }]);
  assert.match(det, /^index,name,rank,label,score,x,y,width,height,error\r\n0,,1,cat,0.8,1,2,3,4,\r\n$/);
});

test('params: query options, texts, file names, UTF-8', () => {
  assert.deepEqual(parseQueryOptions({ topK: '3', threshold: '0.5', model: 'content-safety' }), { model: 'content-safety', topK: 3, threshold: 0.5, maxDetections: undefined });
  assert.throws(() => parseQueryOptions({ topK: '0' }), /topK/);
  assert.throws(() => parseQueryOptions({ model: '../etc' }), /model/);
  assert.deepEqual(parseTexts({ text: 'hi' }, { maxTexts: 2, maxTextLength: 10 }), ['hi']);
  assert.throws(() => parseTexts({ texts: ['a', 'b', 'c'] }, { maxTexts: 2, maxTextLength: 10 }), (e: ApiError) => e.status === 413);
  assert.throws(() => parseTexts({ text: 'x'.repeat(11) }, { maxTexts: 2, maxTextLength: 10 }), (e: ApiError) => e.status === 413 && e.code === 'text_too_long');
  assert.throws(() => parseTexts({ text: { nested: 1 } }, { maxTexts: 2, maxTextLength: 10 }), (e: ApiError) => e.status === 400);
  assert.throws(() => parseTexts([1], { maxTexts: 2, maxTextLength: 10 }), (e: ApiError) => e.status === 400);
  assert.equal(safeFileName('../../etc/passwd'), 'passwd');
  assert.equal(safeFileName('..\\..\\win.ini'), 'win.ini');
  assert.equal(safeFileName('a\u0000b\nc.jpg'), 'abc.jpg');
  assert.equal(safeFileName('..'), null);
  assert.throws(() => decodeUtf8(Buffer.from([0x22, 0xff, 0xfe, 0x22])), (e: ApiError) => e.code === 'bad_encoding');
});

test('keys: format, constant-time match, bearer parsing', () => {
  const { id, key } = generateKey();
  assert.match(key, /^ms_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
  assert.equal(keyId(key), id);
  assert.equal(keyMatches(key, hashKey(key)), true);
  assert.equal(keyMatches(`${key}x`, hashKey(key)), false);
  assert.equal(keyMatches(key, new Uint8Array(5)), false);
  assert.equal(bearer(`Bearer ${key}`), key);
  assert.equal(bearer(`bearer  ${key} `), key);
  assert.equal(bearer('Basic abc'), undefined);
  assert.equal(bearer(undefined), undefined);
});
