/**
 * The report fixture rows (report-rows.ts) with calibration and robustness figures, built by hand from
 * trustSchema and robustnessSchema (and parsed with them). The calibration figures are those of a real
 * run (the tiny 2,000 / 1,000 / 1,000 experiment of issue 24: svm, random-forest and knn), with the bin
 * counts and the figures at the threshold brought to the fixture's 100 test rows.
 */
import { CORRUPTION_NAMES } from '@digitbench/runtime/internal';
import { robustnessSchema, trustSchema, type ResultRow } from '../../src/results/row.ts';
import { fixtureRows } from './report-rows.ts';

type Trust = NonNullable<Extract<ResultRow, { status: 'ok' }>['trust']>;
type Robustness = NonNullable<Extract<ResultRow, { status: 'ok' }>['robustness']>;

/** 15 reliability bins from the non-empty ones: bin index → [count, mean confidence, accuracy]. */
function bins(filled: Record<number, [number, number, number]>) {
  return Array.from({ length: 15 }, (_, i) => {
    const b = filled[i];
    return b ? { count: b[0], confidence: b[1], accuracy: b[2] } : { count: 0, confidence: 0, accuracy: 0 };
  });
}

const figures = (ece: number, nll: number, brier: number) => ({ ece, nll, brier });

export const svmTrust: Trust = trustSchema.parse({
  validationRows: 1000,
  logits: 'decision',
  temperature: 0.4315,
  eps: 1e-6,
  targetAccuracy: 0.995,
  threshold: 0.9136,
  validation: { coverage: 0.253, accuracy: 0.996 },
  test: {
    before: figures(0.3052, 0.486, 0.2161),
    after: figures(0.06114, 0.2392, 0.08391),
    reliability: {
      before: bins({ 4: [1, 0.3165, 0], 9: [82, 0.6501, 80 / 82], 10: [13, 0.6858, 1], 11: [4, 0.7618, 1] }),
      after: bins({ 5: [1, 0.3392, 0], 13: [93, 0.9103, 91 / 93], 14: [6, 0.98, 1] }),
    },
    atThreshold: { coverage: 0.25, accuracy: 0.96, answered: 25 },
    curve: [
      { coverage: 0.01, accuracy: 1, threshold: 0.9922 },
      { coverage: 0.25, accuracy: 0.96, threshold: 0.9136 },
      { coverage: 0.5, accuracy: 0.98, threshold: 0.9095 },
      { coverage: 0.75, accuracy: 0.9733, threshold: 0.9065 },
      { coverage: 1, accuracy: 0.97, threshold: 0.3281 },
    ],
  },
});

export const forestTrust: Trust = trustSchema.parse({
  validationRows: 1000,
  logits: 'probability',
  temperature: 0.3604,
  eps: 1e-6,
  targetAccuracy: 0.995,
  threshold: 0.9471,
  validation: { coverage: 0.681, accuracy: 0.9956 },
  test: {
    before: figures(0.2595, 0.5333, 0.2261),
    after: figures(0.01421, 0.2574, 0.1173),
    reliability: {
      before: bins({ 4: [20, 0.2993, 0.65], 8: [30, 0.5725, 0.9], 14: [50, 0.9729, 1] }),
      after: bins({ 6: [4, 0.441, 0.5], 9: [6, 0.6358, 4 / 6], 12: [10, 0.838, 0.8], 14: [80, 0.9893, 0.95] }),
    },
    atThreshold: { coverage: 0.67, accuracy: 1, answered: 67 },
    curve: [
      { coverage: 0.04, accuracy: 1, threshold: 1 },
      { coverage: 0.34, accuracy: 1, threshold: 0.9976 },
      { coverage: 0.67, accuracy: 1, threshold: 0.9471 },
      { coverage: 0.8, accuracy: 0.975, threshold: 0.8687 },
      { coverage: 1, accuracy: 0.9, threshold: 0.2107 },
    ],
  },
});

