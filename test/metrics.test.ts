import { describe, expect, it } from 'vitest';
import {
  accuracy,
  binomialHalfCdf,
  chiSquare1Survival,
  confusionMatrix,
  deploymentPareto,
  erfc,
  holm,
  mcnemar,
  mcnemarFromCounts,
  mean,
  paretoIndices,
  perClass,
  sampleSd,
  wilson,
} from '../src/metrics/index.ts';

const I = (xs: number[]) => Int32Array.from(xs);

describe('accuracy', () => {
  it('counts equal labels', () => {
    expect(accuracy(I([0, 1, 2, 3]), I([0, 1, 0, 3]))).toBe(0.75);
  });
  it('names the mismatch when lengths differ', () => {
    expect(() => accuracy(I([0, 1]), I([0]))).toThrow('There are 1 predictions for 2 true labels; pass one per test row.');
  });
});

describe('confusion matrix and per-class scores', () => {
  // Hand-computed: true 0,0,0,1,1,2 / predicted 0,0,1,1,2,2.
  const yTrue = I([0, 0, 0, 1, 1, 2]);
  const yPred = I([0, 0, 1, 1, 2, 2]);

  it('counts true × predicted', () => {
    expect(confusionMatrix(yTrue, yPred)).toEqual({
      labels: [0, 1, 2],
      counts: [
        [2, 1, 0],
        [0, 1, 1],
        [0, 0, 1],
      ],
    });
  });

  it('gives precision, recall, F1 and macro-F1 as computed by hand', () => {
    const r = perClass(confusionMatrix(yTrue, yPred));
    // class 0: P 2/2, R 2/3, F1 0.8; class 1: P 1/2, R 1/2, F1 0.5; class 2: P 1/2, R 1/1, F1 2/3.
    expect(r.classes.map((c) => [c.label, c.support, c.predicted])).toEqual([[0, 3, 2], [1, 2, 2], [2, 1, 2]]);
    expect(r.classes[0]!.precision).toBe(1);
    expect(r.classes[0]!.recall).toBeCloseTo(2 / 3, 15);
    expect(r.classes[0]!.f1).toBeCloseTo(0.8, 15);
    expect(r.classes[1]!.f1).toBeCloseTo(0.5, 15);
    expect(r.classes[2]!.f1).toBeCloseTo(2 / 3, 15);
    expect(r.macroF1).toBeCloseTo((0.8 + 0.5 + 2 / 3) / 3, 15);
  });

  it('scores a class that is never predicted as 0 (no NaN)', () => {
    const r = perClass(confusionMatrix(I([0, 1, 1]), I([0, 0, 0])));
    expect(r.classes[1]).toMatchObject({ precision: 0, recall: 0, f1: 0 });
    // class 0: P 1/3, R 1 → F1 2·(1/3)·1 / (4/3) = 0.5; class 1: F1 0 → macro 0.25.
    expect(r.macroF1).toBeCloseTo(0.25, 15);
  });

  it('rejects a label outside an explicit label list', () => {
    expect(() => confusionMatrix(I([0, 5]), I([0, 0]), [0, 1])).toThrow(
      'Label 5 at row 1 is not in the confusion matrix labels [0, 1]; include it in labels.',
    );
  });
});

describe('Wilson interval', () => {
  it('matches the textbook value for 85/100', () => {
    // p̂ = .85, z = 1.96: centre (.85 + z²/200)/(1 + z²/100) = .83705, half-width .06989.
    const w = wilson(85, 100);
    expect(w.low).toBeCloseTo(0.767164404, 8);
    expect(w.high).toBeCloseTo(0.906940147, 8);
  });
  it('stays inside [0, 1] at the edges', () => {
    expect(wilson(0, 10).low).toBe(0);
    expect(wilson(10, 10).high).toBeCloseTo(1, 15);
    expect(wilson(10, 10).low).toBeCloseTo(0.722467, 5);
  });
  it('rejects impossible counts', () => {
    expect(() => wilson(11, 10)).toThrow('A Wilson interval needs 0 ≤ successes ≤ n and n > 0, got 11 of 10.');
  });
  it('mean and sample sd', () => {
    expect(mean([1, 2, 3, 4])).toBe(2.5);
    expect(sampleSd([2, 4, 4, 4, 5, 5, 7, 9])).toBeCloseTo(Math.sqrt(32 / 7), 12);
    expect(sampleSd([3])).toBe(0);
  });
});

