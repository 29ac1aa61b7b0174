/** Small formatting helpers for the bench's readable output (sizes: `formatBytes` of `bin/units.ts`). */

/** A number with fixed decimals. */
export function num(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}

/** A signed percentage, e.g. `+4.2%`. */
export function pct(fraction: number, digits = 1): string {
  const value = fraction * 100;
  return `${value >= 0 ? '+' : ''}${value.toFixed(digits)}%`;
}

/** US dollars with enough decimals for fractions of a cent. */
export function usd(value: number): string {
  if (value === 0) return '$0';
  if (value >= 0.01) return `$${value.toFixed(4)}`;
  return `$${value.toFixed(7)}`;
}

/** PASS or FAIL. */
export function verdict(pass: boolean): string {
  return pass ? 'PASS' : 'FAIL';
}

/**
 * Renders rows as an aligned text table. The first row is the header; columns whose cells (after the header) all
 * look numeric are right-aligned.
 */
export function table(rows: readonly (readonly string[])[], indent = '  '): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  const numeric = widths.map((_, i) =>
    rows.slice(1).every((row) => /^[-+$]?[\d.,]+(\s?[%A-Za-z/]+)?$|^-$|^$/.test(row[i] ?? '')),
  );
  const line = (row: readonly string[]) =>
    indent +
    row
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const [header, ...body] = rows;
  if (!header) return '';
  const rule = indent + widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...body.map(line)].join('\n');
}
