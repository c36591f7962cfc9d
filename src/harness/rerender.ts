/** `digitbench report <dir>`: re-renders a report from its rows and config, without running anything. */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadDataset } from '../data/datasets.ts';
import { makeSplit } from '../data/split.ts';
import { writeReport } from '../report/write.ts';
import { latestPerId, reportImages } from './run.ts';
import { readRows, readSelectionRows, type ResultRow } from '../results/row.ts';

/** The rows a report folder reports (its experiment's current runs) and the config saved beside them. */
export async function reportRows(dir: string): Promise<{ rows: ResultRow[]; config: { dataset?: string; split?: unknown; name?: string } }> {
  const resultsFile = join(dir, 'results.jsonl');
  let rows = latestPerId(await readRows(resultsFile));
  const runsFile = join(dir, 'runs.json');
  if (existsSync(runsFile)) {
    // The experiment's current runs (older rows stay in the file but are not reported, as in the run).
    const ids = new Set(JSON.parse(await readFile(runsFile, 'utf8')) as string[]);
    rows = rows.filter((r) => ids.has(r.id));
  }
  const configFile = join(dir, 'experiment.json');
  const config = existsSync(configFile) ? JSON.parse(await readFile(configFile, 'utf8')) : {};
  return { rows, config };
}

export async function rerender(dir: string): Promise<{ report: string; rows: number }> {
  const { rows, config } = await reportRows(dir);
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
  const selection = latestPerId(await readSelectionRows(join(dir, 'selection.jsonl'))).filter((r) => runIds.has(r.runId));
  const written = await writeReport(dir, rows, { config, title: rows[0]?.experiment ?? config.name, ...images, selection } as Parameters<typeof writeReport>[2]);
  return { report: written.report, rows: rows.length };
}
