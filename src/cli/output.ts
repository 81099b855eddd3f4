/** One column of a table: its heading and how to show a row's value. */
export interface Column<Row> {
  heading: string;
  value(row: Row): string | number | boolean | null | undefined;
}

// Column alignment for people reading a terminal needs only padding, so no table library is pulled in.
/** Formats rows as a plain-text table with a heading line, columns padded to their widest cell. */
export function formatTable<Row>(rows: Row[], columns: Array<Column<Row>>): string {
  const cells = rows.map((row) => columns.map((column) => show(column.value(row))));
  const widths = columns.map((column, index) => Math.max(column.heading.length, ...cells.map((line) => line[index]?.length ?? 0)));

  const format = (line: string[]) =>
    line
      .map((cell, index) => cell.padEnd(widths[index] ?? 0))
      .join('  ')
      .trimEnd();
  const lines = [format(columns.map((column) => column.heading)), ...cells.map(format)];
  return rows.length === 0 ? `${lines[0]}\n(none)` : lines.join('\n');
}

/** Formats `key: value` lines for one record. */
export function formatRecord(record: Record<string, unknown>): string {
  const width = Math.max(...Object.keys(record).map((key) => key.length));
  return Object.entries(record)
    .map(([key, value]) => `${`${key}:`.padEnd(width + 2)}${show(value as string | number | boolean | null | undefined)}`)
    .join('\n');
}

/** Formats a millisecond time as ISO 8601, or "-" for none. */
export function time(milliseconds: number | null | undefined): string {
  return milliseconds === null || milliseconds === undefined ? '-' : new Date(milliseconds).toISOString();
}

function show(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined || value === '') return '-';
  return String(value);
}
