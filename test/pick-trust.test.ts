/**
 * The deployment pick with the trust limits (issue 24): minCoverage, minCorruptedAccuracy and maxEce, the
 * coverage axis, and the sentence that says which figure decided the pick. Rows: the report fixture, with
 * trust and robustness figures added by hand (schema-valid).
 */
import { describe, expect, it } from 'vitest';
import { okRowSchema, type ResultRow } from '../src/results/row.ts';
import { deploymentChoice, renderReport } from '../src/report/markdown.ts';
import { fixtureRows } from './helpers/report-rows.ts';

const bins = Array.from({ length: 15 }, () => ({ count: 0, confidence: 0, accuracy: 0 }));
function trust(coverage: number, ece: number) {
  return {
    validationRows: 500,
    logits: 'probability' as const,
    temperature: 1.5,
    eps: 1e-6,
    targetAccuracy: 0.995,
    threshold: 0.9,
    validation: { coverage, accuracy: 0.996 },
    test: {
      before: { ece: ece * 2, nll: 0.3, brier: 0.1 },
      after: { ece, nll: 0.2, brier: 0.08 },
      reliability: { before: bins, after: bins },
      atThreshold: { coverage, accuracy: 0.995, answered: Math.round(coverage * 100) },
      curve: [{ coverage: 1, accuracy: 0.9, threshold: 0 }],
    },
  };
}
function robustness(meanAccuracy: number) {
  const fig = { correct: 90, total: 100, accuracy: 0.9, answered: 50, coverage: 0.5, sureAccuracy: 1 };
  return {
    clean: fig,
    corruptions: [{ ...fig, name: 'shot_noise', accuracy: meanAccuracy }],
    meanAccuracy,
    mce: 1.2,
    worst: 'shot_noise',
    corrupted: { answered: 50, total: 100, coverage: 0.5, sureAccuracy: 1 },
    ood: { fashion: { skipped: 'not installed' }, noise: { refused: 100, total: 100 } },
    seconds: 1,
  };
}

/** svm 97%, knn 94.5% (two runs), random-forest 90%: svm covers little and is fragile, the forest covers most. */
const figures: Record<string, { coverage: number; ece: number; corrupted: number }> = {
  svm: { coverage: 0.4, ece: 0.05, corrupted: 0.7 },
  knn: { coverage: 0.6, ece: 0.02, corrupted: 0.85 },
  'random-forest': { coverage: 0.8, ece: 0.01, corrupted: 0.8 },
};
const rows: ResultRow[] = fixtureRows().map((r) => {
  const f = figures[r.classifier];
  if (r.status !== 'ok' || !f) return r;
  return okRowSchema.parse({ ...r, trust: trust(f.coverage, f.ece), robustness: robustness(f.corrupted) });
});

describe('the pick with trust limits', () => {
  it('a coverage, corrupted-accuracy or ECE limit passes over the more accurate bundles that fail it', () => {
    expect(deploymentChoice(rows, {}).pick?.label).toBe('svm');
    expect(deploymentChoice(rows, { deploy: { minCoverage: 0.5 } }).pick?.label).toBe('knn');
    expect(deploymentChoice(rows, { deploy: { minCoverage: 0.7 } }).pick?.label).toBe('random-forest');
    expect(deploymentChoice(rows, { deploy: { minCorruptedAccuracy: 0.82 } }).pick?.label).toBe('knn');
    expect(deploymentChoice(rows, { deploy: { maxEce: 0.015 } }).pick?.label).toBe('random-forest');
    expect(deploymentChoice(rows, { deploy: { minCoverage: 0.9 } }).pick).toBeUndefined();
    // On the coverage axis, the forest answers the most.
    expect(deploymentChoice(rows, { deploy: { axis: 'coverage' } }).pick?.label).toBe('random-forest');
  });

  it('the report names the figure that decided the pick', async () => {
    const md = (await renderReport(rows, { config: { deploy: { maxLatencyMs: 3, minCoverage: 0.5, minCorruptedAccuracy: 0.82 } } })).markdown;
    expect(md).toContain('**Best within the limits** (latency p50 ≤ 3 ms per image, end to end and coverage ≥ 50.00% at the target accuracy and mean corrupted accuracy ≥ 82.00%): **knn**');
    expect(md).toContain('**What decided it:** svm (accuracy 97.00%) fails coverage 40.00% < 50.00%, mean corrupted accuracy 70.00% < 82.00%.');
    const plain = (await renderReport(rows, { config: { deploy: { maxLatencyMs: 1.2 } } })).markdown;
    expect(plain).toContain('**What decided it:** accuracy alone; the most accurate bundle meets every limit.');
  });

  it('the coverage axis ranks the Pareto set and the chart by coverage', async () => {
    const md = (await renderReport(rows, { config: { deploy: { axis: 'coverage', maxLatencyMs: 1.2 } } })).markdown;
    expect(md).toContain('**Axis: coverage** (`deploy.axis`)');
    expect(md).toContain('**Best within the limits** (latency p50 ≤ 1.2 ms per image, end to end): **random-forest**');
    expect(md).toContain('**What decided it:** coverage alone; the highest-coverage bundle meets every limit.');
  });

  it('a limit on a figure a bundle lacks rules it out, and says so', async () => {
    const without = rows.map((r) => (r.classifier === 'svm' && r.status === 'ok' ? ({ ...r, trust: undefined, robustness: undefined } as ResultRow) : r));
    const md = (await renderReport(without, { config: { deploy: { minCoverage: 0.5 } } })).markdown;
    expect(md).toContain('svm (accuracy 97.00%) fails coverage not measured (no calibration).');
  });
});
