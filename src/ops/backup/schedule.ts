/**
 * `modelship schedule`: the long-running scheduler of the db-backup service. node-cron in UTC; a
 * job never starts while its previous run is still going; every run is one JSON line; /health and
 * /metrics for Prometheus (the BackupTooOld alert reads the last-success timestamp). On SIGTERM it
 * stops scheduling, lets the running job finish, then exits.
 */
import http from 'node:http';
import cron from 'node-cron';
import { Counter, Gauge, Registry } from 'prom-client';
import { errorMessage } from '../../util/errors.ts';
import { UserError } from '../../util/errors.ts';

export const SCHEDULER_METRIC = {
  lastSuccess: 'modelship_backup_last_success_timestamp_seconds',
  lastDuration: 'modelship_backup_last_duration_seconds',
  failures: 'modelship_backup_failures_total',
  jobRuns: 'modelship_schedule_job_runs_total',
  jobLastSuccess: 'modelship_schedule_job_last_success_timestamp_seconds',
} as const;

export interface Job {
  name: string;
  cron: string;
  run: () => Promise<Record<string, unknown>>;
}

export interface SchedulerOptions {
  jobs: Job[];
  metricsPort?: number | undefined;
  metricsHost?: string;
  /** One JSON object per line. */
  log: (entry: Record<string, unknown>) => void;
  signal: AbortSignal;
  /** Unix seconds of the newest verified backup already on disk, so a restart does not look stale. */
  lastBackupSuccess?: number | undefined;
  runOnStart?: string[];
  onListening?: (port: number) => void;
  /** More metrics on the same /metrics (point-in-time recovery registers its gauges here). */
  extendMetrics?: (registry: Registry) => void;
  /**
   * What stops the scheduler from doing its job (an unwritable backup directory), re-checked for
   * /health at most every `healthCacheMs`. Any problem makes /health answer 503 with the reasons.
   */
  problems?: () => Promise<string[]>;
  healthCacheMs?: number;
}

export interface JobState {
  running: boolean;
  runs: number;
  failures: number;
  skipped: number;
  lastStart: string | null;
  lastSuccess: string | null;
  lastError: string | null;
}

type SchedulerMetrics = ReturnType<typeof createSchedulerMetrics>;

export function createSchedulerMetrics() {
  const registry = new Registry();
  const lastSuccess = new Gauge({ name: SCHEDULER_METRIC.lastSuccess, help: 'Unix time of the last successful, verified backup', registers: [registry] });
  const lastDuration = new Gauge({ name: SCHEDULER_METRIC.lastDuration, help: 'Duration of the last backup run in seconds', registers: [registry] });
  const failures = new Counter({ name: SCHEDULER_METRIC.failures, help: 'Backup runs that failed', registers: [registry] });
  const jobRuns = new Counter({ name: SCHEDULER_METRIC.jobRuns, help: 'Scheduled job runs by job and result', labelNames: ['job', 'result'], registers: [registry] });
  const jobLastSuccess = new Gauge({ name: SCHEDULER_METRIC.jobLastSuccess, help: 'Unix time of the last successful run of each job', labelNames: ['job'], registers: [registry] });
  return { registry, lastSuccess, lastDuration, failures, jobRuns, jobLastSuccess };
}

/** One run of a job: its state, metrics and log line, whatever the job does. Never rejects. */
async function runOnce(job: Job, st: JobState, m: SchedulerMetrics, log: SchedulerOptions['log']): Promise<void> {
  const t0 = performance.now();
  try {
    const result = await job.run();
    const secs = (performance.now() - t0) / 1000;
    st.runs++;
    st.lastSuccess = new Date().toISOString();
    st.lastError = null;
    m.jobRuns.inc({ job: job.name, result: 'ok' });
    m.jobLastSuccess.set({ job: job.name }, Date.now() / 1000);
    if (job.name === 'backup') {
      m.lastSuccess.set(Date.now() / 1000);
      m.lastDuration.set(secs);
    }
    log({ level: 'info', job: job.name, event: 'done', ok: true, durationSeconds: Math.round(secs * 1000) / 1000, ...result });
  } catch (err) {
    const secs = (performance.now() - t0) / 1000;
    st.runs++;
    st.failures++;
    st.lastError = errorMessage(err);
    m.jobRuns.inc({ job: job.name, result: 'error' });
    if (job.name === 'backup') {
      m.failures.inc();
      m.lastDuration.set(secs);
    }
    log({
      level: 'error',
      job: job.name,
      event: 'done',
      ok: false,
      durationSeconds: Math.round(secs * 1000) / 1000,
      error: errorMessage(err),
      ...(err instanceof UserError && err.hint ? { hint: err.hint } : {}),
    });
  } finally {
    st.running = false;
  }
}

