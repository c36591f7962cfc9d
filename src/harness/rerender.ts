/**
 * `digitbench report <dir>`: re-renders a report from its rows and config, without running anything.
 * It writes the report only: an incomplete last line of results.jsonl, selection.jsonl or browser.jsonl
 * (an interrupted write) is skipped and told to `warn` (default: one line on stderr), never repaired here.
 */
import { join } from 'node:path';
import { loadDataset } from '../data/datasets.ts';
import { makeSplit } from '../data/split.ts';
import { writeReport } from '../report/write.ts';
import { reportImages } from './run.ts';
import { latestPerId, loadBaseline, reportRows } from './report-rows.ts';
import { readSelectionRows, type WarnFn } from '../results/row.ts';

export async function rerender(dir: string, opts: { warn?: WarnFn } = {}): Promise<{ report: string; rows: number }> {
  const { rows, config, browser } = await reportRows(dir, opts);
  let images = {};
  try {
    const dataset = await loadDataset(config.dataset ?? rows[0]?.dataset ?? 'mnist');
    // Each row's split, rebuilt from its sizes and seed (repetitions and learning-curve sizes each have their own).
    const specs = new Map(rows.map((r) => [r.split.fingerprint, { train: r.split.train, validation: r.split.validation, test: r.split.test, seed: r.split.seed }]));
    images = reportImages(dataset, [...specs.values()].map((spec) => makeSplit(dataset, spec)));
  } catch {
    // Without the dataset the report is still complete, only without the grids of misclassified digits.
  }
  const runIds = new Set(rows.map((r) => r.id));
  const selection = latestPerId(await readSelectionRows(join(dir, 'selection.jsonl'), opts)).filter((r) => runIds.has(r.runId));
  const written = await writeReport(dir, rows, { config, title: rows[0]?.experiment ?? config.name, ...images, selection, browser, ...(await loadBaseline(config)) } as Parameters<typeof writeReport>[2]);
  return { report: written.report, rows: rows.length };
}
