/**
 * The report's "Confidence and “unsure”" and "Robustness" sections: their tables line by line on
 * hand-built rows (test/helpers/trust-rows.ts, parsed with trustSchema and robustnessSchema), the data
 * of their charts' specs, the strip of corrupted digits on real MNIST test images, and that neither
 * section (nor any of its files) appears when no row has the fields.
 */
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { corruptImages, CORRUPTION_NAMES } from '@digitbench/runtime/internal';
import { loadDataset } from '../src/data/datasets.ts';
import { corruptAll } from '../src/harness/corrupted.ts';
import { applySplit, makeSplit } from '../src/data/split.ts';
import { renderReport } from '../src/report/markdown.ts';
import { confidenceText } from '../src/report/sections/trust.ts';
import { corruptionSpec, coverageSpec, reliabilitySpec, vegaLiteSvg } from '../src/report/vega.ts';
import { encodeLabels, labelsHash, type ResultRow } from '../src/results/row.ts';
import { fixtureRows } from './helpers/report-rows.ts';
import { FOREST_CORRECT, forestTrust, knnTrust, SVM_CORRECT, svmTrust, trustRows } from './helpers/trust-rows.ts';

/** The lines of one `## ` section of the report (heading included, up to the next one). */
function section(md: string, heading: string): string[] {
  const lines = md.split('\n');
  const from = lines.indexOf(heading);
  if (from < 0) return [];
  const to = lines.findIndex((l, i) => i > from && l.startsWith('## '));
  return lines.slice(from, to < 0 ? undefined : to);
}

interface Layered {
  data?: { values: Record<string, unknown>[] };
  layer?: Layered[];
  transform?: { filter: string }[];
}

describe('Confidence and “unsure” section', () => {
  let md: string;
  let names: string[];
  let lines: string[];
  beforeAll(async () => {
    const report = await renderReport(trustRows(), { config: { name: 'fixture' } });
    md = report.markdown;
    names = report.files.map((f) => f.name);
    lines = section(md, '## Confidence and “unsure”');
  });

  it('explains calibration and the threshold in one paragraph above the table', () => {
    expect(lines.length).toBeGreaterThan(0);
    const intro = lines[2]!;
    expect(intro).toContain('Calibration is temperature scaling');
    expect(intro).toContain('fitted on the 1000 validation rows only');
    expect(intro).toContain("**ECE** = expected calibration error over 15 equal-width bins of the top label's confidence");
    expect(intro).toContain('target accuracy (99.50%)');
    expect(intro).toContain('The raw scores stay available');
  });

  it('gives per run the logits, T, ECE / NLL / Brier before → after, the threshold and the coverage and accuracy at it', () => {
    const table = lines.filter((l) => l.startsWith('|'));
    expect(table).toEqual([
      '| classifier | logits | T | ECE before → after | NLL before → after | Brier before → after | threshold | validation: coverage (accuracy) | test: coverage | test: accuracy at the threshold |',
      '| :--- | :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      '| **svm** | decision values | 0.431 | 0.305 → 0.0611 | 0.486 → 0.239 | 0.216 → 0.0839 | 0.9136 | 25.30% (99.60%) | 25.00% | 96.00% (25 of 100) |',
      '| **knn (run 1 of 2)** | log, ε = 1.0e-6 | 2.42 | 0.0247 → 0.0395 | 0.538 → 0.325 | 0.117 → 0.126 | none reaches the target: every answer unsure | — | 0.00% | — |',
      '| **knn (run 2 of 2)** | log, ε = 1.0e-6 | 2.31 | 0.0247 → 0.0395 | 0.538 → 0.325 | 0.117 → 0.126 | none reaches the target: every answer unsure | — | 0.00% | — |',
      '| **random-forest** | log, ε = 1.0e-6 | 0.36 | 0.26 → 0.0142 | 0.533 → 0.257 | 0.226 → 0.117 | 0.9471 | 68.10% (99.56%) | 67.00% | 100.00% (67 of 100) |',
    ]);
  });

  it('says where the test rows fall short of the target, which runs have no threshold, where ECE rose, and why a run has no calibration', () => {
    expect(lines).toContain('- **Below the target on the test rows:** svm (96.00% < 99.50%): the threshold met the target on the validation rows it was chosen on, not on these.');
    expect(lines).toContain(
      '- **No threshold:** knn (run 1 of 2), knn (run 2 of 2): at no confidence level do the validation rows answered reach the target accuracy, so the bundle answers every image "unsure".',
    );
    expect(lines).toContain('- **ECE rose with calibration** for knn (run 1 of 2), knn (run 2 of 2): the temperature minimises the validation log-loss, not the ECE (see the NLL column).');
    expect(lines).toContain('**No calibration** (such a bundle never answers "unsure"): naive-bayes: the model has no scores to calibrate.');
  });

  it('links the reliability diagram and the accuracy–coverage chart, written beside the report', () => {
    expect(lines).toContain('![Reliability diagram per classifier on the test rows, before and after calibration](reliability.svg)');
    expect(lines).toContain('![Accuracy vs coverage on the test rows per classifier, with the target accuracy](accuracy-coverage.svg)');
    expect(lines).toContain("The charts show each classifier's first run.");
    expect(names).toEqual(expect.arrayContaining(['reliability.svg', 'accuracy-coverage.svg']));
  });

  it('comes after the studies and before the deployment section', () => {
    const at = (h: string) => md.indexOf(`\n${h}\n`);
    expect(at('## Confidence and “unsure”')).toBeGreaterThan(at('## Failed, timed-out and skipped runs'));
    expect(at('## Robustness')).toBeGreaterThan(at('## Confidence and “unsure”'));
    expect(at('## Deployment')).toBeGreaterThan(at('## Robustness'));
  });

  it('prints a threshold within 5e-5 of 1 so that it never reads as 1', () => {
    expect(confidenceText(0.9136)).toBe('0.9136');
    expect(confidenceText(0.99998)).toBe('1 − 2.0e-5');
    expect(confidenceText(0.99994)).toBe('0.9999');
    expect(confidenceText(1)).toBe('1.0000');
  });
});

