/**
 * Which ONNX file of a Hugging Face repository to run. Exports such as Xenova/… and
 * onnx-community/… hold one network in several precisions (`onnx/model.onnx`,
 * `model_quantized.onnx`, `model_int8.onnx`, `model_fp16.onnx`, `model_q4.onnx`…). Pure: a file
 * list in, a choice and the reason for it out.
 */

export interface VariantInfo {
  /** Repository path of the .onnx file. */
  file: string;
  /** Short name: `fp32`, `quantized`, `int8`, `uint8`, `fp16`, `q4`, `q4f16`, `bnb4`, or the file's own suffix. */
  key: string;
  /** What it is, for messages. */
  description: string;
  /** External weight files next to it (`model.onnx_data`, `model.onnx.data`, `model.onnx_data_1`…). */
  dataFiles: string[];
}

const KNOWN: Record<string, { description: string; rank: number }> = {
  fp32: { description: 'full precision (fp32): the reference accuracy', rank: 0 },
  quantized: { description: 'int8 dynamic quantization: about 4× smaller, usually faster on CPU, slightly less accurate', rank: 1 },
  int8: { description: 'int8 quantization: about 4× smaller, usually faster on CPU, slightly less accurate', rank: 2 },
  uint8: { description: 'uint8 quantization: about 4× smaller, usually faster on CPU, slightly less accurate', rank: 3 },
  q4: { description: '4-bit weights: smallest, least accurate', rank: 5 },
  bnb4: { description: '4-bit (bitsandbytes-style) weights: smallest, least accurate', rank: 6 },
  fp16: { description: 'half precision (fp16): half the size, but slow on CPU (ONNX Runtime has few fp16 CPU kernels); meant for GPUs', rank: 7 },
  q4f16: { description: '4-bit weights with fp16 activations: meant for GPUs', rank: 8 },
};

/** The `.onnx` files that are whole-model variants: `model.onnx` / `model_<suffix>.onnx`, at the root or under `onnx/`. */
export function onnxVariants(files: readonly string[]): VariantInfo[] {
  const out: VariantInfo[] = [];
  for (const f of files) {
    const m = /^(?:onnx\/)?model(?:_([A-Za-z0-9]+))?\.onnx$/.exec(f);
    if (!m) continue;
    const key = (m[1] ?? 'fp32').toLowerCase();
    out.push({
      file: f,
      key,
      description: KNOWN[key]?.description ?? `the "${m[1]}" variant`,
      dataFiles: files.filter((d) => d !== f && (d.startsWith(`${f}_data`) || d.startsWith(`${f}.data`) || d === `${f.slice(0, -'.onnx'.length)}.onnx_data`)).sort(),
    });
  }
  // onnx/ is where the exporters put them; a root copy of the same key comes second.
  return out.sort((a, b) => rank(a) - rank(b) || Number(!a.file.startsWith('onnx/')) - Number(!b.file.startsWith('onnx/')) || a.file.localeCompare(b.file));
}

function rank(v: VariantInfo): number {
  return KNOWN[v.key]?.rank ?? 4;
}

export type VariantChoice =
  | { ok: true; chosen: VariantInfo; reason: string; others: VariantInfo[] }
  | { ok: false; reason: 'no-onnx' | 'unknown-variant'; message: string; available: VariantInfo[]; otherOnnx: string[] };

/**
 * Picks the variant: the one asked for (`want` = a key such as `int8`, or a repository path), else
 * fp32 (exact, runs on every execution provider), else the best-ranked quantized one.
 */
export function chooseVariant(files: readonly string[], want?: string): VariantChoice {
  const variants = onnxVariants(files);
  const otherOnnx = files.filter((f) => f.endsWith('.onnx') && !variants.some((v) => v.file === f));
  if (variants.length === 0) {
    return { ok: false, reason: 'no-onnx', message: 'no ONNX model file (model.onnx or onnx/model*.onnx)', available: [], otherOnnx };
  }
  if (want !== undefined) {
    const w = want.replace(/^\.\//, '');
    const hit = variants.find((v) => v.file === w) ?? variants.find((v) => v.key === w.toLowerCase());
    if (!hit) return { ok: false, reason: 'unknown-variant', message: `no variant "${want}"`, available: variants, otherOnnx };
    return { ok: true, chosen: hit, reason: `asked for with --variant ${want}`, others: variants.filter((v) => v !== hit) };
  }
  const chosen = variants[0]!;
  const reason = chosen.key === 'fp32'
    ? 'full precision: the accuracy the authors measured, on every execution provider'
    : `no full-precision model.onnx; ${chosen.key} ranks first of the variants present for CPU serving`;
  return { ok: true, chosen, reason, others: variants.slice(1) };
}
