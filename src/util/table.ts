/**
 * Text columns for terminal tables: every column but the last padded to its widest cell, `gap`
 * spaces between, no trailing spaces. Cells are plain text (colour goes on the whole line). Pure.
 */
export function columns(rows: readonly (readonly string[])[], gap = 2): string[] {
  const n = Math.max(0, ...rows.map((r) => r.length));
  const widths = Array.from({ length: n }, (_, i) => Math.max(0, ...rows.map((r) => (r[i] ?? '').length)));
  const sep = ' '.repeat(gap);
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join(sep).trimEnd());
}
