/**
 * Calibration and the "unsure" threshold in real runs (issue 24): fitted on the validation rows only,
 * stored in the bundle, and measured (not assumed) on the test rows.
 * - The test-peeker fixture's scores are overconfident (0.99 on its answer): calibration must lower the
 *   centroid model's test ECE. In "peek" mode it knows every test label (100% on test rows) and is at
 *   chance on validation rows: a threshold fitted on validation reaches no target (null), where one fitted
 *   on the test rows would trust it. Its log shows the validation rows were scored before the test rows.
 * - The quick CNN's test coverage and accuracy at its threshold equal what the bundle itself gives on
 *   the same raw test images (loadModel → classify), and its threshold is the one stored in the bundle.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../src/data/datasets.ts';
import { makeSplit, testPart } from '../src/data/split.ts';
import { loadExperiment } from '../src/harness/experiment.ts';
import { runExperiment } from '../src/harness/run.ts';
import { loadModel } from '../src/index.ts';
import { readRows, type OkRow } from '../src/results/row.ts';
import { rowsDigest } from './fixtures/plugins/test-peeker.ts';
import { takeRows } from '@digitbench/runtime/internal';

const ROOT = resolve(__dirname, '..');
const PEEKER = resolve(__dirname, 'fixtures/plugins/test-peeker.ts');

describe('calibration and the unsure threshold in a real run', () => {
  it('are fitted on validation rows only, lower an overconfident model\'s ECE, and are measured on the test rows', async () => {
    mkdirSync(join(ROOT, '.tmp'), { recursive: true });
    const dir = mkdtempSync(join(ROOT, '.tmp', 'trust-'));
    const log = join(dir, 'calls.log');
    const split = { train: 1000, validation: 500, test: 400, seed: 2 };
    const file = join(dir, 'exp.json');
    writeFileSync(
      file,
      JSON.stringify({
        split,
        features: [{ step: 'scale' }],
        latencySamples: 0,
        reject: { targetAccuracy: 0.97 },
        deploy: { passes: 2, calls: 20, batch: 100 },
        classifiers: [
          { plugin: PEEKER, label: 'overconfident', params: { mode: 'centroid' } },
          { plugin: PEEKER, label: 'peeker', params: { mode: 'peek', log } },
          { plugin: 'cnn', params: { architecture: 'lenet', epochs: 4 } },
        ],
      }),
    );
    const out = join(dir, 'out');
    const summary = await runExperiment(await loadExperiment(file), { outDir: out });
    expect(summary.failed).toBe(0);
    const rows = (await readRows(join(out, 'results.jsonl'))) as OkRow[];
    const row = (label: string) => rows.find((r) => r.classifier === label)!;

    // Overconfident centroid: calibration softens it (T > 1) and its test ECE falls.
    const over = row('overconfident').trust!;
    expect(over.validationRows).toBe(500);
    expect(over.logits).toBe('probability');
    expect(over.temperature).toBeGreaterThan(1);
    expect(over.test.before.ece).toBeGreaterThan(0.1);
    expect(over.test.after.ece).toBeLessThan(over.test.before.ece / 2);
    expect(over.test.after.nll).toBeLessThan(over.test.before.nll);

    // The peeker: perfect on the test rows, at chance on validation; its threshold comes from validation.
    const peek = row('peeker');
    expect(peek.metrics.accuracy).toBe(1);
    expect(peek.trust!.threshold).toBeNull();
    expect(peek.trust!.test.atThreshold).toEqual({ coverage: 0, accuracy: null, answered: 0 });
    const ds = await loadDataset('mnist');
    const sp = makeSplit(ds, split);
    const scaled = (m: { rows: number; cols: number; data: Float32Array }) => ({ ...m, data: m.data.map((v) => v / 255) });
    const valDigest = rowsDigest(scaled(takeRows(ds.train.images, sp.validation)));
    const testDigest = rowsDigest(scaled(testPart(ds, sp).x));
    const scoreCalls = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { call?: string; digest: string }).filter((c) => c.call === 'scores');
    expect(scoreCalls.map((c) => (c.digest === valDigest ? 'validation' : c.digest === testDigest ? 'test' : 'other'))).toEqual(['validation', 'test']);

    // The CNN: its figures at the threshold are what its bundle gives on the raw test images.
    const cnn = row('cnn');
    const t = cnn.trust!;
    const model = await loadModel(join(out, cnn.bundle!.file));
    try {
      expect(model.trust!.reject.threshold).toBe(t.threshold);
      expect(model.trust!.calibration.temperature).toBe(t.temperature);
      const test = testPart(ds, sp);
      const { labels, unsure, confidence } = await model.classify(test.x);
      let answered = 0;
      let right = 0;
      for (let i = 0; i < labels.length; i++) {
        expect(unsure[i]).toBe(t.threshold === null || confidence[i]! < t.threshold ? 1 : 0);
        if (!unsure[i]) {
          answered++;
          if (labels[i] === test.y[i]) right++;
        }
      }
      expect(t.threshold).not.toBeNull();
      expect(answered).toBeGreaterThan(0);
      expect(t.test.atThreshold.answered).toBe(answered);
      expect(t.test.atThreshold.coverage).toBe(answered / labels.length);
      expect(t.test.atThreshold.accuracy).toBe(answered ? right / answered : null);
      // Labels are the model's own (calibration never changes a label), and predict() says the same.
      const [p] = await model.predict(Array.from(test.x.data.subarray(0, 784)));
      expect(p!.label).toBe(labels[0]);
      expect(p!.unsure).toBe(unsure[0] === 1);
      expect(p!.confidence).toBeCloseTo(confidence[0]!, 12);
    } finally {
      model.dispose();
    }
  });
});
