/**
 * The text of `modelship status` (and the pieces the TUI shows): rows, summary lines, the --watch
 * line, sparklines. Rendering only; the snapshot and every judgement come from ops/status-model.ts.
 * Pure.
 */
import {
  fmtPercent,
  fmtSeconds,
  standbyRow,
  type BackupFacts,
  type DbFacts,
  type PitrFacts,
  type QueueFacts,
  type ServiceRow,
  type StatusSnapshot,
  type Traffic,
} from '../../ops/status-model.ts';
import { formatBytes } from '../../util/size.ts';
import { formatAgo } from '../../util/duration.ts';
import { columns } from '../../util/table.ts';

const BARS = '▁▂▃▄▅▆▇█';

/** A sparkline of the last `width` values, scaled 0..max (a flat zero line is all ▁). */
export function sparkline(values: ReadonlyArray<number | null>, width = 30): string {
  const vs = values.slice(-width);
  const max = Math.max(0, ...vs.map((v) => v ?? 0));
  return vs
    .map((v) => {
      if (v === null) return ' ';
      if (max <= 0) return BARS[0];
      return BARS[Math.min(BARS.length - 1, Math.round((v / max) * (BARS.length - 1)))];
    })
    .join('');
}

// --- formatting --------------------------------------------------------------------------------

export function fmtBytes(n: number | null): string {
  return n === null ? '-' : formatBytes(n);
}

export const SERVICE_HEADER = ['SERVICE', 'CONTAINER', 'COLOUR', 'STATE', 'HEALTH', 'UPTIME', 'RESTARTS', 'CPU', 'MEM', 'IMAGE'];

export function serviceCells(r: ServiceRow): string[] {
  return [
    r.service,
    r.container,
    r.color ? `${r.color}${r.active ? '*' : ''}` : '',
    r.state,
    standbyRow(r) ? 'standby' : r.health,
    r.uptime,
    r.restarts === null ? '-' : String(r.restarts),
    fmtPercent(r.cpuPercent),
    fmtBytes(r.memBytes),
    r.image,
  ];
}

export function trafficLine(t: Traffic | null): string {
  if (!t) return 'traffic: measuring…';
  return `traffic: ${t.requestsPerSecond.toFixed(1)} req/s  errors ${fmtPercent(t.errorRatePercent)}  p95 ${fmtSeconds(t.p95Seconds)}  inference p95 ${fmtSeconds(t.inferenceP95Seconds)}  cache hits ${fmtPercent(t.cacheHitPercent)}`;
}

export function queueLine(q: QueueFacts | null): string {
  if (!q) return 'queue: -';
  return `queue: ${q.waiting} waiting, ${q.active} active, ${q.failed} failed; ${q.inferenceInflight} inference in flight${q.modelsNotReady ? `; models NOT ready: ${q.modelsNotReady.join(', ')}` : ''}`;
}

export function dbLine(d: DbFacts | null, err?: string): string {
  if (!d) return `database: ${err ? `unreadable (${err})` : '-'}`;
  return `database: ${fmtBytes(d.sizeBytes)}, ${d.connections}/${d.maxConnections} connections (pool ${d.poolSize} per process)${d.readOnly ? ', READ-ONLY' : ''}`;
}

export function backupLine(b: BackupFacts | null, now: number): string {
  if (!b) return 'backup: -';
  const r = b.remote;
  const remote = !r ? '' : r.pending === 0 ? '; off-site: up to date' : `; off-site: ${r.pending} copies pending, ${fmtSeconds(r.lagSeconds)} behind${r.lastError ? ` (last error: ${r.lastError})` : ''}`;
  return `backup: last ${formatAgo(b.lastAt, now)}${b.lastAt ? (b.lastVerified ? ', verified' : ', NOT verified') : ''}; restore tested ${formatAgo(b.restoreTestedAt, now)}${remote}`;
}

export function pitrLine(p: PitrFacts | undefined, now: number): string | null {
  if (!p) return null;
  const base = p.lastBase ? `base backup ${formatAgo(p.lastBase.finishedAt, now)}${p.lastBase.verified ? ', verified' : ', NOT verified'}` : 'no base backup';
  const a = p.archive;
  const lag = !a ? 'WAL archive lag unknown' : a.connected ? `WAL archive ${fmtSeconds(a.lagSeconds)} / ${fmtBytes(a.lagBytes)} behind` : 'WAL receiver NOT streaming';
  const reh = p.lastRehearsal ? `rehearsed ${formatAgo(p.lastRehearsal.at, now)}${p.lastRehearsal.ok ? '' : ' (FAILED)'}` : 'never rehearsed';
  const remote = p.remote ? `; remote ${fmtSeconds(p.remote.lagSeconds)} behind` : '';
  return `pitr: ${base}; ${lag}; ${reh}${remote}`;
}

/** The plain-text snapshot (not a TTY): a table and a few summary lines. */
export function snapshotText(s: StatusSnapshot): string[] {
  const now = Date.parse(s.at);
  const lines = [`stack ${s.project}: ${s.verdict.toUpperCase()}${s.activeColor ? `  (active colour ${s.activeColor})` : ''}  at ${s.at}`];
  if (!s.engine.ok) {
    lines.push(`Docker Engine unreachable: ${s.engine.error ?? ''}`);
    return lines;
  }
  if (s.services.length === 0) {
    lines.push('no containers: run `modelship deploy`');
    return lines;
  }
  lines.push('', ...columns([SERVICE_HEADER, ...s.services.map(serviceCells)]), '');
  lines.push(s.traffic ? trafficLine(s.traffic) : `traffic: ${s.metricsError ? `unreadable (${s.metricsError})` : 'needs two scrapes (use --watch)'}`);
  lines.push(queueLine(s.queue), dbLine(s.db, s.dbError), backupLine(s.backup, now));
  const pl = pitrLine(s.backup?.pitr, now);
  if (pl) lines.push(pl);
  lines.push(s.alerts.length === 0 ? 'alerts: none' : `alerts: ${s.alerts.map((a) => `${a.name} (${a.message})`).join('; ')}`);
  return lines;
}

/** One line per interval for `--watch` in plain mode. */
export function watchLine(s: StatusSnapshot): string {
  const up = s.services.filter((r) => r.state === 'running' && r.health !== 'unhealthy').length;
  const t = s.traffic;
  return [
    s.at,
    s.verdict,
    `${up}/${s.services.length} up`,
    t ? `${t.requestsPerSecond.toFixed(1)} req/s` : '- req/s',
    `err ${fmtPercent(t?.errorRatePercent ?? null)}`,
    `p95 ${fmtSeconds(t?.p95Seconds ?? null)}`,
    `alerts ${s.alerts.map((a) => a.name).join(',') || '-'}`,
  ].join('  ');
}
