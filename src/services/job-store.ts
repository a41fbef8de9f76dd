/**
 * Batch jobs in PostgreSQL: create with inputs, read state/progress/results, and (for the worker)
 * store each input's result exactly once (UNIQUE (job_id, input_index) + ON CONFLICT DO NOTHING).
 */
import type { Pool, PoolClient } from 'pg';

export type JobTask = 'image' | 'text' | 'detect';
export type JobState = 'queued' | 'running' | 'completed' | 'failed';

export interface JobRow {
  id: string;
  task: JobTask;
  model: string;
  options: Record<string, unknown>;
  state: JobState;
  total: number;
  completed: number;
  failed: number;
  apiKeyId: string | null;
  error: string | null;
  attempts: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface JobResultRow {
  index: number;
  name: string | null;
  result: Record<string, unknown> | null;
  error: string | null;
  code: string | null;
}

export async function insertJob(c: PoolClient, job: { id: string; task: JobTask; model: string; options: Record<string, unknown>; total: number; apiKeyId: string | null }): Promise<void> {
  await c.query('INSERT INTO jobs (id, task, model, options, total, api_key_id) VALUES ($1, $2, $3, $4, $5, $6)', [job.id, job.task, job.model, JSON.stringify(job.options), job.total, job.apiKeyId]);
}

export async function insertInput(c: PoolClient, jobId: string, index: number, input: { name: string | null; content?: Uint8Array; text?: string }): Promise<void> {
  await c.query('INSERT INTO job_inputs (job_id, input_index, name, content, text) VALUES ($1, $2, $3, $4, $5)', [jobId, index, input.name, input.content ? Buffer.from(input.content.buffer, input.content.byteOffset, input.content.byteLength) : null, input.text ?? null]);
}

export async function setTotal(c: PoolClient, jobId: string, total: number): Promise<void> {
  await c.query('UPDATE jobs SET total = $2 WHERE id = $1', [jobId, total]);
}

interface RawJob {
  id: string;
  task: JobTask;
  model: string;
  options: Record<string, unknown>;
  state: JobState;
  total: number;
  api_key_id: string | null;
  error: string | null;
  attempts: number;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  completed: string;
  failed: string;
}

export async function getJob(pool: Pool, id: string): Promise<JobRow | undefined> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return undefined;
  const r = await pool.query<RawJob>(
    `SELECT j.*, (SELECT count(*) FROM job_results r WHERE r.job_id = j.id AND r.error IS NULL) AS completed,
            (SELECT count(*) FROM job_results r WHERE r.job_id = j.id AND r.error IS NOT NULL) AS failed
       FROM jobs j WHERE j.id = $1`,
    [id],
  );
  const x = r.rows[0];
  if (!x) return undefined;
  return {
    id: x.id, task: x.task, model: x.model, options: x.options, state: x.state, total: x.total,
    completed: Number(x.completed), failed: Number(x.failed), apiKeyId: x.api_key_id, error: x.error, attempts: x.attempts,
    createdAt: x.created_at.toISOString(), startedAt: x.started_at?.toISOString() ?? null, finishedAt: x.finished_at?.toISOString() ?? null,
  };
}

export async function getResults(pool: Pool, id: string, limit = 1_000_000, offset = 0): Promise<JobResultRow[]> {
  const r = await pool.query<{ input_index: number; name: string | null; result: Record<string, unknown> | null; error: string | null; error_code: string | null }>(
    'SELECT input_index, name, result, error, error_code FROM job_results WHERE job_id = $1 ORDER BY input_index LIMIT $2 OFFSET $3',
    [id, limit, offset],
  );
  return r.rows.map((x) => ({ index: x.input_index, name: x.name, result: x.result, error: x.error, code: x.error_code }));
}

export async function markFailed(pool: Pool, id: string, error: string): Promise<void> {
  await pool.query("UPDATE jobs SET state = 'failed', error = $2, finished_at = now() WHERE id = $1 AND state <> 'completed'", [id, error]);
}
