/**
 * How well a model's confidence matches its accuracy (issue 24; docs/trust-design.md): expected calibration
 * error (equal-width bins of the top label's confidence, as Guo et al. 2017 and Naeini et al. 2015), negative
 * log-likelihood and Brier score; the temperature that minimizes validation NLL; the accuracy–coverage
 * curve; and the confidence threshold that reaches a target accuracy on validation rows.
 *
 * `target[i]` is row i's true class as a column index into the model's classes, or −1 when the true label
 * is not one of them (the model cannot be right: probability 0 for it).
 */
import { logitsOf, softmaxWithTemperature, topLabel, type LogitKind } from '@digitbench/runtime/internal';

/** The probability floor of NLL (a sure wrong answer costs −log 1e-12 ≈ 27.6, not infinity). */
const NLL_FLOOR = 1e-12;

function rowsOf(probs: ArrayLike<number>, classes: number, target: ArrayLike<number>): number {
  const rows = probs.length / classes;
  if (!Number.isInteger(rows) || rows !== target.length) throw new Error(`calibration: ${probs.length} probabilities are not ${target.length} rows × ${classes} classes.`);
  return rows;
}

/** Expected calibration error over `bins` equal-width bins of the top confidence ((i/B, (i+1)/B], the first [0, 1/B]). */
export function expectedCalibrationError(probs: ArrayLike<number>, classes: number, target: ArrayLike<number>, bins = 15): number {
  const rows = rowsOf(probs, classes, target);
  if (rows === 0) return NaN;
  const { confidence, column } = topLabel(probs, classes);
  const count = new Float64Array(bins);
  const confSum = new Float64Array(bins);
  const right = new Float64Array(bins);
  for (let r = 0; r < rows; r++) {
    // Right-closed bins; the 1e-9 keeps an edge such as 0.2 × 15 = 3.0000000000000004 in its own bin.
    const b = Math.min(bins - 1, Math.max(0, Math.ceil(confidence[r]! * bins - 1e-9) - 1));
    count[b]!++;
    confSum[b]! += confidence[r]!;
    if (column[r] === target[r]) right[b]!++;
  }
  let ece = 0;
  for (let b = 0; b < bins; b++) if (count[b]! > 0) ece += Math.abs(right[b]! - confSum[b]!) / rows;
  return ece;
}

/** Mean negative log-likelihood of the true class (natural log; floored at 1e-12). */
export function negativeLogLikelihood(probs: ArrayLike<number>, classes: number, target: ArrayLike<number>): number {
  const rows = rowsOf(probs, classes, target);
  let sum = 0;
  for (let r = 0; r < rows; r++) sum -= Math.log(Math.max(target[r]! >= 0 ? probs[r * classes + target[r]!]! : 0, NLL_FLOOR));
  return rows ? sum / rows : NaN;
}

/** Mean over rows of Σ_c (p_c − [c is the true class])² (0 best, 2 worst). */
export function brierScore(probs: ArrayLike<number>, classes: number, target: ArrayLike<number>): number {
  const rows = rowsOf(probs, classes, target);
  let sum = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < classes; c++) {
      const d = probs[r * classes + c]! - (c === target[r] ? 1 : 0);
      sum += d * d;
    }
    if (target[r]! < 0) sum += 1; // the true class has probability 0
  }
  return rows ? sum / rows : NaN;
}

/**
 * The temperature that minimizes the NLL of softmax(logits / T) on these (validation) rows: a golden-section
 * search on log T in [1/50, 50] (the NLL is unimodal in log T for a fixed set of logits).
 */
