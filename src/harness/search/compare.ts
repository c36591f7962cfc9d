/**
 * Two report folders' searches side by side (bench/search-compare.ts): per classifier, the chosen setting,
 * its validation and test accuracy, how many (rung, candidate) tasks were scored, their candidate-seconds and
 * the selection's wall time. Only the folders' current runs (runs.json) count.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { latestPerId } from '../report-rows.ts';
import { readRows, readSelectionRows, type ResultRow, type SelectionRow } from '../../results/row.ts';

export interface SearchFigures {
  classifier: string;
  /** The tested setting: its feature set and params. */
  featureSet?: string;
  params: Record<string, unknown>;
  /** The params the candidates differ in (what the search chose among). */
  varying: string[];
  validationAccuracy?: number;
  testAccuracy?: number;
  /** Selection rows (one per rung × candidate). */
  scored: number;
  /** The search strategy the rows name ("grid" when none). */
  search: string;
  /** Σ of the rows' elapsedSeconds; rows without one (made before it existed) count their folds' fit, predict and feature seconds, and `timed` says "folds". */
  candidateSeconds: number;
  timed: 'elapsed' | 'folds';
  /** From the first row's start to the last row's end (its start when it has no elapsedSeconds: then a lower bound). */
  wallSeconds: number;
}

/** The figures of one folder's runs with a selection (the first repetition of each classifier). */
export function searchFigures(rows: readonly ResultRow[], selection: readonly SelectionRow[], current?: ReadonlySet<string>): SearchFigures[] {
  const runs = latestPerId(rows).filter((r) => !current || current.has(r.id));
  const sel = latestPerId(selection);
  const out: SearchFigures[] = [];
  for (const run of runs) {
    const mine = sel.filter((s) => s.runId === run.id);
    if (!mine.length || out.some((o) => o.classifier === run.classifier)) continue;
    const timed = mine.every((s) => s.elapsedSeconds !== undefined) ? 'elapsed' : 'folds';
    const seconds = (s: SelectionRow) => s.elapsedSeconds ?? (s.folds ?? []).reduce((a, f) => a + f.fitSeconds + f.predictSeconds + f.featureSeconds, 0);
    const start = Math.min(...mine.map((s) => Date.parse(s.startedAt)));
    const end = Math.max(...mine.map((s) => Date.parse(s.startedAt) + (s.elapsedSeconds ?? 0) * 1000));
    const ok = run.status === 'ok' ? run : undefined;
    const varying = Object.keys(run.params).filter((k) => new Set(mine.map((s) => JSON.stringify(s.params[k]))).size > 1);
    out.push({
      classifier: run.classifier,
      ...(run.featureSet !== undefined ? { featureSet: run.featureSet } : {}),
      params: run.params,
      varying,
      ...(ok?.selection ? { validationAccuracy: ok.selection.validationAccuracy } : {}),
      ...(ok ? { testAccuracy: ok.metrics.accuracy } : {}),
      scored: mine.length,
      search: mine.find((s) => s.search)?.search ?? 'grid',
      candidateSeconds: mine.reduce((a, s) => a + seconds(s), 0),
      timed,
      wallSeconds: (end - start) / 1000,
    });
  }
  return out;
}

/** A report folder's figures (results.jsonl, selection.jsonl, runs.json when present). */
export async function folderSearchFigures(dir: string): Promise<SearchFigures[]> {
  const runsFile = join(dir, 'runs.json');
  const current = existsSync(runsFile) ? new Set(JSON.parse(readFileSync(runsFile, 'utf8')) as string[]) : undefined;
  const selectionFile = join(dir, 'selection.jsonl');
  return searchFigures(await readRows(join(dir, 'results.jsonl')), existsSync(selectionFile) ? await readSelectionRows(selectionFile) : [], current);
}
