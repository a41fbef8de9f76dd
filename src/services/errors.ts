/**
 * Errors with a status and a stable machine-readable code, shared by the HTTP API and the queue
 * worker (which stores the code of each failed input). `toApiError` is the one place the typed
 * inference errors (inference/errors.ts) become a status and a code. Pure.
 */
import { InputError, ModelLoadError, ModelNotFoundError, WrongTaskError } from '../inference/errors.ts';
import { UserError } from '../util/errors.ts';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly retryAfter: number | undefined;
  readonly hint: string | undefined;
  constructor(status: number, code: string, message: string, opts: { retryAfter?: number; hint?: string } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = opts.retryAfter;
    this.hint = opts.hint;
  }
}

/** Status for an engine InputError code. */
export function inputErrorStatus(code: string): number {
  switch (code) {
    case 'too-large':
      return 413;
    case 'unsupported':
      return 415;
    default:
      return 400; // corrupt, decode-failed, empty, anything new: the input is bad
  }
}

/** One bad input as status + code; an empty text says `empty_text`, an empty file `empty_input`. */
export function inputProblem(err: InputError, task?: string): ApiError {
  const status = inputErrorStatus(err.code);
  const empty = task === 'text' ? 'empty_text' : 'empty_input';
  const code = status === 413 ? 'image_too_large' : status === 415 ? 'unsupported_image' : err.code === 'empty' ? empty : 'bad_image';
  return new ApiError(status, code, err.message);
}

/**
 * Anything the inference layer throws, as status + code; undefined for what it does not know
 * (the HTTP edge then looks at fastify's errors, and answers 500 for the rest).
 */
export function toApiError(err: unknown, task?: string): ApiError | undefined {
  if (err instanceof ApiError) return err;
  if (err instanceof InputError) return inputProblem(err, task);
  if (err instanceof ModelLoadError) {
    return new ApiError(503, 'model_unavailable', `model ${err.model} cannot be loaded on this server: ${err.message}`, { hint: `the operator can check it with \`modelship models verify ${err.model}\`` });
  }
  const hint = err instanceof UserError && err.hint ? { hint: err.hint } : {};
  if (err instanceof ModelNotFoundError) return new ApiError(404, 'model_not_found', err.message, hint);
  // A model of another task, a broken manifest, a runtime the forced backend cannot run.
  if (err instanceof WrongTaskError || err instanceof UserError) return new ApiError(400, 'bad_model', err.message, hint);
  return undefined;
}
