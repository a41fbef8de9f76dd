/** Snapshot fixtures for the status model and view tests. */
import { ConfigSchema } from '../../../src/config/schema.ts';
import { finishSnapshot, type ServiceRow, type StatusSnapshot } from '../../../src/ops/status-model.ts';
import type { FeedState } from '../../../src/ops/status.ts';

export const config = ConfigSchema.parse({ domains: ['api.example.com'], tls: { email: 'ops@example.com' } });
export const AT = '2026-11-26T10:00:00.000Z';

export function row(service: string, over: Partial<ServiceRow> = {}): ServiceRow {
  const color = /^api-(blue|green)$/.exec(service)?.[1] ?? null;
  return {
    service,
    container: `demo-${service}${service === 'worker' ? '-1' : ''}`,
    color,
    active: color === 'blue',
    state: 'running',
    health: 'healthy',
    uptime: '2h5m',
    restarts: 0,
    cpuPercent: 1.5,
    memBytes: 120 * 1024 * 1024,
    memLimitBytes: 2 * 1024 ** 3,
    image: service.startsWith('api') || service === 'worker' ? 'modelship/api:0.1.0' : `${service}:1`,
    ...over,
  };
}

export const SERVICES = ['redis', 'postgres', 'worker', 'api-blue', 'nginx', 'prometheus'];

export function snapshot(over: Partial<Omit<StatusSnapshot, 'alerts' | 'verdict'>> = {}): StatusSnapshot {
  return finishSnapshot(
    {
      at: AT,
      project: 'demo',
      engine: { ok: true },
      activeColor: 'blue',
      services: SERVICES.map((s) => row(s)),
      traffic: { requestsPerSecond: 12.5, errorRatePercent: 0.4, p95Seconds: 0.18, inferenceP95Seconds: 0.09, cacheHitPercent: 62 },
      metricsSource: 'api',
      queue: { waiting: 3, active: 1, failed: 0, inferenceInflight: 2 },
      db: { sizeBytes: 48 * 1024 * 1024, connections: 12, maxConnections: 100, poolSize: 20, readOnly: false },
      backup: { lastAt: '2026-11-26T02:00:00.000Z', lastVerified: true, restoreTestedAt: '2026-11-20T04:30:00.000Z' },
      ...over,
    },
    config.monitoring.alerts,
  );
}

export function feed(snap: StatusSnapshot | null, over: Partial<FeedState> = {}): FeedState {
  return { snapshot: snap, history: [1, 3, 2, 8, 5].map((v, i) => ({ at: i, rps: v, errorPct: 0, p95: 0.1 * v })), reconnecting: false, refreshing: false, ...over };
}
