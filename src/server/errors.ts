/**
 * HTTP errors with a stable machine-readable code. Every error body has the same shape:
 * `{"error": message, "code": code, "requestId": id, "hint"?: text}` (the `error` string also
 * satisfies the Open Inference Protocol's `{"error": msg}`). Pure.
 */
import { toApiError } from '../services/errors.ts';

export interface ErrorBody {
  error: string;
  code: string;
  requestId: string;
  hint?: string;
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
  const api = toApiError(err);
  if (api) {
    return { status: api.status, body: { error: api.message, code: api.code, ...(api.hint ? { hint: api.hint } : {}) }, ...(api.retryAfter !== undefined ? { retryAfter: api.retryAfter } : {}) };
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
