/**
 * The status view's model, pure: raw facts (containers, stats, metrics text, database and backup
 * facts) → a snapshot with rows in a stable order, traffic rates from two metric scrapes, the alerts
 * the rendered Prometheus rules would fire (same thresholds), and one health verdict with an exit
 * code. No I/O here; src/ops/status.ts gathers, src/tui/ draws.
 */
import type { Config } from '../config/schema.ts';
import { METRIC } from '../stack/metrics.ts';

export type Verdict = 'healthy' | 'degraded' | 'down' | 'empty' | 'unreachable';

/** One container of the stack as `ps` and `status` both show it. */
export interface ContainerRow {
  service: string;
  container: string;
  color: string | null;
  active: boolean;
  state: string;
  health: string;
  uptime: string;
  image: string;
}

/** A row of the status view: the container and its resource use. */
export interface ServiceRow extends ContainerRow {
  restarts: number | null;
  cpuPercent: number | null;
  memBytes: number | null;
  memLimitBytes: number | null;
}

export interface Traffic {
  requestsPerSecond: number;
  errorRatePercent: number;
  p95Seconds: number | null;
  inferenceP95Seconds: number | null;
  cacheHitPercent: number | null;
}

export interface QueueFacts {
  waiting: number;
  active: number;
  failed: number;
  inferenceInflight: number;
  /** Models the API reports as not loaded and warm (modelship_model_ready 0): failed to load, or still loading. */
  modelsNotReady?: string[];
}

export interface DbFacts {
  sizeBytes: number;
  connections: number;
  maxConnections: number;
  poolSize: number;
  readOnly: boolean;
}

export interface BackupFacts {
  lastAt: string | null;
  lastVerified: boolean;
  restoreTestedAt: string | null;
  /** Point-in-time recovery (absent when backups.pitr is off). */
  pitr?: PitrFacts;
  /** Off-site copies (absent when backups.remote.url is not set): the queue of copies not yet verified there. */
  remote?: { pending: number; lagSeconds: number; lastError: string | null };
}

export interface PitrFacts {
  /** The newest verified base backup. */
  lastBase: { name: string; finishedAt: string; verified: boolean; sizeBytes: number } | null;
  /** How far the WAL archive trails the server (null: postgres unreadable); receiver not connected → connected false. */
  archive: { connected: boolean; lagSeconds: number | null; lagBytes: number | null } | null;
  /** The last restore rehearsal (`restore --to-latest --verify-only`). */
  lastRehearsal: { at: string; ok: boolean; error?: string } | null;
  /** Off-site copies' lag (backups.remote; null until that is configured). */
  remote: { lagSeconds: number | null } | null;
}

export interface Alert {
  name: string;
  severity: 'critical' | 'warning';
  message: string;
}

export interface StatusSnapshot {
  at: string;
  project: string;
  engine: { ok: boolean; error?: string };
  activeColor: string | null;
  services: ServiceRow[];
  /** null until two metric scrapes exist (rates need a delta), or when metrics are unreadable. */
  traffic: Traffic | null;
  metricsSource: 'api' | 'prometheus' | null;
  metricsError?: string;
  queue: QueueFacts | null;
  db: DbFacts | null;
  dbError?: string;
  backup: BackupFacts | null;
  /** The path a client takes: a request through nginx to /health (absent when nginx is not running). */
  edge?: EdgeStatus;
  alerts: Alert[];
  verdict: Verdict;
}

export interface EdgeStatus {
  ok: boolean;
  summary: string;
  status: number | null;
  servedBy: string | null;
  answeredBy: string | null;
}

// --- Prometheus text format -------------------------------------------------------------------

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (the subset prom-client writes). */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) {
      for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    const v = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    if (!Number.isNaN(v)) out.push({ name: m[1]!, labels, value: v });
  }
  return out;
}

function sum(samples: readonly Sample[], name: string, where: (l: Record<string, string>) => boolean = () => true): number {
  return samples.filter((s) => s.name === name && where(s.labels)).reduce((a, s) => a + s.value, 0);
}

