/**
 * The "unsure" answer at the user's end (issue 24): a small real experiment with a validation part and
 * `robustness` writes bundles with a calibration and a threshold; `digitbench predict --json` and the text
 * output, in fresh processes, answer exactly the shares the rows recorded: on the run's own test digits
 * (raw pixels in an idx file, as the run measured them: row.trust at the threshold and
 * row.robustness.clean), on the same uniform-noise images (row.robustness.ood.noise) and on the test
 * digits under shot noise (row.robustness.corruptions), with the same labels.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { corruptImages, takeLabels, takeRows } from '@digitbench/runtime/internal';
import { createRng } from '../src/engine/rng.ts';
import { loadDataset } from '../src/data/datasets.ts';
import { makeSplit } from '../src/data/split.ts';
import { loadModel } from '../src/bundle/file.ts';
import { parseExperiment } from '../src/harness/experiment.ts';
import { runExperiment } from '../src/harness/run.ts';
import { decodeLabels, type OkRow } from '../src/results/row.ts';
import { idxFile } from './helpers/photos.ts';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'bin/digitbench.js');
const base = join(ROOT, '.tmp');
mkdirSync(base, { recursive: true });
const dir = mkdtempSync(join(base, 'predict-trust-'));
const out = join(dir, 'report');
const split = { train: 2000, validation: 1000, test: 500, seed: 3 };
const SEED = 5;
const NOISE = 100;

interface Json {
  trust: { calibration: { temperature: number; validationRows: number }; reject: { targetAccuracy: number; threshold: number | null } } | null;
  results: { input: string; label: number; name: string; confidence?: number; unsure: boolean }[];
}

let rows: OkRow[];
let idx: string;
let noiseIdx: string;
let shotIdx: string;
let testLabels: Int32Array;

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, 'predict', ...args], { encoding: 'utf8', cwd: ROOT });
  expect(r.status, r.stderr).toBe(0);
  return r;
}

beforeAll(async () => {
  const exp = await parseExperiment(
    {
      split,
      features: [{ step: 'scale' }, { step: 'pca', components: 40 }],
      classifiers: [{ plugin: 'svm' }, { plugin: 'naive-bayes' }, { plugin: 'cnn', params: { epochs: 2, batchSize: 64 } }],
      reject: { targetAccuracy: 0.99 },
      robustness: { corruptions: ['shot_noise'], noiseImages: NOISE },
      seed: SEED,
      latencySamples: 5,
      deploy: { passes: 2, calls: 10, batch: 500 },
    },
    join(dir, 'trust.json'),
  );
  rows = (await runExperiment(exp, { outDir: out })).rows as OkRow[];
  const ds = await loadDataset('mnist');
  const s = makeSplit(ds, split);
  idx = join(dir, 'test-images-idx3-ubyte');
  const test = Uint8Array.from(takeRows(ds.test.images, s.test).data);
  writeFileSync(idx, idxFile(test, s.test.length, 28, 28));
  // The deploy process's noise images: each pixel uniform in 0..255, image-major, from createRng(`${seed}:noise`).
  const rng = createRng(`${SEED}:noise`);
  noiseIdx = join(dir, 'noise-images-idx3-ubyte');
  writeFileSync(noiseIdx, idxFile(Uint8Array.from({ length: NOISE * 784 }, () => rng.int(256)), NOISE, 28, 28));
  shotIdx = join(dir, 'shot-noise-images-idx3-ubyte');
  writeFileSync(shotIdx, idxFile(corruptImages('shot_noise', test, s.test.length, 28, 28, SEED), s.test.length, 28, 28));
  testLabels = takeLabels(ds.test.labels, s.test);
}, 600_000);

describe('predict on a bundle with trust', () => {
  it('answers exactly the test share the report recorded at the threshold, with the run\'s labels, in --json and in text', () => {
    expect(rows.map((r) => [r.classifier, r.status, r.trust?.validationRows])).toEqual(['svm', 'naive-bayes', 'cnn'].map((c) => [c, 'ok', 1000]));
    const figures: string[] = [];
    for (const r of rows) {
      const bundle = join(out, r.bundle!.file);
      const json = JSON.parse(cli([bundle, idx, '--json']).stdout) as Json;
      // The bundle's trust is the row's: the same temperature and threshold.
      expect(json.trust!.calibration.temperature, r.classifier).toBe(r.trust!.temperature);
      expect(json.trust!.reject).toMatchObject({ targetAccuracy: 0.99, threshold: r.trust!.threshold });
      expect(json.results.map((x) => x.label), r.classifier).toEqual(Array.from(decodeLabels(r.predictions)));
      const answered = json.results.filter((x) => !x.unsure);
      const right = answered.filter((x) => x.label === testLabels[Number(x.input.split('#')[1])]).length;
      const at = r.trust!.test.atThreshold;
      expect([answered.length, answered.length ? right / answered.length : null], r.classifier).toEqual([at.answered, at.accuracy]);
      // Unsure exactly below the threshold.
      for (const x of json.results) expect(x.unsure, `${r.classifier} ${x.input}`).toBe(r.trust!.threshold === null || x.confidence! < r.trust!.threshold);
      // The text output: one line per digit, "unsure (best guess …)" on the same ones.
      const text = cli([bundle, idx]).stdout.trimEnd().split('\n');
      expect(text).toHaveLength(500);
      expect(text.map((l) => / {2}unsure \(best guess \S+, confidence [\d.]+\) {2}scores: /.test(l)), r.classifier).toEqual(json.results.map((x) => x.unsure));
      figures.push(`${r.classifier}: threshold ${r.trust!.threshold?.toFixed(3)}, ${at.answered}/500 answered (${((at.accuracy ?? 0) * 100).toFixed(2)}% right), accuracy on all ${(r.metrics.accuracy * 100).toFixed(2)}%`);
    }
    console.log(figures.join('\n'));
    // The classic models and the CNN both answer some digits and refuse others at 99% on this small split.
    const cnn = rows.find((r) => r.classifier === 'cnn')!.trust!.test.atThreshold;
    expect(cnn.answered).toBeGreaterThan(0);
    expect(cnn.answered).toBeLessThan(500);
  }, 120_000);

  it('refuses exactly the noise images the report counted as refused, and answers the shot-noise digits it counted', () => {
    const figures: string[] = [];
    for (const r of rows) {
      expect(r.robustnessError, r.classifier).toBeUndefined();
      const rob = r.robustness!;
      const bundle = join(out, r.bundle!.file);
      const ask = (file: string) => (JSON.parse(cli([bundle, file, '--json']).stdout) as Json).results;
      const noise = ask(noiseIdx);
      expect(noise).toHaveLength(NOISE);
      expect([noise.filter((x) => x.unsure).length, NOISE], r.classifier).toEqual([rob.ood.noise.refused, rob.ood.noise.total]);
      const shot = ask(shotIdx);
      const answered = shot.filter((x) => !x.unsure);
      const right = shot.filter((x, i) => x.label === testLabels[i]).length;
      const [corrupt] = rob.corruptions;
      expect([corrupt!.name, shot.length, right, answered.length], r.classifier).toEqual(['shot_noise', corrupt!.total, corrupt!.correct, corrupt!.answered]);
      // The clean figures of the deploy process are the run's, at the same threshold.
      expect(rob.clean.answered, r.classifier).toBe(r.trust!.test.atThreshold.answered);
      figures.push(`${r.classifier}: noise refused ${rob.ood.noise.refused}/${NOISE}; shot noise ${corrupt!.answered}/${corrupt!.total} answered, accuracy ${(corrupt!.accuracy * 100).toFixed(1)}% (clean ${(rob.clean.accuracy * 100).toFixed(1)}%)`);
    }
    console.log(figures.join('\n'));
  }, 120_000);

  it("loadModel's classify and predict give the CLI's confidences and unsure flags", async () => {
    const r = rows.find((x) => x.classifier === 'svm')!;
    const json = JSON.parse(cli([join(out, r.bundle!.file), idx, '--json']).stdout) as Json;
    const { readInputs } = await import('../src/input/decode.ts');
    const images = (await readInputs([idx])).map((i) => i.pixels!);
    const model = await loadModel(join(out, r.bundle!.file));
    try {
      const c = await model.classify(images);
      expect(Array.from(c.unsure, (u) => u === 1)).toEqual(json.results.map((x) => x.unsure));
      expect(Array.from(c.confidence)).toEqual(json.results.map((x) => x.confidence));
      const p = await model.predict(images.slice(0, 20));
      expect(p.map((x) => [x.label, x.confidence, x.unsure])).toEqual(json.results.slice(0, 20).map((x) => [x.label, x.confidence, x.unsure]));
    } finally {
      model.dispose();
    }
  });
});
