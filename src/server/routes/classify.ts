/** POST /v1/classify/image, /v1/detect and /v1/classify/text: one or many inputs, answered at once. */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ClassificationResult, DetectionResult } from '../../inference/types.ts';
import { ApiError } from '../../services/errors.ts';
import { ENGINE_TASK, type ApiTask, type InferResult } from '../../services/inference.ts';
import type { ServerContext } from '../context.ts';
import { inferenceQuery, textBody, type QueryOptions } from '../params.ts';
import { clientGone, collectUploads, lengthCheck } from '../request.ts';

type Outcome = InferResult | { error: ApiError };

/** The answer to a classify/detect request; when no input succeeded, the first reason is the error. */
export function present(task: ApiTask, results: Outcome[], names: (string | null)[], t0: number) {
  const errors = results.filter((r): r is { error: ApiError } => 'error' in r);
  if (errors.length === results.length) throw errors[0]!.error;
  const ok = results.find((r): r is InferResult => !('error' in r))!;
  return {
    model: ok.model,
    version: ok.version,
    backend: ok.backend,
    results: results.map((r, index) => {
      const name = names[index] ?? undefined;
      if ('error' in r) return { index, ...(name ? { file: name } : {}), error: r.error.message, code: r.error.code };
      const base = { index, ...(name ? { file: name } : {}), cached: r.cached, ...(r.notes ? { notes: r.notes } : {}), timings: { inferenceMs: r.durationMs } };
      if (task === 'detect') {
        const d = r as DetectionResult & { cached: boolean };
        return { ...base, width: d.width, height: d.height, detections: d.detections };
      }
      return { ...base, predictions: (r as ClassificationResult).predictions };
    }),
    timings: { totalMs: Math.round((performance.now() - t0) * 10) / 10 },
  };
}

export const classifyRoutes: FastifyPluginAsync<ServerContext> = async (app, ctx) => {
  const { service, settings: s, metrics } = ctx;
  const checkLength = lengthCheck(s.limits.maxRequestSize);

  /**
   * Refuses before the body is read (413 announced too large, 503 no capacity): a retry storm of
   * uploads the server cannot take costs it almost nothing.
   */
  const beforeBody = (task: ApiTask) => async (req: FastifyRequest): Promise<void> => {
    await checkLength(req);
    const q = req.query as Record<string, unknown>;
    service.admit(service.modelName(task, typeof q.model === 'string' && q.model !== '' ? q.model : undefined), 1);
  };

  const imageRoute = (task: 'image' | 'detect') => async (req: FastifyRequest, reply: FastifyReply) => {
    const t0 = performance.now();
    const opts = req.query as QueryOptions;
    await service.engine.model(service.modelName(task, opts.model), ENGINE_TASK[task]);
    const files = await collectUploads(req, s.limits.maxRequestSize);
    const results = await service.run(task, files.map((f) => f.data), { ...opts, signal: clientGone(reply, metrics) });
    return present(task, results, files.map((f) => f.name), t0);
  };
  app.post('/v1/classify/image', { onRequest: beforeBody('image'), schema: { querystring: inferenceQuery } }, imageRoute('image'));
  app.post('/v1/detect', { onRequest: beforeBody('detect'), schema: { querystring: inferenceQuery } }, imageRoute('detect'));

  const textMedia = async (req: FastifyRequest): Promise<void> => {
    const media = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (media !== '' && media !== 'application/json' && media !== 'text/plain') {
      throw new ApiError(415, 'unsupported_media_type', `text classification takes application/json ({"text": "..."} or {"texts": [...]}) or text/plain; got ${media}`);
    }
  };
  app.post('/v1/classify/text', { onRequest: [textMedia, beforeBody('text')], schema: { querystring: inferenceQuery, body: textBody(s.limits) } }, async (req, reply) => {
    const t0 = performance.now();
    const opts = req.query as QueryOptions;
    const body = req.body as { texts: string[]; model: string | undefined };
    const results = await service.run('text', body.texts, { ...opts, model: opts.model ?? body.model, signal: clientGone(reply, metrics) });
    return present('text', results, [], t0);
  });
};
