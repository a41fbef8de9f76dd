/** Pure renderers for `modelship classify` output formats. */
import { csvCell, csvLine } from '../../util/csv.ts';
import type { JobResult, JobSummary } from '../../inference/job.ts';

export type OutputFormat = 'table' | 'json' | 'ndjson' | 'csv';

export const CSV_HEADER = ['input', 'task', 'model', 'version', 'backend', 'durationMs', 'rank', 'label', 'score', 'x', 'y', 'width', 'height', 'error'];


/** One CSV row per prediction or detection; a failed input is one row with `error`. */
export function csvRows(r: JobResult): string[] {
  if ('error' in r) return [[r.input, '', '', '', '', '', '', '', '', '', '', '', '', r.error].map(csvCell).join(',')];
  const base = [r.input, r.task, r.model, r.version, r.backend, r.durationMs];
  const rows: unknown[][] = [];
  if (r.detections) r.detections.forEach((d, i) => rows.push([...base, i + 1, d.label, d.score, d.box.x, d.box.y, d.box.width, d.box.height, '']));
  else (r.predictions ?? []).forEach((p, i) => rows.push([...base, i + 1, p.label, p.score, '', '', '', '', '']));
  if (rows.length === 0) rows.push([...base, '', '', '', '', '', '', '', '']);
  return rows.map((row) => csvLine(row, ''));
}

function short(n: number): string {
  return n.toFixed(3);
}

/** Human table: one line per input with its top results. */
export function tableLines(results: JobResult[], maxShown = 3): string[] {
  const width = Math.min(60, Math.max(5, ...results.map((r) => r.input.length)));
  const lines = [`${'INPUT'.padEnd(width)}  RESULT`];
  for (const r of results) {
    const name = r.input.length > width ? `…${r.input.slice(r.input.length - width + 1)}` : r.input.padEnd(width);
    let text: string;
    if ('error' in r) text = `error: ${r.error}`;
    else if (r.detections) {
      text = r.detections.length === 0
        ? '(nothing detected)'
        : r.detections.slice(0, maxShown).map((d) => `${d.label} ${short(d.score)} [${Math.round(d.box.x)},${Math.round(d.box.y)} ${Math.round(d.box.width)}×${Math.round(d.box.height)}]`).join(', ') +
          (r.detections.length > maxShown ? ` (+${r.detections.length - maxShown})` : '');
    } else {
      const preds = r.predictions ?? [];
      text = preds.length === 0 ? '(below threshold)' : preds.slice(0, maxShown).map((p) => `${p.label} ${short(p.score)}`).join(', ');
    }
    lines.push(`${name}  ${text}`);
  }
  return lines;
}

export function summaryLine(s: Pick<JobSummary, 'inputs' | 'failed' | 'seconds' | 'perSecond' | 'backend' | 'workers'>, unit: string): string {
  return `${s.inputs} ${s.inputs === 1 ? 'input' : 'inputs'}, ${s.failed} failed, ${s.seconds.toFixed(1)} s, ${s.perSecond.toFixed(1)} ${unit}/s, backend ${s.backend}, ${s.workers} ${s.workers === 1 ? 'worker' : 'workers'}`;
}

/** `[####......] 12/40  23.1 img/s  ETA 2s` for a TTY. */
export function progressBar(done: number, total: number, elapsedS: number, unit: string, barWidth = 24): string {
  const frac = total === 0 ? 1 : done / total;
  const filled = Math.round(frac * barWidth);
  const rate = elapsedS > 0 ? done / elapsedS : 0;
  const eta = rate > 0 ? Math.ceil((total - done) / rate) : undefined;
  return `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${done}/${total}  ${rate.toFixed(1)} ${unit}/s  ETA ${eta === undefined ? '?' : `${eta}s`}`;
}
