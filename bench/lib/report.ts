// Plain-text and markdown renderings of the same tables.

export interface Table {
  headers: string[];
  rows: string[][];
  /** Columns aligned right (numbers); the rest align left. */
  right?: ReadonlySet<number>;
}

export function renderText(table: Table): string {
  const widths = table.headers.map((header, column) => Math.max(header.length, ...table.rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (table.right?.has(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return [line(table.headers), widths.map((width) => '-'.repeat(width)).join('  '), ...table.rows.map(line)].join('\n');
}

export function renderMarkdown(table: Table): string {
  const escape = (cell: string) => cell.replaceAll('|', '\\|');
  const line = (cells: string[]) => `| ${cells.map(escape).join(' | ')} |`;
  const rule = `|${table.headers.map((_, column) => (table.right?.has(column) ? '---:' : ':---')).join('|')}|`;
  return [line(table.headers), rule, ...table.rows.map(line)].join('\n');
}

/** A number with `digits` decimals, or a dash when there is none. */
export function fixed(value: number | null | undefined, digits: number): string {
  return value === null || value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(digits);
}