/** Cumulative bucket counts by upper bound (`le`), summed over every other label. */
export function buckets(samples: readonly Sample[], histogram: string, where: (l: Record<string, string>) => boolean = () => true): Map<number, number> {
  const m = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${histogram}_bucket` || !where(s.labels)) continue;
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    m.set(le, (m.get(le) ?? 0) + s.value);
  }
  return m;
}

/** Prometheus' histogram_quantile over cumulative buckets (linear inside the bucket). null when empty. */
export function histogramQuantile(q: number, cumulative: Map<number, number>): number | null {
  const bs = [...cumulative.entries()].sort((a, b) => a[0] - b[0]);
  const total = bs.length ? bs[bs.length - 1]![1] : 0;
  if (total <= 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of bs) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      if (count === prevCount) return le;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / (count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

function bucketDelta(a: Map<number, number>, b: Map<number, number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const [le, v] of b) out.set(le, Math.max(0, v - (a.get(le) ?? 0)));
  return out;
}

/** Health routes are excluded from traffic: load balancers and our own probes are not users. */
const userRoute = (l: Record<string, string>): boolean => !(l.route ?? '').startsWith('/health') && l.route !== '/metrics';

/** Rates between two scrapes `dtSeconds` apart. A counter that went down (restart) counts from 0. */
export function trafficBetween(prev: readonly Sample[], cur: readonly Sample[], dtSeconds: number): Traffic {
  const delta = (name: string, where?: (l: Record<string, string>) => boolean): number => {
    const a = sum(prev, name, where);
    const b = sum(cur, name, where);
    return b >= a ? b - a : b;
  };
  const reqs = delta(METRIC.httpRequests, userRoute);
  const errors = delta(METRIC.httpRequests, (l) => userRoute(l) && /^5/.test(l.status ?? ''));
  const hits = delta(METRIC.cacheHits);
  const misses = delta(METRIC.cacheMisses);
  const dt = Math.max(dtSeconds, 0.001);
  return {
    requestsPerSecond: reqs / dt,
    errorRatePercent: reqs > 0 ? (errors / reqs) * 100 : 0,
    p95Seconds: histogramQuantile(0.95, bucketDelta(buckets(prev, METRIC.httpDuration, userRoute), buckets(cur, METRIC.httpDuration, userRoute))),
    inferenceP95Seconds: histogramQuantile(0.95, bucketDelta(buckets(prev, METRIC.inferenceDuration), buckets(cur, METRIC.inferenceDuration))),
    cacheHitPercent: hits + misses > 0 ? (hits / (hits + misses)) * 100 : null,
  };
}

export function queueFrom(samples: readonly Sample[]): QueueFacts | null {
  if (!samples.some((s) => s.name === METRIC.jobs || s.name === 'modelship_inference_queue_depth')) return null;
  const jobs = (state: string): number => sum(samples, METRIC.jobs, (l) => l.state === state);
  const notReady = [...new Set(samples.filter((x) => x.name === 'modelship_model_ready' && x.value === 0 && x.labels.model).map((x) => x.labels.model!))].sort();
  return { waiting: jobs('waiting') + jobs('delayed'), active: jobs('active'), failed: jobs('failed'), inferenceInflight: sum(samples, 'modelship_inference_queue_depth'), ...(notReady.length > 0 ? { modelsNotReady: notReady } : {}) };
}

// --- container stats ---------------------------------------------------------------------------

export interface StatsLike {
  cpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number };
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
}

/** CPU % the way `docker stats` computes it (100 % = one core). null without a previous sample. */
export function cpuPercent(s: StatsLike): number | null {
  const cpu = (s.cpu_stats?.cpu_usage?.total_usage ?? 0) - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const sys = (s.cpu_stats?.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
  if (!s.precpu_stats?.system_cpu_usage || sys <= 0 || cpu < 0) return null;
  return (cpu / sys) * (s.cpu_stats?.online_cpus ?? 1) * 100;
}

/** Memory in use without the page cache (as `docker stats` shows it). */
export function memoryUsed(s: StatsLike): number | null {
  const usage = s.memory_stats?.usage;
  if (usage === undefined) return null;
  const cache = s.memory_stats?.stats?.inactive_file ?? s.memory_stats?.stats?.total_inactive_file ?? 0;
  return Math.max(0, usage - cache);
}

// --- verdict and alerts -----------------------------------------------------------------------

export type Thresholds = Config['monitoring']['alerts'];

/** The alerts the rendered Prometheus rules would fire now, with the config's thresholds. */
export function evaluateAlerts(s: Omit<StatusSnapshot, 'alerts' | 'verdict'>, t: Thresholds, now = Date.parse(s.at)): Alert[] {
  const alerts: Alert[] = [];
  const running = (svc: (name: string) => boolean): ServiceRow[] => s.services.filter((r) => svc(r.service) && r.state === 'running' && r.health !== 'unhealthy');
  const present = (svc: (name: string) => boolean): boolean => s.services.some((r) => svc(r.service));
  if (!s.engine.ok) return [{ name: 'EngineUnreachable', severity: 'critical', message: `Docker Engine unreachable: ${s.engine.error ?? 'no answer'}` }];
  if (s.services.length === 0) return [];
  const api = (n: string): boolean => /^api-(blue|green)$/.test(n);
  const activeApi = (n: string): boolean => (s.activeColor ? n === `api-${s.activeColor}` : api(n));
  if (running(activeApi).length === 0) alerts.push({ name: 'APIDown', severity: 'critical', message: `no healthy API container${s.activeColor ? ` of the active colour ${s.activeColor}` : ''}` });
  for (const [svc, name] of [['postgres', 'DatabaseDown'], ['redis', 'RedisDown'], ['nginx', 'NginxDown']] as const) {
    if (present((n) => n === svc) && running((n) => n === svc).length === 0) alerts.push({ name, severity: 'critical', message: `${svc} is not running healthy` });
    else if (!present((n) => n === svc)) alerts.push({ name, severity: 'critical', message: `${svc} has no container` });
  }
  if (s.edge && !s.edge.ok) alerts.push({ name: 'EdgeDown', severity: 'critical', message: s.edge.summary });
  const idleSick = s.services.filter((r) => idleColour(r, s.activeColor) && !isStandby(r, s.activeColor) && notRunningHealthy(r));
  if (idleSick.length > 0) alerts.push({ name: 'StandbyUnhealthy', severity: 'warning', message: `the idle colour is ${idleSick.map((r) => `${r.container} ${r.state}${r.health === 'unhealthy' ? ' unhealthy' : ''}`).join(', ')}: a rollback to it would fail` });
  if (present((n) => n === 'worker') && running((n) => n === 'worker').length === 0) alerts.push({ name: 'WorkersDown', severity: 'critical', message: 'no queue worker is running healthy' });
  if (s.traffic) {
    if (s.traffic.errorRatePercent > t.errorRatePercent) alerts.push({ name: 'HighErrorRate', severity: 'critical', message: `${fmtPercent(s.traffic.errorRatePercent)} of responses are 5xx (threshold ${t.errorRatePercent} %)` });
    if (s.traffic.p95Seconds !== null && s.traffic.p95Seconds > t.p95LatencySeconds) alerts.push({ name: 'HighResponseTime', severity: 'warning', message: `p95 latency ${fmtSeconds(s.traffic.p95Seconds)} (threshold ${t.p95LatencySeconds} s)` });
  }
  if (s.queue?.modelsNotReady) alerts.push({ name: 'ModelNotReady', severity: 'warning', message: `model(s) not loaded and warm: ${s.queue.modelsNotReady.join(', ')} (their requests get 503 model_unavailable; see /health/detailed, \`modelship models verify <name>\`)` });
  if (s.queue && s.queue.waiting > t.queueLength) alerts.push({ name: 'QueueBacklog', severity: 'warning', message: `${s.queue.waiting} jobs waiting (threshold ${t.queueLength})` });
  if (s.db && s.db.maxConnections > 0) {
    const pct = (s.db.connections / s.db.maxConnections) * 100;
    if (pct > t.connectionsPercent) alerts.push({ name: 'DatabaseConnectionsHigh', severity: 'warning', message: `${s.db.connections}/${s.db.maxConnections} connections (${fmtPercent(pct)}, threshold ${t.connectionsPercent} %)` });
  }
  if (s.backup) {
    const age = s.backup.lastAt ? (now - Date.parse(s.backup.lastAt)) / 3_600_000 : Infinity;
    if (!s.backup.lastAt) alerts.push({ name: 'BackupTooOld', severity: 'warning', message: 'no backup yet' });
    else if (age > t.backupMaxAgeHours) alerts.push({ name: 'BackupTooOld', severity: 'warning', message: `last backup ${age.toFixed(0)} h old (threshold ${t.backupMaxAgeHours} h)` });
    else if (!s.backup.lastVerified) alerts.push({ name: 'BackupTooOld', severity: 'warning', message: 'the last backup is not verified' });
  }
  return alerts;
}

