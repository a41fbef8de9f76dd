/**
 * HTTP errors with a stable machine-readable code. Every error body has the same shape:
 * `{"error": message, "code": code, "requestId": id, "hint"?: text}` (the `error` string also
 * satisfies the Open Inference Protocol's `{"error": msg}`). Pure.
 */
import { InputError } from '../inference/types.ts';
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

export interface ErrorBody {
  error: string;
  code: string;
  requestId: string;
  hint?: string;
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

interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  message: string;
  validation?: unknown;
}

const FASTIFY_CODES: Record<string, { status: number; code: string; message?: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'request_too_large' },
  FST_REQ_FILE_TOO_LARGE: { status: 413, code: 'file_too_large' },
  FST_FILES_LIMIT: { status: 413, code: 'too_many_files' },
  FST_PARTS_LIMIT: { status: 413, code: 'too_many_parts' },
  FST_FIELDS_LIMIT: { status: 413, code: 'too_many_fields' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type' },
  FST_INVALID_MULTIPART_CONTENT_TYPE: { status: 415, code: 'unsupported_media_type' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'bad_json', message: 'empty JSON body' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'bad_json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'bad_request' },
  FST_ERR_CTP_EMPTY_TYPE: { status: 415, code: 'unsupported_media_type' },
  FST_ERR_CTP_INVALID_TYPE: { status: 415, code: 'unsupported_media_type' },
  FST_ERR_VALIDATION: { status: 400, code: 'bad_request' },
};

/** Maps anything thrown in a request to a status and body (without the request id). */
export function toHttpError(err: unknown, debug = false): { status: number; body: Omit<ErrorBody, 'requestId'>; retryAfter?: number } {
  if (err instanceof ApiError) {
    return { status: err.status, body: { error: err.message, code: err.code, ...(err.hint ? { hint: err.hint } : {}) }, ...(err.retryAfter !== undefined ? { retryAfter: err.retryAfter } : {}) };
  }
  if (err instanceof InputError) {
    const status = inputErrorStatus(err.code);
    const code = status === 413 ? 'image_too_large' : status === 415 ? 'unsupported_image' : err.code === 'empty' ? 'empty_input' : 'bad_image';
    return { status, body: { error: err.message, code } };
  }
  if (err instanceof UserError) {
    // From the engine: unknown model or a model of the wrong task.
    const notFound = /not found|unknown model|no model/i.test(err.message);
    return { status: notFound ? 404 : 400, body: { error: err.message, code: notFound ? 'model_not_found' : 'bad_model', ...(err.hint ? { hint: err.hint } : {}) } };
  }
  const e = err as FastifyLikeError | null;
  if (e && typeof e === 'object' && typeof e.message === 'string') {
    const known = e.code ? FASTIFY_CODES[e.code] : undefined;
    if (known) return { status: known.status, body: { error: known.message ?? e.message, code: known.code } };
    if (/unexpected end of multipart|terminated early|Boundary not found|Boundary required|Malformed part header|the needle/i.test(e.message)) {
      return { status: 400, body: { error: `malformed multipart body: ${e.message}`, code: 'bad_multipart' } };
    }
    if (e.code === '25006') {
      return { status: 503, body: { error: 'the database is read-only: writes are refused for now', code: 'read_only' }, retryAfter: 30 };
    }
    if (e.statusCode === 429) return { status: 429, body: { error: e.message, code: 'rate_limited' } };
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      return { status: e.statusCode, body: { error: e.message, code: e.statusCode === 413 ? 'request_too_large' : e.statusCode === 415 ? 'unsupported_media_type' : 'bad_request' } };
    }
    if (e instanceof SyntaxError) return { status: 400, body: { error: e.message, code: 'bad_json' } };
  }
  return { status: 500, body: { error: debug && err instanceof Error ? err.message : 'internal error', code: 'internal' } };
}
