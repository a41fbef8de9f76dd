import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseVocab, splitWords, tokenize } from '../../../src/inference/tokenizer.ts';
import { KERAS_DEFAULT_FILTERS } from '../../../src/inference/manifest.ts';
import { compoundToPredictions, VADER_EXPONENT } from '../../../src/inference/sentiment.ts';

const spec = { type: 'word-index' as const, vocab: 'v.json', maxLength: 5, oovIndex: 1, padIndex: 0, padding: 'pre' as const, truncating: 'pre' as const, lowercase: true, filters: KERAS_DEFAULT_FILTERS, split: ' ' };
const vocab = parseVocab({ the: 2, movie: 3, was: 4, great: 5 });

test('splitWords lowercases and strips punctuation like Keras', () => {
  assert.deepEqual(splitWords('The movie, was GREAT!', true), ['the', 'movie', 'was', 'great']);
});

test('tokenize maps words, uses the OOV index and pads/truncates as configured', () => {
  assert.deepEqual([...tokenize('The movie was great', vocab, spec)], [0, 2, 3, 4, 5]);
  assert.deepEqual([...tokenize('the unknown', vocab, spec)], [0, 0, 0, 2, 1]);
  assert.deepEqual([...tokenize('the unknown', vocab, { ...spec, padding: 'post' })], [2, 1, 0, 0, 0]);
  assert.deepEqual([...tokenize('the movie was great the movie', vocab, spec)], [3, 4, 5, 2, 3]);
  assert.deepEqual([...tokenize('the movie was great the movie', vocab, { ...spec, truncating: 'post' })], [2, 3, 4, 5, 2]);
});

test('parseVocab refuses non-integer indexes', () => {
  assert.throws(() => parseVocab({ a: 'x' }), /"a": expected a non-negative integer/);
  assert.throws(() => parseVocab([1]), /JSON object/);
});

test('VADER compound → scores: sums to 1, flips exactly at the published ±0.05 thresholds', () => {
  const top = (c: number) => compoundToPredictions(c)[0]!.label;
  assert.equal(top(0.8), 'positive');
  assert.equal(top(-0.8), 'negative');
  assert.equal(top(0), 'neutral');
  assert.equal(top(0.049), 'neutral');
  assert.equal(top(0.051), 'positive');
  assert.equal(top(-0.051), 'negative');
  for (const c of [-1, -0.3, 0, 0.05, 0.9]) {
    const sum = compoundToPredictions(c).reduce((s, p) => s + p.score, 0);
    assert.ok(Math.abs(sum - 1) < 1e-12);
  }
  assert.ok(Math.abs(Math.pow(0.05, VADER_EXPONENT) - 0.5) < 1e-12);
});