/** The scheduler's /health (the problems, per job state) and /metrics (Prometheus) on `port`. */
async function listenStatus(o: SchedulerOptions, port: number, m: SchedulerMetrics, currentProblems: () => Promise<string[]>, status: () => { stopping: boolean; jobs: Record<string, JobState> }): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (url === '/health') {
      currentProblems().then(
        (problems) => {
          res.writeHead(problems.length ? 503 : 200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: problems.length === 0, ...(problems.length ? { problems } : {}), ...status() }));
        },
        (err: unknown) => {
          res.writeHead(503, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: false, problems: [`health check failed: ${errorMessage(err)}`], ...status() }));
        },
      );
    } else if (url === '/metrics') {
      m.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': m.registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500);
          res.end(errorMessage(err));
        },
      );
    } else {
      res.writeHead(404);
      res.end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new UserError(`--metrics-port ${port} is in use`, { hint: 'pick another port or stop the other scheduler' }) : err),
    );
    server.listen(port, o.metricsHost ?? '0.0.0.0', () => resolve());
  });
  const addr = server.address();
  o.onListening?.(typeof addr === 'object' && addr ? addr.port : port);
  return server;
}

export async function runScheduler(o: SchedulerOptions): Promise<{ states: Record<string, JobState> }> {
  for (const j of o.jobs) {
    if (!cron.validate(j.cron)) throw new UserError(`invalid schedule for ${j.name}: "${j.cron}"`, { exitCode: 2, hint: 'a cron expression such as "0 2 * * *" (UTC)' });
  }
  const m = createSchedulerMetrics();
  o.extendMetrics?.(m.registry);
  if (o.lastBackupSuccess) m.lastSuccess.set(o.lastBackupSuccess);
  m.failures.inc(0);
  const states: Record<string, JobState> = {};
  const running = new Set<Promise<void>>();
  let stopping = false;

  const fire = (job: Job, trigger: string): void => {
    const st = states[job.name]!;
    if (stopping) return;
    if (st.running) {
      st.skipped++;
      m.jobRuns.inc({ job: job.name, result: 'skipped' });
      o.log({ level: 'warn', job: job.name, event: 'skipped', reason: 'previous run still going', trigger });
      return;
    }
    st.running = true;
    st.lastStart = new Date().toISOString();
    o.log({ level: 'info', job: job.name, event: 'start', trigger });
    const p = runOnce(job, st, m, o.log);
    running.add(p);
    void p.finally(() => running.delete(p));
  };

  const tasks = o.jobs.map((job) => {
    states[job.name] = { running: false, runs: 0, failures: 0, skipped: 0, lastStart: null, lastSuccess: null, lastError: null };
    return cron.schedule(job.cron, () => fire(job, 'schedule'), { timezone: 'UTC', name: `modelship-${job.name}` });
  });

  let checked: { at: number; problems: string[] } | null = null;
  let reported = '';
  const currentProblems = async (): Promise<string[]> => {
    if (!o.problems) return [];
    if (checked && Date.now() - checked.at < (o.healthCacheMs ?? 10_000)) return checked.problems;
    const problems = await o.problems();
    checked = { at: Date.now(), problems };
    // Said once in the log when it changes, not at every probe.
    const key = problems.join('\n');
    if (key !== reported) {
      reported = key;
      o.log(problems.length ? { level: 'error', event: 'unhealthy', problems } : { level: 'info', event: 'healthy again' });
    }
    return problems;
  };

  const server = o.metricsPort === undefined ? null : await listenStatus(o, o.metricsPort, m, currentProblems, () => ({ stopping, jobs: states }));

  o.log({
    level: 'info',
    event: 'scheduler started',
    jobs: o.jobs.map((j) => ({ job: j.name, cron: j.cron, timezone: 'UTC' })),
    ...(o.metricsPort !== undefined ? { metricsPort: o.metricsPort } : {}),
  });
  await currentProblems().catch(() => undefined);
  for (const name of o.runOnStart ?? []) {
    const job = o.jobs.find((j) => j.name === name);
    if (job) fire(job, 'start');
  }

  await new Promise<void>((resolve) => {
    if (o.signal.aborted) resolve();
    else o.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  stopping = true;
  for (const t of tasks) await t.stop();
  if (running.size > 0) o.log({ level: 'info', event: 'stopping', waitingFor: Object.keys(states).filter((k) => states[k]!.running) });
  await Promise.all([...running]);
  for (const t of tasks) await t.destroy();
  if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
  o.log({ level: 'info', event: 'scheduler stopped' });
  return { states };
}
