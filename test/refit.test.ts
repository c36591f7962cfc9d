/** refit: "all": a second bundle fitted on training plus test rows, marked refitted and untested. */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel, readBundleFile } from '../src/bundle/file.ts';
import { decodeBundle } from '@digitbench/runtime/internal';
import { loadDataset } from '../src/data/datasets.ts';
import { makeSplit, testPart } from '../src/data/split.ts';
import { loadExperiment } from '../src/harness/experiment.ts';
import { runExperiment } from '../src/harness/run.ts';
import type { OkRow } from '../src/results/row.ts';
import { writeTinyMnist } from './helpers/tiny-dataset.ts';

const ROOT = resolve(__dirname, '..');

describe('refit: "all"', () => {
  it('writes a second bundle fitted on train + test rows, marked untested, carrying the tested figures and its own calibration', async () => {
    mkdirSync(join(ROOT, '.tmp'), { recursive: true });
    const dir = mkdtempSync(join(ROOT, '.tmp', 'refit-'));
    const data = await writeTinyMnist(join(dir, 'tiny'), 800, 200);
    const file = join(dir, 'exp.json');
    const split = { train: 400, test: 150, validation: 100, seed: 2 };
    writeFileSync(
      file,
      JSON.stringify({ dataset: data, split, features: [{ step: 'scale' }], classifiers: [{ plugin: 'naive-bayes' }, { plugin: 'decision-tree' }], refit: 'all', latencySamples: 5, deploy: { passes: 2, calls: 20, batch: 100 } }),
    );
    const out = join(dir, 'out');
    const summary = await runExperiment(await loadExperiment(file), { outDir: out });
    const rows = summary.rows as OkRow[];
    expect(rows.map((r) => r.status)).toEqual(['ok', 'ok']);
    const ds = await loadDataset(data);
    const test = testPart(ds, makeSplit(ds, split));
    for (const row of rows) {
      expect(row.refit).toBeDefined();
      expect(row.refit!.file).toMatch(/^models\/[a-z-]+-[0-9a-f]{8}\.refit\.bundle$/);
      expect(row.refit!.trainRows).toBe(550);
      const { header } = await decodeBundle(await readBundleFile(join(out, row.refit!.file)), row.refit!.file);
      expect(header.run.refit).toEqual({ trainRows: 550, tested: false });
      expect(header.run.id).toBe(row.id);
      expect(header.run.testAccuracy).toBe(row.metrics.accuracy);
      expect(header.split.fingerprint).toBe(row.split.fingerprint);
      // Its own calibration and threshold, fitted on the same 100 validation rows (never on the test rows it was fitted on).
      expect(header.trust!.calibration.validationRows).toBe(100);
      expect(header.trust!.reject.targetAccuracy).toBe(0.995);
      // The refitted model has seen the test rows: it fits them at least as well as the tested one, and it is a different model.
      const tested = await loadModel(join(out, row.bundle!.file));
      const refitted = await loadModel(join(out, row.refit!.file));
      const count = (p: Int32Array) => p.reduce((a, l, i) => a + (l === test.y[i] ? 1 : 0), 0);
      const a = count(await tested.predictLabels(test.x));
      const b = count(await refitted.predictLabels(test.x));
      expect(a / test.y.length).toBeCloseTo(row.metrics.accuracy, 10);
      expect(b).toBeGreaterThanOrEqual(a);
      tested.dispose();
      refitted.dispose();
    }
    // predict says what a refitted bundle is.
    const { predictCommand } = await import('../src/harness/predict.ts');
    const p = await predictCommand(join(out, rows[0]!.refit!.file), [join(ROOT, 'examples/digits')], { top: 3 });
    expect(p.notes[0]).toBe(
      `model: ${join(out, rows[0]!.refit!.file)}: naive-bayes on scale, refitted on 550 rows (training + test) and untested; its tested run had ${(rows[0]!.metrics.accuracy * 100).toFixed(2)}% on 150 ${data} test rows; scores: ${p.notes[0]!.split('; scores: ')[1]}`,
    );
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).toContain('**Refitted to ship** (`"refit": "all"`)');
    expect(report).toContain(`| **naive-bayes** | \`${rows[0]!.refit!.file}\` | 550 |`);
  }, 120_000);
});
