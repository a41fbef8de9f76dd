import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tfl from '@tensorflow/tfjs-layers';
import { maxAbsDiff, runLayersBoth, seeded, cpuBackend } from '../../../helpers/convert-harness.ts';
import { convertKerasModel } from '../../../../src/inference/convert/keras-layers.ts';
import { ConversionError } from '../../../../src/inference/convert/errors.ts';

/** Seeded random weights everywhere (BatchNorm variances positive), so every weight matters. */
async function setRandomWeights(model: tfl.LayersModel): Promise<void> {
  const tf = await import('@tensorflow/tfjs-core');
  let seed = 11;
  for (const layer of model.layers) {
    const ws = layer.getWeights();
    if (!ws.length) continue;
    layer.setWeights(ws.map((w, i) => {
      const values = seeded(w.size, seed++);
      const positive = layer.getClassName() === 'BatchNormalization' && i === 3;
      return tf.tensor(positive ? values.map((x) => Math.abs(x) + 0.1) : values, w.shape);
    }));
  }
}

async function check(model: tfl.LayersModel, shape: number[], tol = 1e-5): Promise<void> {
  await setRandomWeights(model);
  const n = shape.reduce((a, b) => a * b, 1);
  const p = await runLayersBoth(model, { name: 'x', shape, values: seeded(n, 5) });
  assert.deepEqual(p.onnx.shape, p.tfjs.shape);
  const d = maxAbsDiff(p);
  assert.ok(d <= tol, `max |tfjs − onnx| = ${d} > ${tol}`);
}

test('Sequential MobileNet-style block (ZeroPadding2D, Conv2D valid/stride 2, BatchNorm, ReLU(6), DepthwiseConv2D same, AveragePooling2D, Flatten, Dense, Dropout, softmax) matches TF.js', async () => {
  await cpuBackend();
  const m = tfl.sequential({ layers: [
    tfl.layers.zeroPadding2d({ inputShape: [15, 13, 3], padding: [[0, 1], [0, 1]] }),
    tfl.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', useBias: false }),
    tfl.layers.batchNormalization({ epsilon: 0.001 }),
    tfl.layers.reLU({ maxValue: 6 }),
    tfl.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthMultiplier: 2, useBias: true }),
    tfl.layers.reLU({}),
    tfl.layers.averagePooling2d({ poolSize: 2, padding: 'same' }),
    tfl.layers.flatten(),
    tfl.layers.dense({ units: 6, activation: 'relu' }),
    tfl.layers.dropout({ rate: 0.5 }),
    tfl.layers.dense({ units: 4, activation: 'softmax' }),
  ] });
  await check(m, [2, 15, 13, 3]);
});

test('functional model with Add and Concatenate branches, MaxPooling2D, dilated conv, GlobalAveragePooling2D, sigmoid/tanh/hard_sigmoid/swish activations matches TF.js', async () => {
  await cpuBackend();
  const input = tfl.input({ shape: [12, 12, 4] });
  const a = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'tanh' }).apply(input) as tfl.SymbolicTensor;
  const sum = tfl.layers.add().apply([a, input]) as tfl.SymbolicTensor;
  const b = tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', dilationRate: 2, activation: 'hardSigmoid' }).apply(input) as tfl.SymbolicTensor;
  const cat = tfl.layers.concatenate({ axis: -1 }).apply([sum, b]) as tfl.SymbolicTensor;
  const pooled = tfl.layers.maxPooling2d({ poolSize: 2 }).apply(cat) as tfl.SymbolicTensor;
  const act = tfl.layers.activation({ activation: 'swish' }).apply(pooled) as tfl.SymbolicTensor;
  const gap = tfl.layers.globalAveragePooling2d({}).apply(act) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 3, activation: 'sigmoid' }).apply(gap) as tfl.SymbolicTensor;
  await check(tfl.model({ inputs: input, outputs: out }), [1, 12, 12, 4]);
});

test('unsupported layers fail once, naming each class and layer', () => {
  const topology = { model_config: { class_name: 'Sequential', config: { layers: [
    { class_name: 'LSTM', config: { name: 'lstm_1', batch_input_shape: [null, 5, 3], units: 4 } },
    { class_name: 'Bidirectional', config: { name: 'bi' } },
  ] } } };
  assert.throws(() => convertKerasModel(topology, new Map(), { producerVersion: 't' }), (err: Error) => {
    assert.ok(err instanceof ConversionError);
    assert.match(err.message, /2 Keras layers the ONNX converter does not support: LSTM \(1 layer, e\.g\. lstm_1\); Bidirectional \(1 layer, e\.g\. bi\)/);
    return true;
  });
});

test('a missing weight and an unknown activation are named with their layer', () => {
  const dense = (activation: string) => ({ model_config: { class_name: 'Sequential', config: { layers: [{ class_name: 'Dense', config: { name: 'd', units: 2, activation, batch_input_shape: [null, 3] } }] } } });
  assert.throws(() => convertKerasModel(dense('relu'), new Map(), { producerVersion: 't' }), /Keras layer d \(Dense\) has no weight d\/kernel in the weights manifest/);
  const weights = new Map([['d/kernel', { dtype: 'float32' as const, shape: [3, 2], data: new Float32Array(6) }], ['d/bias', { dtype: 'float32' as const, shape: [2], data: new Float32Array(2) }]]);
  assert.throws(() => convertKerasModel(dense('gelu'), weights, { producerVersion: 't' }), /Keras layer d \(Dense\) uses activation gelu, which the converter does not support/);
});
