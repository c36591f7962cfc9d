/** Calibration metrics and temperature scaling against hand-computed values and a synthetic overconfident model. */
import { describe, expect, it } from 'vitest';
import { calibrate, logitKindOf, logitsOf, softmaxWithTemperature, topLabel } from '@digitbench/runtime/internal';
import { brierScore, coverageCurve, expectedCalibrationError, fitCalibration, fitCalibrationAndFloor, fitTemperature, negativeLogLikelihood, PROBABILITY_FLOORS, rejectThreshold } from '../src/metrics/calibration.ts';

// Four rows, two classes: right, wrong, right, wrong.
const probs = [0.9, 0.1, 0.8, 0.2, 0.6, 0.4, 0.55, 0.45];
const target = [0, 1, 0, 1];

describe('calibration metrics (hand-computed)', () => {
  it('ECE over 10 bins: |1 − 0.9| + |0 − 0.8| + |1 − (0.6 + 0.55)| over 4 rows', () => {
    expect(expectedCalibrationError(probs, 2, target, 10)).toBeCloseTo((0.1 + 0.8 + 0.15) / 4, 12);
    // Bins are right-closed: a confidence of exactly 0.2 (= 3/15, though 0.2 × 15 is 3.0000000000000004 in
    // floating point) is in the bin (2/15, 3/15], apart from 0.2001: (|1 − 0.2| + |0 − 0.2001|) / 2, not |1 − 0.4001| / 2.
    expect(expectedCalibrationError([0.2, 0.2, 0.2, 0.2, 0.2, 0.2001, 0, 0, 0, 0], 5, [0, 1], 15)).toBeCloseTo((0.8 + 0.2001) / 2, 12);
  });

  it('NLL and Brier; a true label the model lacks (−1) counts as probability 0', () => {
    expect(negativeLogLikelihood(probs, 2, target)).toBeCloseTo(-(Math.log(0.9) + Math.log(0.2) + Math.log(0.6) + Math.log(0.45)) / 4, 12);
    expect(brierScore(probs, 2, target)).toBeCloseTo((0.02 + 1.28 + 0.32 + 0.605) / 4, 12);
    expect(negativeLogLikelihood([0.7, 0.3], 2, [-1])).toBeCloseTo(-Math.log(1e-12), 9);
    expect(brierScore([0.7, 0.3], 2, [-1])).toBeCloseTo(0.49 + 0.09 + 1, 12);
  });

  it('logits: log of probability-like scores floored at eps; decision values as they are', () => {
    expect(Array.from(logitsOf([0.5, 0, 0.5], 'probability', 1e-3))).toEqual([Math.log(0.5), Math.log(1e-3), Math.log(0.5)]);
    expect(Array.from(logitsOf([-1.5, 2], 'decision', 1e-3))).toEqual([-1.5, 2]);
    expect(() => softmaxWithTemperature([1, 2], 2, 0)).toThrow('calibration: the temperature must be a positive number (got 0).');
  });
});

/** A seeded generator (mulberry32) and a synthetic 10-class model: true logits L, labels drawn from softmax(L). */
function synthetic(rows: number, seed: number) {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  const k = 10;
  const logits = new Float64Array(rows * k);
  for (let i = 0; i < logits.length; i++) logits[i] = 1.5 * normal();
  const p = softmaxWithTemperature(logits, k, 1);
  const target = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let u = uniform();
    let c = 0;
    while (c < k - 1 && (u -= p[r * k + c]!) > 0) c++;
    target[r] = c;
  }
  return { logits, target, k };
}

describe('temperature scaling', () => {
  it('finds T ≈ 3 for logits made 3× overconfident, on validation rows only, and lowers test ECE and NLL without changing a label', () => {
    const val = synthetic(4000, 1);
    const test = synthetic(4000, 2);
    const over = (l: Float64Array) => l.map((v) => 3 * v);
    const T = fitTemperature(over(val.logits), val.k, val.target);
    expect(T).toBeGreaterThan(2.7);
    expect(T).toBeLessThan(3.3);
    const before = softmaxWithTemperature(over(test.logits), test.k, 1);
    const after = softmaxWithTemperature(over(test.logits), test.k, T);
    expect(expectedCalibrationError(after, test.k, test.target)).toBeLessThan(expectedCalibrationError(before, test.k, test.target) / 3);
    expect(negativeLogLikelihood(after, test.k, test.target)).toBeLessThan(negativeLogLikelihood(before, test.k, test.target));
    expect(Array.from(topLabel(after, test.k).column)).toEqual(Array.from(topLabel(before, test.k).column));
  });

  it('fitCalibration on vote-fraction-like scores gives a temperature that calibrate() applies', () => {
    const val = synthetic(2000, 3);
    const scores = softmaxWithTemperature(val.logits.map((v) => 4 * v), val.k, 1);
    const c = fitCalibration(scores, val.k, val.target, 'probability', 1e-6);
    expect(c.method).toBe('temperature');
    expect(c.temperature).toBeGreaterThan(3);
    expect(Array.from(calibrate(scores, val.k, c)).every((v) => v >= 0 && v <= 1)).toBe(true);
  });
});

