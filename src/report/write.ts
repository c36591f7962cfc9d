/** The only I/O of the report: renders rows and writes report.md plus its charts and images into a folder. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResultRow } from '../results/row.ts';
import { renderReport, type ReportOptions } from './markdown.ts';

export interface WrittenReport {
  /** Path of report.md. */
  report: string;
  /** Paths of the other files written (SVG, PNG). */
  files: string[];
}

/** Writes `dir`/report.md and the files it links to (e.g. reports/<experiment>/), creating `dir` if needed. */
export async function writeReport(dir: string, rows: readonly ResultRow[], opts: ReportOptions = {}): Promise<WrittenReport> {
  const { markdown, files } = await renderReport(rows, opts);
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const f of files) {
    const path = join(dir, f.name);
    await writeFile(path, f.bytes);
    written.push(path);
  }
  const report = join(dir, 'report.md');
  await writeFile(report, markdown, 'utf8');
  return { report, files: written };
}
