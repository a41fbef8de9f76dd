/**
 * `modelship status`, the I/O half: gathers containers (+ inspect for restarts, stats for CPU and
 * memory), the API's metrics (exec inside the active API container: nginx 404s /health/metrics on
 * the public edge; Prometheus on 127.0.0.1 when that fails), database facts (psql in the postgres
 * container, every 10 s) and backup facts (the backup directory), and hands them to the pure model.
 * `StatusFeed` keeps a live view fed: a 2 s poll plus the Docker event stream (throttled), and
 * reports "reconnecting…" instead of dying when the engine goes away.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import { MS_LABEL } from '../docker/desired.ts';
import { followLogs } from '../docker/engine.ts';
import { execInContainer } from '../docker/exec.ts';
import { errorMessage } from '../util/errors.ts';
import { withTimeout } from '../util/timeout.ts';
import { listBackups } from './backup/backup.ts';
import { judgeEdge } from './edge/check.ts';
import { probeEdge } from './edge/probe.ts';
import { colorOfService } from './edge/served.ts';
import { VERIFY_STATE_FILE } from './backup/naming.ts';
import { containerTargetFor } from '../postgres/container.ts';
import { pitrLayout } from './backup/pitr/layout.ts';
import { pitrFactsOf, pitrStatus } from './backup/pitr/service.ts';
import { queueFacts } from './backup/remote/sync.ts';
import { ps } from './containers.ts';
import { formatElapsed } from '../util/duration.ts';
import type { StackHandle } from './stack.ts';
import { Listeners } from '../util/listeners.ts';
import {
  cpuPercent,
  finishSnapshot,
  memoryUsed,
  parseMetrics,
  pushHistory,
  queueFrom,
  trafficBetween,
  type BackupFacts,
  type PitrFacts,
  type DbFacts,
  type EdgeStatus,
  type HistoryPoint,
  type Sample,
  type ServiceRow,
  type StatsLike,
  type StatusSnapshot,
  type Traffic,
} from './status-model.ts';

/** What the collector remembers between polls (rates need the previous scrape). */
export interface CollectorState {
  prevMetrics?: { at: number; samples: Sample[] };
  lastTraffic?: Traffic | null;
  db?: { at: number; facts: DbFacts | null; error?: string };
  backup?: { at: number; facts: BackupFacts | null };
  pitr?: { at: number; facts: PitrFacts | undefined };
}

async function containerDetails(docker: Docker, name: string, running: boolean): Promise<Pick<ServiceRow, 'restarts' | 'cpuPercent' | 'memBytes' | 'memLimitBytes'> & { startedAt?: string }> {
  const c = docker.getContainer(name);
  const [info, stats] = await Promise.all([
    withTimeout(c.inspect(), 3000, 'inspect: no answer within 3000 ms').catch(() => null),
    running ? withTimeout(c.stats({ stream: false }) as Promise<StatsLike>, 4000, 'stats: no answer within 4000 ms').catch(() => null) : Promise.resolve(null),
  ]);
  return {
    ...(info && running ? { startedAt: info.State.StartedAt } : {}),
    restarts: info ? info.RestartCount : null,
    cpuPercent: stats ? cpuPercent(stats) : null,
    memBytes: stats ? memoryUsed(stats) : null,
    memLimitBytes: stats?.memory_stats?.limit ?? null,
  };
}

/** The API's Prometheus text, read inside its container (the public edge does not serve it). */
export async function readApiMetrics(h: StackHandle, container: string): Promise<string> {
  const url = `http://127.0.0.1:${h.loaded.config.api.port}/health/metrics`;
  const script = `fetch(${JSON.stringify(url)},{signal:AbortSignal.timeout(3000)}).then(r=>r.text()).then(t=>process.stdout.write(t),e=>{console.error(String(e));process.exit(1)})`;
  // Not probe(): that keeps only the tail of the output, and the metrics page is long.
  const x = await execInContainer(h.docker, container, ['node', '-e', script]);
  let out = '';
  x.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
  const r = await withTimeout(x.done, 5000, 'metrics probe: no answer within 5000 ms');
  if (r.exitCode !== 0) throw new Error(r.stderr.split('\n')[0] || `metrics probe exited ${r.exitCode}`);
  return out;
}