/** k-NN with k = 3: three confidence levels, none of which reaches 99.5% on validation (no threshold). */
export const knnTrust: Trust = trustSchema.parse({
  validationRows: 1000,
  logits: 'probability',
  temperature: 2.424,
  eps: 1e-6,
  targetAccuracy: 0.995,
  threshold: null,
  validation: { coverage: 0, accuracy: 0 },
  test: {
    before: figures(0.02466, 0.5382, 0.1169),
    after: figures(0.03952, 0.3246, 0.1258),
    reliability: {
      before: bins({ 4: [2, 1 / 3, 0], 9: [16, 2 / 3, 13 / 16], 14: [82, 1, 1] }),
      after: bins({ 4: [2, 0.3293, 0], 8: [16, 0.5609, 13 / 16], 14: [82, 0.9708, 1] }),
    },
    atThreshold: { coverage: 0, accuracy: null, answered: 0 },
    curve: [
      { coverage: 0.82, accuracy: 1, threshold: 0.9708 },
      { coverage: 0.98, accuracy: 0.9694, threshold: 0.5609 },
      { coverage: 1, accuracy: 0.95, threshold: 0.3293 },
    ],
  },
});

/**
 * Robustness figures of a bundle on `total` images per set: correct answers on clean and per corruption
 * (in CORRUPTION_NAMES order), answered and sure-correct counts derived from them, the pooled corrupted
 * figures, mean accuracy, mCE and the worst corruption computed as the measurement defines them.
 */
export function robustness(total: number, clean: { correct: number; answered: number; sure: number }, correct: readonly number[], ood: Robustness['ood']): Robustness {
  const sure = (c: number, answered: number, sureCorrect: number) => ({ correct: c, total, accuracy: c / total, answered, coverage: answered / total, sureAccuracy: answered ? sureCorrect / answered : null });
  const corruptions = CORRUPTION_NAMES.map((name, i) => {
    const c = correct[i]!;
    const answered = Math.round(c * 0.6);
    return { name, ...sure(c, answered, Math.max(0, answered - 1)) };
  });
  const cleanFigures = sure(clean.correct, clean.answered, clean.sure);
  const answered = corruptions.reduce((a, c) => a + c.answered, 0);
  const sureCorrect = corruptions.reduce((a, c) => a + (c.sureAccuracy ?? 0) * c.answered, 0);
  const worst = corruptions.reduce((w, c) => (c.accuracy < w.accuracy ? c : w));
  return robustnessSchema.parse({
    clean: cleanFigures,
    corruptions,
    meanAccuracy: corruptions.reduce((a, c) => a + c.accuracy, 0) / corruptions.length,
    mce: corruptions.reduce((a, c) => a + (1 - c.accuracy) / (1 - cleanFigures.accuracy), 0) / corruptions.length,
    worst: worst.name,
    corrupted: { answered, total: total * corruptions.length, coverage: answered / (total * corruptions.length), sureAccuracy: answered ? Math.round(sureCorrect) / answered : null },
    ood,
    seconds: 4.2,
  });
}

export const FASHION_MISSING = "Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)";
/** Per corruption, in CORRUPTION_NAMES order: correct answers of 100. */
export const SVM_CORRECT = [92, 88, 85, 80, 90, 83, 89, 86, 55, 94, 60, 91, 93, 71, 65];
export const FOREST_CORRECT = [85, 70, 75, 72, 84, 78, 82, 30, 50, 80, 45, 86, 88, 66, 58];

/**
 * fixtureRows() on a split with 1,000 validation rows: svm and random-forest calibrated and measured on
 * corruptions; knn (two runs) calibrated without a threshold, its robustness not measured; naive-bayes
 * without calibration.
 */
export function trustRows(): ResultRow[] {
  return fixtureRows().map((r) => {
    const row = { ...r, split: { ...r.split, validation: 1000 } } as ResultRow;
    if (row.status !== 'ok') return row;
    if (row.classifier === 'svm') {
      return { ...row, trust: svmTrust, robustness: robustness(100, { correct: 97, answered: 25, sure: 24 }, SVM_CORRECT, { fashion: { refused: 620, total: 1000 }, noise: { refused: 1000, total: 1000 } }) };
    }
    if (row.classifier === 'random-forest') {
      return { ...row, trust: forestTrust, robustness: robustness(100, { correct: 90, answered: 67, sure: 67 }, FOREST_CORRECT, { fashion: { skipped: FASHION_MISSING }, noise: { refused: 912, total: 1000 } }) };
    }
    if (row.classifier === 'knn') {
      return { ...row, trust: row.seed === 2 ? { ...knnTrust, temperature: 2.31 } : knnTrust, robustnessError: 'the deploy process exited with code 1 before the corrupted images were measured' };
    }
    if (row.classifier === 'naive-bayes') return { ...row, noTrust: 'the model has no scores to calibrate' };
    return row;
  });
}
