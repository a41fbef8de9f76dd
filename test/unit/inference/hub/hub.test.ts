import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { hubCacheDir, safeRepoPath, RepoCache } from '../../../../src/inference/hub/cache.ts';
import { contentRangeStart, normalizeEtag } from '../../../../src/inference/hub/download.ts';
import { hubHttpError, hubSettings, type HubResponse } from '../../../../src/inference/hub/http.ts';
import { infoUrl, parseRepoInfo, resolveUrl } from '../../../../src/inference/hub/info.ts';
import { defaultModelName, formatHubRef, hubSpecProblem, parseHubRef, repoFolderName } from '../../../../src/config/hub-ref.ts';

test('hf:ORG/NAME[@REV] parses; malformed ones say what is wrong', () => {
  assert.deepEqual(parseHubRef('hf:Xenova/resnet-50'), { repo: 'Xenova/resnet-50', revision: 'main', explicitRevision: false });
  assert.deepEqual(parseHubRef('hf:onnx-community/yolo11n@refs/pr/3'), { repo: 'onnx-community/yolo11n', revision: 'refs/pr/3', explicitRevision: true });
  assert.equal(formatHubRef(parseHubRef('hf:a/b@v1')), 'hf:a/b@v1');
  assert.match(hubSpecProblem('hf:resnet-50')!, /not ORG\/NAME/);
  assert.match(hubSpecProblem('hf:a/b/c')!, /exactly one "\/"/);
  assert.match(hubSpecProblem('hf:a/b@')!, /empty revision/);
  assert.match(hubSpecProblem('hf:a/b@x..y')!, /not a valid git branch/);
  assert.match(hubSpecProblem('hf:a/-b')!, /starts with a letter or digit/);
  assert.match(hubSpecProblem('hf:a/b--c')!, /"--" and "\.\." are not allowed/);
  assert.throws(() => parseHubRef('hf:x'), (e: Error & { exitCode?: number }) => e.exitCode === 2);
  assert.equal(repoFolderName('Xenova/resnet-50'), 'models--Xenova--resnet-50');
  assert.equal(defaultModelName('cardiffnlp/Twitter-RoBERTa_base'), 'twitter-roberta_base');
});

test('the cache root follows huggingface_hub: HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HUGGINGFACE_CACHE_DIR, HF_HOME/hub, XDG_CACHE_HOME, ~/.cache', () => {
  assert.equal(hubCacheDir({ HF_HUB_CACHE: '/c/hub', HF_HOME: '/h' }), '/c/hub');
  assert.equal(hubCacheDir({ HUGGINGFACE_HUB_CACHE: '/old' }), '/old');
  assert.equal(hubCacheDir({ HUGGINGFACE_CACHE_DIR: '/d' }), '/d');
  assert.equal(hubCacheDir({ HF_HOME: '/h', XDG_CACHE_HOME: '/x' }), '/h/hub');
  assert.equal(hubCacheDir({ XDG_CACHE_HOME: '/x', HOME: '/home/u' }), '/x/huggingface/hub');
  assert.equal(hubCacheDir({ HOME: '/home/u' }), '/home/u/.cache/huggingface/hub');
  assert.equal(hubCacheDir({ HF_HOME: '~/hf', HOME: '/home/u' }), '/home/u/hf/hub');
  const c = new RepoCache('/c', 'org/name');
  const sha = 'a'.repeat(64);
  assert.equal(c.blobPath(sha), path.join('/c/models--org--name/blobs', sha));
  assert.equal(c.lockPath(sha), path.join('/c/.locks/models--org--name', `${sha}.lock`));
  assert.throws(() => c.blobPath('../../etc/passwd'), /unusable ETag/);
  assert.throws(() => c.snapshotDir('main'), /not a commit hash/);
});

test('a hostile file list cannot name paths outside the snapshot', () => {
  for (const p of ['../x', '/etc/passwd', 'a/../../b', 'a\\b', 'a//b', '', 'a/./b']) assert.throws(() => safeRepoPath(p), /unsafe file path/, p);
  assert.equal(safeRepoPath('onnx/model.onnx'), 'onnx/model.onnx');
  const ref = parseHubRef('hf:a/b');
  assert.throws(() => parseRepoInfo({ sha: 'b'.repeat(40), siblings: [{ rfilename: '../../.bashrc' }] }, ref), /unsafe file path/);
  assert.throws(() => parseRepoInfo({ sha: 'main', siblings: [] }, ref), /"sha" is "main", not a 40-hex commit/);
  assert.throws(() => parseRepoInfo({ sha: 'b'.repeat(40) }, ref), /"siblings" \(the file list\) is missing/);
  assert.throws(() => parseRepoInfo({ sha: 'b'.repeat(40), siblings: [{ rfilename: 'm.onnx', lfs: { sha256: 'zz' } }] }, ref), /lfs\.sha256 is not a sha256/);
});

