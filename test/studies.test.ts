import { describe, expect, it } from 'vitest';
import { correctedResampledTTest, powerLawFit } from '../src/metrics/resampling.ts';
import { mcnemar } from '../src/metrics/significance.ts';
import { renderReport } from '../src/report/markdown.ts';
import { featureMatrix, learningCurves, pairwise, selectionTables, seriesOf } from '../src/report/studies.ts';
import { encodeLabels, labelsHash, type ResultRow, type SelectionRow } from '../src/results/row.ts';

const N = 200;
const labels = Int32Array.from({ length: N }, (_, i) => i % 10);
const env = { node: 'v20', platform: 'linux x64', cpu: 'cpu', cores: 2, tfjsBackend: null, threads: 1, packages: {}, gitCommit: 'abc' };

/** A test run of `classifier` on repetition `rep` (split fingerprint per repetition), wrong on the first `wrong` rows shifted by `offset`. */
function row(classifier: string, rep: number, wrong: number, opts: { train?: number; offset?: number; fit?: number; resampled?: boolean; params?: Record<string, unknown>; featureSet?: string } = {}): ResultRow {
  const pred = labels.slice();
  for (let i = 0; i < wrong; i++) {
    const k = (i + (opts.offset ?? 0)) % N;
    pred[k] = (pred[k]! + 1) % 10;
  }
  const train = opts.train ?? 1000;
  return {
    id: `${classifier}-${train}-${rep}`,
    experiment: 'x',
    dataset: 'mnist',
    split: { train, validation: 0, test: N, seed: rep, fingerprint: opts.resampled === false ? 'same' : `split-${rep}` },
    features: opts.featureSet === 'pca50' ? ['scale', 'pca(50)'] : ['scale'],
    ...(opts.featureSet ? { featureSet: opts.featureSet } : {}),
    classifier,
    library: 'lib',
    engine: 'js',
    params: opts.params ?? {},
    seed: rep,
    repetition: rep,
    startedAt: `2026-01-01T00:00:${String(rep).padStart(2, '0')}.000Z`,
    env,
    status: 'ok',
    metrics: { accuracy: (N - wrong) / N, macroF1: 0.5, correct: N - wrong, total: N },
    timing: { featureSeconds: 0, fitSeconds: opts.fit ?? 1, predictSeconds: 0.1 },
    peakRssMb: 100,
    predictions: encodeLabels(pred),
    testLabels: encodeLabels(labels),
    testLabelsHash: labelsHash(labels),
  };
}

describe('repetitions and pairs', () => {
  // a is clearly ahead of c on every split; a and b are close.
  const wrongA = [10, 12, 9, 11, 10];
  const wrongB = [12, 11, 13, 10, 12];
  const wrongC = [40, 44, 38, 42, 41];
  const rows = [0, 1, 2, 3, 4].flatMap((r) => [row('a', r, wrongA[r]!), row('b', r, wrongB[r]!, { offset: 100 }), row('c', r, wrongC[r]!, { offset: 50 })]);

  it('pairs repetitions and tests them with the corrected t-test and McNemar per repetition; a difference no test supports is a tie', () => {
    const pairs = pairwise(seriesOf(rows));
    expect(pairs.map((p) => `${p.a.label}-${p.b.label}`)).toEqual(['a-b', 'a-c', 'b-c']);
    const ac = pairs[1]!;
    const acc = (w: number[]) => w.map((x) => (N - x) / N);
    const direct = correctedResampledTTest(acc(wrongA), acc(wrongC), 1000, N);
    expect(ac.test!.pValue).toBeCloseTo(direct.pValue, 14);
    expect(ac.paired).toBe(5);
    // McNemar on each repetition, computed directly.
    const differ = [0, 1, 2, 3, 4].filter((r) => {
      const pa = labels.slice();
      for (let i = 0; i < wrongA[r]!; i++) pa[i] = (pa[i]! + 1) % 10;
      const pc = labels.slice();
      for (let i = 0; i < wrongC[r]!; i++) pc[(i + 50) % N] = (pc[(i + 50) % N]! + 1) % 10;
      return mcnemar(labels, pa, pc).pValue < 0.05;
    }).length;
    expect(ac.mcnemarDiffer).toBe(differ);
    expect(ac.verdict).toBe('a');
    expect(pairs[0]!.verdict).toBe('tie');
    // Holm over the three tests.
    const ps = pairs.map((p) => p.test!.pValue);
    const sorted = [...ps].sort((x, y) => x - y);
    expect(Math.min(...pairs.map((p) => p.holmP!))).toBeCloseTo(Math.min(1, 3 * sorted[0]!), 14);
  });

  it('seed-only repetitions on one split get no corrected t-test: every pair is a tie', () => {
    const same = [0, 1, 2].flatMap((r) => [row('a', r, 5, { resampled: false }), row('c', r, 60, { resampled: false, offset: 50 })]);
    const [p] = pairwise(seriesOf(same));
    expect(p!.test).toBeUndefined();
    expect(p!.verdict).toBe('tie');
    expect(p!.mcnemarDiffer).toBe(3);
  });

  it('the report shows mean ± sd, the t-interval and the verdicts', async () => {
    const { markdown, files } = await renderReport(rows);
    expect(markdown).toContain('## Repetitions');
    expect(markdown).toContain('| **a** | 1000 | 5 | 5 | 94.80% ± 0.57 | 94.1% – 95.5% |');
    expect(markdown).toMatch(/\| a − c \| 15\.30 \|.*\| \*\*a better\*\* \|/);
    expect(markdown).toMatch(/\| a − b \| .*\| tie \|/);
    expect(files.map((f) => f.name)).toContain('repetitions.svg');
  });
});

