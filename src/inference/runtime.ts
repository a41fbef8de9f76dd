/**
 * The runtime-neutral interface between the worker and a model runtime (TF.js or ONNX Runtime):
 * plain typed arrays in, plain typed arrays out. Each runtime module (tfjs-runtime.ts,
 * onnx-runtime.ts) turns a manifest + directory into a `RuntimeModel`; the worker feeds it.
 */

export interface TensorData {
  data: Float32Array | Int32Array;
  shape: number[];
}

/** A dimension: a size, or the name of a dynamic one (`batch_size`), or null when unnamed. */
export type Dim = number | string | null;

/** One model input as the model itself declares it (ONNX: session.inputMetadata). */
export interface TensorInfo {
  name: string;
  /** `float32`, `int32`, `int64`, … as the runtime names it. */
  type: string;
  /** Dimensions; a string or -1/null for a dynamic one (`batch_size`). */
  shape: Dim[];
}

/**
 * Inputs for one execution: a single tensor fed to the model's one (or manifest-named) input, or
 * tensors by input name (text models with `input_ids` / `attention_mask` / `token_type_ids`).
 */
export type ModelFeeds = TensorData | Map<string, TensorData>;

/** A loaded model that takes one batched input and returns the chosen output as plain arrays. */
export interface RuntimeModel {
  /** The fixed batch size of the model's input, or null when dynamic. */
  fixedBatch: number | null;
  /** What really runs this model: `onnx-cpu`, `onnx-cuda`, or the TF.js backend name (`wasm-simd`…). */
  provider: string;
  /** The image layout the main input expects (ONNX: from its shape unless the manifest says). */
  imageLayout?: 'NHWC' | 'NCHW';
  /** The model's declared inputs (ONNX); TF.js models leave it empty. */
  inputs: TensorInfo[];
  predict(input: ModelFeeds): Promise<TensorData>;
  dispose(): void;
}
