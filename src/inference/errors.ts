/**
 * The errors the inference layer throws, typed by what went wrong (after KServe's `errors.py`).
 * Each edge maps them once: HTTP v1 and the Open Inference Protocol in `server/errors.ts`
 * (`toHttpError`), per-input results of the API and the queue worker in `services/errors.ts`
 * (`inputProblem`), `modelship classify` by exit code (the errors that stop a job are UserErrors).
 */
import { UserError } from '../util/errors.ts';

/** No model of that name (bundled, registered or on the Hub). */
export class ModelNotFoundError extends UserError {
  readonly model: string;
  /** Exit code 2 by default (a name the user typed); a Hub repository that is gone is a failure (1). */
  constructor(model: string, message: string, opts: { hint?: string; details?: unknown; cause?: unknown; exitCode?: number } = {}) {
    super(message, { exitCode: 2, ...opts });
    this.name = 'ModelNotFoundError';
    this.model = model;
  }
}

/** The model exists but does another task (a text model asked to classify an image). */
export class WrongTaskError extends UserError {
  readonly model: string;
  constructor(model: string, message: string, opts: { hint?: string } = {}) {
    super(message, { ...opts, exitCode: 2 });
    this.name = 'WrongTaskError';
    this.model = model;
  }
}

/** A model's files cannot be loaded: every input of that model would fail the same way. */
export class ModelLoadError extends Error {
  readonly model: string;
  constructor(model: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ModelLoadError';
    this.model = model;
  }
}

/** Why one input cannot be processed. */
export type InputErrorCode = 'too-large' | 'unsupported' | 'corrupt' | 'decode-failed' | 'empty';

/** Thrown for one input that cannot be processed; the batch goes on. */
export class InputError extends Error {
  readonly code: string;
  constructor(code: InputErrorCode | (string & {}), message: string) {
    super(message);
    this.name = 'InputError';
    this.code = code;
  }
}
