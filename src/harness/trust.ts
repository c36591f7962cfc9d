/**
 * Calibrated confidence and the "unsure" threshold of a fitted model (issue 24; docs/trust-design.md), in
 * the run's process: both fitted on the validation rows only (the temperature by validation NLL, the
 * threshold as the lowest confidence whose kept validation rows reach the target accuracy), then measured
 * on the test rows. The test rows are read only after both are fixed.
 */
import { labelConfidence, logitKindOf, PROBABILITY_FLOOR, calibrate, topLabel, type LogitKind, type Matrix, type Model, type Trust } from '@digitbench/runtime/internal';
import { brierScore, coverageCurve, expectedCalibrationError, fitCalibrationAndFloor, negativeLogLikelihood, rejectThreshold } from '../metrics/calibration.ts';
import type { TrustFigures } from '../results/row.ts';

/** Validation rows the threshold must keep at least. */
export const MIN_KEPT = 50;
const BINS = 15;
const CURVE_POINTS = 101;

export type TrustOutcome = { trust: Trust; figures: TrustFigures } | { noTrust: string };

type Part = { x: Matrix; y: Int32Array };

/** Column of each label among the classes, −1 for a label the model does not know. */
function columnsOf(labels: ArrayLike<number>, classes: Int32Array): Int32Array {
  const col = new Map(Array.from(classes, (c, i) => [c, i]));
  return Int32Array.from(labels as ArrayLike<number>, (l) => col.get(l) ?? -1);
}

/** Reliability-diagram bins of the top label (the bins of expectedCalibrationError). */
export function reliabilityBins(probs: ArrayLike<number>, classes: number, target: ArrayLike<number>, bins = BINS) {
  const { confidence, column } = topLabel(probs, classes);
  const out = Array.from({ length: bins }, () => ({ count: 0, confidence: 0, accuracy: 0 }));
  for (let r = 0; r < confidence.length; r++) {
    const b = Math.min(bins - 1, Math.max(0, Math.ceil(confidence[r]! * bins - 1e-9) - 1));
    out[b]!.count++;
    out[b]!.confidence += confidence[r]!;
    if (column[r] === target[r]) out[b]!.accuracy++;
  }
  return out.map((b) => (b.count ? { count: b.count, confidence: b.confidence / b.count, accuracy: b.accuracy / b.count } : b));
}

/** The accuracy–coverage curve thinned to at most `points` points (the last point at each coverage step kept). */
function thinCurve(curve: { threshold: number; coverage: number; accuracy: number }[], points = CURVE_POINTS) {
  if (curve.length <= points) return curve.map((p) => ({ coverage: p.coverage, accuracy: p.accuracy, threshold: p.threshold }));
  const out: { coverage: number; accuracy: number; threshold: number }[] = [];
  let next = 0;
  for (let i = 0; i < curve.length; i++) {
    const p = curve[i]!;
    if (i === curve.length - 1 || p.coverage >= next) {
      out.push({ coverage: p.coverage, accuracy: p.accuracy, threshold: p.threshold });
      next = p.coverage + 1 / (points - 1);
    }
  }
  return out;
}

/** Answered (confidence ≥ threshold) share and accuracy; threshold null answers nothing. */
export function atThreshold(confidence: ArrayLike<number>, correct: ArrayLike<boolean>, threshold: number | null) {
  let answered = 0;
  let right = 0;
  for (let i = 0; i < confidence.length; i++) {
    if (threshold !== null && confidence[i]! >= threshold) {
      answered++;
      if (correct[i]) right++;
    }
  }
  return { answered, coverage: confidence.length ? answered / confidence.length : 0, accuracy: answered ? right / answered : null };
}

/**
 * The calibration and threshold a bundle stores, fitted on `validation` only (labels and scores in one pass
 * where the model offers one).
 */
export async function fitTrustOnValidation(model: Model, validation: Part, targetAccuracy: number): Promise<{ trust: Trust; logits: LogitKind }> {
  const k = model.classes.length;
  const both = model.predictWithScores ? await model.predictWithScores(validation.x) : { labels: await model.predict(validation.x), scores: await model.scores!(validation.x) };
  const valScores = both.scores.data;
  const valPredicted = both.labels;
  const logits = logitKindOf(valScores, k);
  const calibration = fitCalibrationAndFloor(valScores, k, columnsOf(validation.y, model.classes), logits);
  const valConfidence = labelConfidence(valScores, k, columnsOf(valPredicted, model.classes), calibration);
  const valCorrect = Array.from(valPredicted, (l, i) => l === validation.y[i]);
  const threshold = rejectThreshold(valConfidence, valCorrect, targetAccuracy, Math.min(MIN_KEPT, validation.y.length)) ?? null;
  const atVal = atThreshold(valConfidence, valCorrect, threshold);
  return {
    logits,
    trust: {
      calibration: { ...calibration, validationRows: validation.y.length },
      reject: { targetAccuracy, threshold, validation: { coverage: atVal.coverage, accuracy: atVal.accuracy ?? 0 } },
    },
  };
}

/**
 * Fits the calibration and threshold on `validation`, then measures them on `test` (whose predicted
 * labels the run already has). None when the run has no validation rows or the model no scores.
 */
export async function fitTrust(model: Model, validation: Part | undefined, test: Part & { predicted: Int32Array }, targetAccuracy: number): Promise<TrustOutcome> {
  if (!model.scores) return { noTrust: 'the model has no scores to calibrate' };
  if (!validation || validation.y.length === 0) return { noTrust: 'the split has no validation part to calibrate on (set split.validation)' };
  const k = model.classes.length;
  // Validation only: the temperature, then the threshold on calibrated confidences.
  const { trust, logits } = await fitTrustOnValidation(model, validation, targetAccuracy);
  const { calibration } = trust;
  const threshold = trust.reject.threshold;
  // Now the test rows, with everything fixed.
  const testScores = (await model.scores(test.x)).data;
  const target = columnsOf(test.y, model.classes);
  // Before: the raw scores read as probabilities (probability-like as they are, anything else through a softmax).
  const before = calibrate(testScores, k, { method: 'temperature', temperature: 1, logits: logits === 'probability' ? 'probability' : 'decision', eps: PROBABILITY_FLOOR });
  const after = calibrate(testScores, k, calibration);
  const figures = (p: Float64Array) => ({ ece: expectedCalibrationError(p, k, target), nll: negativeLogLikelihood(p, k, target), brier: brierScore(p, k, target) });
  const testConfidence = labelConfidence(testScores, k, columnsOf(test.predicted, model.classes), calibration);
  const testCorrect = Array.from(test.predicted, (l, i) => l === test.y[i]);
  return {
    trust,
    figures: {
      validationRows: validation.y.length,
      logits,
      temperature: calibration.temperature,
      eps: calibration.eps,
      targetAccuracy,
      threshold,
      validation: trust.reject.validation,
      test: {
        before: figures(before),
        after: figures(after),
        reliability: { before: reliabilityBins(before, k, target), after: reliabilityBins(after, k, target) },
        atThreshold: atThreshold(testConfidence, testCorrect, threshold),
        curve: thinCurve(coverageCurve(testConfidence, testCorrect)),
      },
    },
  };
}
