/**
 * What a run's selection does next, given the selection rows it has: score some candidates (tasks), or
 * the choice, or why there is none. The local runner (execute.ts) and a queue run's parent job
 * (queue/flow.ts) both loop on nextStep, so both choose with one function over the same rows.
 *
 * A grid or a random search (its candidates were sampled when the experiment was parsed): one rung (0),
 * every candidate on all the folds' rows; the winner is the best by rank.ts. Successive halving
 * (halving.ts's schedule): rung 0 scores every candidate with the first rung's resource (a stratified,
 * nested cut of each fold's rows, or fewer epochs); each later rung scores the ⌈n/η⌉ best of the one
 * before (rank.ts: accuracy, then file order; failed ones last) with η times the resource; the winner is
 * the best of the last rung.
 */
import { makeSplit, selectionFolds, type SelectionSpec } from '../../data/split.ts';
import type { Dataset } from '../../data/datasets.ts';
import type { SelectionRow } from '../../results/row.ts';
import type { RunSpec } from '../experiment.ts';
import { halvingSchedule, keptCount, type Rung } from './halving.ts';
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

/** What a run's search needs to plan (from its RunSpec, and for halving the facts of its folds). */
export type SearchPlan =
  | {
      strategy: 'grid';
      /** How many candidates the run has (indexes 0 … n−1). */
      candidates: number;
    }
  | { strategy: 'halving'; candidates: number; factor: number; resource: 'rows' | 'epochs'; rungs: Rung[] };

/** What successive halving's schedule needs from the data: the rows the selection folds divide, the folds, the classes. */
export interface SearchFacts {
  samples: number;
  splits: number;
  classes: number;
}

/** The facts of a run's selection folds (as the select child makes them). */
export function searchFacts(dataset: Dataset, run: Pick<RunSpec, 'split'>, selection: SelectionSpec): SearchFacts {
  const folds = selectionFolds(dataset, makeSplit(dataset, run.split), selection);
  return { samples: folds[0]!.train.length + folds[0]!.validation.length, splits: folds.length, classes: dataset.classes.length };
}

/**
 * A run's plan. Halving needs the facts of the run's selection folds: give `facts`, or `context` (the
 * dataset and the selection spec) to compute them. Throws a one-line error naming the search key when the
 * schedule is impossible (e.g. minResources above the rows there are).
 */
export function searchPlan(run: Pick<RunSpec, 'candidates'> & Partial<Pick<RunSpec, 'search' | 'split'>>, context?: { dataset: Dataset; selection: SelectionSpec } | { facts: SearchFacts }): SearchPlan {
  const search = run.search;
  if (search?.strategy !== 'halving') return { strategy: 'grid', candidates: run.candidates.length };
  if (!context) throw new Error('searchPlan: successive halving needs the dataset and selection spec (or their searchFacts)');
  const facts = 'facts' in context ? context.facts : searchFacts(context.dataset, { split: run.split ?? {} }, context.selection);
  const epochs = run.candidates[0]?.params.epochs;
  const schedule = halvingSchedule(
    run.candidates.length,
    { factor: search.factor, minResources: search.minResources, maxResources: search.maxResources, aggressiveElimination: search.aggressiveElimination },
    { resource: search.resource, samples: facts.samples, splits: facts.splits, classes: facts.classes, ...(typeof epochs === 'number' ? { epochs } : {}) },
  );
  return { strategy: 'halving', candidates: run.candidates.length, factor: search.factor, resource: search.resource, rungs: schedule.rungs };
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

function choose(rung: SelectionRow[], number: number): SearchStep {
  const best = rankRows(rung)[0];
  const accuracy = best && meanAccuracy(best);
  if (!best || accuracy === undefined) {
    const what = number ? `every candidate setting of halving's rung ${number}` : 'every candidate setting';
    return { kind: 'none', reason: `${what} failed in selection (first: ${rung.find((r) => r.reason)?.reason ?? 'no folds'})` };
  }
  return { kind: 'chosen', candidate: best.candidate, rung: best.rung ?? 0, accuracy, folds: best.folds!.length };
}

/**
 * The next step: the tasks of the current rung that have no row yet (a failed row counts as done: a
 * candidate that failed is not tried again in the same pass), else the next rung's, else the choice.
 * Rows of candidates or rungs outside the plan are ignored.
 */
export function nextStep(plan: SearchPlan, rows: readonly SelectionRow[]): SearchStep {
  const by = rowsByTask(rows);
  const rungs = plan.strategy === 'halving' ? plan.rungs : [undefined];
  let candidates = [...Array(plan.candidates).keys()];
  for (let i = 0; i < rungs.length; i++) {
    const r = rungs[i];
    const resource = r && plan.strategy === 'halving' ? { kind: plan.resource, value: r.resources } : undefined;
    const tasks: SearchTask[] = candidates
      .filter((c) => !by.has(taskKey({ candidate: c, rung: i })))
      .map((c) => ({ candidate: c, rung: i, ...(resource ? { resource } : {}) }));
    if (tasks.length) return { kind: 'score', tasks };
    const scored = candidates.map((c) => by.get(taskKey({ candidate: c, rung: i }))!);
    if (i === rungs.length - 1) return choose(scored, i);
    if (scored.every((row) => meanAccuracy(row) === undefined)) return choose(scored, i);
    const kept = keptCount(candidates.length, plan.strategy === 'halving' ? plan.factor : 1);
    candidates = rankRows(scored).slice(0, kept).map((row) => row.candidate).sort((a, b) => a - b);
  }
  throw new Error('nextStep: a plan without rungs');
}