/**
 * The idle colour's API containers, stopped on purpose after a swap so that `rollback` is instant:
 * healthy by design, never a reason for DEGRADED or exit 1. (A running idle colour is mid-swap or a
 * leftover; it is judged like any other container, but only as a warning.)
 */
export function isStandby(r: Pick<ContainerRow, 'service' | 'color' | 'state'>, activeColor: string | null): boolean {
  return activeColor !== null && r.color !== null && r.color !== activeColor && /^api-(blue|green)$/.test(r.service) && (r.state === 'exited' || r.state === 'created');
}

/** isStandby for one row on its own (its `active` flag says whether its colour is the active one). */
export function standbyRow(r: Pick<ContainerRow, 'service' | 'color' | 'state' | 'active'>): boolean {
  return !r.active && r.color !== null && /^api-(blue|green)$/.test(r.service) && (r.state === 'exited' || r.state === 'created');
}

function idleColour(r: Pick<ContainerRow, 'service' | 'color'>, activeColor: string | null): boolean {
  return activeColor !== null && r.color !== null && r.color !== activeColor && /^api-(blue|green)$/.test(r.service);
}

/** Rows that count towards the verdict: every container except the idle colour's. */
function judged(s: Pick<StatusSnapshot, 'services' | 'activeColor'>): ServiceRow[] {
  return s.services.filter((r) => !idleColour(r, s.activeColor));
}

