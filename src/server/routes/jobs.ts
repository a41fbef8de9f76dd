/** Batch jobs: POST /v1/jobs (inputs stored in PostgreSQL, the id queued in Redis), GET state and results. */
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Queue } from 'bullmq';
import type { Pool } from 'pg';
import { enqueue, type QueueJobData } from '../../queue/queue.ts';
import { ApiError } from '../../services/errors.ts';
import { ENGINE_TASK } from '../../services/inference.ts';
import { getJob, getResults, insertInput, insertJob, markFailed, setTotal, type JobTask } from '../../services/job-store.ts';
import type { ServerContext } from '../context.ts';
import { resultsCsv } from '../csv.ts';
import { inferenceQuery, parseQueryOptions, parseTexts, resultsQuery, type QueryOptions } from '../params.ts';
import { eachUpload, lengthCheck, NO_FILES } from '../request.ts';

function requireJobs(ctx: ServerContext): { pool: Pool; queue: Queue<QueueJobData> } {
  const { pool, queue } = ctx;
  if (!pool || !queue) {
    throw new ApiError(503, 'jobs_unavailable', 'batch jobs need PostgreSQL and Redis, and this server has no ' + [!pool ? 'DATABASE_URL' : '', !queue ? 'REDIS_URL' : ''].filter(Boolean).join(' or '), {
      hint: 'set DATABASE_URL and REDIS_URL (or DATABASE_HOST/REDIS_HOST), run `modelship db migrate`, and start `modelship worker`',
    });
  }
  return { pool, queue };
}

/** The task and model of a new job, from the query, the body's kind and its `model` field. */
function jobTarget(req: FastifyRequest, ctx: ServerContext): { task: JobTask; model: string; opts: QueryOptions; body: Record<string, unknown> | undefined } {
  const opts = req.query as QueryOptions;
  const raw = req.isMultipart() ? undefined : req.body;
  const binary = req.isMultipart() || Buffer.isBuffer(raw);
  const body = binary ? undefined : (raw as Record<string, unknown> | undefined);
  const task: JobTask = opts.task ?? (binary ? 'image' : 'text');
  if (task === 'text' && binary) throw new ApiError(400, 'bad_request', 'task=text takes a JSON body {"texts": [...]}');
  const model = ctx.service.modelName(task, opts.model ?? (body && typeof body.model === 'string' ? parseQueryOptions({ model: body.model }).model : undefined));
  return { task, model, opts, body };
}

/** Stores the job and its inputs in one transaction; returns how many inputs it has. */
async function storeJob(req: FastifyRequest, ctx: ServerContext, db: Pool, job: { id: string; task: JobTask; model: string; opts: QueryOptions; body: unknown }): Promise<number> {
  const { opts } = job;
  const options = { topK: opts.topK, threshold: opts.threshold, maxDetections: opts.maxDetections };
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    await insertJob(client, { id: job.id, task: job.task, model: job.model, options: JSON.parse(JSON.stringify(options)) as Record<string, unknown>, total: 0, apiKeyId: req.apiKeyId });
    let total: number;
    if (job.task === 'text') {
      const texts = parseTexts(job.body, ctx.settings.limits);
      for (const [i, text] of texts.entries()) await insertInput(client, job.id, i, { name: null, text });
      total = texts.length;
    } else {
      total = await eachUpload(req, ctx.settings.limits.maxRequestSize, (u, i) => insertInput(client, job.id, i, { name: u.name, content: u.data }));
      if (total === 0) throw NO_FILES();
    }
    await setTotal(client, job.id, total);
    await client.query('COMMIT');
    return total;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/** The job of `:id`, if the caller may see it (a job made with a key is visible to that key only). */
async function loadJob(req: FastifyRequest, ctx: ServerContext) {
  const { pool: db } = requireJobs(ctx);
  const id = (req.params as { id: string }).id;
  const job = await getJob(db, id);
  if (!job || (job.apiKeyId !== null && req.apiKeyId !== null && job.apiKeyId !== req.apiKeyId)) throw new ApiError(404, 'job_not_found', `no job ${id}`);
  return { db, job };
}

export const jobRoutes: FastifyPluginAsync<ServerContext> = async (app, ctx) => {
  // 503 without PostgreSQL/Redis comes before any complaint about the request itself.
  const needJobs = async () => {
    requireJobs(ctx);
  };
  app.post('/v1/jobs', { onRequest: [lengthCheck(ctx.settings.limits.maxRequestSize), needJobs], schema: { querystring: inferenceQuery } }, async (req, reply) => {
    const { pool: db, queue: q } = requireJobs(ctx);
    const { task, model, opts, body } = jobTarget(req, ctx);
    await ctx.service.engine.model(model, ENGINE_TASK[task]);
    const id = randomUUID();
    const total = await storeJob(req, ctx, db, { id, task, model, opts, body });
    try {
      await enqueue(q, id);
    } catch (err) {
      await markFailed(db, id, `could not queue the job: ${(err as Error).message}`).catch(() => {});
      throw new ApiError(503, 'queue_unavailable', 'the job queue (Redis) is unreachable; the job was not started', { retryAfter: 5 });
    }
    reply.code(202).header('location', `/v1/jobs/${id}`);
    return { id, state: 'queued', task, model, total, links: { self: `/v1/jobs/${id}`, results: `/v1/jobs/${id}/results` } };
  });

  app.get('/v1/jobs/:id', async (req) => {
    const { db, job } = await loadJob(req, ctx);
    const results = await getResults(db, job.id, 1000);
    return {
      id: job.id, state: job.state, task: job.task, model: job.model, total: job.total, completed: job.completed, failed: job.failed,
      progress: job.total === 0 ? 1 : Math.round(((job.completed + job.failed) / job.total) * 1000) / 1000,
      attempts: job.attempts, error: job.error, createdAt: job.createdAt, startedAt: job.startedAt, finishedAt: job.finishedAt,
      results, ...(job.total > 1000 ? { resultsTruncated: true } : {}),
      links: { results: `/v1/jobs/${job.id}/results` },
    };
  });

  app.get('/v1/jobs/:id/results', { onRequest: needJobs, schema: { querystring: resultsQuery } }, async (req, reply) => {
    const { db, job } = await loadJob(req, ctx);
    const { format } = req.query as { format: 'json' | 'csv' };
    const results = await getResults(db, job.id);
    if (format === 'csv') {
      reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="job-${job.id}.csv"`);
      return resultsCsv(job.task, results);
    }
    return { id: job.id, state: job.state, task: job.task, model: job.model, total: job.total, results };
  });
};