describe('learning curves', () => {
  it('fit the growth exponent over the sizes and draw both charts', async () => {
    const sizes = [1000, 2000, 4000, 8000];
    const rows = sizes.flatMap((n, i) => [row('knn', 0, 20 - 2 * i, { train: n, fit: 1e-4 * n, resampled: false }), row('svm', 0, 15 - 2 * i, { train: n, fit: 1e-7 * n ** 2, resampled: false })]);
    const curves = learningCurves(seriesOf(rows));
    expect(curves.map((c) => c.label)).toEqual(['svm', 'knn']);
    expect(curves[0]!.fit!.exponent).toBeCloseTo(2, 10);
    expect(curves[1]!.fit!.exponent).toBeCloseTo(powerLawFit(sizes, sizes.map((n) => 1e-4 * n))!.exponent, 12);
    const { markdown, files } = await renderReport(rows);
    expect(markdown).toContain('| **svm** | n^2.00 (R² 1.00) | n^2.00 |');
    expect(files.map((f) => f.name)).toEqual(expect.arrayContaining(['learning-curve-accuracy.svg', 'learning-curve-fit.svg']));
    expect(new TextDecoder().decode(files.find((f) => f.name === 'learning-curve-fit.svg')!.bytes)).toContain('svm: fit ∝ n^2.00');
  });
});

describe('selection and feature sets', () => {
  const sel = (candidate: number, featureSet: string, accs: number[], k: number): SelectionRow => ({
    id: `s${candidate}`,
    runId: 'knn-1000-0',
    experiment: 'x',
    classifier: 'knn',
    repetition: 0,
    seed: 0,
    split: { train: 1000, validation: 0, test: N, seed: 0, fingerprint: 'split-0' },
    method: 'cv',
    featureSet,
    features: featureSet === 'raw' ? ['scale'] : ['scale', 'pca(50)'],
    params: { k },
    candidate,
    status: 'ok',
    folds: accs.map((accuracy) => ({ train: 800, validation: 200, accuracy, fitSeconds: 0.1, predictSeconds: 0.1, featureSeconds: featureSet === 'raw' ? 0.01 : 2, transformMsPerImage: featureSet === 'raw' ? 0.001 : 0.05 })),
    startedAt: '2026-01-01T00:00:00.000Z',
    code: 'c',
  });
  const selection = [sel(0, 'raw', [0.9, 0.92], 1), sel(1, 'raw', [0.91, 0.93], 3), sel(2, 'pca50', [0.95, 0.96], 1), sel(3, 'pca50', [0.94, 0.95], 3)];
  const test = [row('knn', 0, 8, { params: { k: 1 }, featureSet: 'pca50' })];

  it('pools each candidate over folds, marks the one the test run used, and builds the matrix from validation only', async () => {
    const [t] = selectionTables(selection, test);
    expect(t!.candidates.map((c) => [c.mean.toFixed(3), c.chosen])).toEqual([
      ['0.910', 0],
      ['0.920', 0],
      ['0.955', 1],
      ['0.945', 0],
    ]);
    const { cells, costs } = featureMatrix([t!]);
    expect(cells).toEqual([
      { classifier: 'knn', featureSet: 'raw', accuracy: 0.92, sd: expect.any(Number), n: 2, chosen: false },
      { classifier: 'knn', featureSet: 'pca50', accuracy: 0.955, sd: expect.any(Number), n: 2, chosen: true },
    ]);
    expect(costs.map((c) => [c.featureSet, c.fitSeconds, c.transformMsPerImage])).toEqual([
      ['raw', 0.01, 0.001],
      ['pca50', 2, 0.05],
    ]);
    const { markdown, files } = await renderReport(test, { selection });
    expect(markdown).toContain('## Selection');
    expect(markdown).toContain('## Feature sets');
    expect(markdown).toContain('| **knn** | 92.00% ± 1.41 | **95.50% ± 0.71 ✓** |');
    expect(files.map((f) => f.name)).toEqual(expect.arrayContaining(['feature-sets.svg', 'selection-knn-1000.svg']));
  });
});

describe('provenance in the report', () => {
  it('marks rows made by an older commit than the newest run', async () => {
    const newer = { ...row('a', 1, 10), env: { ...env, gitCommit: 'bbbbbbbbbbbbbbbb' } } as ResultRow;
    const older = row('c', 0, 20);
    const { markdown } = await renderReport([older, newer]);
    expect(markdown).toContain('- **Made by an older commit:** 1 of 2 rows, by `abc` (c); the rest by `bbbbbbbbbbbb`.');
    expect((await renderReport([newer])).markdown).not.toContain('older commit');
  });
});
