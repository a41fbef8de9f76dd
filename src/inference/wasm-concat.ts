import type * as tfTypes from '@tensorflow/tfjs-core';

/**
 * A Concat kernel for TF.js's wasm backend. The stock one is JavaScript that, for every row of
 * the output (every pixel, for a channel concat in NHWC: 16 384 rows at 128×128), creates a
 * subarray and copies it: garbage by the tens of thousands per call, and V8 keeps deoptimising
 * it. Detection models like the bundled CenterNet concatenate feature maps on every inference.
 * This one copies rows inside the wasm heap (all tensors live in the same memory) with no
 * allocation. Strings and single-input cases go to the stock kernel.
 */

type TF = typeof tfTypes;

interface HeapTensor {
  shape: number[];
  dtype: tfTypes.DataType;
  dataId: object;
}

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tfTypes.DataType): HeapTensor;
  typedArrayFromHeap(t: HeapTensor): Float32Array | Int32Array | Uint8Array;
}

/**
 * Copies `rows` rows of each input, one after another per row, into the output: the layout of a
 * concat along an axis, where a row is everything from that axis inwards. Offsets and row
 * lengths are in elements of `heap` (pure: testable on any array).
 */
export function concatRowsInto(heap: Int32Array | Uint8Array, inputs: { offset: number; rowLength: number }[], outOffset: number, rows: number): void {
  let o = outOffset;
  for (let r = 0; r < rows; r++) {
    for (const { offset, rowLength } of inputs) {
      const from = offset + r * rowLength;
      if (rowLength > 32) {
        heap.copyWithin(o, from, from + rowLength);
      } else {
        for (let i = 0; i < rowLength; i++) heap[o + i] = heap[from + i]!;
      }
      o += rowLength;
    }
  }
}

function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Replaces the wasm backend's Concat kernel (call after the wasm backend is set). */
export function installWasmConcat(tf: TF): void {
  const stock = tf.getKernel(tf.Concat, 'wasm');
  if (!stock) return;
  tf.unregisterKernel(tf.Concat, 'wasm');
  const modelshipConcat: tfTypes.KernelFunc = (args) => {
    const inputs = args.inputs as unknown as HeapTensor[];
    const dtype = inputs[0]?.dtype;
    const nonEmpty = inputs.filter((t) => sizeOf(t.shape) > 0);
    if (dtype === undefined || dtype === 'string' || dtype === 'complex64' || nonEmpty.length < 2) return stock.kernelFunc(args);
    const backend = args.backend as unknown as WasmBackendLike;
    const axis = tf.util.parseAxisParam((args.attrs as { axis: number | number[] }).axis, inputs[0]!.shape)[0]!;
    const shapes = inputs.map((t) => t.shape);
    tf.backend_util.assertParamsConsistent(shapes, axis);
    const outShape = tf.backend_util.computeOutShape(shapes, axis);
    const out = backend.makeOutput(outShape, dtype);
    // views only after makeOutput: its allocation may grow (and so replace) the wasm memory
    const outView = backend.typedArrayFromHeap(out);
    const width = outView.BYTES_PER_ELEMENT;
    const heap = width === 4 ? new Int32Array(outView.buffer) : new Uint8Array(outView.buffer);
    const rows = sizeOf(nonEmpty[0]!.shape.slice(0, axis));
    const parts = nonEmpty.map((t) => ({ offset: backend.typedArrayFromHeap(t).byteOffset / width, rowLength: sizeOf(t.shape.slice(axis)) }));
    concatRowsInto(heap, parts, outView.byteOffset / width, rows);
    return out as unknown as tfTypes.TensorInfo;
  };
  tf.registerKernel({ kernelName: tf.Concat, backendName: 'wasm', kernelFunc: modelshipConcat });
}
