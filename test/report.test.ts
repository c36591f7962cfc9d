import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../src/data/datasets.ts';
import { applySplit, makeSplit } from '../src/data/split.ts';
import { encodeLabels, labelsHash, type ResultRow } from '../src/results/row.ts';
import { confusionMatrix } from '../src/metrics/confusion.ts';
import { accuracyLatencyChart, confusionChart } from '../src/report/vega.ts';
import { misclassifiedGrid, pickMisclassified } from '../src/report/images.ts';
import { renderReport } from '../src/report/markdown.ts';
import { fixtureRows } from './helpers/report-rows.ts';

/** Well-formedness check: XML declaration first, one <svg> root, every tag closed in order, text escaped. */
function expectWellFormedSvg(svg: string): void {
  expect(svg.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  const body = svg.slice(svg.indexOf('?>') + 2);
  const stack: string[] = [];
  let roots = 0;
  const token = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/g;
  for (let m = token.exec(body); m; m = token.exec(body)) {
    const [, close, name, , selfClose, text, stray] = m;
    if (stray) throw new Error(`Stray "<" at ${m.index}: ${body.slice(m.index, m.index + 40)}`);
    if (text !== undefined) {
      expect(text.replace(/&(amp|lt|gt|quot|apos|#\d+);/g, ''), 'unescaped & in text').not.toContain('&');
      if (!stack.length) expect(text.trim(), 'text outside the root').toBe('');
      continue;
    }
    if (close) {
      expect(stack.pop(), `closing </${name}>`).toBe(name);
    } else if (!selfClose) {
      if (!stack.length) roots++;
      stack.push(name!);
    } else if (!stack.length) roots++;
  }
  expect(stack).toEqual([]);
  expect(roots).toBe(1);
}

const config = { name: 'fixture', deploy: { maxLatencyMs: 1, maxModelBytes: 2_500_000 } };

describe('renderReport on a fixed set of rows', () => {
  const rows = fixtureRows();
  let report: Awaited<ReturnType<typeof renderReport>>;
  let md: string;
  beforeAll(async () => {
    report = await renderReport(rows, { config });
    md = report.markdown;
  });

  it('matches the snapshot', async () => {
    expect(md).toMatchSnapshot();
    expect(report.files.map((f) => f.name)).toEqual([
      'repetitions.svg',
      'accuracy-latency.svg',
      'confusion-svm.svg',
      'confusion-knn.svg',
      'confusion-random-forest.svg',
      'confusion-naive-bayes.svg',
    ]);
  });

  it('ranks by accuracy, repetitions as mean ± sd, unfinished runs last', async () => {
    const ranked = [...md.matchAll(/^\| (\d+|—) \| \*\*([^*]+)\*\* \|/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(ranked).toEqual(['1 svm', '2 knn', '3 random-forest', '4 naive-bayes', '— cnn', '— decision-tree']);
    expect(md).toContain('| 94.50% ± 0.71 (n=2) |');
    expect(md).toContain('| 97.00% | 91.5% – 99.0% |'); // Wilson for 97/100
  });

  it('lists failed and timed-out runs with their reasons', async () => {
    const failures = md.slice(md.indexOf('## Failed'), md.indexOf('## Deployment'));
    expect(failures).toContain('| **timeout** | 600 s | No result after 600 s (limit: timeoutSeconds in the config). |');
    expect(failures).toContain('| **failed** | — | ml-cart threw "Cannot read properties of undefined (reading \'length\')" while fitting; see the log. |');
  });

  it('shows the bundle figures, and picks on them: the Pareto set, the best within the limits, and an uncertain pick', async () => {
    const deploy = md.slice(md.indexOf('## Deployment'), md.indexOf('## Significance'));
    expect(deploy).toContain('| **svm** | `models/svm-run04.bundle` | 1.2 MB | 140 | 0.9 / 1.4 | 0.8 – 1.1 (3 passes, 600 calls) | 2500 | 1 | 100 / 100 | 0.4, 900 kB |');
    expect(deploy).toContain('| **knn** | `models/knn-run01.bundle`, `models/knn-run05.bundle` | 3.4 MB | 185 | 2.6 / 3.5 | 2.4 – 2.8 (6 passes, 1200 calls) |');
    expect(deploy).toContain('**No bundle figures:** naive-bayes (the plugin "naive-bayes" has no serialize(), so its models cannot be saved). They are left out of the Pareto set and the pick.');
    const pareto = deploy.slice(deploy.indexOf('**Pareto set**'));
    expect([...pareto.matchAll(/^\| \*\*([^*]+)\*\* \|/gm)].map((m) => m[1])).toEqual(['svm', 'random-forest']);
    // svm is the most accurate and its latency p50 (0.9 ms) fits, but its passes (0.8 – 1.1 ms) straddle the 1 ms limit.
    expect(deploy).toContain(
      '**Best within the limits** (latency p50 ≤ 1 ms per image, end to end and bundle ≤ 2.5 MB): **svm**: 97.00%, 0.9 ms per image end to end (passes 0.8 – 1.1), bundle 1.2 MB (`models/svm-run04.bundle`).',
    );
    expect(deploy).toContain('**The pick is uncertain:** the per-pass latencies of svm (97.00%; latency p50 0.9 ms, passes 0.8 – 1.1 ms) fall on both sides of the 1 ms limit,');
    // The results table shows bundle figures, and marks the model-only ones.
    expect(md).toContain('| 0.9 / 1.4 | 1.2 MB |');
    expect(md).toContain('| 97.00% | 91.5% – 99.0% | 0.9698 | 0.4 | 3.1 | 0.05 | 0.9 / 1.4 | 1.2 MB |');
  });

  it('one noisy pass does not move the pick, but it makes the pick uncertain; runs without a bundle are left out', async () => {
    const { deploymentChoice } = await import('../src/report/markdown.ts');
    const bundles = [
      { label: 'svm', file: 'models/svm-run04.bundle', accuracy: 0.97 },
      { label: 'knn', file: 'models/knn-run01.bundle', accuracy: 0.945 },
      { label: 'random-forest', file: 'models/random-forest-run07.bundle', accuracy: 0.9 },
    ];
    // No run here has compact bundles (bundle.precision), so there are no compact candidates.
    expect(deploymentChoice(rows, { config })).toEqual({ pick: { label: 'svm', file: 'models/svm-run04.bundle', accuracy: 0.97 }, uncertain: ['svm'], bundles, compact: [] });
    // Limit below svm's p50 but above its fastest pass: the forest is picked, and svm is named as a contender.
    expect(deploymentChoice(rows, { deploy: { maxLatencyMs: 0.85, maxModelBytes: 2_500_000 } })).toEqual({
      pick: { label: 'random-forest', file: 'models/random-forest-run07.bundle', accuracy: 0.9 },
      uncertain: ['svm'],
      bundles,
      compact: [],
    });
    // Every pass within the limit: a sure pick.
    expect(deploymentChoice(rows, { deploy: { maxLatencyMs: 1.2 } })).toMatchObject({ pick: { label: 'svm' }, uncertain: [] });
    // No bundle is small enough: no pick, and nothing uncertain.
    expect(deploymentChoice(rows, { deploy: { maxLatencyMs: 1, maxModelBytes: 1_000_000 } })).toEqual({ uncertain: [], bundles, compact: [] });
    expect(deploymentChoice(rows, { deploy: { maxModelBytes: 2_200_000 } })).toMatchObject({ pick: { label: 'svm' }, uncertain: [] });
  });

  it('tests each classifier against the best with McNemar on the shared test rows', async () => {
    // svm wrong at rows 0, 1, 50; knn seed 1 wrong at 0..4 → b = 3 (2, 3, 4), c = 1 (50): exact p = 2 · 5/16.
    expect(md).toContain('| **knn** | 95.00% | 3 | 1 | exact | 0.6250 | 0.6250 | no |');
    expect(md).toContain('| **naive-bayes** | 60.00% | 39 | 2 | χ² = 31.6 |');
  });

  it('does not depend on the order of the rows and is repeatable', async () => {
    expect((await renderReport([...rows].reverse(), { config })).markdown).toBe(md);
  });

  it('writes well-formed SVG', async () => {
    for (const f of report.files) expectWellFormedSvg(new TextDecoder().decode(f.bytes));
    expectWellFormedSvg(await accuracyLatencyChart([{ label: 'a <&> "b"', latencyMs: 1, accuracy: 0.5 }]));
    expectWellFormedSvg(await accuracyLatencyChart([]));
    // The check itself catches what it should.
    expect(() => expectWellFormedSvg('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"><g></svg>')).toThrow();
    expect(() => expectWellFormedSvg('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"><text>a & b</text></svg>')).toThrow();
    expectWellFormedSvg(await confusionChart(confusionMatrix([0, 1], [1, 1]), { title: "it's <1>", classNames: ['T-shirt & top', 'Trouser'] }));
  });

  it('says so when no limits are set, and when nothing meets them', async () => {
    const free = (await renderReport(rows)).markdown;
    expect(free).toContain('No deployment limits were set');
    expect(free).toContain('- Most accurate: **svm**: 97.00%, 0.9 ms per image end to end (passes 0.8 – 1.1), bundle 1.2 MB (`models/svm-run04.bundle`)');
    expect(free).toContain('- Fastest: **random-forest**: 90.00%, 0.06 ms per image end to end');
    expect(free).toContain('- Smallest: **svm**');
    expect(free).toContain('No experiment config was given to the report.');
    const tight = (await renderReport(rows, { deploy: { maxLatencyMs: 0.001 } })).markdown;
    expect(tight).toContain('**No classifier meets the limits** (latency p50 ≤ 0.001 ms per image, end to end).');
  });

  it('renders when every run failed, and warns when test labels are missing', async () => {
    const failedOnly = (await renderReport(rows.filter((r) => r.status !== 'ok'))).markdown;
    expect(failedOnly).toContain('No run finished; nothing to deploy.');
    expect(failedOnly).toContain('| **cnn** | epochs=2, batchSize=128 | 1 | 0 | **timeout** |');
    const noLabels = rows.map((r) => (r.status === 'ok' ? ({ ...r, testLabels: undefined } as ResultRow) : r));
    const md2 = (await renderReport(noLabels)).markdown;
    expect(md2).toContain(`> - No row holds the test labels with hash ${labelsHash(Int32Array.from({ length: 100 }, (_, i) => i % 10))}; confusion matrices and significance tests need them.`);
    expect(md2).toContain('The test labels of this run were not stored, so there is no confusion matrix.');
  });
});

describe('labels of classifiers that share a name', () => {
  it('adds the params, then the features, then the engine, and keeps file names unique', async () => {
    const [knn] = fixtureRows();
    const rows = [
      knn!,
      { ...knn!, id: 'b', params: { k: 1, distance: 'euclidean' } },
      { ...knn!, id: 'c', params: { k: 1, distance: 'euclidean' }, features: ['scale', 'pca(50)'] },
      { ...knn!, id: 'd', params: { k: 1, distance: 'euclidean' }, features: ['scale', 'pca(50)'], engine: 'tfjs-wasm' },
    ] as ResultRow[];
    const { markdown, files } = (await renderReport(rows));
    const labels = [...markdown.matchAll(/^\| \d+ \| \*\*([^*]+)\*\* \|/gm)].map((m) => m[1]).sort();
    expect(labels).toEqual([
      'knn (k=1, distance=euclidean; scale → pca(50); js (brute force))',
      'knn (k=1, distance=euclidean; scale → pca(50); tfjs-wasm)',
      'knn (k=1, distance=euclidean; scale)',
      'knn (k=3, distance=euclidean)',
    ]);
    expect(new Set(files.map((f) => f.name)).size).toBe(files.length);
  });
});

describe('misclassified digits (real MNIST test images)', async () => {
  const ds = await loadDataset('mnist');
  const split = makeSplit(ds, { train: 100, test: 200, seed: 3 });
  const test = applySplit(ds, split).test;
  // A fake classifier that is wrong on every 9th row.
  const predictions = test.y.map((v, i) => (i % 9 === 0 ? (v + 1) % 10 : v));
  const wrong = pickMisclassified(test.y, predictions, 40);

  it('draws each digit at 2× with its caption strip, and the PNG decodes to the grid size', async () => {
    expect(wrong).toHaveLength(23);
    const grid = misclassifiedGrid(test.x, [28, 28], wrong, { columns: 10 });
    const png = PNG.sync.read(Buffer.from(grid.png));
    // Cells are 68 px wide (the caption needs 64 px + padding) and 56 + 18 px high; 23 items → 3 rows of 10.
    expect([png.width, png.height, grid.rows, grid.columns]).toEqual([680, 222, 3, 10]);
    // Cell 2 (third wrong digit) at grid position (2, 0): its pixels are the raw test pixels.
    const item = wrong[2]!;
    for (const [x, y] of [[14, 14], [10, 20], [20, 8], [5, 5]] as const) {
      const v = Math.round(test.x.data[item.index * 784 + y * 28 + x]!);
      const o = ((2 + y * 2) * png.width + (2 * 68 + 6 + x * 2)) * 4;
      expect([png.data[o], png.data[o + 1], png.data[o + 2]]).toEqual([v, v, v]);
    }
  });

  it('puts the grid and its captions in the report', async () => {
    const row: ResultRow = {
      ...fixtureRows()[0]!,
      split: { train: 100, validation: 0, test: 200, seed: 3, fingerprint: split.fingerprint },
      metrics: { accuracy: 177 / 200, macroF1: 0.88, correct: 177, total: 200 },
      predictions: encodeLabels(predictions),
      testLabels: encodeLabels(test.y),
      testLabelsHash: labelsHash(test.y),
    } as ResultRow;
    const { markdown, files } = (await renderReport([row], { testImages: { [split.fingerprint]: test.x }, classNames: ds.classes }));
    const png = files.find((f) => f.name === 'misclassified-knn.png');
    expect(png && PNG.sync.read(Buffer.from(png.bytes)).width).toBe(680);
    expect(markdown).toContain('**Misclassified test digits** (first 23 of 23, in test order; caption: true → predicted):');
    expect(markdown).toContain(`| **1** | ${test.y[0]} → ${predictions[0]} | ${test.y[9]} → ${predictions[9]} |`);
    // A single matrix works too when the test size matches; a wrong-sized one is ignored.
    expect((await renderReport([row], { testImages: test.x })).files.map((f) => f.name)).toContain('misclassified-knn.png');
    expect((await renderReport([row], { testImages: ds.test.images })).files.map((f) => f.name)).not.toContain('misclassified-knn.png');
  });
});