describe('distributions used by McNemar (reference values from Python math.erfc / scipy.stats)', () => {
  it('erfc to ~1e-13 relative', () => {
    const ref: [number, number][] = [
      [0, 1],
      [0.1, 0.8875370839817152],
      [0.5, 0.4795001221869535],
      [1, 0.15729920705028513],
      [1.9, 0.0072095707647425325],
      [2, 0.004677734981047265],
      [3, 2.2090496998585438e-5],
      [6, 2.1519736712498916e-17],
      [10, 2.088487583762545e-45],
      [-1, 1.8427007929497148],
    ];
    for (const [x, want] of ref) expect(Math.abs(erfc(x) - want) / want).toBeLessThan(1e-13);
  });
  it('chi-square(1) survival and the binomial(n, ½) cdf', () => {
    expect(chiSquare1Survival(3.841458820694124)).toBeCloseTo(0.05, 12);
    expect(binomialHalfCdf(1, 10)).toBeCloseTo(11 / 1024, 15);
    expect(binomialHalfCdf(5000, 10000)).toBeCloseTo(0.5039893230696917, 11);
  });
});

describe('McNemar', () => {
  it("matches Agresti's textbook table (b = 150, c = 86): chi-square 16.82, p = 4.11e-5", () => {
    const r = mcnemarFromCounts(150, 86);
    expect(r.method).toBe('chi2-cc');
    expect(r.statistic).toBeCloseTo(16.8178, 4);
    expect(r.pValue).toBeCloseTo(4.114562281345944e-5, 15);
  });
  it('uses the exact binomial test for few discordant rows: b = 1, c = 9 gives 22/1024', () => {
    const r = mcnemarFromCounts(1, 9);
    expect(r.method).toBe('exact');
    expect(r.pValue).toBeCloseTo(22 / 1024, 15);
    expect(mcnemarFromCounts(0, 0).pValue).toBe(1);
    expect(mcnemarFromCounts(12, 12).pValue).toBe(1);
    expect(mcnemarFromCounts(10, 20, 'exact').pValue).toBeCloseTo(0.09873714670538905, 12);
  });
  it('counts the discordant rows from predictions', () => {
    const y = I([0, 1, 2, 3, 4, 5]);
    const a = I([0, 1, 2, 3, 0, 0]); // wrong at 4, 5
    const b = I([0, 0, 0, 3, 4, 0]); // wrong at 1, 2, 5
    expect(mcnemar(y, a, b)).toMatchObject({ b: 2, c: 1, method: 'exact', pValue: 1 });
  });
  it('Holm adjustment', () => {
    expect(holm([0.01, 0.04, 0.03])).toEqual([0.03, 0.06, 0.06]);
    expect(holm([0.5, 0.9])).toEqual([1, 1]);
  });
});

describe('Pareto set', () => {
  it('keeps the candidates nothing beats on accuracy, latency and size at once', () => {
    const items = [
      { accuracy: 0.97, latencyMs: 2.0, modelBytes: 3e6 }, // 0: most accurate
      { accuracy: 0.95, latencyMs: 2.5, modelBytes: 4e6 }, // 1: dominated by 0
      { accuracy: 0.9, latencyMs: 0.05, modelBytes: 2e6 }, // 2: fastest
      { accuracy: 0.6, latencyMs: 0.5, modelBytes: 1e3 }, // 3: smallest
      { accuracy: 0.6, latencyMs: 0.6, modelBytes: 1e3 }, // 4: dominated by 3
      { accuracy: 0.5, latencyMs: 0.01 }, // 5: fastest of all; unknown size counts as the largest
    ];
    expect(deploymentPareto(items)).toEqual([0, 2, 3, 5]);
  });
  it('keeps exact ties', () => {
    expect(paretoIndices([1, 1, 0], [{ value: (x) => x, goal: 'max' }])).toEqual([0, 1]);
  });
});
