/**
 * The one table helper of the project: Markdown tables for the report and bench, aligned plain-text
 * tables for the terminal (cli). Both take a header, rows of cells and a per-column alignment.
 */
export type Align = 'l' | 'r' | 'c';

/** The alignment of column `i` (left unless given). */
const alignOf = (align: readonly Align[] | undefined, i: number): Align => align?.[i] ?? 'l';

const RULE: Record<Align, string> = { l: ':---', r: '---:', c: ':---:' };

export interface MarkdownStyle {
  /** The rule under the header as `|---|---:|`: no spaces, left columns unmarked (what `digitbench bench` prints). Default: `| :--- | ---: |`. */
  compactRule?: boolean;
}

/** A GitHub-flavoured Markdown table; cells must already be escaped (format.ts `cell`). */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[], align?: readonly Align[], style: MarkdownStyle = {}): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  const marks = header.map((_, i) => alignOf(align, i)).map((a) => (style.compactRule && a === 'l' ? '---' : RULE[a]));
  const rule = style.compactRule ? `|${marks.join('|')}|` : line(marks);
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** Columns padded to their widest cell, two spaces apart, a dashed rule under the header. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[], align?: readonly Align[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const pad = (c: string, i: number) => {
    const w = widths[i]!;
    const a = alignOf(align, i);
    if (a === 'r') return c.padStart(w);
    if (a === 'c') return c.padStart(Math.floor((w + c.length) / 2)).padEnd(w);
    return c.padEnd(w);
  };
  const line = (cells: readonly string[]) => cells.map(pad).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
