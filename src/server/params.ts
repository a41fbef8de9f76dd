/**
 * The request parameters of the API routes, declared as schemas (zod; fastify validates a
 * route's `schema.querystring` / `schema.body` with them, see schema.ts) plus the pure parsers
 * for the parts a schema cannot say. Each failure is an ApiError 400 (413 for sizes) naming
 * the parameter, its allowed values and the value received.
 */
import { z } from 'zod';
import { ApiError } from '../services/errors.ts';
import { fromParser, fromZod, type RequestSchema } from './schema.ts';

export interface QueryOptions {
  model?: string | undefined;
  topK?: number | undefined;
  threshold?: number | undefined;
  maxDetections?: number | undefined;
  task?: 'image' | 'detect' | 'text' | undefined;
}

const MODEL_RE = /^[a-z0-9][a-z0-9._-]{0,99}$/i;

/** An optional number parameter; an empty value (`?topK=`) counts as absent. */
const optionalNumber = (n: z.ZodType<number>): z.ZodType<number | undefined> => z.preprocess((v) => (v === '' ? undefined : v), n.optional());
const wholeNumber = (min: number, max: number) => optionalNumber(z.coerce.number().int().min(min).max(max));
const modelName = z.string().regex(MODEL_RE).optional();
const MODEL_SAYS = { text: 'model must be a model name (letters, digits, . _ -)' };

/** Options of the inference and job routes; `top_k` is the Open Inference Protocol's spelling of `topK`. */
export const inferenceQuery: RequestSchema<QueryOptions> = fromZod(
  z.object({
    model: modelName,
    topK: wholeNumber(1, 1000),
    threshold: optionalNumber(z.coerce.number().min(0).max(1)),
    maxDetections: wholeNumber(1, 1000),
    task: z.enum(['image', 'detect', 'text']).optional(),
  }),
  {
    model: MODEL_SAYS,
    topK: { text: 'topK must be a whole number from 1 to 1000', showValue: true },
    threshold: { text: 'threshold must be a number from 0 to 1', showValue: true },
    maxDetections: { text: 'maxDetections must be a whole number from 1 to 1000', showValue: true },
    task: { text: 'task must be image, detect or text' },
  },
  {
    prepare: (q) => {
      const o = q !== null && typeof q === 'object' ? (q as Record<string, unknown>) : {};
      return { ...o, topK: o.topK ?? o.top_k };
    },
    finish: (v) => ({ ...(v.model !== undefined ? { model: v.model } : {}), topK: v.topK, threshold: v.threshold, maxDetections: v.maxDetections, ...(v.task !== undefined ? { task: v.task } : {}) }),
  },
);

/** `?format=` of a job's results. */
export const resultsQuery: RequestSchema<{ format: 'json' | 'csv' }> = fromZod(
  z.object({ format: z.enum(['json', 'csv']).default('json') }),
  { format: { text: 'format must be json or csv' } },
);

/** Inference options from any record (the query string, or a V2 request's parameters). */
export function parseQueryOptions(q: Record<string, unknown>): QueryOptions {
  const r = inferenceQuery.parse(q);
  if (!r.ok) throw r.error;
  return r.value;
}

/** The body of /v1/classify/text: the texts, and the model it may name. */
export function textBody(limits: { maxTexts: number; maxTextLength: number }): RequestSchema<{ texts: string[]; model: string | undefined }> {
  return fromParser((body) => {
    const texts = parseTexts(body, limits);
    const m = (body as Record<string, unknown>).model;
    return { texts, model: typeof m === 'string' ? parseQueryOptions({ model: m }).model : undefined };
  });
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