/** Fallback when the API cannot be exec'd into: instant queries to Prometheus on the host. */
export async function trafficFromPrometheus(port: number): Promise<Traffic> {
  const q = async (expr: string): Promise<number | null> => {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expr)}`, { signal: AbortSignal.timeout(2000) });
    const body = (await res.json()) as { data?: { result?: Array<{ value: [number, string] }> } };
    const v = body.data?.result?.[0]?.value[1];
    return v === undefined || v === 'NaN' ? null : Number(v);
  };
  const user = 'route!~"/health.*|/metrics"';
  const [rps, err, p95, inf, hits, misses] = await Promise.all([
    q(`sum(rate(http_requests_total{${user}}[1m]))`),
    q(`sum(rate(http_requests_total{${user},status=~"5.."}[1m]))`),
    q(`histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{${user}}[1m])))`),
    q('histogram_quantile(0.95, sum by (le) (rate(modelship_inference_duration_seconds_bucket[1m])))'),
    q('sum(rate(modelship_cache_hits_total[5m]))'),
    q('sum(rate(modelship_cache_misses_total[5m]))'),
  ]);
  if (rps === null) throw new Error('Prometheus has no http_requests_total yet');
  return {
    requestsPerSecond: rps,
    errorRatePercent: rps > 0 ? ((err ?? 0) / rps) * 100 : 0,
    p95Seconds: p95,
    inferenceP95Seconds: inf,
    cacheHitPercent: hits !== null && misses !== null && hits + misses > 0 ? (hits / (hits + misses)) * 100 : null,
  };
}

const DB_SQL = `select pg_database_size(current_database())::text as size,
  (select count(*) from pg_stat_activity where backend_type = 'client backend')::int as conns,
  current_setting('max_connections') as max,
  coalesce((select bool_or(s ~* '^default_transaction_read_only=(on|true|1|yes)$') from pg_db_role_setting r
     join pg_database d on d.oid = r.setdatabase, unnest(r.setconfig) s where d.datname = current_database() and r.setrole = 0), false)::text as ro`;

export async function dbFacts(h: StackHandle, postgres: string): Promise<DbFacts> {
  const c = h.loaded.config;
  const target = containerTargetFor(h.docker, postgres, postgres, { database: c.postgres.database, user: c.postgres.user, password: h.loaded.env[c.secrets.postgresPassword] });
  const s = await withTimeout(target.connect({ appName: 'modelship status' }), 5000, 'psql: no answer within 5000 ms');
  try {
    const row = (await withTimeout(s.query<{ size: string; conns: number; max: string; ro: string }>(DB_SQL), 5000, 'database query: no answer within 5000 ms'))[0];
    return { sizeBytes: Number(row?.size ?? 0), connections: Number(row?.conns ?? 0), maxConnections: Number(row?.max ?? 0), poolSize: c.postgres.poolSize, readOnly: row?.ro === 'true' };
  } finally {
    await s.end().catch(() => undefined);
  }
}

export async function backupFacts(dir: string, database: string): Promise<BackupFacts> {
  const { backups } = await listBackups(dir, database);
  const last = backups[0];
  let restoreTestedAt: string | null = null;
  try {
    const st = JSON.parse(await readFile(path.join(dir, VERIFY_STATE_FILE), 'utf8')) as { lastRestoreTest?: { at?: string; ok?: boolean } };
    if (st.lastRestoreTest?.ok && st.lastRestoreTest.at) restoreTestedAt = st.lastRestoreTest.at;
  } catch {
    // none recorded yet
  }
  for (const b of backups) if (b.restoreTestedAt && (!restoreTestedAt || b.restoreTestedAt > restoreTestedAt)) restoreTestedAt = b.restoreTestedAt;
  return { lastAt: last?.createdAt ?? null, lastVerified: last?.verified ?? false, restoreTestedAt };
}

/** Base backups and the rehearsal from the backup directory; the archive's lag from the running postgres. */
export async function pitrFacts(h: StackHandle, postgres: string | null): Promise<PitrFacts> {
  const c = h.loaded.config;
  const p = c.backups.pitr;
  const target = postgres ? containerTargetFor(h.docker, postgres, postgres, { database: c.postgres.database, user: c.postgres.user, password: h.loaded.env[c.secrets.postgresPassword] }) : null;
  const s = target ? await withTimeout(target.connect({ appName: 'modelship status' }), 5000, 'psql').catch(() => null) : null;
  try {
    const st = await pitrStatus({ enabled: p.enabled, slot: p.slot, layout: pitrLayout(backupDir(h)) }, s);
    return pitrFactsOf(st, s !== null);
  } finally {
    await s?.end().catch(() => undefined);
  }
}

export function backupDir(h: StackHandle): string {
  return path.resolve(h.loaded.dir, h.loaded.config.backups.dir);
}

/** Metrics: the active API container, else Prometheus. */
async function readTraffic(h: StackHandle, rows: ServiceRow[], st: CollectorState, now: () => number): Promise<{ traffic: Traffic | null; queue: StatusSnapshot['queue']; metricsSource: StatusSnapshot['metricsSource']; metricsError?: string }> {
  const c = h.loaded.config;
  let traffic: Traffic | null = null;
  let queue: StatusSnapshot['queue'] = null;
  let metricsSource: StatusSnapshot['metricsSource'] = null;
  let metricsError: string | undefined;
  const api = rows.find((r) => r.active && r.state === 'running' && /^api-/.test(r.service)) ?? rows.find((r) => r.state === 'running' && /^api-/.test(r.service));
  try {
    if (!api) throw new Error('no running API container');
    const samples = parseMetrics(await readApiMetrics(h, api.container));
    const t = now();
    if (st.prevMetrics) traffic = trafficBetween(st.prevMetrics.samples, samples, (t - st.prevMetrics.at) / 1000);
    st.prevMetrics = { at: t, samples };
    queue = queueFrom(samples);
    metricsSource = 'api';
  } catch (err) {
    metricsError = errorMessage(err);
    try {
      traffic = await trafficFromPrometheus(c.monitoring.prometheus.port);
      metricsSource = 'prometheus';
      metricsError = undefined;
    } catch {
      // keep the API's error: it is the more useful one
    }
  }
  return { traffic, queue, metricsSource, ...(metricsError ? { metricsError } : {}) };
}

/** Database facts change slowly: every 10 s; backup facts every 30 s. */
async function refreshSlowFacts(h: StackHandle, rows: ServiceRow[], st: CollectorState, now: () => number): Promise<void> {
  const c = h.loaded.config;
  const pg = rows.find((r) => r.service === 'postgres' && r.state === 'running');
  if (!st.db || now() - st.db.at > 10_000) {
    if (!pg) st.db = { at: now(), facts: null, error: 'postgres is not running' };
    else {
      try {
        st.db = { at: now(), facts: await dbFacts(h, pg.container) };
      } catch (err) {
        st.db = { at: now(), facts: null, error: errorMessage(err) };
      }
    }
  }
  if (!st.backup || now() - st.backup.at > 30_000) {
    const facts = await backupFacts(backupDir(h), c.postgres.database).catch(() => null);
    const remote = facts && c.backups.remote.url ? await queueFacts(backupDir(h), now()).catch(() => undefined) : undefined;
    st.backup = { at: now(), facts: facts && remote ? { ...facts, remote: { pending: remote.pending, lagSeconds: remote.lagSeconds, lastError: remote.lastError } } : facts };
  }
  if (c.backups.pitr.enabled && (!st.pitr || now() - st.pitr.at > 10_000)) {
    st.pitr = { at: now(), facts: await pitrFacts(h, pg?.container ?? null).catch(() => undefined) };
  }
}

/** One snapshot of the stack. Never throws: an unreachable engine is a snapshot too. */
export async function collectSnapshot(h: StackHandle, st: CollectorState = {}, now = Date.now): Promise<StatusSnapshot> {
  const c = h.loaded.config;
  const at = new Date(now()).toISOString();
  const empty = { at, project: h.project, activeColor: null, services: [], traffic: null, metricsSource: null, queue: null, db: null, backup: null } as const;
  try {
    await withTimeout(h.docker.ping(), 3000, 'ping: no answer within 3000 ms');
  } catch (err) {
    return finishSnapshot({ ...empty, services: [], engine: { ok: false, error: errorMessage(err) } }, c.monitoring.alerts);
  }
  let report;
  try {
    report = await withTimeout(ps(h), 8000, 'container list: no answer within 8000 ms');
  } catch (err) {
    return finishSnapshot({ ...empty, services: [], engine: { ok: false, error: errorMessage(err) } }, c.monitoring.alerts);
  }
  // A one-shot snapshot has no previous scrape: read the metrics once while the stats are taken
  // (about a second), so even a single snapshot shows rates.
  const apiFirst = report.containers.find((r) => r.active && r.state === 'running' && /^api-/.test(r.service)) ?? report.containers.find((r) => r.state === 'running' && /^api-/.test(r.service));
  const prime =
    !st.prevMetrics && apiFirst
      ? readApiMetrics(h, apiFirst.container).then(
          (text) => void (st.prevMetrics = { at: now(), samples: parseMetrics(text) }),
          () => undefined,
        )
      : Promise.resolve();
  const [rows] = await Promise.all([Promise.all(
    report.containers.map(async (r): Promise<ServiceRow> => {
      const { startedAt, ...d } = await containerDetails(h.docker, r.container, r.state === 'running');
      const uptime = startedAt && !Number.isNaN(Date.parse(startedAt)) ? formatElapsed(now() - Date.parse(startedAt)) : r.uptime;
      const { createdAt: _created, ports: _ports, ...row } = r; // the container part of the ps row
      return { ...row, uptime, ...d };
    }),
  ), prime]);
  const base = { ...empty, engine: { ok: true }, activeColor: report.activeColor, services: rows };
  if (rows.length === 0) return finishSnapshot(base, c.monitoring.alerts);

  const { traffic, queue, metricsSource, metricsError } = await readTraffic(h, rows, st, now);
  await refreshSlowFacts(h, rows, st, now);
  const edge = await edgeStatus(h, rows, report.activeColor);
  return finishSnapshot(
    {
      ...base,
      ...(edge ? { edge } : {}),
      traffic,
      metricsSource,
      ...(metricsError ? { metricsError } : {}),
      queue,
      db: st.db!.facts,
      ...(st.db!.error ? { dbError: st.db!.error } : {}),
      backup: st.backup!.facts && st.pitr?.facts ? { ...st.backup!.facts, pitr: st.pitr.facts } : st.backup!.facts,
    },
    c.monitoring.alerts,
  );
}

/** A request through nginx to /health, judged against the active colour (null: nginx not running). */
export async function edgeStatus(h: StackHandle, rows: ReadonlyArray<{ service: string; state: string }>, active: string | null): Promise<EdgeStatus | null> {
  if (!rows.some((r) => r.service === 'nginx' && r.state === 'running')) return null;
  const f = await probeEdge(h.docker, h.project, h.loaded.config);
  const v = judgeEdge(f, colorOfService(active ? `api-${active}` : null));
  return { ok: v.ok, summary: v.summary, status: f.status, servedBy: f.servedBy, answeredBy: f.answeredBy };
}

/** The last lines of one container's log (for the `l` key). */
export async function recentLogs(h: StackHandle, container: string, lines = 200): Promise<string[]> {
  const out: string[] = [];
  await followLogs(h.docker, container, { follow: false, tail: lines }, (l) => out.push(l));
  return out;
}

export interface FeedState {
  snapshot: StatusSnapshot | null;
  history: HistoryPoint[];
  /** Set while the event stream is down and being retried. */
  reconnecting: boolean;
  refreshing: boolean;
}

/**
 * Live feed for the TUI: polls every `intervalMs` and on Docker events (throttled to one refresh
 * per `throttleMs`). The event stream is re-opened every 2 s while it is down.
 */
export class StatusFeed {
  private readonly h: StackHandle;
  private readonly st: CollectorState = {};
  private state: FeedState = { snapshot: null, history: [], reconnecting: false, refreshing: false };
  private readonly listeners = new Listeners<[FeedState]>();
  private timer: NodeJS.Timeout | undefined;
  private pending: NodeJS.Timeout | undefined;
  private lastRun = 0;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private events: (NodeJS.ReadableStream & { destroy?: () => void }) | null = null;
  private readonly intervalMs: number;
  private readonly throttleMs: number;

  constructor(h: StackHandle, opts: { intervalMs?: number; throttleMs?: number } = {}) {
    this.h = h;
    this.intervalMs = opts.intervalMs ?? 2000;
    this.throttleMs = opts.throttleMs ?? 500;
  }

  get current(): FeedState {
    return this.state;
  }

  subscribe(fn: (s: FeedState) => void): () => void {
    const off = this.listeners.add(fn);
    fn(this.state);
    return off;
  }

  private set(next: Partial<FeedState>): void {
    this.state = { ...this.state, ...next };
    this.listeners.emit(this.state);
  }

  start(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.intervalMs);
    void this.watchEvents();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.pending);
    this.events?.destroy?.();
  }

  /** Refresh now (coalesced: a refresh asked for while one runs runs once after it). */
  refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.set({ refreshing: true });
    this.running = (async () => {
      try {
        const snap = await collectSnapshot(this.h, this.st);
        if (this.stopped) return;
        const t = snap.traffic;
        const history = t ? pushHistory(this.state.history, { at: Date.parse(snap.at), rps: t.requestsPerSecond, errorPct: t.errorRatePercent, p95: t.p95Seconds }) : this.state.history;
        this.set({ snapshot: snap, history, reconnecting: !snap.engine.ok || this.state.reconnecting });
      } finally {
        this.lastRun = Date.now();
        this.running = null;
        this.set({ refreshing: false });
        if (this.again && !this.stopped) {
          this.again = false;
          void this.refresh();
        }
      }
    })();
    return this.running;
  }

  private throttled(): void {
    if (this.pending || this.stopped) return;
    const wait = Math.max(0, this.lastRun + this.throttleMs - Date.now());
    this.pending = setTimeout(() => {
      this.pending = undefined;
      void this.refresh();
    }, wait);
  }

  private async watchEvents(): Promise<void> {
    while (!this.stopped) {
      try {
        const stream = (await this.h.docker.getEvents({ filters: { type: ['container'], label: [`${MS_LABEL.project}=${this.h.project}`] } })) as NodeJS.ReadableStream & { destroy?: () => void };
        this.events = stream;
        if (this.state.reconnecting) {
          this.set({ reconnecting: false });
          void this.refresh();
        }
        await new Promise<void>((resolve) => {
          stream.on('data', () => this.throttled());
          stream.on('end', resolve);
          stream.on('close', resolve);
          stream.on('error', () => resolve());
        });
      } catch {
        // engine away: retried below
      }
      if (this.stopped) return;
      this.set({ reconnecting: true });
      await new Promise((r) => setTimeout(r, 2000).unref());
    }
  }
}