test('model info: LFS files carry their sha256 and real size, others the git blob id; licence from the card or tags', () => {
  const ref = parseHubRef('hf:a/b');
  const info = parseRepoInfo({
    id: 'a/b', sha: 'c'.repeat(40), private: true, gated: 'manual', tags: ['license:mit'], pipeline_tag: 'image-classification',
    siblings: [{ rfilename: 'config.json', size: 100, blobId: 'd'.repeat(40) }, { rfilename: 'onnx/model.onnx', size: 134, blobId: 'e'.repeat(40), lfs: { sha256: 'f'.repeat(64), size: 9000, pointerSize: 134 } }, { rfilename: 'README.md' }],
  }, ref);
  assert.deepEqual(info.files, [
    { path: 'config.json', size: 100, etag: 'd'.repeat(40), lfs: false },
    { path: 'onnx/model.onnx', size: 9000, etag: 'f'.repeat(64), lfs: true },
    { path: 'README.md', size: undefined, etag: undefined, lfs: false },
  ]);
  assert.equal(info.license, 'mit');
  assert.equal(info.gated, 'manual');
  const s = hubSettings({ HF_ENDPOINT: 'https://mirror.example/', HOME: '/nonexistent' });
  assert.equal(infoUrl(s, parseHubRef('hf:a/b@refs/pr/1')), 'https://mirror.example/api/models/a/b/revision/refs%2Fpr%2F1?blobs=true');
  assert.equal(resolveUrl(s, 'a/b', 'c'.repeat(40), 'onnx/model name.onnx'), `https://mirror.example/a/b/resolve/${'c'.repeat(40)}/onnx/model%20name.onnx`);
});

test('settings: endpoint, token sources (never printed), offline, timeout', () => {
  const s = hubSettings({ HOME: '/nonexistent' });
  assert.equal(s.endpoint, 'https://huggingface.co');
  assert.equal(s.token, undefined);
  assert.equal(hubSettings({ HF_TOKEN: 't1', HUGGING_FACE_HUB_TOKEN: 't2' }).tokenSource, 'HF_TOKEN');
  assert.equal(hubSettings({ HUGGING_FACE_HUB_TOKEN: 't2', HOME: '/nonexistent' }).token, 't2');
  assert.equal(hubSettings({ HF_HUB_OFFLINE: '1', HOME: '/nonexistent' }).offline, true);
  assert.equal(hubSettings({ HF_HUB_DOWNLOAD_TIMEOUT: '5', HOME: '/nonexistent' }).timeoutMs, 5000);
  assert.throws(() => hubSettings({ HF_ENDPOINT: 'ftp://x' }), /expected an http\(s\) URL/);
});

test('ETag and Content-Range parsing', () => {
  assert.equal(normalizeEtag('W/"abc"'), 'abc');
  assert.equal(normalizeEtag('"abc"'), 'abc');
  assert.equal(normalizeEtag(undefined), undefined);
  assert.equal(contentRangeStart('bytes 100-199/200'), 100);
  assert.equal(contentRangeStart('bytes */200'), undefined);
});

async function errorFor(status: number, headers: Record<string, string>, token?: string, file?: string): Promise<Error & { hint?: string }> {
  const s = { ...hubSettings({ HOME: '/nonexistent' }), token, tokenSource: token ? 'HF_TOKEN' : undefined };
  const res = { status, headers, hubHeaders: headers, url: 'https://huggingface.co/x', body: (async function* () { yield Buffer.from('{"error":"nope"}'); })() } as unknown as HubResponse;
  return hubHttpError(s, res, { ref: parseHubRef('hf:org/name@v2'), ...(file ? { file } : {}) });
}

test('the Hub\'s refusals become messages that say what to do', async () => {
  assert.match((await errorFor(401, { 'x-error-code': 'RepoNotFound' })).message, /repository not found, or it is private and no token was given/);
  assert.match((await errorFor(401, {}, 'tok')).message, /the Hub refused the token from HF_TOKEN/);
  const gated = await errorFor(403, { 'x-error-code': 'GatedRepo', 'x-error-message': 'Access restricted' });
  assert.match(gated.message, /is a gated repository.*\(the Hub said: Access restricted\)/);
  assert.match(gated.hint ?? '', /accept the conditions, then set HF_TOKEN/);
  assert.match((await errorFor(404, { 'x-error-code': 'RevisionNotFound' })).message, /revision "v2" does not exist in org\/name/);
  assert.match((await errorFor(404, { 'x-error-code': 'EntryNotFound' }, undefined, 'onnx/model.onnx')).message, /onnx\/model\.onnx is not in the repository at v2/);
  assert.match((await errorFor(429, { 'retry-after': '30' })).hint ?? '', /after 30 s/);
  assert.match((await errorFor(503, {})).message, /answered HTTP 503 \(the Hub said: nope\)/);
});
