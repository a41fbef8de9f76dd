import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HfTextEncoder, hfTokenizerSchema } from '../../../src/inference/hf-tokenizer.ts';
import { bpe, unigram, wordPiece } from '../../fixtures/tokenizers.ts';

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
