/** Query/body parameter parsing for the API routes. Pure; throws ApiError 400 with the exact problem. */
import { ApiError } from '../services/errors.ts';

export interface QueryOptions {
  model?: string | undefined;
  topK?: number | undefined;
  threshold?: number | undefined;
  maxDetections?: number | undefined;
  task?: 'image' | 'detect' | 'text' | undefined;
}

const MODEL_RE = /^[a-z0-9][a-z0-9._-]{0,99}$/i;

function num(name: string, raw: unknown, opts: { int?: boolean; min: number; max: number }): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const n = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isFinite(n) || (opts.int && !Number.isInteger(n)) || n < opts.min || n > opts.max) {
    throw new ApiError(400, 'bad_parameter', `${name} must be ${opts.int ? 'a whole number' : 'a number'} from ${opts.min} to ${opts.max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

export function parseQueryOptions(q: Record<string, unknown>): QueryOptions {
  const out: QueryOptions = {};
  const model = q.model;
  if (model !== undefined) {
    if (typeof model !== 'string' || !MODEL_RE.test(model)) throw new ApiError(400, 'bad_parameter', 'model must be a model name (letters, digits, . _ -)');
    out.model = model;
  }
  out.topK = num('topK', q.topK ?? q.top_k, { int: true, min: 1, max: 1000 });
  out.threshold = num('threshold', q.threshold, { min: 0, max: 1 });
  out.maxDetections = num('maxDetections', q.maxDetections, { int: true, min: 1, max: 1000 });
  if (q.task !== undefined) {
    if (q.task !== 'image' && q.task !== 'detect' && q.task !== 'text') throw new ApiError(400, 'bad_parameter', 'task must be image, detect or text');
    out.task = q.task;
  }
  return out;
}

/** A file name safe to echo back: base name only, no control characters, at most 255 characters. */
export function safeFileName(name: string | undefined): string | null {
  if (!name) return null;
  const base = name.split(/[/\\]/).pop() ?? '';
  // eslint-disable-next-line no-control-regex
  const clean = base.replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, 255);
  return clean === '' || clean === '.' || clean === '..' ? null : clean;
}

/** Texts from a JSON body `{"text": "..."}` or `{"texts": ["...", ...]}`. */
export function parseTexts(body: unknown, limits: { maxTexts: number; maxTextLength: number }): string[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, 'bad_request', 'send a JSON object: {"text": "..."} or {"texts": ["...", ...]}');
  const b = body as Record<string, unknown>;
  let texts: unknown[];
  if (b.text !== undefined && b.texts !== undefined) throw new ApiError(400, 'bad_request', 'send either "text" or "texts", not both');
  if (b.text !== undefined) texts = [b.text];
  else if (Array.isArray(b.texts)) texts = b.texts;
  else throw new ApiError(400, 'bad_request', 'missing "text" (a string) or "texts" (a list of strings)');
  if (texts.length === 0) throw new ApiError(400, 'bad_request', '"texts" is empty');
  if (texts.length > limits.maxTexts) throw new ApiError(413, 'too_many_texts', `${texts.length} texts in one request; the limit is ${limits.maxTexts}`);
  texts.forEach((t, i) => {
    if (typeof t !== 'string') throw new ApiError(400, 'bad_request', `text ${i} is not a string`);
    if (t.length > limits.maxTextLength) throw new ApiError(413, 'text_too_long', `text ${i} has ${t.length} characters; the limit is ${limits.maxTextLength}`);
    if (t.trim() === '') throw new ApiError(400, 'empty_text', `text ${i} is empty`);
  });
  return texts as string[];
}

/** Decodes a body as UTF-8, refusing invalid byte sequences. */
export function decodeUtf8(buf: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    throw new ApiError(400, 'bad_encoding', 'the body is not valid UTF-8');
  }
}
