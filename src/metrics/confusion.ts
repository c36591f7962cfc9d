import { checkSameLength } from './accuracy.ts';

export interface ConfusionMatrix {
  /** Class labels in ascending order; row/column k is labels[k]. */
  labels: number[];
  /** counts[t][p] = rows whose true label is labels[t] and predicted label is labels[p]. */
  counts: number[][];
}

/**
 * Confusion matrix over `labels` (default: every label seen in either vector, ascending).
 * A label outside an explicit `labels` list is an error, not silently dropped.
 */
export function confusionMatrix(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, labels?: readonly number[]): ConfusionMatrix {
  checkSameLength(yTrue, yPred);
  let ls: number[];
  if (labels) ls = [...labels];
  else {
    const seen = new Set<number>();
    for (let i = 0; i < yTrue.length; i++) seen.add(yTrue[i]!).add(yPred[i]!);
    ls = [...seen].sort((a, b) => a - b);
  }
  const at = new Map(ls.map((l, k) => [l, k]));
  const counts = ls.map(() => new Array<number>(ls.length).fill(0));
  for (let i = 0; i < yTrue.length; i++) {
    const t = at.get(yTrue[i]!);
    const p = at.get(yPred[i]!);
    if (t === undefined || p === undefined) {
      throw new Error(`Label ${t === undefined ? yTrue[i] : yPred[i]} at row ${i} is not in the confusion matrix labels [${ls.join(', ')}]; include it in labels.`);
    }
    counts[t]![p]! += 1;
  }
  return { labels: ls, counts };
}

/** Sum of the diagonal / sum of all cells. */
export function confusionAccuracy(cm: ConfusionMatrix): number {
  let diag = 0;
  let all = 0;
  cm.counts.forEach((r, t) => r.forEach((c, p) => ((all += c), t === p && (diag += c))));
  return all === 0 ? NaN : diag / all;
}
