import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { decisionValues, libsvmOptions, loadLibsvm, parseLibsvmModel, svm, type SvmModel, type SvmParams } from '../src/classifiers/svm.ts';
import { assembleOvo, planOvo, trainPair } from '../src/classifiers/svm-ovo.ts';
import { fastRbfWinners, settledWinner } from '../src/classifiers/svm-predict.ts';
import { parseParams } from '../src/classifiers/plugin.ts';
import { fromArrays, row, sliceRows, takeLabels, takeRows, type Matrix } from '@digitbench/runtime/internal';
import { liveWorkers } from '../src/engine/threads.ts';
import { fitPca, projectPca } from '../src/features/pca.ts';
import { mnistSubset, type Subset } from './helpers/mnist.ts';
import { engineChoice, ortDescription } from '../src/engine/ort.ts';
import { defaultThreads } from '../src/engine/threads.ts';

const ctx = { seed: 1, log: { info() {}, warn() {} } };
/** rbf labels' engine: onnxruntime where it is the engine (DIGITBENCH_ENGINE / engineChoice), else tfjs. */
const RBF_PREDICT = `${engineChoice().engine === 'ort' ? ortDescription(defaultThreads()) : 'tfjs'} float32 predict, exact float64 near ties`;
const accuracy = (p: Int32Array, y: Int32Array) => p.reduce((n, v, i) => n + (v === y[i] ? 1 : 0), 0) / y.length;
const rows = (x: Matrix) => Array.from({ length: x.rows }, (_, i) => row(x, i));
const savedText = (bytes: Uint8Array) => (JSON.parse(new TextDecoder().decode(bytes)) as { libsvmModel: string }).libsvmModel;

/** Three 2-D blobs with labels given in first-appearance order 7, -2, 40 (not ascending). */
function blobs(n: number, offset = 0): { x: Matrix; y: Int32Array } {
  const labels = [7, -2, 40];
  const centres = [[0, 0], [3, 1], [1, 4]];
  const x: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    const t = i + offset;
    x.push([centres[c]![0]! + 0.8 * Math.sin(t * 1.7), centres[c]![1]! + 0.7 * Math.cos(t * 2.9)]);
    y.push(labels[c]!);
  }
  return { x: fromArrays(x), y: Int32Array.from(y) };
}

