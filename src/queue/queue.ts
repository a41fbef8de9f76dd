/**
 * The batch-job queue: BullMQ in Redis carries only `{jobId}`; the job, its inputs and its results
 * live in PostgreSQL (tables in migrations/0100_server.sql).
 */
import { Queue, type ConnectionOptions } from 'bullmq';

export const QUEUE_NAME = 'modelship-jobs';

export interface QueueJobData {
  jobId: string;
}

export interface QueueSettings {
  redisUrl: string;
  /** BullMQ key prefix (MODELSHIP_QUEUE_PREFIX; tests use their own). */
  prefix: string;
}

export function queuePrefix(env: NodeJS.ProcessEnv): string {
  return env.MODELSHIP_QUEUE_PREFIX || 'modelship';
}

/** ioredis options for BullMQ from a redis:// URL (BullMQ needs maxRetriesPerRequest null for workers). */
export function bullConnection(url: string): ConnectionOptions {
  const u = new URL(url);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}

export const JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
} as const;

export function createQueue(s: QueueSettings): Queue<QueueJobData> {
  const q = new Queue<QueueJobData>(QUEUE_NAME, { connection: { ...bullConnection(s.redisUrl), enableOfflineQueue: false, maxRetriesPerRequest: 1 }, prefix: s.prefix });
  q.on('error', () => {}); // connection errors surface through readiness, not as crashes
  return q;
}

export async function enqueue(q: Queue<QueueJobData>, jobId: string): Promise<void> {
  await q.add('run', { jobId }, { ...JOB_OPTIONS, jobId });
}

export async function jobCounts(q: Queue<QueueJobData>): Promise<Record<string, number>> {
  return q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized');
}
