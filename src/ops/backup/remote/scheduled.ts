/**
 * Off-site copies inside `modelship schedule`: every backups.remote.intervalSeconds (and right after
 * a dump or a base backup) new files are queued and the queue drained; after a new dump or base
 * backup, the remote's retention runs. Gauges: the age of the oldest
 * pending copy (the off-site lag), how many are pending, and whether the remote took the last round.
 */
import { Gauge, type Registry } from 'prom-client';
import { METRIC } from '../../../stack/metrics.ts';
import { errorMessage } from '../../../util/errors.ts';
import { openRemote, type RemoteSettings } from './settings.ts';
import { drainQueue, queueFacts, scanAndEnqueue } from './sync.ts';
import { applyRemotePrune, planRemotePrune } from './prune.ts';
import type { RetentionPolicy } from '../retention.ts';

export interface ScheduledRemote {
  /** Copy now (after a backup job). */
  kick: () => void;
  extendMetrics: (registry: Registry) => void;
  stop: () => Promise<void>;
}

export function startScheduledRemote(dir: string, r: RemoteSettings, log: (entry: Record<string, unknown>) => void, retention?: { policy: RetentionPolicy; keepBaseBackups: number }): ScheduledRemote {
  const store = openRemote(r);
  let stopped = false;
  let running: Promise<void> | null = null;
  let again = false;
  let remoteOk = 1;
  let lastSuccess = 0;
  let timer: NodeJS.Timeout | null = null;
  const round = async (): Promise<void> => {
    try {
      await scanAndEnqueue(dir);
      const res = await drainQueue(dir, store, { recipients: r.recipients, intervalSeconds: r.intervalSeconds });
      for (const rel of res.uploaded) log({ level: 'info', event: 'copied off-site', key: rel, remote: r.describe });
      for (const rel of res.dropped) log({ level: 'warn', event: 'deleted locally before it was copied off-site', key: rel });
      for (const f of res.failed) log({ level: f.retryable ? 'warn' : 'error', event: 'off-site copy failed', key: f.rel, error: f.error, ...(f.hint ? { hint: f.hint } : {}), pending: res.pending });
      // A new dump or base backup off-site: the remote's retention runs (on its own records).
      if (retention && res.uploaded.some((rel) => !rel.startsWith('pitr/wal/'))) {
        const plan = await planRemotePrune(store, retention.policy, retention.keepBaseBackups);
        const n = await applyRemotePrune(store, plan);
        if (n) log({ level: 'info', event: 'off-site retention', deleted: plan.delete, remote: r.describe });
      }
      if (res.failed.length) remoteOk = 0;
      else if (res.uploaded.length || res.pending === 0) {
        remoteOk = 1;
        lastSuccess = Date.now() / 1000;
      }
    } catch (err) {
      remoteOk = 0;
      log({ level: 'error', event: 'off-site copy round failed', error: errorMessage(err) });
    }
  };
  const run = (): void => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = round().finally(() => {
      running = null;
      if (again && !stopped) {
        again = false;
        run();
      }
    });
  };
  const tick = (): void => {
    run();
    if (!stopped) timer = setTimeout(tick, r.intervalSeconds * 1000);
  };
  tick();
  return {
    kick: run,
    extendMetrics(registry) {
      let pending: Promise<void> | null = null;
      const refresh = async () => {
        const f = await queueFacts(dir).catch(() => null);
        if (f) {
          lag.set(f.lagSeconds);
          queued.set(f.pending);
        }
        up.set(remoteOk);
        if (lastSuccess) last.set(lastSuccess);
      };
      const collect = async () => {
        pending ??= refresh().finally(() => (pending = null));
        await pending;
      };
      const lag = new Gauge({ name: METRIC.remoteLagSeconds, help: 'Seconds the oldest backup file not yet copied off-site has waited (0: the remote has everything)', registers: [registry], collect });
      const queued = new Gauge({ name: METRIC.remotePending, help: 'Backup files waiting to be copied off-site', registers: [registry], collect });
      const up = new Gauge({ name: METRIC.remoteUp, help: '1 when the last off-site copy round succeeded', registers: [registry], collect });
      const last = new Gauge({ name: METRIC.remoteLastSuccess, help: 'Unix time of the last off-site copy round that left nothing failing', registers: [registry], collect });
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
      await store.close();
    },
  };
}
