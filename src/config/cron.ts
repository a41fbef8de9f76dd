/**
 * A strict check of 5-field cron expressions (minute hour day-of-month month day-of-week), the
 * dialect node-cron and system cron share. Pure.
 */
const FIELDS: ReadonlyArray<{ name: string; min: number; max: number; names?: readonly string[] }> = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'] },
  { name: 'day of week', min: 0, max: 7, names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] },
];

/** Returns null when valid, else what is wrong. */
export function cronProblem(expr: string): string | null {
  const parts = expr.trim().split(/\s+/);
  if (parts.length !== 5) return `expected 5 fields, found ${parts.length}`;
  for (let i = 0; i < 5; i++) {
    const field = FIELDS[i]!;
    const problem = fieldProblem(parts[i]!, field);
    if (problem) return `${field.name} field "${parts[i]}": ${problem}`;
  }
  return null;
}

export function isValidCron(expr: string): boolean {
  return cronProblem(expr) === null;
}

function fieldProblem(text: string, f: (typeof FIELDS)[number]): string | null {
  for (const item of text.split(',')) {
    if (item === '') return 'empty list item';
    const [range, step, ...rest] = item.split('/');
    if (rest.length > 0) return 'more than one /';
    if (step !== undefined && !/^\d+$/.test(step)) return `step "${step}" is not a number`;
    if (step !== undefined && Number(step) === 0) return 'step 0';
    if (range === '*') continue;
    const bounds = range!.split('-');
    if (bounds.length > 2) return `"${range}" is not a value or a range`;
    const values: number[] = [];
    for (const b of bounds) {
      const v = value(b, f);
      if (v === null) return `"${b}" is not a value from ${f.min} to ${f.max}${f.names ? ` or a name (${f.names[0]}…)` : ''}`;
      values.push(v);
    }
    if (values.length === 2 && values[0]! > values[1]!) return `range ${range} runs backwards`;
  }
  return null;
}

function value(text: string, f: (typeof FIELDS)[number]): number | null {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    return n >= f.min && n <= f.max ? n : null;
  }
  const idx = f.names?.indexOf(text.toUpperCase()) ?? -1;
  if (idx < 0) return null;
  return f === FIELDS[3] ? idx + 1 : idx;
}
