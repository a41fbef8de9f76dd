/**
 * The live status view (ink). Presentational plus its own key handling: it draws whatever feed
 * state it is given, and calls back for refresh, quit and logs. No Docker here, so the tests drive
 * it with fixtures through ink-testing-library. Written with React.createElement (no JSX: Node
 * runs the .ts sources by type stripping).
 */
import React from 'react';
import { Box, Text, useInput } from 'ink';
import type { FeedState } from '../ops/status.ts';
import { fmtPercent, fmtSeconds, standbyRow, type ServiceRow, type Verdict } from '../ops/status-model.ts';
import { backupLine, dbLine, queueLine, SERVICE_HEADER, serviceCells, sparkline, trafficLine } from '../cli/format/status.ts';
import { columns } from '../util/table.ts';

const h = React.createElement;

export interface StatusViewProps {
  state: FeedState;
  onRefresh: () => void;
  onQuit: () => void;
  loadLogs: (container: string) => Promise<string[]>;
  /** Rows of log shown by `l` (default 15). */
  logLines?: number;
}

const VERDICT_COLOR: Record<Verdict, string> = { healthy: 'green', degraded: 'yellow', down: 'red', empty: 'gray', unreachable: 'red' };

export function filterRows(rows: readonly ServiceRow[], filter: string): ServiceRow[] {
  const f = filter.trim().toLowerCase();
  if (!f) return [...rows];
  return rows.filter((r) => `${r.service} ${r.container} ${r.image} ${r.state} ${r.health}`.toLowerCase().includes(f));
}

function rowColor(r: ServiceRow): string | undefined {
  if (standbyRow(r)) return 'gray';
  if (r.state !== 'running' || r.health === 'unhealthy') return 'red';
  if (r.health === 'starting') return 'yellow';
  return undefined;
}

export const HELP_LINES = [
  'q          quit',
  'r          refresh now',
  'l          logs of the selected service (l or esc to close)',
  '↑/↓        select a service',
  '/          filter services (enter to keep, esc to clear)',
  '?          this help (? or esc to close)',
  'Read-only: nothing here stops, restarts or removes anything.',
];

function table(rows: ServiceRow[], selected: number): React.ReactElement {
  const [head, ...lines] = columns([SERVICE_HEADER, ...rows.map(serviceCells)]);
  return h(
    Box,
    { flexDirection: 'column' },
    h(Text, { bold: true, wrap: 'truncate-end' }, `  ${head}`),
    ...rows.map((r, i) => {
      const color = rowColor(r);
      // The marker keeps the selection visible without colour (NO_COLOR, screen captures).
      return h(Text, { key: r.container, wrap: 'truncate-end', inverse: i === selected, ...(color ? { color } : {}) }, `${i === selected ? '›' : ' '} ${lines[i]}`);
    }),
  );
}

