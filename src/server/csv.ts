/** CSV output of job results. RFC 4180 quoting; cells that a spreadsheet would run as a formula are prefixed with '. Pure. */
import type { JobResultRow } from '../services/job-store.ts';
import { csvLine } from '../util/csv.ts';

interface Pred {
  label: string;
  score: number;
}
interface Det extends Pred {
  box: { x: number; y: number; width: number; height: number };
}

/** One row per prediction (classification) or detection; inputs with an error or nothing found get one row. */
export function resultsCsv(task: 'image' | 'text' | 'detect', rows: JobResultRow[]): string {
  const detect = task === 'detect';
  let out = csvLine(detect ? ['index', 'name', 'rank', 'label', 'score', 'x', 'y', 'width', 'height', 'error'] : ['index', 'name', 'rank', 'label', 'score', 'error']);
  for (const r of rows) {
    if (r.error !== null || !r.result) {
      out += csvLine(detect ? [r.index, r.name, '', '', '', '', '', '', '', r.error ?? 'no result'] : [r.index, r.name, '', '', '', r.error ?? 'no result']);
      continue;
    }
    const items = (detect ? (r.result.detections as Det[] | undefined) : (r.result.predictions as Pred[] | undefined)) ?? [];
    if (items.length === 0) out += csvLine(detect ? [r.index, r.name, '', '', '', '', '', '', '', ''] : [r.index, r.name, '', '', '', '']);
    items.forEach((p, i) => {
      out += detect
        ? csvLine([r.index, r.name, i + 1, p.label, p.score, (p as Det).box.x, (p as Det).box.y, (p as Det).box.width, (p as Det).box.height, ''])
        : csvLine([r.index, r.name, i + 1, p.label, p.score, '']);
    });
  }
  return out;
}
