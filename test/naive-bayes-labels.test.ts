/**
 * Gaussian NB's fast labels (the runtime's labelsTyped: a float64 quadratic form, a rounding bound, the exact
 * loop for rows the bound cannot settle) against the exact loop's argmax (argmaxRows of logJointTyped), and the
 * fit's shortcuts (the finiteness check folded into the first pass, the label table) against the plain checks,
 * on real MNIST subsets. Plain JS only: these run on either engine.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { fitTyped, naiveBayes, typedModel, type GaussianNBModel } from '../src/classifiers/naive-bayes.ts';
import { labelIndex, parseParams } from '../src/classifiers/plugin.ts';

import { fitPca, projectPca } from '../src/features/pca.ts';
import { argmaxRows, f32, wasmPasses, labelsTyped, logJointTyped, naiveBayesModelOf, ortGaussianScores, quadraticForm, softmaxRows, type Matrix } from '@digitbench/runtime/internal';
import { ortForTests } from './helpers/ort.ts';
import { assembleModule, MODULE_BASE64 } from '../packages/runtime/src/models/naive-bayes-wasm.ts';
import { mnistSubset, type Subset } from './helpers/mnist.ts';

const { why } = ortForTests();
const ctx = { seed: 1, log: { info() {}, warn() {} } };
const digits = Int32Array.from({ length: 10 }, (_, i) => i);
const exactLabels = (m: GaussianNBModel, x: Matrix, labels: Int32Array = digits) => argmaxRows(logJointTyped(typedModel(m), x), x.rows, labels.length, labels);

describe('Gaussian NB labels from the quadratic form', () => {
  let d: Subset;
  let train50: Matrix;
  let test50: Matrix;
  beforeAll(async () => {
    d = await mnistSubset(5000, 2000, 5);
    const pca = await fitPca(d.xTrain, { components: 50, oversamples: 10, iterations: 4, seed: 7, threads: 1, engine: 'wasm' });
    train50 = projectPca(pca, d.xTrain);
    test50 = projectPca(pca, d.xTest);
  }, 60_000);

  it('equal the exact loop’s on every test row: PCA-50 and raw pixels (2,000 rows, 5,000 training rows), and on the training rows; WebAssembly and JS form', () => {
    for (const [x, t] of [
      [train50, test50],
      [d.xTrain, d.xTest],
    ] as const) {
      const m = fitTyped(x, d.yTrain, 10, 1e-9);
      for (const rows of [t, x]) {
        for (const engine of ['wasm', 'js'] as const) {
          const got = labelsTyped(typedModel(m), rows, digits, engine);
          expect(Array.from(got.labels)).toEqual(Array.from(exactLabels(m, rows)));
          // The bound is ~1e-12 relative: almost every row is settled without the exact loop.
          expect(got.recomputed).toBeLessThan(rows.rows / 100);
        }
      }
    }
  });

  it('rows the bound cannot settle get the exact loop’s label: a duplicated class (exact ties: the first class wins); float32’s largest values', () => {
    const m = fitTyped(train50, d.yTrain, 10, 1e-9);
    // Class 10 is class 3 again: every row whose best class is 3 ties exactly, and the exact loop picks 3 (the first).
    const dup: GaussianNBModel = { ...m, means: [...m.means, m.means[3]!], calculateProbabilities: [...m.calculateProbabilities, m.calculateProbabilities[3]!] };
    const labels = Int32Array.from({ length: 11 }, (_, i) => i);
    const got = labelsTyped(typedModel(dup), test50, labels);
    const want = exactLabels(dup, test50, labels);
    expect(Array.from(got.labels)).toEqual(Array.from(want));
    expect(Array.from(labelsTyped(typedModel(dup), test50, labels, 'js').labels)).toEqual(Array.from(want));
    const threes = want.filter((l) => l === 3).length;
    expect(threes).toBeGreaterThan(50);
    expect(want.includes(10)).toBe(false);
    expect(got.recomputed).toBeGreaterThanOrEqual(threes);
    // Values near float32's largest (log joints near −1e77): the exact loop's labels.
    const wild = { rows: 5, cols: 50, data: test50.data.slice(0, 250) };
    wild.data[3] = 1e38;
    wild.data[120] = -3e38;
    const t = typedModel(m);
    const out = labelsTyped(t, wild, digits);
    expect(Array.from(out.labels)).toEqual(Array.from(exactLabels(m, wild)));
    // The form's values are the exact loop's to ~1e-12 relative (what the bound rests on).
    const { ab, constant } = quadraticForm(t);
    const exact = logJointTyped(t, test50);
    for (let i = 0; i < 200; i++) {
      for (let c = 0; c < 10; c++) {
        let s = constant[c]!;
        for (let j = 0; j < 50; j++) {
          const v = test50.data[i * 50 + j]!;
          s += v * (ab[2 * c * 50 + j]! * v + ab[2 * c * 50 + 50 + j]!);
        }
        expect(Math.abs(s - exact[i * 10 + c]!)).toBeLessThan(1e-11 * Math.max(1, Math.abs(exact[i * 10 + c]!)));
      }
    }
  });

  it('the plain-JS model predicts them, with row counts not a multiple of four; scores stay the exact posteriors; non-finite input is refused in one line', async () => {
    const m = fitTyped(train50, d.yTrain, 10, 1e-9);
    const model = naiveBayesModelOf({ model: m, typed: typedModel(m), classes: digits, features: 50 });
    // (Below 32 rows the JS form, from 32 the WebAssembly one; 40 twice: the module's instance is reused.)
    for (const rows of [1, 2, 3, 7, 31, 32, 40, 40, 1001]) {
      const x = { rows, cols: 50, data: test50.data.slice(0, rows * 50) };
      expect(Array.from(await model.predict(x))).toEqual(Array.from(exactLabels(m, x)));
    }
    const s = await model.scores!(test50);
    expect(Array.from(s.data)).toEqual(Array.from(softmaxRows(logJointTyped(typedModel(m), test50), test50.rows, 10).data));
    // Non-finite input (the finiteness check of predict is labelsTyped's row norms): one line naming row and column.
    const bad = { rows: 7, cols: 50, data: test50.data.slice(0, 350) };
    bad.data[5 * 50 + 17] = Infinity;
    await expect(model.predict(bad)).rejects.toThrow(/^naive-bayes: the input to predict has a non-finite value \(Infinity\) at row 5, column 17; /);
    bad.data[5 * 50 + 17] = NaN;
    await expect(model.predict(bad)).rejects.toThrow(/^naive-bayes: the input to predict has a non-finite value \(NaN\) at row 5, column 17; /);
    await expect(model.scores!(bad)).rejects.toThrow(/^naive-bayes: the input to score has a non-finite value \(NaN\) at row 5, column 17; /);
    await expect(model.predictWithScores!(bad)).rejects.toThrow(/^naive-bayes: the input to predict has a non-finite value \(NaN\) at row 5, column 17; /);
    // float32's largest values are finite: predicted (the exact loop's labels).
    bad.data[5 * 50 + 17] = -3.4e38;
    expect(Array.from(await model.predict(bad))).toEqual(Array.from(exactLabels(m, bad)));
    model.dispose();
  });
});

describe('Gaussian NB fit', () => {
  it('the WebAssembly module that runs (MODULE_BASE64) is the one assembleModule() writes', () => {
    expect(Buffer.from(assembleModule()).toString('base64')).toBe(MODULE_BASE64);
    expect(WebAssembly.validate(assembleModule())).toBe(true);
  });

  it('the WebAssembly passes compile here and give the JS passes’ model JSON byte for byte: raw pixels (784 columns), 583 (odd; varSmoothing 0.05), 51, rows in shared memory, a class of one row', async () => {
    expect(wasmPasses()).toBeDefined();
    const d = await mnistSubset(3000, 10, 6);
    const cols = (m: Matrix, k: number) => {
      const out = { rows: m.rows, cols: k, data: new Float32Array(m.rows * k) };
      for (let i = 0; i < m.rows; i++) out.data.set(m.data.subarray(i * m.cols + 200, i * m.cols + 200 + k), i * k);
      return out;
    };
    const shared = { ...d.xTrain, data: new Float32Array(new SharedArrayBuffer(d.xTrain.data.byteLength)) };
    shared.data.set(d.xTrain.data);
    for (const [x, varSmoothing] of [[d.xTrain, 1e-9], [cols(d.xTrain, 583), 0.05], [cols(d.xTrain, 51), 1e-9], [shared, 1e-9]] as const) {
      expect(JSON.stringify(fitTyped(x, d.yTrain, 10, varSmoothing, 'wasm'))).toBe(JSON.stringify(fitTyped(x, d.yTrain, 10, varSmoothing, 'js')));
    }
    const tiny = { rows: 3, cols: 3, data: Float32Array.of(1, 2, 3, 4, 5, 7, 0.5, 0.25, 9) };
    const y3 = Int32Array.of(0, 1, 0);
    expect(JSON.stringify(fitTyped(tiny, y3, 2, 1e-9, 'wasm'))).toBe(JSON.stringify(fitTyped(tiny, y3, 2, 1e-9, 'js')));
  });

  it('an odd feature count (the passes’ last column alone) gives fitTyped’s JSON through the plugin; labels in and out of the table’s range map as labelIndex maps them', async () => {
    const d = await mnistSubset(1500, 300, 2);
    const x = { rows: d.xTrain.rows, cols: 783, data: new Float32Array(d.xTrain.rows * 783) };
    for (let i = 0; i < x.rows; i++) x.data.set(d.xTrain.data.subarray(i * 784, i * 784 + 783), i * 783);
    // Labels with gaps: in [0, 65536) (the plugin's presence table), negative and past 65535 (labelIndex itself); mapped as labelIndex maps them.
    for (const map of [(c: number) => 3 * c + 2, (c: number) => 7 * c - 20, (c: number) => 70000 + c]) {
      const y = Int32Array.from(d.yTrain, map);
      const { classes, index } = labelIndex(y);
      const want = fitTyped(x, index, classes.length, 1e-9);
      const nb = await naiveBayes.create(parseParams(naiveBayes, {}), ctx).fit(x, y);
      const saved = JSON.parse(new TextDecoder().decode(await nb.serialize!())) as { classes: number[]; model: GaussianNBModel };
      expect(saved.classes).toEqual(Array.from(classes));
      expect(JSON.stringify(saved.model)).toBe(JSON.stringify(want));
      const head = { rows: 200, cols: 783, data: x.data.slice(0, 200 * 783) };
      expect(Array.from(await nb.predict(head))).toEqual(Array.from(exactLabels(want, head, classes)));
      nb.dispose();
    }
  });

  it('non-finite training values are refused in one line naming the row and column, as before (NaN; +∞ and −∞ in one column)', async () => {
    const d = await mnistSubset(300, 10, 2);
    const est = naiveBayes.create(parseParams(naiveBayes, {}), ctx);
    const nan = { ...d.xTrain, data: d.xTrain.data.slice() };
    nan.data[5 * 784 + 9] = NaN;
    await expect(est.fit(nan, d.yTrain)).rejects.toThrow(/^naive-bayes: the training data has a non-finite value \(NaN\) at row 5, column 9; clean or impute the features first\.$/);
    const inf = { ...d.xTrain, data: d.xTrain.data.slice() };
    inf.data[2 * 784 + 100] = Infinity;
    inf.data[7 * 784 + 100] = -Infinity;
    await expect(est.fit(inf, d.yTrain)).rejects.toThrow(/^naive-bayes: the training data has a non-finite value \(Infinity\) at row 2, column 100; /);
    // The largest float32 values, all in one column, sum to a finite float64: fitted, not refused.
    const big = { ...d.xTrain, data: d.xTrain.data.slice() };
    for (let i = 0; i < big.rows; i++) big.data[i * 784 + 300] = 3.4e38;
    (await est.fit(big, d.yTrain)).dispose();
  });
});

describe.skipIf(!!why)(`f32's scratch buffer and NB's scorer on shared memory${why ? ` (skipped: ${why})` : ''}`, () => {
  it('a view of a SharedArrayBuffer is copied into scratch.buf (one buffer, grown when needed); an ordinary view is passed as it is', () => {
    const shared = new Float32Array(new SharedArrayBuffer(4 * 100));
    shared.forEach((_, i) => (shared[i] = i / 7));
    const scratch: { buf?: Float32Array } = {};
    const a = f32(shared.subarray(10, 30), [4, 5], scratch);
    expect(Array.from(a.data as Float32Array)).toEqual(Array.from(shared.subarray(10, 30)));
    const first = scratch.buf!;
    expect(first.buffer instanceof SharedArrayBuffer).toBe(false);
    f32(shared.subarray(0, 12), [3, 4], scratch);
    expect(scratch.buf).toBe(first);
    const big = f32(shared.subarray(0, 60), [6, 10], scratch);
    expect(scratch.buf!.length).toBe(60);
    expect(Array.from(big.data as Float32Array)).toEqual(Array.from(shared.subarray(0, 60)));
    const plain = new Float32Array(12).fill(2);
    expect(f32(plain, [3, 4], scratch).data).toBe(plain);
  });

  it('Gaussian scores on onnxruntime of rows in shared memory equal those of the same rows in ordinary memory (raw pixels, 2,000 rows)', async () => {
    const d = await mnistSubset(1000, 2000, 4);
    const t = typedModel(fitTyped(d.xTrain, d.yTrain, 10, 1e-9));
    const shared = new Float32Array(new SharedArrayBuffer(d.xTest.data.byteLength));
    shared.set(d.xTest.data);
    const scorer = await ortGaussianScores(t, 1);
    const a = await scorer.logJoint(d.xTest);
    const b = await scorer.logJoint({ rows: d.xTest.rows, cols: 784, data: shared });
    expect(Array.from(b.values)).toEqual(Array.from(a.values));
    expect(Array.from(b.bound)).toEqual(Array.from(a.bound));
    scorer.dispose();
  });
});