function notRunningHealthy(r: ServiceRow): boolean {
  return r.state !== 'running' || r.health === 'unhealthy';
}

/**
 * down: the engine is unreachable, or the API, nginx or the database is not serving;
 * degraded: anything else not running healthy (the stopped standby colour excepted), or an alert
 * fires; healthy otherwise.
 */
export function verdictOf(s: Omit<StatusSnapshot, 'verdict'>): Verdict {
  if (!s.engine.ok) return 'unreachable';
  if (s.services.length === 0) return 'empty';
  if (s.alerts.some((a) => ['APIDown', 'NginxDown', 'DatabaseDown', 'EdgeDown'].includes(a.name))) return 'down';
  if (judged(s).some((r) => notRunningHealthy(r) || r.health === 'starting')) return 'degraded';
  if (s.alerts.length > 0) return 'degraded';
  return 'healthy';
}

/**
 * 0: healthy, or degraded only by warnings (an old backup, a container still starting, the idle
 * colour unhealthy while it runs); 1: a service of the stack is down or unhealthy, a critical
 * alert fires, the engine is unreachable, or the stack has no containers. The stopped standby
 * colour is never a reason for 1.
 */
export function exitCodeOf(s: StatusSnapshot): number {
  if (s.verdict === 'healthy') return 0;
  if (s.verdict === 'degraded') return s.alerts.some((a) => a.severity === 'critical') || judged(s).some(notRunningHealthy) ? 1 : 0;
  return 1;
}

/** Stable row order: edge, API colours, workers, data, monitoring, the rest; then by container name. */
export function sortRows<T extends { service: string; container: string }>(rows: readonly T[]): T[] {
  const rank = (svc: string): number => {
    const order = ['nginx', 'api-blue', 'api-green', 'worker', 'postgres', 'redis', 'db-backup', 'prometheus', 'grafana', 'loki', 'promtail', 'certbot'];
    const i = order.indexOf(svc);
    return i === -1 ? order.length : i;
  };
  return [...rows].sort((a, b) => rank(a.service) - rank(b.service) || a.service.localeCompare(b.service) || a.container.localeCompare(b.container, undefined, { numeric: true }));
}

export function finishSnapshot(base: Omit<StatusSnapshot, 'alerts' | 'verdict'>, t: Thresholds): StatusSnapshot {
  const services = sortRows(base.services);
  const withRows = { ...base, services };
  const alerts = evaluateAlerts(withRows, t);
  return { ...withRows, alerts, verdict: verdictOf({ ...withRows, alerts }) };
}

// --- history and sparklines -------------------------------------------------------------------

export interface HistoryPoint {
  at: number;
  rps: number;
  errorPct: number;
  p95: number | null;
}

/** Keeps the last `max` points (the last minutes at one point per poll). */
export function pushHistory(h: readonly HistoryPoint[], p: HistoryPoint, max = 90): HistoryPoint[] {
  const next = [...h, p];
  return next.length > max ? next.slice(next.length - max) : next;
}

// --- numbers in messages (the alerts' text is data: JSON carries it) -----------------------------

export function fmtPercent(n: number | null): string {
  return n === null ? '-' : `${n < 10 ? n.toFixed(1) : n.toFixed(0)}%`;
}

export function fmtSeconds(n: number | null): string {
  if (n === null) return '-';
  return n < 1 ? `${Math.round(n * 1000)}ms` : `${n.toFixed(2)}s`;
}
