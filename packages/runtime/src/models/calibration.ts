/**
 * Calibrated probabilities from any model's scores (issue 24; docs/trust-design.md §2): the scores become
 * logits (the log of probability-like scores, floored at `eps`; one-vs-rest decision values as they are),
 * divided by a temperature T fitted on validation rows, and passed through a softmax. T > 0 keeps every
 * row's argmax, so labels and accuracy do not change; only the confidence does.
 */

/**
 * How a model's scores become logits: 'probability' (log, floored), 'decision' (as they are), or
 * 'ovr-votes': scikit-learn's one-vs-rest decision function built from one-vs-one classifiers (an SVM's
 * scores), votes[c] + m/(3(|m| + 1)) with m the sum of class c's pairwise decision values; the logit is m
 * itself, recovered exactly (the vote count is the integer part, the bounded fraction inverts). The votes
 * alone would give a confidence with about one level per vote margin: on the quick SVM the test rows
 * answered at 99.5% accuracy were 7.5% by the vote scores and 87.5% by the margins.
 */
export type LogitKind = 'probability' | 'decision' | 'ovr-votes';

/** What a bundle stores of its calibration. */
export interface Calibration {
  method: 'temperature';
  /** The temperature: > 1 softens overconfident scores, < 1 sharpens underconfident ones. */
  temperature: number;
  logits: LogitKind;
  /** The floor of probability-like scores before the log (a class with no vote keeps a finite logit). */
  eps: number;
}

/**
 * A bundle's trust fields (header `trust`, format 3), both fitted on the run's validation rows only:
 * the calibration that turns its scores into probabilities, and the confidence below which an answer is
 * "unsure". `threshold: null`: no confidence reached the target accuracy on validation, so every answer
 * is unsure.
 */
export interface Trust {
  calibration: Calibration & { validationRows: number };
  reject: { targetAccuracy: number; threshold: number | null; validation: { coverage: number; accuracy: number } };
}

/** The default floor of probability-like scores before the log. */
export const PROBABILITY_FLOOR = 1e-6;

/**
 * How a model's scores become logits when the bundle does not say (format 1–2 bundles, or none fitted):
 * rows of non-negative scores summing to 1 are probabilities (posteriors, vote and leaf fractions,
 * softmax); anything else (decision values) is used as logits.
 */
export function logitKindOf(scores: ArrayLike<number>, classes: number): LogitKind {
  if (isKind(scores, classes, (v) => v >= 0, 1, 1e-3)) return 'probability';
  // One-vs-one votes with a bounded fraction: each row's vote counts (integer parts) sum to k(k − 1)/2.
  const votes = (v: number) => Math.abs(v - Math.round(v)) < 1 / 3 + 1e-6 && Math.round(v) >= 0 && Math.round(v) <= classes - 1;
  if (classes > 2 && isKind(scores, classes, votes, (classes * (classes - 1)) / 2, 0.5, Math.round)) return 'ovr-votes';
  return 'decision';
}

/** Every value passes `ok` and every row's `part`s sum to `sum` (± tol). */
function isKind(scores: ArrayLike<number>, classes: number, ok: (v: number) => boolean, sum: number, tol: number, part: (v: number) => number = (v) => v): boolean {
  for (let r = 0; r < scores.length; r += classes) {
    let s = 0;
    for (let c = 0; c < classes; c++) {
      const v = scores[r + c]!;
      if (!ok(v)) return false;
      s += part(v);
    }
    if (Math.abs(s - sum) > tol) return false;
  }
  return true;
}

/**
 * Each row's confidence in a given label: its calibrated probability (softmax of the logits at T = 1 when
 * there is no calibration, i.e. the raw probabilities for probability-like scores). `columns[i]` is the
 * label's column among the model's classes.
 */
export function labelConfidence(scores: ArrayLike<number>, classes: number, columns: ArrayLike<number>, calibration: Omit<Calibration, 'method'> | undefined): Float64Array {
  const kind = calibration?.logits ?? logitKindOf(scores, classes);
  const probs = softmaxWithTemperature(logitsOf(scores, kind, calibration?.eps ?? PROBABILITY_FLOOR), classes, calibration?.temperature ?? 1);
  return Float64Array.from(columns, (c, r) => probs[r * classes + c]!);
}

/** Scores (rows × classes) → logits. */
export function logitsOf(scores: ArrayLike<number>, kind: LogitKind, eps: number): Float64Array {
  const out = new Float64Array(scores.length);
  for (let i = 0; i < scores.length; i++) {
    const v = scores[i]!;
    if (kind === 'decision') out[i] = v;
    else if (kind === 'probability') out[i] = Math.log(Math.max(v, eps));
    else {
      // v = votes + m / (3(|m| + 1)), |fraction| < 1/3: m = 3f / (1 − 3|f|) (the denominator kept off 0 for float32 edges).
      const f = v - Math.round(v);
      out[i] = (3 * f) / Math.max(1e-6, 1 - 3 * Math.abs(f));
    }
  }
  return out;
}

/** Row-wise softmax of logits / temperature (rows × classes), in float64. */
export function softmaxWithTemperature(logits: ArrayLike<number>, classes: number, temperature: number): Float64Array {
  if (!(temperature > 0) || !Number.isFinite(temperature)) throw new Error(`calibration: the temperature must be a positive number (got ${temperature}).`);
  const rows = logits.length / classes;
  const out = new Float64Array(logits.length);
  for (let r = 0; r < rows; r++) {
    const o = r * classes;
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[o + c]! / temperature);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += out[o + c] = Math.exp(logits[o + c]! / temperature - max);
    for (let c = 0; c < classes; c++) out[o + c]! /= sum;
  }
  return out;
}

/** Calibrated probabilities (rows × classes) of a model's scores. */
export function calibrate(scores: ArrayLike<number>, classes: number, calibration: Calibration): Float64Array {
  return softmaxWithTemperature(logitsOf(scores, calibration.logits, calibration.eps), classes, calibration.temperature);
}

/** Each row's top probability (the confidence) and its column. */
export function topLabel(probs: ArrayLike<number>, classes: number): { confidence: Float64Array; column: Int32Array } {
  const rows = probs.length / classes;
  const confidence = new Float64Array(rows);
  const column = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probs[r * classes + c]! > probs[r * classes + best]!) best = c;
    column[r] = best;
    confidence[r] = probs[r * classes + best]!;
  }
  return { confidence, column };
}
