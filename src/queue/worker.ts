/**
 * `modelship worker`: consumes the job queue. Each input's result is inserted once (ON CONFLICT DO
 * NOTHING) and a re-delivered job skips inputs already done, so a worker killed mid-job (its lock
 * expires, BullMQ marks the job stalled and another worker takes it) loses and repeats nothing.
 */
import { Worker, type Job } from 'bullmq';
import type { Pool } from 'pg';
import type { InferenceService, InferResult } from '../services/inference.ts';
import type { ApiError } from '../services/errors.ts';
import { bullConnection, JOB_OPTIONS, QUEUE_NAME, type QueueJobData } from './queue.ts';
import { markFailed, type JobTask } from '../services/job-store.ts';

export interface ProcessDeps {
  pool: Pool;
  service: InferenceService;
  chunkSize: number;
  onProgress?: ((done: number, total: number) => Promise<void> | void) | undefined;
  /** Checked between chunks: when true the job is handed back (thrown) instead of finished. */
  shouldStop?: (() => boolean) | undefined;
}

export class JobReturned extends Error {
  constructor() {
    super('worker stopping: job returned to the queue');
    this.name = 'JobReturned';
  }
}

export async function processJob(deps: ProcessDeps, jobId: string): Promise<'completed' | 'missing'> {
  const { pool, service } = deps;
  const r = await pool.query<{ task: JobTask; model: string; options: Record<string, unknown>; total: number; state: string }>(
    "UPDATE jobs SET state = CASE WHEN state = 'completed' THEN state ELSE 'running' END, started_at = COALESCE(started_at, now()), attempts = attempts + 1 WHERE id = $1 RETURNING task, model, options, total, state",
    [jobId],
  );
  const job = r.rows[0];
  if (!job) return 'missing';
  if (job.state === 'completed') return 'completed';
  const opts = job.options as { topK?: number; threshold?: number; maxDetections?: number };
  for (;;) {
    if (deps.shouldStop?.()) throw new JobReturned();
    const todo = await pool.query<{ input_index: number; name: string | null; content: Buffer | null; text: string | null }>(
      `SELECT i.input_index, i.name, i.content, i.text FROM job_inputs i
        WHERE i.job_id = $1 AND NOT EXISTS (SELECT 1 FROM job_results r WHERE r.job_id = i.job_id AND r.input_index = i.input_index)
        ORDER BY i.input_index LIMIT $2`,
      [jobId, deps.chunkSize],
    );
    if (todo.rows.length === 0) break;
    const inputs = todo.rows.map((x) => (job.task === 'text' ? (x.text ?? '') : new Uint8Array(x.content ?? Buffer.alloc(0))));
    const results = await service.runUngated(job.task, inputs, { model: job.model, topK: opts.topK, threshold: opts.threshold, maxDetections: opts.maxDetections });
    const values: unknown[] = [];
    const rows: string[] = [];
    todo.rows.forEach((x, i) => {
      const res = results[i]!;
      const err = 'error' in res ? (res.error as ApiError) : undefined;
      const base = values.length;
      rows.push(`($1, $${base + 2}, $${base + 3}, $${base + 4}, $${base + 5}, $${base + 6})`);
      values.push(x.input_index, x.name, err ? null : JSON.stringify(stripForStorage(res as InferResult)), err ? err.message : null, err ? err.code : null);
    });
    await pool.query(`INSERT INTO job_results (job_id, input_index, name, result, error, error_code) VALUES ${rows.join(', ')} ON CONFLICT ON CONSTRAINT job_results_once DO NOTHING`, [jobId, ...values]);
    const done = await pool.query<{ n: string }>('SELECT count(*) AS n FROM job_results WHERE job_id = $1', [jobId]);
    await deps.onProgress?.(Number(done.rows[0]!.n), job.total);
  }
  await pool.query("UPDATE jobs SET state = 'completed', finished_at = now(), error = NULL WHERE id = $1", [jobId]);
  await pool.query('DELETE FROM job_inputs WHERE job_id = $1', [jobId]);
  return 'completed';
}

function stripForStorage(r: InferResult): Record<string, unknown> {
  const { cached: _cached, ...rest } = r;
  return rest as unknown as Record<string, unknown>;
}

export interface WorkerOptions {
  redisUrl: string;
  prefix: string;
  concurrency: number;
  pool: Pool;
  service: InferenceService;
  chunkSize: number;
  /** Lock of a running job; when a worker dies, the job is re-delivered after about this long. */
  lockDurationMs?: number | undefined;
  stalledIntervalMs?: number | undefined;
  onEvent?: ((e: { type: 'completed' | 'failed' | 'retry'; jobId: string; error?: string }) => void) | undefined;
}

export function startWorker(o: WorkerOptions): { worker: Worker<QueueJobData>; stop: () => Promise<void> } {
  let stopping = false;
  const worker = new Worker<QueueJobData>(
    QUEUE_NAME,
    async (job: Job<QueueJobData>) => {
      await processJob(
        {
          pool: o.pool,
          service: o.service,
          chunkSize: o.chunkSize,
          onProgress: (done, total) => job.updateProgress(total === 0 ? 100 : Math.round((done / total) * 100)),
        },
        job.data.jobId,
      );
    },
    {
      connection: bullConnection(o.redisUrl),
      prefix: o.prefix,
      concurrency: o.concurrency,
      lockDuration: o.lockDurationMs ?? 30_000,
      stalledInterval: o.stalledIntervalMs ?? 30_000,
      maxStalledCount: 5,
      autorun: true,
    },
  );
  worker.on('error', () => {}); // Redis outages: BullMQ reconnects by itself
  worker.on('completed', (job) => o.onEvent?.({ type: 'completed', jobId: job.data.jobId }));
  worker.on('failed', (job, err) => {
    if (!job) return;
    const attempts = job.opts.attempts ?? JOB_OPTIONS.attempts;
    if (job.attemptsMade >= attempts) {
      void markFailed(o.pool, job.data.jobId, err.message).catch(() => {});
      o.onEvent?.({ type: 'failed', jobId: job.data.jobId, error: err.message });
    } else {
      o.onEvent?.({ type: 'retry', jobId: job.data.jobId, error: err.message });
    }
  });
  return {
    worker,
    async stop() {
      if (stopping) return;
      stopping = true;
      await worker.close(); // waits for the jobs in progress to finish
    },
  };
}
