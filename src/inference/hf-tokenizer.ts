import { Tokenizer } from '@huggingface/tokenizers';
import { z } from 'zod';
import { UserError } from '../util/errors.ts';
import { batchFeeds, type TextFeed, type TextInputInfo } from './text-feeds.ts';

/**
 * Text → model inputs for transformer classifiers, through a Hugging Face `tokenizer.json`
 * (WordPiece, BPE, Unigram…) and @huggingface/tokenizers, the Hub's own JavaScript port of its
 * tokenizers: normalizer, pre-tokenizer, model and post-processor (the [CLS]/[SEP] or <s>/</s>
 * template) exactly as the file describes them. This module adds what the library leaves to its
 * caller: truncation that keeps the special tokens, padding of a batch, and tensors named after
 * the model's own inputs.
 */

export const hfTokenizerSchema = z
  .object({
    type: z.literal('huggingface'),
    /** The tokenizer.json, relative to the model directory. */
    file: z.string().min(1).default('tokenizer.json'),
    /** tokenizer_config.json (special tokens, case handling), when the model has one. */
    config: z.string().min(1).optional(),
    /** Most tokens per text, special tokens included (the model's `model_max_length`). */
    maxLength: z.number().int().positive().max(65536),
    /** Which end a long text loses (`truncation_side`). */
    truncation: z.enum(['right', 'left']).default('right'),
  })
  .strict();

export type HfTokenizerSpec = z.infer<typeof hfTokenizerSchema>;

export interface EncodedText {
  ids: number[];
  typeIds: number[] | undefined;
  /** Whether the text was cut to fit maxLength. */
  truncated: boolean;
}

export class HfTextEncoder {
  readonly spec: HfTokenizerSpec;
  readonly padId: number;
  private readonly tok: Tokenizer;
  /** Special tokens the post-processor adds around one text ([CLS] … [SEP] = 2). */
  private readonly specialCount: number;

  constructor(tokenizerJson: unknown, tokenizerConfig: unknown, spec: HfTokenizerSpec, where = spec.file) {
    if (typeof tokenizerJson !== 'object' || tokenizerJson === null || !('model' in tokenizerJson)) {
      throw new UserError(`${where}: not a Hugging Face tokenizer.json (no "model")`, { hint: 'use the tokenizer.json saved by tokenizers / transformers (tokenizer.save_pretrained)' });
    }
    const json = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...(tokenizerJson as object) };
    try {
      this.tok = new Tokenizer(json, (tokenizerConfig ?? {}) as object);
    } catch (err) {
      throw new UserError(`${where}: cannot load the tokenizer: ${(err as Error).message}`, { hint: 'the file may come from a newer tokenizers release than @huggingface/tokenizers supports, or be damaged', cause: err });
    }
    this.spec = spec;
    this.specialCount = this.tok.post_processor ? this.tok.post_processor([], null, true).tokens.length : 0;
    if (this.specialCount >= spec.maxLength) throw new UserError(`${where}: maxLength ${spec.maxLength} leaves no room beside the ${this.specialCount} special tokens`);
    this.padId = padTokenId(this.tok, tokenizerJson as Record<string, unknown>, tokenizerConfig as Record<string, unknown> | undefined);
  }

  /** One text: the tokenizer's own pipeline, cut to maxLength before the special tokens are added (as `truncation=True` does). */
  encode(text: string): EncodedText {
    let tokens = this.tok.tokenize(text, { add_special_tokens: false });
    const budget = this.spec.maxLength - this.specialCount;
    const truncated = tokens.length > budget;
    if (truncated) tokens = this.spec.truncation === 'right' ? tokens.slice(0, budget) : tokens.slice(tokens.length - budget);
    const processed = this.tok.post_processor ? this.tok.post_processor(tokens, null, true) : { tokens, token_type_ids: undefined };
    const unk = (this.tok.model as unknown as { unk_token_id?: number }).unk_token_id;
    const ids = processed.tokens.map((t: string) => {
      const id = this.tok.token_to_id(t) ?? unk;
      if (id === undefined) throw new UserError(`${this.spec.file}: token ${JSON.stringify(t)} has no id and the tokenizer has no unknown token`);
      return id;
    });
    return { ids, typeIds: processed.token_type_ids, truncated };
  }

  /**
   * A batch as the model's inputs: `input_ids` always, `attention_mask` and `token_type_ids` where
   * the model declares them, padded with the pad token to the longest text (or to the model's
   * fixed sequence length). An input the encoder cannot fill is an error naming it.
   */
  feeds(texts: readonly string[], inputs: readonly TextInputInfo[]): { feeds: TextFeed[]; truncated: number } {
    const encoded = texts.map((t) => this.encode(t));
    return { feeds: batchFeeds(encoded, this.padId, inputs, this.spec.maxLength), truncated: encoded.filter((e) => e.truncated).length };
  }
}

/** Reads the spec's tokenizer.json (and tokenizer_config.json) from a model directory. */
export async function loadHfEncoder(dir: string, spec: HfTokenizerSpec): Promise<HfTextEncoder> {
  const { readFile } = await import('node:fs/promises');
  const path = await import('node:path');
  const read = async (rel: string) => {
    const file = path.join(dir, rel);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new UserError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new UserError(`${file}: not valid JSON: ${(err as Error).message}`);
    }
  };
  return new HfTextEncoder(await read(spec.file), spec.config ? await read(spec.config) : {}, spec, path.join(dir, spec.file));
}

/** The pad token's id: tokenizer.json `padding.pad_id`, else tokenizer_config's `pad_token`, else `[PAD]`/`<pad>`, else 0. */
function padTokenId(tok: Tokenizer, json: Record<string, unknown>, config: Record<string, unknown> | undefined): number {
  const padding = json.padding as { pad_id?: unknown } | null | undefined;
  if (padding && typeof padding.pad_id === 'number') return padding.pad_id;
  const cfg = config?.pad_token;
  const name = typeof cfg === 'string' ? cfg : typeof cfg === 'object' && cfg !== null && typeof (cfg as { content?: unknown }).content === 'string' ? (cfg as { content: string }).content : undefined;
  for (const t of [name, '[PAD]', '<pad>']) {
    if (t === undefined) continue;
    const id = tok.token_to_id(t);
    if (id !== undefined) return id;
  }
  return 0;
}
