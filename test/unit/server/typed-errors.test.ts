import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InputError, ModelLoadError, ModelNotFoundError, WrongTaskError } from '../../../src/inference/errors.ts';
import { inputProblem, toApiError } from '../../../src/services/errors.ts';
import { toHttpError } from '../../../src/server/errors.ts';
import { UserError } from '../../../src/util/errors.ts';

test('typed inference errors: each kind has one status and code, whatever its message says', () => {
  const nf = toHttpError(new ModelNotFoundError('nope', 'unknown model "nope"', { hint: 'see `modelship models list`' }));
  assert.deepEqual(nf, { status: 404, body: { error: 'unknown model "nope"', code: 'model_not_found', hint: 'see `modelship models list`' } });
  assert.equal(toHttpError(new WrongTaskError('sentiment', 'model "sentiment" does the task text-classification, not image-classification')).body.code, 'bad_model');
  // the status comes from the type, not from the words: a UserError that says "not found" is not a 404
  assert.equal(toHttpError(new UserError('labels file not found')).status, 400);
  const load = toHttpError(new ModelLoadError('broken', 'weights missing'));
  assert.equal(load.status, 503);
  assert.equal(load.body.code, 'model_unavailable');
  assert.match(load.body.hint ?? '', /modelship models verify broken/);
  assert.equal(toApiError(new Error('anything else')), undefined);
});

test('one InputError mapping for thrown errors and per-input results (empty text vs empty file)', () => {
  assert.equal(inputProblem(new InputError('empty', 'empty text'), 'text').code, 'empty_text');
  assert.equal(inputProblem(new InputError('empty', 'empty file'), 'image').code, 'empty_input');
  assert.equal(toHttpError(new InputError('empty', 'empty file')).body.code, 'empty_input');
  assert.equal(inputProblem(new InputError('unsupported', 'gif')).status, 415);
  assert.equal(inputProblem(new InputError('decode-failed', 'x')).code, 'bad_image');
});

test('typed errors keep the CLI contract: usage-type exit code 2, printed as a UserError', () => {
  assert.equal(new ModelNotFoundError('x', 'unknown model "x"').exitCode, 2);
  assert.ok(new WrongTaskError('x', 'wrong task') instanceof UserError);
});
