import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { createSession, cudaProviderInstalled } from '../../../src/inference/onnx-provider.ts';
import { SHARED_MODELS, sharedModelsPresent, SKIP_REASON } from './shared-models.ts';

/**
 * The provider fallback with the real onnxruntime-node. This machine has no GPU and no CUDA
 * provider; `cudaInstalled: true` makes the session really try CUDA (ONNX Runtime then fails to
 * load the provider library), which is the path a GPU server with a broken CUDA install takes.
 */
const model = path.join(SHARED_MODELS, 'news-topic', 'model.onnx');
const skip = sharedModelsPresent ? (cudaProviderInstalled() ? 'the CUDA provider is installed here: this test is for machines without it' : false) : SKIP_REASON;

test('CUDA not installed: skipped with the install hint, the session runs on CPU', { skip }, async () => {
  const { session, provider } = await createSession(model, { intraOpThreads: 1 });
  try {
    assert.equal(provider.name, 'onnx-cpu');
    assert.equal(provider.device, 'cpu');
    assert.match(provider.skipped[0]!.reason, /the CUDA execution provider is not installed \(install the CUDA provider with `ONNXRUNTIME_NODE_INSTALL=cuda12/);
  } finally {
    await session.release();
  }
});

test('CUDA present but failing: ONNX Runtime\'s own reason is recorded and CPU takes over', { skip }, async () => {
  const { session, provider } = await createSession(model, { intraOpThreads: 1, cudaInstalled: true });
  try {
    assert.equal(provider.name, 'onnx-cpu');
    assert.equal(provider.skipped[0]!.name, 'onnx-cuda');
    assert.match(provider.skipped[0]!.reason, /Cuda|CUDA|shared library/);
    const out = await session.run({ input: new (await import('onnxruntime-node')).Tensor('int32', new Int32Array(30), [1, 30]) });
    assert.equal(out.output!.dims.join(','), '1,4');
  } finally {
    await session.release();
  }
});

test('a forced onnx-cuda that cannot run fails, naming why, instead of falling back', { skip }, async () => {
  await assert.rejects(createSession(model, { intraOpThreads: 1, forced: 'onnx-cuda' }), /no ONNX Runtime execution provider could run the model: onnx-cuda: the CUDA execution provider is not installed/);
  await assert.rejects(createSession(model, { intraOpThreads: 1, forced: 'onnx-cuda', cudaInstalled: true }), /no ONNX Runtime execution provider could run the model: onnx-cuda: /);
});
