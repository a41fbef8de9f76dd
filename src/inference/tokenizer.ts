import { KERAS_DEFAULT_FILTERS, type TokenizerSpec } from './manifest.ts';

/**
 * Word-index tokenizer with Keras `Tokenizer.texts_to_sequences` + `pad_sequences` semantics:
 * lower-case (`lower`), replace each `filters` character with `split`, split on `split`, drop
 * empty pieces, map each word through the vocabulary (unknown or ≥ `num_words` → `oovIndex`, or
 * dropped when there is no OOV token), then truncate/pad to `maxLength` on the chosen sides.
 */

export interface SplitOptions {
  lowercase: boolean;
  filters?: string | undefined;
  split?: string | undefined;
}

export function splitWords(text: string, opts: SplitOptions | boolean): string[] {
  const o: SplitOptions = typeof opts === 'boolean' ? { lowercase: opts } : opts;
  const filters = o.filters ?? KERAS_DEFAULT_FILTERS;
  const split = o.split ?? ' ';
  let t = o.lowercase ? text.toLowerCase() : text;
  if (filters.length > 0) {
    const set = new Set(filters);
    let out = '';
    for (const ch of t) out += set.has(ch) ? split : ch;
    t = out;
  }
  return t.split(split).filter((w) => w.length > 0);
}

export function tokenize(text: string, vocab: ReadonlyMap<string, number>, spec: TokenizerSpec): Int32Array {
  const ids: number[] = [];
  for (const w of splitWords(text, spec)) {
    const id = vocab.get(w);
    const known = id !== undefined && (spec.numWords === undefined || id < spec.numWords);
    if (known) ids.push(id);
    else if (spec.oovIndex !== null) ids.push(spec.oovIndex);
  }
  const kept = ids.length > spec.maxLength ? (spec.truncating === 'pre' ? ids.slice(ids.length - spec.maxLength) : ids.slice(0, spec.maxLength)) : ids;
  const out = new Int32Array(spec.maxLength).fill(spec.padIndex);
  out.set(kept, spec.padding === 'pre' ? spec.maxLength - kept.length : 0);
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