describe('Robustness section', () => {
  let lines: string[];
  let md: string;
  beforeAll(async () => {
    md = (await renderReport(trustRows(), { config: { name: 'fixture' } })).markdown;
    lines = section(md, '## Robustness');
  });

  it('gives per bundle clean and mean corrupted accuracy, mCE, the worst corruption, coverage at the threshold and the refused shares', () => {
    // svm: mean of SVM_CORRECT / 100; mCE = mean of (1 − acc) / 0.03; pooled coverage 734 / 1500 answered, 719 of them right.
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length / 100;
    expect(mean(SVM_CORRECT)).toBeCloseTo(0.81467, 5);
    const table = lines.filter((l) => l.startsWith('|')).slice(0, 4);
    expect(table).toEqual([
      '| classifier | clean accuracy | mean corrupted | mCE | worst corruption | clean: coverage (sure accuracy) | corrupted: coverage (sure accuracy) | Fashion-MNIST refused | noise refused |',
      '| :--- | ---: | ---: | ---: | :--- | ---: | ---: | ---: | ---: |',
      '| **svm** | 97.00% | 81.47% | 6.18 | translate (55.00%) | 25.00% (96.00%) | 48.93% (97.96%) | 62.00% (620 of 1000) | 100.00% (1000 of 1000) |',
      '| **random-forest** | 90.00% | 69.93% | 3.01 | brightness (30.00%) | 67.00% (100.00%) | 42.00% (97.62%) | skipped | 91.20% (912 of 1000) |',
    ]);
    expect(lines).toContain("- **Fashion-MNIST skipped:** Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist).");
    expect(lines).toContain('- **Sure answers on corrupted images below the target:** svm (97.96% < 99.50%), random-forest (97.62% < 99.50%): the threshold was chosen on clean validation rows.');
    expect(lines).toContain("- **Time to measure** (corrupted and out-of-distribution images, in the bundle's process): svm 4.2 s, random-forest 4.2 s; 8.4 s in all.");
  });

  it('tables the accuracy per corruption, a column per bundle, each one\'s worst in bold', () => {
    const table = lines.filter((l) => l.startsWith('|')).slice(4);
    expect(table[0]).toBe('| corruption | svm | random-forest |');
    expect(table[2]).toBe('| clean | 97.00% | 90.00% |');
    expect(table.slice(3, 3 + CORRUPTION_NAMES.length).map((l) => l.split(' | ')[0]!.slice(2))).toEqual([...CORRUPTION_NAMES]);
    expect(table).toContain('| brightness | 86.00% | **30.00%** |');
    expect(table).toContain('| translate | **55.00%** | 50.00% |');
    expect(table).toContain(`| fog | ${SVM_CORRECT[10]}.00% | ${FOREST_CORRECT[10]}.00% |`);
    expect(table.at(-1)).toBe('| **mean over the corruptions** | **81.47%** | **69.93%** |');
    expect(lines).toContain('![Test accuracy per classifier under each corruption](corruptions.svg)');
  });

  it('names the runs that were not measured, with the reason once', () => {
    expect(lines).toContain('**Not measured:** knn (run 1 of 2), knn (run 2 of 2): the deploy process exited with code 1 before the corrupted images were measured.');
  });

  it('draws no strip without the test images', () => {
    expect(md).not.toContain('corrupted-digits.png');
  });
});

