import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBaseline, reportRows } from '../src/harness/report-rows.ts';
import { renderReport } from '../src/report/markdown.ts';

const ROOT = resolve(__dirname, '..');

describe('against the defaults and the published results', () => {
  it('sets each classifier beside the baseline report and the published figure, with the gap to its target', async () => {
    // Real committed rows: quick (5,000 training rows) against mnist-full's defaults (55,000), read here.
    const { rows } = await reportRows(resolve(ROOT, 'reports/quick'));
    const full = (await reportRows(resolve(ROOT, 'reports/mnist-full'))).rows;
    const accuracyOf = (label: string, of = full) => {
      const r = of.find((x) => x.classifier === label);
      return r?.status === 'ok' ? r.metrics.accuracy : NaN;
    };
    const [knnFull, svmFull, knnQuick] = [accuracyOf('knn'), accuracyOf('svm'), accuracyOf('knn', rows)];
    const extra = await loadBaseline({
      compare: {
        baseline: 'reports/mnist-full',
        published: [
          { classifier: 'knn', accuracy: 98.3, target: 98.3, source: 'LeCun et al.' },
          { classifier: 'svm', accuracy: 99.36, target: 95, source: 'Khan 2017' },
        ],
      },
    });
    const { markdown } = await renderReport(rows, { ...extra });
    const section = markdown.slice(markdown.indexOf('## Against the defaults'), markdown.indexOf('## Failed'));
    const line = (label: string) => section.split('\n').find((l) => l.startsWith(`| **${label}** |`))!;
    expect(line('knn')).toContain(`| ${(knnFull * 100).toFixed(2)}% (scale → pca(50)) | **95.10%** |`);
    expect(line('knn')).toContain(`| ${((knnQuick - knnFull) * 100).toFixed(2)} |`);
    expect(line('knn')).toContain('| 98.30% (LeCun et al.) | ≥ 98.30% | missed by 3.20 |');
    expect(line('svm')).toContain(`| ${(svmFull * 100).toFixed(2)}% (scale → pca(50)) | **97.20%** |`);
    expect(line('svm')).toMatch(/\| met \|$/);
    expect(line('naive-bayes')).toMatch(/\| — \| — \| — \|$/);
    expect(section).toContain('its default setting in `reports/mnist-full`');
  });

  it('names a baseline folder that holds no results', async () => {
    await expect(loadBaseline({ compare: { baseline: 'reports/no-such-report' } })).rejects.toThrow(
      `compare.baseline: ${resolve(ROOT, 'reports/no-such-report')} holds no results.jsonl; name a report folder relative to the project root (e.g. "reports/mnist-full").`,
    );
  });
});
