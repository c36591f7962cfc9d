/** The only I/O of the report: renders rows and writes report.md plus its charts and images into a folder. */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResultRow } from '../results/row.ts';
import { renderReport, type ReportOptions } from './markdown.ts';

/**
 * The list of files the last render wrote beside report.md (a dot-file, so the page server never serves
 * it). A render removes the charts of the previous one that it no longer writes (a classifier dropped from
 * a resumed experiment), and a fresh start moves exactly these files aside (harness/folder.ts).
 */
export const REPORT_MANIFEST = '.report-files.json';

/** The files the folder's manifest lists; undefined when it has none (a folder written before manifests). */
export async function reportManifest(dir: string): Promise<string[] | undefined> {
  const file = join(dir, REPORT_MANIFEST);
  if (!existsSync(file)) return undefined;
  try {
    const names = JSON.parse(await readFile(file, 'utf8')) as unknown;
    // Only plain chart names in this folder: the manifest is a file on disk, not an instruction to touch anything else.
    return Array.isArray(names) ? names.filter((n): n is string => typeof n === 'string' && /^[^./\\][^/\\]*\.(svg|png)$/i.test(n)) : [];
  } catch {
    return undefined;
  }
}

export interface WrittenReport {
  /** Path of report.md. */
  report: string;
  /** Paths of the other files written (SVG, PNG). */
  files: string[];
}

/** Writes `dir`/report.md and the files it links to (e.g. runs/<experiment>/), creating `dir` if needed. */
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
  const names = new Set(files.map((f) => f.name));
  for (const old of (await reportManifest(dir)) ?? []) if (!names.has(old)) await rm(join(dir, old), { force: true });
  await writeFile(join(dir, REPORT_MANIFEST), `${JSON.stringify([...names])}\n`);
  return { report, files: written };
}