export function fitTemperature(logits: ArrayLike<number>, classes: number, target: ArrayLike<number>): number {
  rowsOf(logits, classes, target);
  const nllAt = (logT: number) => negativeLogLikelihood(softmaxWithTemperature(logits, classes, Math.exp(logT)), classes, target);
  let lo = Math.log(1 / 50);
  let hi = Math.log(50);
  const g = (Math.sqrt(5) - 1) / 2;
  let a = hi - g * (hi - lo);
  let b = lo + g * (hi - lo);
  let fa = nllAt(a);
  let fb = nllAt(b);
  for (let i = 0; i < 60 && hi - lo > 1e-6; i++) {
    if (fa <= fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - g * (hi - lo);
      fa = nllAt(a);
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + g * (hi - lo);
      fb = nllAt(b);
    }
  }
  return Math.exp((lo + hi) / 2);
}

/** Fits a temperature on validation scores; the calibration a bundle stores. */
export function fitCalibration(scores: ArrayLike<number>, classes: number, target: ArrayLike<number>, logits: LogitKind, eps: number) {
  return { method: 'temperature' as const, temperature: fitTemperature(logitsOf(scores, logits, eps), classes, target), logits, eps };
}

/** The floors of probability-like scores `fitCalibrationAndFloor` tries (the runtime's default first). */
export const PROBABILITY_FLOORS = [1e-6, 1e-4, 1e-3, 1e-2, 3e-2, 0.1] as const;

/**
 * The calibration a bundle stores: for probability-like scores, the floor (from PROBABILITY_FLOORS) and
 * temperature with the lowest validation NLL together; for decision values, the temperature alone. The
 * floor matters for coarse scores: a k-NN with k = 3 gives most classes no vote, and at a floor of 1e-6 a
 * wrong answer costs 13.8 nats, so the NLL-optimal temperature flattens every answer to pay for those few.
 * A higher floor (add-ε smoothing of the votes) lets the temperature fit the answers instead.
 */
export function fitCalibrationAndFloor(scores: ArrayLike<number>, classes: number, target: ArrayLike<number>, logits: LogitKind) {
  const floors = logits === 'probability' ? PROBABILITY_FLOORS : [PROBABILITY_FLOORS[0]];
  let best: (ReturnType<typeof fitCalibration> & { nll: number }) | undefined;
  for (const eps of floors) {
    const c = fitCalibration(scores, classes, target, logits, eps);
    const nll = negativeLogLikelihood(softmaxWithTemperature(logitsOf(scores, logits, eps), classes, c.temperature), classes, target);
    if (!best || nll < best.nll - 1e-12) best = { ...c, nll };
  }
  const { nll: _nll, ...calibration } = best!;
  return calibration;
}

/**
 * The accuracy–coverage curve: rows sorted by confidence, highest first (ties: all rows of one confidence
 * enter together); point i keeps the rows of the i + 1 highest distinct confidences.
 */
export function coverageCurve(confidence: ArrayLike<number>, correct: ArrayLike<boolean>): { threshold: number; coverage: number; accuracy: number }[] {
  const n = confidence.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => confidence[y]! - confidence[x]!);
  const out: { threshold: number; coverage: number; accuracy: number }[] = [];
  let kept = 0;
  let right = 0;
  for (let i = 0; i < n; i++) {
    kept++;
    if (correct[order[i]!]) right++;
    const next = order[i + 1];
    if (next === undefined || confidence[next]! < confidence[order[i]!]!) out.push({ threshold: confidence[order[i]!]!, coverage: kept / n, accuracy: right / kept });
  }
  return out;
}

/**
 * The lowest confidence threshold at which the kept rows (confidence ≥ threshold) are at least `target`
 * accurate, keeping at least `minKept` rows; `undefined` when no threshold reaches it (answer "unsure" to
 * everything). Choose it on validation rows only.
 */
export function rejectThreshold(confidence: ArrayLike<number>, correct: ArrayLike<boolean>, target: number, minKept = 50): number | undefined {
  let best: number | undefined;
  for (const p of coverageCurve(confidence, correct)) {
    if (p.coverage * confidence.length >= minKept && p.accuracy >= target) best = p.threshold;
  }
  return best;
}
