/**
 * Body parsers of the API (the /v2 routes have their own): JSON read as UTF-8 with a clear 400
 * for an empty, invalid or non-UTF-8 body; raw images up to the file limit; text/plain as one text.
 */
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../services/errors.ts';
import type { ServerSettings } from '../services/settings.ts';
import { decodeUtf8 } from './params.ts';

export function bodyParsers(app: FastifyInstance, limits: ServerSettings['limits']): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      const text = decodeUtf8(body as Buffer);
      if (text.trim() === '') return done(new ApiError(400, 'bad_json', 'empty JSON body'), undefined);
      done(null, JSON.parse(text));
    } catch (err) {
      done(err instanceof ApiError ? err : new ApiError(400, 'bad_json', `invalid JSON: ${(err as Error).message}`), undefined);
    }
  });
  const rawImage = { parseAs: 'buffer' as const, bodyLimit: limits.maxFileSize };
  app.addContentTypeParser('application/octet-stream', rawImage, (_req, body, done) => done(null, body));
  app.addContentTypeParser(/^image\/[a-z0-9.+-]+$/i, rawImage, (_req, body, done) => done(null, body));
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('text/plain', { parseAs: 'buffer', bodyLimit: Math.min(limits.maxJsonSize, limits.maxTextLength * 4 + 1024) }, (_req, body, done) => {
    try {
      done(null, { text: decodeUtf8(body as Buffer) });
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}
