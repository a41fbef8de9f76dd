/**
 * CSV cells and lines: RFC 4180 quoting, and a text cell that a spreadsheet would run as a formula
 * (`=`, `+`, `-`, `@`, tab, CR first) is prefixed with `'` (OWASP's CSV-injection advice). Numbers
 * are written as they are. Pure.
 */

export function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  let s = String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One line of cells, ended by `eol` (RFC 4180 says CRLF; a terminal stream may prefer `\n` or none). */
export function csvLine(cells: readonly unknown[], eol = '\r\n'): string {
  return `${cells.map(csvCell).join(',')}${eol}`;
}