describe('the floor of coarse scores', () => {
  // Three-vote fractions (as k-NN with k = 3): 3/3 votes right 97% of the time, 2/3 right 75%; the true
  // class of a wrong 3/3 answer has no vote.
  const rows: { s: number[]; t: number }[] = [];
  for (let i = 0; i < 1000; i++) {
    const unanimous = i % 4 !== 0;
    const right = unanimous ? i % 100 >= 3 : i % 4 === 0 && (i / 4) % 4 !== 0;
    const s = [0, 0, 0];
    if (unanimous) s[0] = 1;
    else [s[0], s[1]] = [2 / 3, 1 / 3];
    rows.push({ s, t: right ? 0 : unanimous ? 2 : 1 });
  }
  const scores = rows.flatMap((r) => r.s);
  const target = rows.map((r) => r.t);
  const nllOf = (c: ReturnType<typeof fitCalibration>) => negativeLogLikelihood(calibrate(scores, 3, c), 3, target);

  it('is fitted with the temperature: lower validation NLL and ECE than the temperature alone at 1e-6', () => {
    const plain = fitCalibration(scores, 3, target, 'probability', 1e-6);
    const fitted = fitCalibrationAndFloor(scores, 3, target, 'probability');
    expect(PROBABILITY_FLOORS).toContain(fitted.eps);
    expect(fitted.eps).toBeGreaterThan(1e-6);
    expect(nllOf(fitted)).toBeLessThan(nllOf(plain));
    // Every floor was tried: none gives a lower NLL than the one chosen.
    for (const eps of PROBABILITY_FLOORS) expect(nllOf(fitted)).toBeLessThanOrEqual(nllOf(fitCalibration(scores, 3, target, 'probability', eps)) + 1e-12);
    expect(expectedCalibrationError(calibrate(scores, 3, fitted), 3, target)).toBeLessThan(expectedCalibrationError(calibrate(scores, 3, plain), 3, target));
  });

  it('is not used for decision values', () => {
    const decision = scores.map((v) => 4 * v - 2);
    expect(fitCalibrationAndFloor(decision, 3, target, 'decision').eps).toBe(1e-6);
  });
});

describe('an SVM\'s one-vs-rest scores (scikit-learn\'s ovr decision function over one-vs-one classifiers)', () => {
  // Four classes; pairwise decision values dec(i, j) > 0 favour i. ovr[c] = votes[c] + m[c] / (3(|m[c]| + 1)), m[c] = Σ_j ±dec.
  const rows = [
    [2.5, -0.3, 1.2, 0.8, -4.1, 0.05],
    [-0.01, -0.02, 0.03, 0.6, -7.5, 12],
  ];
  const pairs = [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]] as const;
  const m = rows.map((dec) => {
    const out = [0, 0, 0, 0];
    dec.forEach((d, p) => {
      out[pairs[p]![0]]! += d;
      out[pairs[p]![1]]! -= d;
    });
    return out;
  });
  const votes = rows.map((dec) => {
    const out = [0, 0, 0, 0];
    dec.forEach((d, p) => out[d > 0 ? pairs[p]![0] : pairs[p]![1]]!++);
    return out;
  });
  const ovr = Float32Array.from(m.flatMap((row, r) => row.map((v, c) => votes[r]![c]! + v / (3 * (Math.abs(v) + 1)))));

  it('are recognised by their vote counts, and the margins recovered as logits', () => {
    expect(logitKindOf(ovr, 4)).toBe('ovr-votes');
    const logits = logitsOf(ovr, 'ovr-votes', 1e-6);
    m.flat().forEach((v, i) => expect(logits[i]).toBeCloseTo(v, 4));
    // Not votes: plain decision values, and probabilities.
    expect(logitKindOf(Float32Array.from(m.flat()), 4)).toBe('decision');
    expect(logitKindOf([0.1, 0.2, 0.3, 0.4], 4)).toBe('probability');
  });
});

describe('accuracy–coverage and the reject threshold', () => {
  const confidence = [0.99, 0.95, 0.95, 0.9, 0.8, 0.6];
  const correct = [true, true, true, false, true, false];

  it('the curve keeps ties together, highest confidence first', () => {
    expect(coverageCurve(confidence, correct)).toEqual([
      { threshold: 0.99, coverage: 1 / 6, accuracy: 1 },
      { threshold: 0.95, coverage: 3 / 6, accuracy: 1 },
      { threshold: 0.9, coverage: 4 / 6, accuracy: 3 / 4 },
      { threshold: 0.8, coverage: 5 / 6, accuracy: 4 / 5 },
      { threshold: 0.6, coverage: 1, accuracy: 4 / 6 },
    ]);
  });

  it('the lowest threshold reaching the target with enough rows kept, or none', () => {
    expect(rejectThreshold(confidence, correct, 1, 1)).toBe(0.95);
    expect(rejectThreshold(confidence, correct, 0.8, 1)).toBe(0.8);
    expect(rejectThreshold(confidence, correct, 1, 4)).toBeUndefined();
    expect(rejectThreshold(confidence, correct, 0.6, 6)).toBe(0.6);
  });
});
