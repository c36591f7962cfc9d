/**
 * What a run's selection does next, given the selection rows it has: score some candidates (tasks), or
 * the choice, or why there is none. The local runner (execute.ts) and a queue run's parent job
 * (queue/flow.ts) both loop on nextStep, so both choose with one function over the same rows.
 *
 * Today only the full grid: one rung (0), every candidate on all the training rows; the winner is the
 * best by rank.ts. (Random search and successive halving add strategies here with the same interface.)
 */
import type { SelectionRow } from '../../results/row.ts';
import type { RunSpec } from '../experiment.ts';
import { meanAccuracy, rankRows } from './rank.ts';

export interface SearchTask {
  candidate: number;
  rung: number;
  resource?: { kind: 'rows' | 'epochs'; value: number };
}

export type SearchStep =
  | { kind: 'score'; tasks: SearchTask[] }
  | { kind: 'chosen'; candidate: number; rung: number; accuracy: number; folds: number }
  | { kind: 'none'; reason: string };

/** What a run's search needs to plan (from its RunSpec). */
export interface SearchPlan {
  strategy: 'grid';
  /** How many candidates the run has (indexes 0 … n−1). */
  candidates: number;
}

export function searchPlan(run: Pick<RunSpec, 'candidates'>): SearchPlan {
  return { strategy: 'grid', candidates: run.candidates.length };
}

/**
 * One row per (rung, candidate) of the rows given (which must be this run's): an ok row wins over a
 * failed one, else the last one given.
 */
export function rowsByTask(rows: readonly SelectionRow[]): Map<string, SelectionRow> {
  const by = new Map<string, SelectionRow>();
  for (const r of rows) {
    const k = taskKey({ candidate: r.candidate, rung: r.rung ?? 0 });
    const had = by.get(k);
    if (!had || had.status !== 'ok' || r.status === 'ok') by.set(k, r);
  }
  return by;
}

export function taskKey(t: { candidate: number; rung: number }): string {
  return `${t.rung}:${t.candidate}`;
}

/**
 * The next step: the tasks of the current rung that have no row yet (a failed row counts as done: a
 * candidate that failed is not tried again in the same pass), else the choice. Rows of candidates
 * outside the plan are ignored.
 */
export function nextStep(plan: SearchPlan, rows: readonly SelectionRow[]): SearchStep {
  const by = rowsByTask(rows);
  const tasks: SearchTask[] = [];
  for (let c = 0; c < plan.candidates; c++) if (!by.has(taskKey({ candidate: c, rung: 0 }))) tasks.push({ candidate: c, rung: 0 });
  if (tasks.length) return { kind: 'score', tasks };
  const rung = [...Array(plan.candidates).keys()].map((c) => by.get(taskKey({ candidate: c, rung: 0 }))!);
  const best = rankRows(rung)[0];
  const accuracy = best && meanAccuracy(best);
  if (!best || accuracy === undefined) {
    return { kind: 'none', reason: `every candidate setting failed in selection (first: ${rung.find((r) => r.reason)?.reason ?? 'no folds'})` };
  }
  return { kind: 'chosen', candidate: best.candidate, rung: best.rung ?? 0, accuracy, folds: best.folds!.length };
}