let d: Subset;
beforeAll(async () => {
  d = await mnistSubset(2000, 1000, 1);
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('svm on MNIST (2000 train / 1000 test, raw pixels / 255)', () => {
  let rbfAccuracy = 0;

  it('rbf (C=10, gamma=scale) reaches the measured accuracy; serialize → load predicts identically', async () => {
    const c = await svm.create(parseParams(svm, {}), ctx).fit(d.xTrain, d.yTrain);
    const pred = await c.predict(d.xTest);
    rbfAccuracy = accuracy(pred, d.yTest);
    // Measured 0.953.
    expect(rbfAccuracy).toBeGreaterThan(0.93);
    const bytes = await c.serialize!();
    expect(savedText(bytes)).toMatch(/^svm_type c_svc\nkernel_type rbf\ngamma /);
    // gamma 'scale' is scikit-learn's 1 / (features × var(X)), var over every training value.
    const v = d.xTrain.data;
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length;
    const gamma = Number(/\ngamma (\S+)\n/.exec(savedText(bytes))![1]);
    expect(gamma).toBeCloseTo(1 / (784 * variance), 6);
    const back = await svm.load!(bytes, parseParams(svm, {}), ctx);
    expect(await back.predict(d.xTest)).toEqual(pred);
    const x = sliceRows(d.xTest, 0, 100);
    expect((await back.scores!(x)).data).toEqual((await c.scores!(x)).data);
    expect(c.engine()).toBe(`libsvm-js 0.2.1 (wasm) fit; ${RBF_PREDICT}`);
    c.dispose();
    back.dispose();
  });

  it("kernel 'linear' really trains a linear kernel (different model, lower accuracy than rbf)", async () => {
    const c = await svm.create(parseParams(svm, { kernel: 'linear' }), ctx).fit(d.xTrain, d.yTrain);
    const acc = accuracy(await c.predict(d.xTest), d.yTest);
    expect(savedText(await c.serialize!())).toMatch(/^svm_type c_svc\nkernel_type linear\n/);
    // Measured 0.907 (rbf: 0.953).
    expect(acc).toBeGreaterThan(0.88);
    expect(rbfAccuracy - acc).toBeGreaterThan(0.02);
    c.dispose();
  });
});

describe('svm matches libsvm itself', () => {
  it('predictions equal libsvm-js predict on the same training run (rbf and poly)', async () => {
    const SVM = await loadLibsvm();
    const xTrain = sliceRows(d.xTrain, 0, 400);
    const yTrain = d.yTrain.subarray(0, 400);
    const xTest = sliceRows(d.xTest, 0, 300);
    for (const kernel of ['rbf', 'poly'] as const) {
      const params = parseParams(svm, { kernel, coef0: 1 });
      const c = await svm.create(params, ctx).fit(xTrain, yTrain);
      const lib = new SVM(libsvmOptions(params, xTrain));
      lib.train(rows(xTrain), Array.from(yTrain));
      const expected = lib.predict(rows(xTest));
      lib.free();
      expect(Array.from(await c.predict(xTest))).toEqual(expected);
      c.dispose();
    }
  });

  it('gammaFactor multiplies the scale gamma; the model equals libsvm-js trained with that gamma given as a number', async () => {
    const SVM = await loadLibsvm();
    const xTrain = sliceRows(d.xTrain, 0, 300);
    const yTrain = d.yTrain.subarray(0, 300);
    const xTest = sliceRows(d.xTest, 0, 200);
    // scikit-learn's 'scale': 1 / (features × variance of all training values), computed directly.
    const v = Array.from(xTrain.data);
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length;
    const gamma = Number((2.5 / (xTrain.cols * variance)).toPrecision(6));
    const params = parseParams(svm, { gammaFactor: 2.5 });
    expect(libsvmOptions(params, xTrain).gamma).toBe(gamma);
    const c = await svm.create(params, ctx).fit(xTrain, yTrain);
    const lib = new SVM(libsvmOptions(parseParams(svm, { gamma }), xTrain));
    lib.train(rows(xTrain), Array.from(yTrain));
    expect(Array.from(await c.predict(xTest))).toEqual(lib.predict(rows(xTest)));
    lib.free();
    c.dispose();
    expect(() => libsvmOptions(parseParams(svm, { gamma: 0.01, gammaFactor: 2 }), xTrain)).toThrow(
      "svm: gammaFactor (2) multiplies the 'scale' or 'auto' gamma; with a numeric gamma (0.01) leave gammaFactor at 1.",
    );
  });

  it('probability scores equal libsvm-js predictOneProbability, columns in ascending label order', async () => {
    const SVM = await loadLibsvm();
    // Labels 10·digit + 3 for digits 0..3: libsvm lists them in first-appearance order.
    const keep = Array.from(d.yTrain.keys()).filter((i) => d.yTrain[i]! < 4).slice(0, 300);
    const x = fromArrays(keep.map((i) => Array.from(row(d.xTrain, i))));
    const y = Int32Array.from(takeLabels(d.yTrain, keep), (v) => 10 * v + 3);
    const params = parseParams(svm, { probability: true });
    const lib = new SVM(libsvmOptions(params, x));
    lib.train(rows(x), Array.from(y));
    const text = lib.serializeModel();
    const libLabels = lib.getLabels();
    expect(libLabels).not.toEqual([...libLabels].sort((a, b) => a - b));
    // Score the library's own model (probA/probB come from libsvm's internal random split).
    const c = await svm.load!(new TextEncoder().encode(JSON.stringify({ format: 'digitbench-libsvm', version: 1, features: 784, libsvmModel: text })), params, ctx);
    const xt = sliceRows(d.xTest, 0, 8);
    const s = await c.scores!(xt);
    expect([s.rows, s.cols]).toEqual([8, 4]);
    for (let i = 0; i < 8; i++) {
      // A few calls only: predictOneProbability leaks its input copy in wasm memory.
      const ref = lib.predictOneProbability(row(xt, i));
      for (const e of ref.estimates) expect(s.data[i * 4 + (e.label - 3) / 10]).toBeCloseTo(e.probability, 5);
    }
    lib.free();
    c.dispose();
  });
});

/** libsvm-js's own multi-class model text: one instance trains the whole problem. */
async function libsvmText(params: SvmParams, x: Matrix, y: Int32Array): Promise<string> {
  const SVM = await loadLibsvm();
  const lib = new SVM(libsvmOptions(params, x));
  try {
    lib.train(rows(x), Array.from(y));
    return lib.serializeModel();
  } finally {
    lib.free();
  }
}

/** Labels by the exact float64 decision values (libsvm's summation order) and libsvm's vote. */
function exactLabels(m: SvmModel, x: Matrix): Int32Array {
  const dec = decisionValues(m, x);
  const P = m.rho.length;
  return Int32Array.from({ length: x.rows }, (_, r) => {
    const votes = new Int32Array(m.nrClass);
    let p = 0;
    for (let i = 0; i < m.nrClass; i++) for (let j = i + 1; j < m.nrClass; j++) votes[dec[r * P + p++]! > 0 ? i : j]!++;
    let best = 0;
    for (let c = 1; c < m.nrClass; c++) if (votes[c]! > votes[best]!) best = c;
    return m.labels[best]!;
  });
}

describe('svm one-vs-one pairs assemble libsvm\'s own multi-class model', () => {
  let pca: { xTrain: Matrix; xTest: Matrix };
  beforeAll(async () => {
    const x = sliceRows(d.xTrain, 0, 1500);
    const model = await fitPca(x, { components: 50, oversamples: 10, iterations: 4, seed: 1, threads: 1 });
    pca = { xTrain: await projectPca(model, x), xTest: await projectPca(model, sliceRows(d.xTest, 0, 500)) };
  });

  it('PCA-50, 1,500 rows: the text assembled from 45 pair models equals libsvm-js\'s byte for byte (rbf, poly; shrinking and cache size change nothing)', async () => {
    const SVM = await loadLibsvm();
    const y = d.yTrain.subarray(0, 1500);
    const plan = planOvo(y);
    expect(plan.pairs.length / 2).toBe(45);
    // libsvm's class order is first appearance, not ascending.
    expect(Array.from(plan.labels)).not.toEqual([...plan.labels].sort((a, b) => a - b));
    for (const raw of [{}, { kernel: 'poly', coef0: 1 }, { shrinking: false }, { cacheSizeMb: 1 }]) {
      const params = parseParams(svm, raw);
      const expected = await libsvmText(params, pca.xTrain, y);
      const options = libsvmOptions(params, pca.xTrain);
      const pairs = Array.from({ length: 45 }, (_, p) => trainPair(SVM, options, pca.xTrain, plan, p));
      const text = assembleOvo(plan, pairs);
      expect(text.length, JSON.stringify(raw)).toBe(expected.length);
      expect(text === expected, JSON.stringify(raw)).toBe(true);
      // Zero coefficients of an SV outside a pair are printed as libsvm prints alpha·y: "0" and "-0".
      expect(text).toMatch(/ -0 /);
    }
  });

  it('raw pixels through the plugin: threads 2 (pairs in workers) gives libsvm\'s own text, as threads 1 does; workers are gone after fit', async () => {
    const x = sliceRows(d.xTrain, 0, 700);
    const y = d.yTrain.subarray(0, 700);
    const xt = sliceRows(d.xTest, 0, 300);
    for (const kernel of ['rbf', 'sigmoid'] as const) {
      const raw = kernel === 'sigmoid' ? { kernel, gamma: 0.001 } : { kernel };
      const expected = await libsvmText(parseParams(svm, raw), x, y);
      const one = await svm.create(parseParams(svm, { ...raw, threads: 1 }), ctx).fit(x, y);
      const two = await svm.create(parseParams(svm, { ...raw, threads: 2 }), ctx).fit(x, y);
      expect(liveWorkers()).toBe(0);
      expect(savedText(await one.serialize!()) === expected).toBe(true);
      expect(savedText(await two.serialize!()) === expected).toBe(true);
      const predict = kernel === 'rbf' ? RBF_PREDICT : 'js predict';
      expect(two.engine()).toBe(`libsvm-js 0.2.1 (wasm) fit by class pair in 2 worker threads; ${predict}`);
      // A small job: libsvm's own loop over the pairs, in this thread.
      expect(one.engine()).toBe(`libsvm-js 0.2.1 (wasm) fit; ${predict}`);
      expect(await two.predict(xt)).toEqual(await one.predict(xt));
      one.dispose();
      two.dispose();
    }
  });

  it('rbf predict (float32 products + exact recomputation) gives the exact float64 labels, also at forced near-ties', async () => {
    const y = d.yTrain.subarray(0, 1500);
    const c = await svm.create(parseParams(svm, {}), ctx).fit(pca.xTrain, y);
    const m = parseLibsvmModel(savedText(await c.serialize!()), 50);
    expect(await c.predict(pca.xTest)).toEqual(exactLabels(m, pca.xTest));
    c.dispose();
    // Move every rho so that 40 rows sit within 1e-7 of a decision boundary of pair p (row r → pair r mod 45).
    const dec = decisionValues(m, pca.xTest);
    const tied: SvmModel = { ...m, rho: Float64Array.from(m.rho) };
    const shifted = new Set<number>();
    for (let r = 0; r < 40; r++) {
      const p = r % 45;
      if (shifted.has(p)) continue;
      shifted.add(p);
      tied.rho[p] = dec[r * 45 + p]! + (r % 2 ? 1e-7 : -1e-7);
    }
    let asked = 0;
    const { winners, recomputed } = await fastRbfWinners(tied, pca.xTest, (rows) => {
      asked = rows.length;
      return decisionValues(tied, takeRows(pca.xTest, rows));
    });
    expect(recomputed).toBe(asked);
    expect(recomputed).toBeGreaterThan(0);
    expect(Int32Array.from(winners, (w) => tied.labels[w]!)).toEqual(exactLabels(tied, pca.xTest));
  });

  it('a vote counts as settled only if no unsure pair can change the winner (ties: lowest class index)', () => {
    const i32 = (v: number[]) => Int32Array.from(v);
    expect(settledWinner(i32([2, 1, 0]), i32([0, 0, 0]), 3)).toBe(0);
    expect(settledWinner(i32([2, 1, 0]), i32([0, 1, 1]), 3)).toBe(0);
    // Class 1 could reach 2 votes: a tie with class 0, which libsvm gives to class 0.
    expect(settledWinner(i32([2, 1, 0]), i32([0, 1, 1]), 3)).toBe(0);
    expect(settledWinner(i32([1, 2, 0]), i32([1, 0, 1]), 3)).toBe(-1);
    expect(settledWinner(i32([0, 2, 0]), i32([2, 0, 2]), 3)).toBe(-1);
    expect(settledWinner(i32([0, 2, 0]), i32([1, 0, 1]), 3)).toBe(1);
    expect(settledWinner(i32([0, 1, 1]), i32([2, 1, 1]), 3)).toBe(-1);
  });
});

describe('svm plugin contract', () => {
  it('maps labels: predictions are training labels; decision scores follow ascending labels', async () => {
    const train = blobs(60);
    const test = blobs(30, 500);
    const c = await svm.create(parseParams(svm, {}), ctx).fit(train.x, train.y);
    const pred = await c.predict(test.x);
    expect(pred).toEqual(test.y);
    const s = await c.scores!(test.x);
    const asc = [-2, 7, 40];
    for (let i = 0; i < test.x.rows; i++) {
      const r = Array.from(s.data.subarray(i * 3, i * 3 + 3));
      expect(asc[r.indexOf(Math.max(...r))]).toBe(pred[i]);
    }
    c.dispose();
  });

  it('same seed and data give identical predictions', async () => {
    const x = sliceRows(d.xTrain, 0, 300);
    const y = d.yTrain.subarray(0, 300);
    const xt = sliceRows(d.xTest, 0, 200);
    const a = await svm.create(parseParams(svm, {}), ctx).fit(x, y);
    const b = await svm.create(parseParams(svm, {}), ctx).fit(x, y);
    expect(await a.predict(xt)).toEqual(await b.predict(xt));
    a.dispose();
    b.dispose();
  });

  it('frees the wasm model and problem after fit; dispose twice is safe', async () => {
    const SVM = await loadLibsvm();
    const free = vi.spyOn(SVM.prototype, 'free');
    const { x, y } = blobs(30);
    const c = await svm.create(parseParams(svm, {}), ctx).fit(x, y);
    expect(free).toHaveBeenCalled();
    for (const instance of free.mock.contexts as unknown as { model: unknown; problem: unknown }[]) {
      expect(instance.model).toBeNull();
      expect(instance.problem).toBeNull();
    }
    c.dispose();
    c.dispose();
    await expect(c.predict(x)).rejects.toThrow('svm: this model was disposed; fit or load a new one to predict.');
  });

  it('rejects bad params with our errors, never a silent degenerate model', () => {
    const bad: [object, string][] = [
      [{ C: -1 }, 'C: Too small: expected number to be >0.'],
      [{ C: '' }, 'C: Invalid input: expected number, received string.'],
      [{ kernel: 'foo' }, 'kernel: Invalid option: expected one of "rbf"|"linear"|"poly"|"sigmoid".'],
      [{ gamma: 'big' }, 'gamma: expected "scale", "auto" or a positive number.'],
      [{ gamma: 0 }, 'gamma: Too small: expected number to be >0.'],
      [{ degree: 2.5 }, 'degree: Invalid input: expected int, received number.'],
      [{ cacheSizeMb: 2000 }, 'cacheSizeMb: Too big: expected number to be <=1000.'],
      [{ tolerance: 0 }, 'tolerance: Too small: expected number to be >0.'],
      [{ cost: 10 }, 'params: Unrecognized key: "cost".'],
    ];
    for (const [raw, message] of bad) expect(() => parseParams(svm, raw)).toThrow(`Invalid params for classifier "svm": ${message}`);
    expect(parseParams(svm, {})).toEqual({
      kernel: 'rbf', C: 10, gamma: 'scale', gammaFactor: 1, degree: 3, coef0: 0, probability: false, cacheSizeMb: 500, tolerance: 0.001, shrinking: true, threads: null,
    });
  });

  it('rejects unusable inputs with clear errors', async () => {
    const e = svm.create(parseParams(svm, {}), ctx);
    const { x, y } = blobs(30);
    await expect(e.fit(x, y.subarray(0, 29))).rejects.toThrow('svm: fit got 30 rows but 29 labels; pass one label per row.');
    await expect(e.fit(x, new Int32Array(30).fill(4))).rejects.toThrow('svm: the training labels hold only one class (4); a classifier needs at least two.');
    await expect(e.fit(fromArrays([[0, 1], [Infinity, 2]]), Int32Array.from([0, 1]))).rejects.toThrow(
      'svm: the training data has a non-finite value (Infinity) at row 1, column 0; clean or impute the features first.',
    );
    const c = await e.fit(x, y);
    await expect(c.predict(fromArrays([[1, 2, 3]]))).rejects.toThrow(
      'svm: the model was trained on 2 features but got rows of 3; use the same feature pipeline for fit and predict.',
    );
    await expect(svm.load!(new TextEncoder().encode('{"format":"other"}'), parseParams(svm, {}), ctx)).rejects.toThrow(
      'svm: the saved model is not a digitbench libsvm model (format: Invalid input: expected "digitbench-libsvm"); pass the bytes that serialize() returned.',
    );
    c.dispose();
  });
});
