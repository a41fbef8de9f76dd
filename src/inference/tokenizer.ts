import type { TokenizerSpec } from './manifest.ts';

/**
 * Word-index tokenizer for user TF.js text models (Keras `Tokenizer` + `pad_sequences`
 * conventions): lowercase, strip Keras' default filter characters, split on whitespace, map each
 * word through the vocabulary (unknown → `oovIndex`), then pad/truncate to `maxLength`.
 */
const KERAS_FILTERS = /[!"#$%&()*+,\-./:;<=>?@[\\\]^_`{|}~\t\n]/g;

export function splitWords(text: string, lowercase: boolean): string[] {
  const t = lowercase ? text.toLowerCase() : text;
  return t.replace(KERAS_FILTERS, ' ').split(/\s+/).filter((w) => w.length > 0);
}

export function tokenize(text: string, vocab: ReadonlyMap<string, number>, spec: TokenizerSpec): Int32Array {
  let ids = splitWords(text, spec.lowercase).map((w) => vocab.get(w) ?? spec.oovIndex);
  if (ids.length > spec.maxLength) {
    ids = spec.truncating === 'pre' ? ids.slice(ids.length - spec.maxLength) : ids.slice(0, spec.maxLength);
  }
  const out = new Int32Array(spec.maxLength).fill(spec.padIndex);
  const start = spec.padding === 'pre' ? spec.maxLength - ids.length : 0;
  out.set(ids, start);
  return out;
}

/** A vocabulary file: a JSON object `{ "word": index, ... }` (Keras `tokenizer.word_index`). */
export function parseVocab(json: unknown): Map<string, number> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('vocabulary must be a JSON object of word → integer index');
  const map = new Map<string, number>();
  for (const [word, idx] of Object.entries(json as Record<string, unknown>)) {
    if (typeof idx !== 'number' || !Number.isInteger(idx) || idx < 0) throw new Error(`vocabulary entry ${JSON.stringify(word)}: expected a non-negative integer, got ${JSON.stringify(idx)}`);
    map.set(word, idx);
  }
  return map;
}