describe('neither section without the fields', () => {
  it('leaves out both sections and their files when no row has trust, noTrust, robustness or robustnessError', async () => {
    const { markdown, files } = await renderReport(fixtureRows(), { config: { name: 'fixture' } });
    expect(markdown).not.toContain('## Confidence');
    expect(markdown).not.toContain('## Robustness');
    expect(files.map((f) => f.name)).toEqual(['repetitions.svg', 'accuracy-latency.svg', 'confusion-svm.svg', 'confusion-knn.svg', 'confusion-random-forest.svg', 'confusion-naive-bayes.svg']);
  });

  it('shows only the confidence section when rows have trust but no robustness, and only the reasons when every run lacks calibration', async () => {
    const noRobustness = trustRows().map((r) => {
      const { robustness: _r, robustnessError: _e, ...rest } = r as Record<string, unknown>;
      return rest as ResultRow;
    });
    const a = await renderReport(noRobustness, {});
    expect(a.markdown).toContain('## Confidence and “unsure”');
    expect(a.markdown).not.toContain('## Robustness');
    expect(a.files.map((f) => f.name)).not.toContain('corruptions.svg');
    const onlyReasons = fixtureRows().map((r) => (r.status === 'ok' ? ({ ...r, noTrust: 'the split has no validation part to calibrate on (set split.validation)' } as ResultRow) : r));
    const b = await renderReport(onlyReasons, {});
    expect(section(b.markdown, '## Confidence and “unsure”')).toEqual([
      '## Confidence and “unsure”',
      '',
      '**No calibration** (such a bundle never answers "unsure"): svm, knn (run 1 of 2), knn (run 2 of 2), random-forest, naive-bayes: the split has no validation part to calibrate on (set split.validation).',
      '',
    ]);
    expect(b.files.map((f) => f.name)).not.toContain('reliability.svg');
  });
});

