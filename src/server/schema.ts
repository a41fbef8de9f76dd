/**
 * Route schemas: a route declares `schema: { querystring, body }` with RequestSchemas (zod
 * underneath, see params.ts) and fastify validates the request with them before the handler runs;
 * the handler receives the parsed value. A failure is the ApiError the schema builds (the exact
 * 400/413 message the API promises), not ajv's wording. Pure except the fastify glue.
 */
import type { FastifySchemaCompiler } from 'fastify';
import type { z } from 'zod';
import { ApiError } from '../services/errors.ts';

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: ApiError };

export interface RequestSchema<T> {
  parse(data: unknown): Parsed<T>;
}

/**
 * A RequestSchema from a zod object schema. `says` holds, per field, the sentence a client reads
 * when its value does not fit (numbers add the value received); `prepare` adjusts the raw data
 * first (aliases).
 */
export function fromZod<S extends z.ZodType, T = z.infer<S>>(
  schema: S,
  says: Record<string, { text: string; showValue?: boolean }>,
  opts: { prepare?: (data: unknown) => unknown; finish?: (v: z.infer<S>) => T } = {},
): RequestSchema<T> {
  return {
    parse(raw) {
      const data = opts.prepare ? opts.prepare(raw) : raw;
      const r = schema.safeParse(data);
      if (r.success) return { ok: true, value: opts.finish ? opts.finish(r.data) : (r.data as T) };
      const issue = r.error.issues[0]!;
      const name = String(issue.path[0] ?? '');
      const said = says[name];
      if (said === undefined) return { ok: false, error: new ApiError(400, 'bad_parameter', issue.message) };
      const value = (data as Record<string, unknown> | null)?.[name];
      return { ok: false, error: new ApiError(400, 'bad_parameter', said.showValue ? `${said.text}, got ${JSON.stringify(value)}` : said.text) };
    },
  };
}

/** A RequestSchema from a pure parser that throws ApiError (rules a schema cannot say, e.g. 413 limits). */
export function fromParser<T>(parse: (data: unknown) => T): RequestSchema<T> {
  return {
    parse(data) {
      try {
        return { ok: true, value: parse(data) };
      } catch (err) {
        if (err instanceof ApiError) return { ok: false, error: err };
        throw err;
      }
    },
  };
}

/** The fastify validator compiler for RequestSchemas (set once on the app). */
export const validatorCompiler: FastifySchemaCompiler<RequestSchema<unknown>> = ({ schema }) => (data) => {
  const r = schema.parse(data);
  return r.ok ? { value: r.value } : { error: r.error };
};
