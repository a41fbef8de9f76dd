import { UserError } from '../util/errors.ts';

/**
 * Pure: token ids of a batch of texts → the tensors a transformer text model takes, by the names
 * its inputs carry. Kept apart from the tokenizer library so that inference workers, which only
 * batch ids the main thread encoded, do not load it.
 */

/** A model input the encoder may feed, as the model declares it. */
export interface TextInputInfo {
  name: string;
  shape: readonly (number | string | null)[];
}

export interface TextFeed {
  name: string;
  data: Int32Array;
  shape: [number, number];
}

export interface EncodedIds {
  ids: ArrayLike<number>;
  typeIds: ArrayLike<number> | undefined;
}

/** The inputs a transformer text classifier takes, by the names Hugging Face exports give them. */
const KNOWN_INPUTS = ['input_ids', 'attention_mask', 'token_type_ids'] as const;

/**
 * Encoded texts as the model's inputs: `input_ids` always, `attention_mask` and `token_type_ids`
 * where the model declares them, padded with the pad token to the longest text (or to the model's
 * fixed sequence length). An input a tokenizer cannot fill is an error naming it.
 */
export function batchFeeds(encoded: readonly EncodedIds[], padId: number, inputs: readonly TextInputInfo[], maxLength: number): TextFeed[] {
  const names = inputs.map((i) => i.name);
  if (!names.includes('input_ids')) {
    throw new UserError(`the model has no "input_ids" input (it has ${names.join(', ') || 'none'})`, { hint: 'a tokenizer.json model must take input_ids (and optionally attention_mask, token_type_ids), as Hugging Face exports do' });
  }
  const unknown = names.filter((n) => !(KNOWN_INPUTS as readonly string[]).includes(n));
  if (unknown.length) throw new UserError(`the model also needs ${unknown.map((n) => `"${n}"`).join(', ')}, which a tokenizer does not produce`, { hint: 'export the classifier with only input_ids / attention_mask / token_type_ids inputs (optimum-cli export onnx --task text-classification)' });
  const fixed = inputs.find((i) => i.name === 'input_ids')!.shape[1];
  const longest = Math.max(1, ...encoded.map((e) => e.ids.length));
  const len = typeof fixed === 'number' && fixed > 0 ? fixed : longest;
  if (len < longest) throw new UserError(`the model takes exactly ${len} tokens but tokenizer.maxLength is ${maxLength}`, { hint: `set tokenizer.maxLength to ${len} or less in the manifest` });
  const n = encoded.length;
  const ids = new Int32Array(n * len).fill(padId);
  const mask = new Int32Array(n * len);
  const types = new Int32Array(n * len);
  encoded.forEach((e, row) => {
    ids.set(e.ids, row * len);
    mask.fill(1, row * len, row * len + e.ids.length);
    if (e.typeIds) types.set(e.typeIds, row * len);
  });
  const byName: Record<string, Int32Array> = { input_ids: ids, attention_mask: mask, token_type_ids: types };
  return names.map((name) => ({ name, data: byName[name]!, shape: [n, len] as [number, number] }));
}