describe('chart specs', () => {
  it('reliability: the non-empty bins in percent, before and after, and the diagonal in every panel', async () => {
    const spec = reliabilitySpec([
      { classifier: 'svm', before: svmTrust.test.reliability.before, after: svmTrust.test.reliability.after },
      { classifier: 'knn', before: knnTrust.test.reliability.before, after: knnTrust.test.reliability.after },
    ]) as unknown as { data: { values: { classifier: string; stage: string; confidence: number; accuracy: number; count: number }[] }; facet: { sort: string[] } };
    const v = spec.data.values;
    expect(spec.facet.sort).toEqual(['svm', 'knn']);
    expect(v.filter((x) => x.classifier === 'svm' && x.stage === 'after calibration')).toEqual([
      { classifier: 'svm', stage: 'after calibration', confidence: 33.9, accuracy: 0, count: 1 },
      { classifier: 'svm', stage: 'after calibration', confidence: 91, accuracy: 97.8, count: 93 },
      { classifier: 'svm', stage: 'after calibration', confidence: 98, accuracy: 100, count: 6 },
    ]);
    expect(v.filter((x) => x.classifier === 'knn' && x.stage === 'before calibration').map((x) => [x.confidence, x.accuracy, x.count])).toEqual([
      [33.3, 0, 2],
      [66.7, 81.3, 16],
      [100, 100, 82],
    ]);
    expect(v.filter((x) => x.stage === 'diagonal').map((x) => [x.classifier, x.confidence, x.accuracy])).toEqual([
      ['svm', 0, 0],
      ['svm', 100, 100],
      ['knn', 0, 0],
      ['knn', 100, 100],
    ]);
    // Every bin counted once: the after bins of each classifier hold its 100 test rows.
    for (const c of ['svm', 'knn']) expect(v.filter((x) => x.classifier === c && x.stage === 'after calibration').reduce((a, x) => a + x.count, 0)).toBe(100);
    const svg = await vegaLiteSvg(spec as never);
    expect(svg).toContain('after calibration');
    expect(svg).toContain('before calibration');
  });

  it('accuracy–coverage: each curve in percent, a dot at each threshold that answers anything, the target as a rule', () => {
    const spec = coverageSpec(
      [
        { classifier: 'svm', curve: svmTrust.test.curve, atThreshold: { coverage: 0.25, accuracy: 0.96 } },
        { classifier: 'knn', curve: knnTrust.test.curve },
        { classifier: 'random-forest', curve: forestTrust.test.curve, atThreshold: { coverage: 0.67, accuracy: 1 } },
      ],
      0.995,
    ) as unknown as { layer: Layered[] };
    const [rule, curves, dots] = spec.layer.map((l) => l.data!.values);
    expect(rule).toEqual([{ accuracy: 99.5 }]);
    expect(curves!.filter((p) => p.classifier === 'knn')).toEqual([
      { classifier: 'knn', coverage: 82, accuracy: 100 },
      { classifier: 'knn', coverage: 98, accuracy: 96.94 },
      { classifier: 'knn', coverage: 100, accuracy: 95 },
    ]);
    expect(curves).toHaveLength(13);
    expect(dots).toEqual([
      { classifier: 'svm', coverage: 25, accuracy: 96 },
      { classifier: 'random-forest', coverage: 67, accuracy: 100 },
    ]);
    expect((coverageSpec([], undefined) as unknown as { layer: Layered[] }).layer[0]!.data!.values).toEqual([]);
  });

  it('corruption heat map: a cell per classifier × corruption with its accuracy written, darker for less accurate', () => {
    const cells = [
      { classifier: 'svm', corruption: 'clean', accuracy: 0.97 },
      { classifier: 'svm', corruption: 'fog', accuracy: 0.6 },
      { classifier: 'rf', corruption: 'clean', accuracy: 0.9 },
      { classifier: 'rf', corruption: 'fog', accuracy: 0.45 },
    ];
    const spec = corruptionSpec(cells) as unknown as { data: { values: { classifier: string; corruption: string; text: string; fill: string }[] }; encoding: { x: { sort: string[] }; y: { sort: string[] } } };
    expect(spec.data.values.map((v) => [v.classifier, v.corruption, v.text])).toEqual([
      ['svm', 'clean', '97.0'],
      ['svm', 'fog', '60.0'],
      ['rf', 'clean', '90.0'],
      ['rf', 'fog', '45.0'],
    ]);
    expect(spec.encoding.x.sort).toEqual(['clean', 'fog']);
    expect(spec.encoding.y.sort).toEqual(['svm', 'rf']);
    // Luminance falls with accuracy: the most accurate cell is the lightest, the least the darkest.
    const lum = (hex: string) => [1, 3, 5].reduce((a, i) => a + Number.parseInt(hex.slice(i, i + 2), 16), 0);
    const fills = spec.data.values.map((v) => lum(v.fill));
    expect(fills[0]).toBe(Math.max(...fills));
    expect(fills[3]).toBe(Math.min(...fills));
  });
});

