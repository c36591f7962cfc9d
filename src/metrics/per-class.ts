import type { ConfusionMatrix } from './confusion.ts';

export interface ClassScores {
  label: number;
  precision: number;
  recall: number;
  f1: number;
  /** True rows of this class. */
  support: number;
  /** Rows predicted as this class. */
  predicted: number;
}

export interface PerClassReport {
  classes: ClassScores[];
  /** Unweighted mean of the per-class F1 over every class in the matrix. */
  macroF1: number;
  macroPrecision: number;
  macroRecall: number;
}

/**
 * Per-class precision, recall and F1 from a confusion matrix. A ratio with a zero denominator
 * (a class never predicted, or absent from the truth) counts as 0, as scikit-learn's default does.
 */
export function perClass(cm: ConfusionMatrix): PerClassReport {
  const k = cm.labels.length;
  const classes: ClassScores[] = cm.labels.map((label, c) => {
    const tp = cm.counts[c]![c]!;
    let support = 0;
    let predicted = 0;
    for (let j = 0; j < k; j++) {
      support += cm.counts[c]![j]!;
      predicted += cm.counts[j]![c]!;
    }
    const precision = predicted ? tp / predicted : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    return { label, precision, recall, f1, support, predicted };
  });
  const mean = (f: (c: ClassScores) => number) => (k ? classes.reduce((s, c) => s + f(c), 0) / k : NaN);
  return { classes, macroF1: mean((c) => c.f1), macroPrecision: mean((c) => c.precision), macroRecall: mean((c) => c.recall) };
}
