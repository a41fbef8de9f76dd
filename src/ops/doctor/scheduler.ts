/**
 * `doctor`: is the backup scheduler (db-backup) running and able to write? Its /health answers 503
 * with the reason when it cannot, and its engine health check prints that body, so the reason is in
 * the container's health log. Gathering is I/O; the check is pure.
 */
import type Docker from 'dockerode';
import { serviceContainers } from '../../docker/engine.ts';
import { SERVICE } from '../../stack/names.ts';
import type { CheckResult } from './result.ts';

export interface SchedulerFacts {
  present: boolean;
  state?: string;
  /** healthy | unhealthy | starting | null (no health check). */
  health?: string | null;
  /** Output of the last failed health check: the scheduler's own words. */
  reason?: string | null;
}

export async function schedulerFacts(docker: Docker, project: string): Promise<SchedulerFacts> {
  const list = await serviceContainers(docker, project, SERVICE.dbBackup);
  const c = list[0];
  if (!c) return { present: false };
  const info = await docker.getContainer(c.Id).inspect();
  const h = info.State.Health;
  const lastBad = h?.Log?.slice().reverse().find((l) => l.ExitCode !== 0);
  return { present: true, state: info.State.Status, health: h?.Status ?? null, reason: h?.Status === 'healthy' ? null : (lastBad?.Output.trim() ?? null) };
}

/** Pulls the problems out of the scheduler's /health body, else the raw output. Pure. */
export function schedulerReason(output: string | null | undefined): string | null {
  if (!output) return null;
  try {
    const body = JSON.parse(output) as { problems?: string[] };
    if (body.problems?.length) return body.problems.join('; ');
  } catch {
    // not JSON: the probe's own error (connection refused, timeout)
  }
  return output.slice(0, 400);
}

export function checkScheduler(f: { scheduler?: SchedulerFacts; config: { backups: { dir: string } } }): CheckResult | null {
  const s = f.scheduler;
  if (!s) return null;
  const title = 'backup scheduler (db-backup) running and able to write';
  if (!s.present) return { id: 'backup-scheduler', title, status: 'warn', why: 'no db-backup container: scheduled backups do not run', fix: 'modelship deploy (or schedule `modelship backup --print-cron` with system cron)' };
  if (s.state !== 'running') return { id: 'backup-scheduler', title, status: 'fail', why: `db-backup is ${s.state}`, fix: 'modelship logs db-backup; modelship deploy' };
  if (s.health === 'unhealthy') {
    return { id: 'backup-scheduler', title, status: 'fail', why: `db-backup is unhealthy: ${schedulerReason(s.reason) ?? 'no reason recorded'}`, fix: `make ${f.config.backups.dir} writable by uid 1000 (or free its disk), then wait for the next health check` };
  }
  return { id: 'backup-scheduler', title, status: 'pass', why: `db-backup ${s.health ?? 'running'}` };
}