describe('the strip of corrupted digits (real MNIST test images)', async () => {
  const ds = await loadDataset('mnist');
  const split = makeSplit(ds, { train: 100, test: 200, seed: 3 });
  const test = applySplit(ds, split).test;
  // The fixture rows on a real split of 200 test rows, every prediction right.
  const onRealSplit = (r: ResultRow) =>
    ({
      ...r,
      split: { train: 100, validation: 0, test: 200, seed: 3, fingerprint: split.fingerprint },
      ...(r.status === 'ok' ? { metrics: { accuracy: 1, macroF1: 1, correct: 200, total: 200 }, predictions: encodeLabels(test.y), testLabels: encodeLabels(test.y), testLabelsHash: labelsHash(test.y) } : {}),
    }) as ResultRow;
  const row = onRealSplit(trustRows().find((r) => r.classifier === 'svm')!);
  const opts = { testImages: { [split.fingerprint]: test.x }, classNames: ds.classes, imageShape: ds.imageShape };

  it('draws the first two test digits as they are and under each corruption, 8 a row, captioned in a table', async () => {
    const { markdown, files } = await renderReport([row], opts);
    const file = files.find((f) => f.name === 'corrupted-digits.png')!;
    const png = PNG.sync.read(Buffer.from(file.bytes));
    // 16 cells per digit in 2 rows of 8; a cell is the 84 px digit + 2 × 3 px (BRIGHTNESS, 78 px, fits) wide and 84 + 2 caption lines of 12 + 3 × 3 px high.
    expect([png.width, png.height]).toEqual([8 * 90, 4 * 117]);
    const pixel = (x: number, y: number) => png.data[(y * png.width + x) * 4]!;
    const cellAt = (n: number) => ({ x: (n % 8) * 90 + 3, y: Math.floor(n / 8) * 117 + 3 });
    const first = test.x.data.subarray(0, 2 * 784);
    // Cell 0: test row 0 as it is; cell 16 + 11: test row 1 under fog (the 11th corruption), as corruptImages makes it with the run's seed.
    const fog = corruptImages('fog', first, 2, 28, 28, row.seed);
    for (const [x, y] of [[14, 14], [10, 20], [20, 8], [3, 25]] as const) {
      const c0 = cellAt(0);
      expect(pixel(c0.x + x * 3 + 1, c0.y + y * 3 + 1)).toBe(Math.round(first[y * 28 + x]!));
      const c = cellAt(16 + 11);
      expect(pixel(c.x + x * 3 + 2, c.y + y * 3)).toBe(fog[784 + y * 28 + x]!);
    }
    expect(markdown).toContain(
      `**Sample corrupted digits:** the first 2 test digits as they are and under each corruption, made with the experiment's seed (1) as the measurement makes them (rows 1–2: test row 0, a ${test.y[0]}; rows 3–4: test row 1, a ${test.y[1]}):`,
    );
    expect(markdown).toContain('| **1, 3** | clean | shot_noise | impulse_noise | glass_blur | motion_blur | shear | scale | rotate |');
    expect(markdown).toContain('| **2, 4** | brightness | translate | stripe | fog | spatter | dotted_line | zigzag | canny_edges |');
  });

  it("shows the very images the measurement classified: corruptAll's, with the experiment's seed (a run's seed minus its repetition)", async () => {
    const repetition = { ...row, seed: 3, repetition: 2 } as ResultRow;
    const { markdown, files } = await renderReport([repetition], opts);
    expect(markdown).toContain("made with the experiment's seed (1) as the measurement makes them");
    const png = PNG.sync.read(Buffer.from(files.find((f) => f.name === 'corrupted-digits.png')!.bytes));
    const measured = await corruptAll(test.x.data, test.x.rows, 28, 28, [...CORRUPTION_NAMES], 1, 2);
    let differ = 0;
    for (const [c] of CORRUPTION_NAMES.entries()) {
      for (let d = 0; d < 2; d++) {
        const n = d * 16 + 1 + c;
        const [cx, cy] = [(n % 8) * 90 + 3, Math.floor(n / 8) * 117 + 3];
        for (let i = 0; i < 784; i++) if (png.data[((cy + Math.floor(i / 28) * 3) * png.width + cx + (i % 28) * 3) * 4] !== measured[(c * test.x.rows + d) * 784 + i]) differ++;
      }
    }
    expect(differ).toBe(0);
  });

  it('re-renders byte for byte, whatever the order of the rows', async () => {
    const rows = trustRows().map(onRealSplit);
    const a = await renderReport(rows, opts);
    const b = await renderReport([...rows].reverse(), opts);
    expect(b.markdown).toBe(a.markdown);
    expect(a.files.map((f) => f.name)).toEqual(expect.arrayContaining(['reliability.svg', 'accuracy-coverage.svg', 'corruptions.svg', 'corrupted-digits.png']));
    expect(b.files.map((f) => f.name)).toEqual(a.files.map((f) => f.name));
    for (const [i, f] of a.files.entries()) expect(Buffer.from(b.files[i]!.bytes).equals(Buffer.from(f.bytes)), f.name).toBe(true);
  });
});
