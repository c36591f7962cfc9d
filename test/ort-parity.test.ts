/**
 * Engine parity (issue 25 item 2: PCA, Gaussian NB, SVM rbf): each operation on onnxruntime against the wasm
 * path (tfjs-wasm, or the plain-JS loop where that is the wasm engine's path), both called directly in the same
 * test, on real MNIST subsets. Labels equal; values within float32 tolerance. Where onnxruntime-node does not
 * load these are skipped with the reason, unless DIGITBENCH_REQUIRE_ORT=1 (CI) makes that a failure.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../src/data/datasets.ts';
import { makeSplit } from '../src/data/split.ts';
import { parsePipeline } from '../src/features/pipeline.ts';
import { prepareFeatures } from '../src/features/prepare.ts';
import { mnistSubset, type Subset } from './helpers/mnist.ts';
import { fitPca, projectPca, type PcaModel } from '../src/features/pca.ts';
import { ortProjection } from '../src/engine/ort-pca.ts';
import { fitTyped, naiveBayesModelOn, settledLogJoint } from '../src/classifiers/naive-bayes.ts';
import { argmaxRows, exactWinners, logJointTyped, NATIVE_MIN_TERMS, readSvm, softmaxRows, takeRows, typedModel, type Matrix } from '@digitbench/runtime/internal';
import { ortGaussianScores } from '@digitbench/runtime/internal';
import { fastRbfWinners, rbfProductsFor } from '../src/classifiers/svm-predict.ts';
import { asModel, decisionValues, svm } from '../src/classifiers/svm.ts';
import { parseParams } from '../src/classifiers/plugin.ts';
import { ortForTests } from './helpers/ort.ts';

const { why } = ortForTests();

const PCA = { components: 50, oversamples: 10, iterations: 4, seed: 7, threads: 1 };

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

describe.skipIf(!!why)(`ort vs wasm on MNIST (2,000 training rows, 1,000 test rows)${why ? ` (skipped: ${why})` : ''}`, () => {
  let d: Subset;
  let wasmPca: PcaModel;
  let ortPca: PcaModel & { engine: string };
  let train50: Matrix;
  let test50: Matrix;
  beforeAll(async () => {
    d = await mnistSubset(2000, 1000, 3);
    wasmPca = await fitPca(d.xTrain, { ...PCA, engine: 'wasm' });
    ortPca = await fitPca(d.xTrain, { ...PCA, engine: 'ort' });
    train50 = projectPca(wasmPca, d.xTrain);
    test50 = projectPca(wasmPca, d.xTest);
  }, 60_000);

  it('PCA-50 fit: the same components (sign-aligned) within float32 tolerance, the same explained variance to 1e-5, the same projections', () => {
    expect(ortPca.engine).toMatch(/^onnxruntime-node \S+ \(1 thread\)$/);
    const { k, d: cols } = wasmPca;
    for (let c = 0; c < k; c++) {
      const rel = Math.abs(ortPca.explainedVariance[c]! - wasmPca.explainedVariance[c]!) / wasmPca.explainedVariance[c]!;
      expect(rel, `explained variance of component ${c}`).toBeLessThan(1e-5);
      expect(Math.abs(ortPca.explainedVarianceRatio[c]! - wasmPca.explainedVarianceRatio[c]!)).toBeLessThan(1e-6);
    }
    expect(Array.from(ortPca.mean)).toEqual(Array.from(wasmPca.mean));
    // Every component, sign-aligned, entry by entry (measured here: at most 4e-6 apart).
    for (let c = 0; c < k; c++) {
      let dot = 0;
      for (let j = 0; j < cols; j++) dot += ortPca.components[c * cols + j]! * wasmPca.components[c * cols + j]!;
      const sign = Math.sign(dot);
      let worst = 0;
      for (let j = 0; j < cols; j++) worst = Math.max(worst, Math.abs(sign * ortPca.components[c * cols + j]! - wasmPca.components[c * cols + j]!));
      expect(worst, `component ${c}`).toBeLessThan(2e-5);
    }
    // The deterministic sign rule (largest entry positive) gives both the same signs, so the projections agree.
    const a = projectPca(ortPca, d.xTest).data;
    const b = projectPca(wasmPca, d.xTest).data;
    const scale = maxAbs(b);
    for (let i = 0; i < b.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-4 * scale);
  });

  it('the feature cache keeps PCA fitted on onnxruntime apart from PCA fitted on tfjs (the engine enters the key)', async () => {
    const saved = { dir: process.env.DIGITBENCH_CACHE_DIR, engine: process.env.DIGITBENCH_ENGINE };
    process.env.DIGITBENCH_CACHE_DIR = mkdtempSync(join(tmpdir(), 'digitbench-cache-'));
    try {
      const ds = await loadDataset('mnist');
      const split = makeSplit(ds, { train: 600, test: 100, seed: 4 });
      const steps = parsePipeline([{ step: 'scale' }, { step: 'pca', components: 6 }]);
      process.env.DIGITBENCH_ENGINE = 'wasm';
      const onWasm = await prepareFeatures(ds, split, steps);
      process.env.DIGITBENCH_ENGINE = 'ort';
      const onOrt = await prepareFeatures(ds, split, steps);
      expect(onOrt.fromCache).toBe(false);
      expect(onOrt.cacheKey).not.toBe(onWasm.cacheKey);
      expect((await prepareFeatures(ds, split, steps)).fromCache).toBe(true);
    } finally {
      for (const [k, v] of [['DIGITBENCH_CACHE_DIR', saved.dir], ['DIGITBENCH_ENGINE', saved.engine]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('PCA on onnxruntime takes rows in shared memory (copied per block: onnxruntime refuses a SharedArrayBuffer) and runs on its threads', async () => {
    const data = new Float32Array(new SharedArrayBuffer(d.xTrain.data.byteLength));
    data.set(d.xTrain.data);
    const shared = await fitPca({ ...d.xTrain, data }, { ...PCA, threads: 2, blockRows: 512, engine: 'ort' });
    expect(shared.threads).toBe(2);
    expect(shared.engine).toMatch(/^onnxruntime-node \S+ \(2 threads\)$/);
    for (let c = 0; c < 50; c++) expect(Math.abs(shared.explainedVariance[c]! / wasmPca.explainedVariance[c]! - 1)).toBeLessThan(1e-5);
    const testData = new Float32Array(new SharedArrayBuffer(d.xTest.data.byteLength));
    testData.set(d.xTest.data);
    const proj = await ortProjection(wasmPca, false, 2);
    const got = await proj.project({ ...d.xTest, data: testData });
    proj.dispose();
    const want = projectPca(wasmPca, d.xTest);
    const scale = maxAbs(want.data);
    for (let i = 0; i < want.data.length; i++) expect(Math.abs(got.data[i]! - want.data[i]!)).toBeLessThan(2e-6 * scale);
  });

  it('PCA projection on onnxruntime equals the plain-JS float64 projection within float32 tolerance (1,000 test rows, plain and whitened)', async () => {
    for (const whiten of [false, true]) {
      const proj = await ortProjection(wasmPca, whiten);
      const got = await proj.project(d.xTest);
      proj.dispose();
      const want = projectPca(wasmPca, d.xTest, whiten);
      expect([got.rows, got.cols]).toEqual([want.rows, want.cols]);
      const scale = maxAbs(want.data);
      for (let i = 0; i < want.data.length; i++) expect(Math.abs(got.data[i]! - want.data[i]!)).toBeLessThan(2e-6 * scale);
    }
  });

  it('Gaussian NB on PCA-50 and on raw pixels: the same labels on every test row, the same (exact) posteriors; engine names onnxruntime-node on raw pixels, plain JS below NATIVE_MIN_TERMS (PCA-50)', async () => {
    for (const [x, t] of [
      [train50, test50],
      [d.xTrain, d.xTest],
    ] as const) {
      const params = { varSmoothing: 1e-9 };
      const wasmModel = naiveBayesModelOn(trained(x, d.yTrain, params.varSmoothing), 'wasm');
      const ortModel = naiveBayesModelOn(trained(x, d.yTrain, params.varSmoothing), 'ort', 2);
      if (x.cols * 10 >= NATIVE_MIN_TERMS) expect(ortModel.runtime!()).toEqual({ engine: expect.stringMatching(/^onnxruntime-node \S+ \(2 threads\): /), threads: 2 });
      else expect(ortModel.runtime!()).toEqual({ engine: expect.stringMatching(/^js .*; 500 feature × class terms, below the 2048 where an onnxruntime session pays$/), threads: 1 });
      expect(wasmModel.engine()).toMatch(/^js /);
      const labels = await ortModel.predict(t);
      expect(Array.from(labels)).toEqual(Array.from(await wasmModel.predict(t)));
      // Scores stay the exact float64 posteriors on both engines (as the SVM's): equal, not just close.
      expect(Array.from((await ortModel.scores!(t)).data)).toEqual(Array.from((await wasmModel.scores!(t)).data));
      const both = await ortModel.predictWithScores!(t);
      expect(Array.from(both.labels)).toEqual(Array.from(labels));
      expect(both.labels.filter((l, i) => l === d.yTest[i]).length / t.rows).toBeGreaterThan(x.cols === 50 ? 0.8 : 0.5);
      ortModel.dispose();
      wasmModel.dispose();
    }
  });

  it('Gaussian NB: the float32 log joints are within their stated bounds of the exact loop (and within 1e-5 relative on PCA-50); rows the bound cannot settle are recomputed exactly', async () => {
    const t = typedModel(fitTyped(train50, d.yTrain, 10, 1e-9));
    const scorer = await ortGaussianScores(t);
    const { values, bound } = await scorer.logJoint(test50);
    const exact = logJointTyped(t, test50);
    for (let i = 0; i < exact.length; i++) {
      expect(Math.abs(values[i]! - exact[i]!)).toBeLessThanOrEqual(bound[i]!);
      expect(Math.abs(values[i]! - exact[i]!)).toBeLessThan(1e-5 * Math.abs(exact[i]!));
    }
    // Force recomputation: a scorer that claims a huge bound recomputes every row and gives the exact values.
    const loose = { ...scorer, logJoint: async (x: Matrix) => ({ values: (await scorer.logJoint(x)).values, bound: new Float64Array(x.rows * 10).fill(1e9) }) };
    const all = await settledLogJoint(loose, t, test50);
    expect(all.recomputed).toBe(test50.rows);
    expect(Array.from(all.logJoint)).toEqual(Array.from(exact));
    const settled = await settledLogJoint(scorer, t, test50);
    expect(Array.from(argmaxRows(settled.logJoint, test50.rows, 10, Int32Array.from({ length: 10 }, (_, i) => i)))).toEqual(
      Array.from(argmaxRows(exact, test50.rows, 10, Int32Array.from({ length: 10 }, (_, i) => i))),
    );
    expect(softmaxRows(settled.logJoint, test50.rows, 10).rows).toBe(test50.rows);
    // Values past float32's range (x² overflows): those rows are recomputed, with the plain loop's labels.
    const wild = { rows: 3, cols: 50, data: test50.data.slice(0, 150) };
    wild.data[7] = 3e19;
    wild.data[60] = -1e30;
    const out = await settledLogJoint(scorer, t, wild);
    expect(out.recomputed).toBe(2);
    expect(Array.from(out.logJoint.subarray(0, 20))).toEqual(Array.from(logJointTyped(t, wild).subarray(0, 20)));
    scorer.dispose();
  });

  it('SVM rbf on PCA-50: the same labels on every test row (the exact loop\'s), float32 decision values within tolerance; one session per model', async () => {
    const fitted = await svm.create(parseParams(svm, {}), { seed: 1, log: { info() {}, warn() {} } }).fit(train50, d.yTrain);
    const bytes = await fitted.serialize!();
    fitted.dispose();
    const t = readSvm(bytes);
    const m = t.model;
    const exactDec = decisionValues(m, test50);
    const exact = exactWinners(m, test50);
    const exactOf = (rows: Int32Array) => decisionValues(m, takeRows(test50, rows));
    const wasm = await fastRbfWinners(m, test50, exactOf, { decisions: true });
    const products = await rbfProductsFor(m, 'ort', 2);
    expect(products.description).toMatch(/^onnxruntime-node \S+ \(2 threads\)$/);
    const onOrt = await fastRbfWinners(m, test50, exactOf, { products, decisions: true });
    // The session is reused: a second call on the same products gives the same answer.
    const again = await fastRbfWinners(m, test50, exactOf, { products });
    products.dispose();
    expect(Array.from(onOrt.winners)).toEqual(Array.from(wasm.winners));
    expect(Array.from(onOrt.winners)).toEqual(Array.from(exact));
    expect(Array.from(again.winners)).toEqual(Array.from(exact));
    const scale = maxAbs(exactDec);
    for (let i = 0; i < exactDec.length; i++) {
      expect(Math.abs(onOrt.decisions![i]! - wasm.decisions![i]!)).toBeLessThan(1e-4 * scale);
      expect(Math.abs(onOrt.decisions![i]! - exactDec[i]!)).toBeLessThan(1e-4 * scale);
    }
    // The model: labels equal on both engines; its engine column names onnxruntime-node and its threads.
    const ortModel = asModel(t, false, 'ort', 2);
    const wasmModel = asModel(readSvm(bytes), false, 'wasm');
    expect(ortModel.runtime!()).toEqual({ engine: expect.stringContaining('onnxruntime-node'), threads: 2 });
    expect(ortModel.engine()).toMatch(/; onnxruntime-node \S+ \(2 threads\) float32 predict, exact float64 near ties$/);
    expect(wasmModel.engine()).toMatch(/; tfjs float32 predict/);
    const labels = await ortModel.predict(test50);
    expect(Array.from(labels)).toEqual(Array.from(await wasmModel.predict(test50)));
    expect(Array.from(await ortModel.predict(test50.rows > 10 ? takeRows(test50, Int32Array.of(3, 1, 4)) : test50))).toEqual([labels[3], labels[1], labels[4]]);
    expect(labels.filter((l, i) => l === d.yTest[i]).length / test50.rows).toBeGreaterThan(0.9);
    ortModel.dispose();
    wasmModel.dispose();
    await expect(ortModel.predict(test50)).rejects.toThrow('disposed');
  }, 60_000);
});

function trained(x: Matrix, y: Int32Array, varSmoothing: number) {
  const model = fitTyped(x, y, 10, varSmoothing);
  return { model, typed: typedModel(model), classes: Int32Array.from({ length: 10 }, (_, i) => i), features: x.cols };
}
