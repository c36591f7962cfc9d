/**
 * The deploy child's robustness pass on two threads (src/harness/robustness-pass.ts): on real bundles
 * (k-NN on PCA, rbf SVM on PCA, each with the calibration and "unsure" threshold fitted on validation rows)
 * and real images (MNIST test rows, two MNIST-C corruptions of them, uniform noise), the figures with a
 * helper thread that loads the bundle and takes batches equal the single-thread pass's and classifyAll's
 * per set, exactly (counts, accuracies, coverage, sure accuracy), with both threads having taken batches;
 * a helper that cannot load the bundle leaves every batch to this thread and the same figures.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corruptImages, createMatrix, loadBundleBytes, parseParams, type DigitModel, type Matrix, type StepSpec } from '@digitbench/runtime/internal';
import { writeBundle } from '../src/bundle/file.ts';
import { knn } from '../src/classifiers/knn.ts';
import type { ClassifierPlugin } from '../src/classifiers/plugin.ts';
import { pluginResolver } from '../src/classifiers/registry.ts';
import { svm } from '../src/classifiers/svm.ts';
import { loadDataset } from '../src/data/datasets.ts';
import { applySplit, makeSplit } from '../src/data/split.ts';
import { createPipeline, fitTransform, pipelineStates } from '../src/features/pipeline.ts';
import { classifyAll, type SureCount } from '../src/harness/corrupted.ts';
import { noiseImages } from '../src/harness/deploy-child.ts';
import { classifySets, type ImageSet } from '../src/harness/robustness-pass.ts';
import { fitTrustOnValidation } from '../src/harness/trust.ts';
import { bundleInput } from './helpers/bundle.ts';

const dir = mkdtempSync(join(tmpdir(), 'digitbench-robustness-parallel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PCA: StepSpec[] = [{ step: 'scale', max: 255 }, { step: 'pca', components: 30, oversamples: 10, iterations: 4 }];
const TEST = 400;
const BATCH = 50;

let d: Awaited<ReturnType<typeof applySplit>>;
let sets: ImageSet[];
beforeAll(async () => {
  const ds = await loadDataset('mnist');
  d = applySplit(ds, makeSplit(ds, { train: 800, validation: 300, test: TEST, seed: 5 }));
  const raw = Uint8Array.from(d.test.x.data);
  sets = [
    { pixels: d.test.x.data, rows: TEST, cols: 784, truth: d.test.y },
    ...(['shot_noise', 'rotate'] as const).map((name) => ({ pixels: corruptImages(name, raw, TEST, 28, 28, 3), rows: TEST, cols: 784, truth: d.test.y })),
    { pixels: noiseImages(130, 28, 28, 3), rows: 130, cols: 784 },
  ];
});

/** A real bundle file: the pipeline and plugin fitted on the training rows, calibration and threshold on the validation rows. */
async function bundleFile(plugin: ClassifierPlugin, raw: Record<string, unknown>): Promise<string> {
  const pipeline = createPipeline(PCA, [28, 28], 1);
  const f = await fitTransform(pipeline, { train: d.train.x, validation: d.validation!.x }, d.train.y);
  const params = parseParams(plugin, raw);
  const model = await plugin.create(params, { seed: 1, log: { info() {}, warn() {} } }).fit(f.parts.train!, d.train.y);
  const { trust } = await fitTrustOnValidation(model, { x: f.parts.validation!, y: d.validation!.y }, 0.97);
  const input = bundleInput(PCA, pipelineStates(pipeline), new Uint8Array(await model.serialize!()));
  input.plugin = { name: plugin.name, library: 'none', params: params as Record<string, unknown>, engine: model.engine() };
  input.classes = Array.from(model.classes);
  input.trust = trust;
  model.dispose();
  const file = join(dir, `${plugin.name}.bundle`);
  await writeBundle(file, input);
  return file;
}

async function load(file: string, plugin: ClassifierPlugin): Promise<DigitModel> {
  const { readBundleFile } = await import('../src/bundle/file.ts');
  return loadBundleBytes(await readBundleFile(file), file, pluginResolver([plugin]));
}

const matrix = (s: ImageSet): Matrix => createMatrix(s.rows, s.cols, Float32Array.from(s.pixels));

describe('the robustness pass on two threads', () => {
  it.each([
    ['knn', knn, { k: 3 }],
    ['svm', svm, { kernel: 'rbf', C: 5, gamma: 0.05 }],
  ] as const)('%s: a helper thread taking batches gives the single-thread figures exactly', async (_name, plugin, raw) => {
    const file = await bundleFile(plugin, raw);
    const model = await load(file, plugin);
    try {
      const reference: SureCount[] = [];
      for (const s of sets) reference.push(await classifyAll(model, matrix(s), s.truth));
      // Something to measure: right and wrong answers, answered and unsure ones.
      expect(reference[0]!.correct).toBeGreaterThan(TEST * 0.8);
      expect(reference[0]!.correct).toBeLessThan(TEST);
      expect(reference[0]!.answered).toBeGreaterThan(0);
      expect(reference.some((r) => r.answered < r.total)).toBe(true);

      const one = await classifySets(model, sets, { threads: 1, batch: BATCH });
      expect(one.helperBatches).toBe(0);
      expect(one.counts).toEqual(reference);

      const helper = { bundleFile: file, pluginRef: plugin.name, baseDir: dir };
      const two = await classifySets(model, sets, { helper, threads: 2, batch: BATCH, waitForHelper: true });
      expect(two.helperError).toBeUndefined();
      expect(two.batches).toBe(3 * (TEST / BATCH) + 3);
      expect(two.helperBatches).toBeGreaterThan(0);
      expect(two.helperBatches).toBeLessThan(two.batches);
      expect(two.counts).toEqual(reference);

      // A helper that cannot load the bundle: every batch here, the same figures.
      const broken = await classifySets(model, sets, { helper: { ...helper, bundleFile: join(dir, 'missing.bundle') }, threads: 2, batch: BATCH, waitForHelper: true });
      expect(broken.helperError).toMatch(/missing\.bundle/);
      expect(broken.helperBatches).toBe(0);
      expect(broken.counts).toEqual(reference);
    } finally {
      model.dispose();
    }
  });
});
