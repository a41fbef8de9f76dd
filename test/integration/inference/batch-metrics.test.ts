/**
 * The engine reports the size of every model execution, so `modelship_inference_batch_size`
 * shows what dynamic batching really did.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createEngine } from '../../../src/inference/engine.ts';

const photo = readFileSync(path.join(import.meta.dirname, '../../fixtures/images/coffee.jpg'));

test('onBatch sees batches of 1 without batching, and larger ones when the batcher may wait', async () => {
  for (const [batching, expectMax] of [
    [{ maxBatchSize: 1, maxQueueDelayMs: 0 }, 1],
    [{ maxBatchSize: 4, maxQueueDelayMs: 200 }, 4],
  ] as const) {
    const engine = await createEngine({ workers: 1, batching });
    try {
      const sizes: number[] = [];
      const stop = engine.onBatch((n, model) => {
        assert.equal(model, 'content-safety');
        sizes.push(n);
      });
      await engine.classifyImage(photo); // load and warm up
      sizes.length = 0;
      const results = await Promise.all([0, 1, 2, 3].map(() => engine.classifyImage(photo)));
      stop();
      assert.equal(results.length, 4);
      assert.equal(sizes.reduce((a, b) => a + b, 0), 4, `every input counted once: ${sizes}`);
      assert.equal(Math.max(...sizes), expectMax, `batches: ${sizes}`);
      // The same scores whichever way the inputs were grouped.
      for (const r of results) assert.ok(Math.abs(r.predictions[0]!.score - results[0]!.predictions[0]!.score) < 1e-5);
    } finally {
      await engine.close();
    }
  }
});
