/**
 * Tables fit 120 columns, as kubectl's default output is meant to; `-o wide` shows
 * every cell whole. A fixed width, not the terminal's, so output piped to a file or a test is the
 * same everywhere.
 */
export const TABLE_WIDTH = 120;
const SEPARATOR = 3; // renderTable puts three spaces between columns
const MIN_COLUMN = 8;

function truncate(cell: string, width: number): string {
  return cell.length <= width ? cell : `${cell.slice(0, Math.max(0, width - 1))}…`;
}

/**
 * Narrows the widest column, then the next, until a row fits `maxWidth`; a cut cell ends with
 * `…`. Headers are never cut, and no column goes below 8 characters, so a table with too many
 * columns stays wider rather than unreadable.
 */
export function fitRows(headers: readonly string[], rows: readonly (readonly string[])[], maxWidth = TABLE_WIDTH): string[][] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const floor = headers.map((h) => Math.max(h.length, MIN_COLUMN));
  const total = (): number => widths.reduce((a, b) => a + b, 0) + SEPARATOR * (widths.length - 1);
  while (total() > maxWidth) {
    const widest = widths.reduce((best, w, i) => (w - (floor[i] ?? 0) > (widths[best] ?? 0) - (floor[best] ?? 0) ? i : best), 0);
    const room = (widths[widest] ?? 0) - (floor[widest] ?? 0);
    if (room <= 0) break;
    widths[widest] = (widths[widest] ?? 0) - Math.min(room, total() - maxWidth);
  }
  return rows.map((r) => r.map((cell, i) => truncate(cell, widths[i] ?? cell.length)));
}
