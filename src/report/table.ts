/**
 * The one table helper of the project: Markdown tables for the report and bench, aligned plain-text
 * tables for the terminal (cli). Both take a header, rows of cells and a per-column alignment.
 */
export type Align = 'l' | 'r' | 'c';

/** A GitHub-flavoured Markdown table; cells must already be escaped (format.ts `cell`). */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[], align?: readonly Align[]): string {
  const sep = header.map((_, i) => ({ l: ':---', r: '---:', c: ':---:' })[align?.[i] ?? 'l']);
  return [header, sep, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

/** Columns padded to their widest cell, two spaces apart, a dashed rule under the header. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[], align?: readonly Align[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const pad = (c: string, i: number) => {
    const w = widths[i]!;
    const a = align?.[i] ?? 'l';
    if (a === 'r') return c.padStart(w);
    if (a === 'c') return c.padStart(Math.floor((w + c.length) / 2)).padEnd(w);
    return c.padEnd(w);
  };
  const line = (cells: readonly string[]) => cells.map(pad).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
