import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HfTextEncoder, hfTokenizerSchema } from '../../../src/inference/hf-tokenizer.ts';

/** Small tokenizer.json files of the three model kinds, written as tokenizers saves them. */
const wordPieceVocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'the', 'movie', 'was', 'great', 'un', '##believ', '##able', '!', 'cafe'];
export const wordPiece = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [0, 1, 2, 3].map((id) => ({ id, content: wordPieceVocab[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
  normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
  pre_tokenizer: { type: 'BertPreTokenizer' },
  post_processor: {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
    pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } }],
    special_tokens: { '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] } },
  },
  decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
  model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(wordPieceVocab.map((t, i) => [t, i])) },
};

// Byte-level BPE as RoBERTa uses it ("Ġ" marks a leading space).
const bpeVocab = ['<s>', '<pad>', '</s>', '<unk>', 'g', 'o', 'd', 'Ġ', 'b', 'a', 'Ġg', 'oo', 'Ġgood', 'go', 'od', 'Ġb', 'ad', 'Ġbad', 'good'];
export const bpe = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [0, 1, 2, 3].map((id) => ({ id, content: bpeVocab[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
  normalizer: null,
  pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: { type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 0], trim_offsets: true, add_prefix_space: false },
  decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: {
    type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false,
    vocab: Object.fromEntries(bpeVocab.map((t, i) => [t, i])),
    merges: ['Ġ g', 'o o', 'Ġg oo', 'Ġgoo d', 'g o', 'o d', 'Ġ b', 'a d', 'Ġb ad', 'go od'],
  },
};

// Unigram with SentencePiece's "▁" word marker, as T5 / XLM-R / ALBERT use it.
export const unigram = {
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [{ id: 0, content: '<pad>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }, { id: 1, content: '</s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }, { id: 2, content: '<unk>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
  normalizer: { type: 'Precompiled', precompiled_charsmap: null },
  pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
  post_processor: { type: 'TemplateProcessing', single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }], pair: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }, { Sequence: { id: 'B', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }], special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } } },
  decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
  model: {
    type: 'Unigram', unk_id: 2, byte_fallback: false,
    vocab: [['<pad>', 0], ['</s>', 0], ['<unk>', 0], ['▁', -2], ['▁new', -3], ['s', -4], ['▁news', -5], ['▁to', -4], ['day', -4], ['▁today', -4.5], ['▁t', -6], ['o', -6], ['d', -6], ['a', -6], ['y', -6], ['n', -6], ['e', -6], ['w', -6]],
  },
};

const spec = (maxLength: number, extra: Record<string, unknown> = {}) => hfTokenizerSchema.parse({ type: 'huggingface', maxLength, ...extra });

test('WordPiece: lower-cases, splits on punctuation, continues words with ##, wraps in [CLS] … [SEP]', () => {
  const enc = new HfTextEncoder(wordPiece, {}, spec(16));
  assert.deepEqual(enc.encode('The movie was UNBELIEVABLE!').ids, [2, 4, 5, 6, 8, 9, 10, 11, 3]);
  // Accents are stripped with lowercase (BertNormalizer), an unknown word is [UNK].
  assert.deepEqual(enc.encode('Café zebra').ids, [2, 12, 1, 3]);
  assert.equal(enc.padId, 0);
});

test('truncation keeps the special tokens and cuts the side the spec names', () => {
  const right = new HfTextEncoder(wordPiece, {}, spec(5));
  const r = right.encode('the movie was great the movie');
  assert.deepEqual(r.ids, [2, 4, 5, 6, 3]);
  assert.equal(r.truncated, true);
  const left = new HfTextEncoder(wordPiece, {}, spec(5, { truncation: 'left' }));
  assert.deepEqual(left.encode('the movie was great the movie').ids, [2, 7, 4, 5, 3]);
  assert.equal(left.encode('the movie').truncated, false);
});

test('BPE (byte-level, RoBERTa): merges in rank order, Ġ for spaces, <s> … </s>', () => {
  const enc = new HfTextEncoder(bpe, { pad_token: '<pad>' }, spec(16));
  // "good" without a leading space: "o o" (rank 1) merges before "g o" (rank 4), leaving g|oo|d;
  // " bad" and " good" merge up to whole words through their Ġ merges.
  assert.deepEqual(enc.encode('good bad good').ids, [0, 4, 11, 6, 17, 12, 2]);
  assert.equal(enc.padId, 1, 'pad id from tokenizer_config pad_token');
});

test('Unigram (SentencePiece): the most likely segmentation, ▁ word marker, </s> appended', () => {
  const enc = new HfTextEncoder(unigram, {}, spec(16));
  // "▁news" (-5) beats "▁new"+"s" (-7); "▁today" (-4.5) beats "▁to"+"day" (-8).
  assert.deepEqual(enc.encode('news today').ids, [6, 9, 1]);
  assert.equal(enc.padId, 0);
});

test('feeds: input_ids, attention_mask and token_type_ids by the model\'s own input names, padded to the longest text', () => {
  const enc = new HfTextEncoder(wordPiece, {}, spec(16));
  const { feeds } = enc.feeds(['the movie', 'the movie was great'], [
    { name: 'input_ids', shape: ['batch', 'sequence'] },
    { name: 'attention_mask', shape: ['batch', 'sequence'] },
    { name: 'token_type_ids', shape: ['batch', 'sequence'] },
  ]);
  assert.deepEqual(feeds.map((f) => f.name), ['input_ids', 'attention_mask', 'token_type_ids']);
  assert.deepEqual(feeds[0]!.shape, [2, 6]);
  assert.deepEqual([...feeds[0]!.data], [2, 4, 5, 3, 0, 0, 2, 4, 5, 6, 7, 3]);
  assert.deepEqual([...feeds[1]!.data], [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual([...feeds[2]!.data], new Array(12).fill(0));
  // A RoBERTa export has no token_type_ids: none is fed.
  const two = enc.feeds(['the'], [{ name: 'input_ids', shape: [1, 8] }, { name: 'attention_mask', shape: [1, 8] }]);
  assert.deepEqual(two.feeds.map((f) => f.name), ['input_ids', 'attention_mask']);
  assert.deepEqual(two.feeds[0]!.shape, [1, 8], 'a fixed sequence length is padded to');
});

test('feeds refuse models whose inputs a tokenizer cannot fill, naming them', () => {
  const enc = new HfTextEncoder(wordPiece, {}, spec(16));
  assert.throws(() => enc.feeds(['x'], [{ name: 'pixel_values', shape: [1, 3, 224, 224] }]), /no "input_ids" input \(it has pixel_values\)/);
  assert.throws(() => enc.feeds(['x'], [{ name: 'input_ids', shape: [1, 'seq'] }, { name: 'past_key_values.0', shape: [1] }]), /also needs "past_key_values\.0"/);
});

test('a file that is not a tokenizer.json, or one the library cannot build, is a clear error', () => {
  assert.throws(() => new HfTextEncoder({ vocab: {} }, {}, spec(8), 'x/tokenizer.json'), /x\/tokenizer\.json: not a Hugging Face tokenizer\.json/);
  assert.throws(() => new HfTextEncoder({ ...wordPiece, model: { type: 'Nonsense' } }, {}, spec(8), 'x/tokenizer.json'), /x\/tokenizer\.json: cannot load the tokenizer/);
  assert.throws(() => new HfTextEncoder(wordPiece, {}, spec(2)), /leaves no room beside the 2 special tokens/);
});