// Long because: a React component: its hooks (state, refs, input) must stay in this one function body; the tree itself is built by table() and the line helpers.
export function StatusView(props: StatusViewProps): React.ReactElement {
  const { state } = props;
  const snap = state.snapshot;
  const [selected, setSelectedState] = React.useState(0);
  // Keys can arrive faster than renders (a paste, tmux send-keys): the ref is the truth.
  const selRef = React.useRef(0);
  const setSelected = (fn: (s: number) => number): void => {
    selRef.current = fn(selRef.current);
    setSelectedState(selRef.current);
  };
  const [filter, setFilter] = React.useState('');
  const [filtering, setFiltering] = React.useState(false);
  const [help, setHelp] = React.useState(false);
  const [logs, setLogs] = React.useState<{ container: string; lines: string[] | null; error?: string } | null>(null);
  const rows = filterRows(snap?.services ?? [], filter);
  const sel = Math.min(selected, Math.max(0, rows.length - 1));

  useInput((input, key) => {
    if (filtering) {
      if (key.escape) {
        setFilter('');
        setFiltering(false);
      } else if (key.return) setFiltering(false);
      else if (key.backspace || key.delete) setFilter((f) => f.slice(0, -1));
      else if (input && !key.ctrl && !key.meta) setFilter((f) => f + input);
      return;
    }
    if (input === 'q') return props.onQuit();
    if (key.escape) {
      setHelp(false);
      setLogs(null);
      return;
    }
    if (input === '?') return setHelp((v) => !v);
    if (input === 'r') return props.onRefresh();
    if (input === '/') {
      setFiltering(true);
      return;
    }
    const last = Math.max(0, rows.length - 1);
    if (key.upArrow) return setSelected((s) => Math.max(0, Math.min(s, last) - 1));
    if (key.downArrow) return setSelected((s) => Math.min(last, s + 1));
    if (input === 'l') {
      if (logs) return setLogs(null);
      const row = rows[Math.min(selRef.current, Math.max(0, rows.length - 1))];
      if (!row) return;
      setLogs({ container: row.container, lines: null });
      props.loadLogs(row.container).then(
        (lines) => setLogs((cur) => (cur && cur.container === row.container ? { container: row.container, lines } : cur)),
        (err: unknown) => setLogs((cur) => (cur && cur.container === row.container ? { container: row.container, lines: [], error: (err as Error).message } : cur)),
      );
    }
  });

  const verdict: Verdict | null = snap?.verdict ?? null;
  const header = h(
    Box,
    null,
    h(Text, { bold: true }, `modelship status · ${snap?.project ?? '…'} · `),
    verdict ? h(Text, { bold: true, color: VERDICT_COLOR[verdict] }, verdict.toUpperCase()) : h(Text, null, 'loading…'),
    h(Text, null, `${snap?.activeColor ? ` · active ${snap.activeColor}` : ''}${snap ? ` · ${snap.at.slice(11, 19)}Z` : ''}`),
    state.reconnecting ? h(Text, { color: 'yellow' }, '  reconnecting…') : null,
    state.refreshing ? h(Text, { dimColor: true }, '  ↻') : null,
  );

  const body: React.ReactElement[] = [];
  if (help) {
    body.push(h(Box, { key: 'help', flexDirection: 'column', borderStyle: 'round', paddingX: 1 }, h(Text, { bold: true }, 'keys'), ...HELP_LINES.map((l) => h(Text, { key: l }, l))));
  } else if (!snap) {
    body.push(h(Text, { key: 'wait' }, 'reading the stack…'));
  } else if (!snap.engine.ok) {
    body.push(h(Text, { key: 'engine', color: 'red' }, `Docker Engine unreachable: ${snap.engine.error ?? 'no answer'}`), h(Text, { key: 'retry', dimColor: true }, 'retrying every 2 s; check that dockerd runs, or DOCKER_HOST / --host'));
  } else if (snap.services.length === 0) {
    body.push(h(Text, { key: 'empty' }, `stack ${snap.project} has no containers: run \`modelship deploy\``));
  } else {
    body.push(h(Box, { key: 'table' }, table(rows, sel)));
    if (rows.length === 0) body.push(h(Text, { key: 'nomatch', dimColor: true }, `no service matches "${filter}"`));
    if (logs) {
      const n = props.logLines ?? 15;
      const lines = logs.lines === null ? ['loading…'] : logs.lines.length === 0 ? [logs.error ? `(${logs.error})` : '(no log lines)'] : logs.lines.slice(-n);
      body.push(h(Box, { key: 'logs', flexDirection: 'column', borderStyle: 'single', paddingX: 1 }, h(Text, { bold: true }, `logs: ${logs.container} (l or esc to close)`), ...lines.map((l, i) => h(Text, { key: String(i), wrap: 'truncate-end' }, l))));
    } else {
      const t = snap.traffic;
      const hist = state.history;
      body.push(
        h(Text, { key: 'traffic' }, t ? trafficLine(t) : `traffic: ${snap.metricsError ? `unreadable (${snap.metricsError})` : 'measuring…'}`),
        h(Text, { key: 'spark-rps', dimColor: true }, `  req/s  ${sparkline(hist.map((p) => p.rps)).padEnd(30)} ${t ? t.requestsPerSecond.toFixed(1) : '-'}`),
        h(Text, { key: 'spark-err', dimColor: true }, `  errors ${sparkline(hist.map((p) => p.errorPct)).padEnd(30)} ${fmtPercent(t?.errorRatePercent ?? null)}`),
        h(Text, { key: 'spark-p95', dimColor: true }, `  p95    ${sparkline(hist.map((p) => p.p95)).padEnd(30)} ${fmtSeconds(t?.p95Seconds ?? null)}`),
        h(Text, { key: 'queue' }, queueLine(snap.queue)),
        h(Text, { key: 'db' }, dbLine(snap.db, snap.dbError)),
        h(Text, { key: 'backup' }, backupLine(snap.backup, Date.parse(snap.at))),
        snap.alerts.length === 0
          ? h(Text, { key: 'alerts', color: 'green' }, 'alerts: none')
          : h(
              Box,
              { key: 'alerts', flexDirection: 'column' },
              h(Text, null, `alerts (${snap.alerts.length}):`),
              ...snap.alerts.map((a) => h(Text, { key: a.name + a.message, color: a.severity === 'critical' ? 'red' : 'yellow' }, `  ${a.severity === 'critical' ? '✖' : '▲'} ${a.name}: ${a.message}`)),
            ),
      );
    }
  }
  const footer = filtering
    ? h(Text, null, `filter: ${filter}█  (enter keep, esc clear)`)
    : h(Text, { dimColor: true }, `q quit  r refresh  l logs  ↑/↓ select  / filter${filter ? ` [${filter}]` : ''}  ? help`);
  return h(Box, { flexDirection: 'column' }, header, h(Box, { flexDirection: 'column', marginTop: 1, marginBottom: 1 }, ...body), footer);
}
