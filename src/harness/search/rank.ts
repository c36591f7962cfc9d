/**
 * The one ranking of scored candidates, wherever anything is chosen (a local run, a queue run's parent
 * job, a halving rung's survivors): the higher mean validation accuracy over the row's folds, then the
 * lower candidate index (the experiment file's order; scikit-learn's GridSearchCV picks the first of
 * tied candidates the same way). Failed candidates (no folds) come last, in index order. Fit times are
 * never used: they differ between runs and machines, and a winner must not.
 */
import type { SelectionRow } from '../../results/row.ts';

/** A row's mean validation accuracy over its folds, in fold order; undefined when it has none (failed). */
export function meanAccuracy(row: SelectionRow): number | undefined {
  if (row.status !== 'ok' || !row.folds?.length) return undefined;
  return row.folds.reduce((a, f) => a + f.accuracy, 0) / row.folds.length;
}

/** The rows best first (see the module comment); a new array. */
export function rankRows<R extends SelectionRow>(rows: readonly R[]): R[] {
  const keyed = rows.map((row) => ({ row, acc: meanAccuracy(row) }));
  keyed.sort((a, b) => {
    if (a.acc === undefined || b.acc === undefined) {
      if (a.acc !== b.acc) return a.acc === undefined ? 1 : -1;
    } else if (a.acc !== b.acc) return b.acc - a.acc;
    return a.row.candidate - b.row.candidate;
  });
  return keyed.map((k) => k.row);
}
