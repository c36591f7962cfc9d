/**
 * Gaussian naive Bayes, fitted and scored by our own loops over typed arrays. ml-naivebayes 4.0.0, patched
 * (patches/ml-naivebayes+4.0.0.patch), is where the model format comes from and the tests' oracle; no run
 * and no bundle load imports it (it is a devDependency). Unpatched, its GaussianNB scores only the first two
 * features, gets NaN from zero variances and compares `exp(log-likelihood)` (which underflows to 0 on 784
 * pixels), so it answers −1 for every MNIST digit. The patch scores every feature in log space, adds
 * scikit-learn's variance smoothing (varSmoothing × the largest feature variance) and exposes the per-class
 * log joint probabilities.
 *
 * Fit and scoring (`fitTyped`, `logJointTyped`) follow the patched library's arithmetic in its order: the
 * same per-class means and variances (ml-matrix's sums, row by row), the same model JSON, bit for bit, and
 * the same log joint probabilities (tests compare both with the library). The library itself builds an
 * ml-matrix per class and a number[] per row and calls Math.log per feature and row, far slower than these
 * loops (docs/measurements.md). Its model JSON is the model inside the saved format. Load and scoring are
 * in @digitbench/runtime (models/naive-bayes.ts); this file adds fitting.
 * Labels are mapped to the 0..k−1 the format needs and back.
 *
 * Fit speed: the finiteness check of the training data is pass 1's column totals (a float64 sum of float32
 * values is finite exactly when they all are; otherwise checkTrainingData names the value), the labels are
 * indexed by a table (classIndex), and both passes run in the runtime's small WebAssembly module
 * (models/naive-bayes-wasm.ts; JS loops where it is missing), two columns per step, each sum still in row order.
 *
 * Scoring engine (issue 25): labels come from the runtime's labelsTyped (a float64 quadratic form with a
 * rounding bound; rows the bound cannot settle get logJointTyped's exact argmax) on either engine, except where
 * engineChoice() picks onnxruntime and the model has NATIVE_MIN_TERMS (2,048) feature × class terms or more:
 * then from onnxruntime (@digitbench/runtime engine/ort-linear.ts: one float32 MatMul per chunk of rows, with a
 * rounding bound per value, the same exact recheck). Either way the labels are the plain loop's. Scores
 * (posteriors) stay the plain loop's exact ones on both engines. The workbench's load does the
 * same. Both are the runtime's model (naiveBayesModelOf with the engine as `native`), which a Node app's
 * loadModel also runs on onnxruntime where it loads (a page: plain JS); labels and scores are the same.
 */
import {
  naiveBayesModel,
  naiveBayesModelOf,
  typedModel,
  type GaussianNBModel,
  type Matrix,
  type Model,
  type NativeEngine,
  type NaiveBayesParams,
} from '@digitbench/runtime/internal';
import { checkTrainingData, defineClassifier, labelIndex } from './plugin.ts';
import { engineChoice, ORT_LIBRARIES, ortDescription, type EngineName } from '../engine/ort.ts';
import { ortGaussianScores } from '@digitbench/runtime/internal';
import { ortRbfProducts } from '@digitbench/runtime/internal';
import { ortChunkMinima } from '@digitbench/runtime/internal';
import { defaultThreads } from '../engine/threads.ts';
import { wasmPasses, type WasmPasses } from '@digitbench/runtime/internal';

export { logJointTyped, naiveBayesParams, settledLogJoint, typedModel, type GaussianNBModel, type NaiveBayesParams } from '@digitbench/runtime/internal';

const WHO = 'naive-bayes';

export function fitTyped(x: Matrix, y: Int32Array, classes: number, varSmoothing: number, passes: 'wasm' | 'js' = 'wasm'): GaussianNBModel {
  return fitPasses(x, y, classes, varSmoothing, passes === 'wasm' ? wasmPasses() : undefined).model;
}

/**
 * fitTyped, and whether every value of x is finite (known from pass 1: a float64 sum of float32 values cannot
 * overflow, so the column totals are all finite exactly when every value is). Both passes go over the rows in
 * order, two columns per step (each sum still adds its values in row order: the same bits): as the small
 * WebAssembly module of naive-bayes-wasm.ts where it compiles, else (or with `wasm` undefined) in JS.
 */
function fitPasses(x: Matrix, y: Int32Array, classes: number, varSmoothing: number, wasm: WasmPasses | undefined, counted?: Float64Array): { model: GaussianNBModel; finite: boolean } {
  const n = x.rows;
  const d = x.cols;
  let count = counted;
  if (!count) {
    count = new Float64Array(classes);
    for (let i = 0; i < n; i++) count[y[i]!]!++;
  }
  const { sum, total } = wasm ? wasm.pass1(x.data, y, n, d, classes) : pass1(x, y, classes);
  const finite = total.every(Number.isFinite);
  const mean = sum.map((s, k) => s / count[Math.floor(k / d)]!);
  const totalMean = total.map((s) => s / n);
  const { s1, s2, t1, t2 } = wasm ? wasm.pass2(mean, totalMean) : pass2(x, y, classes, mean, totalMean);
  let largest = -Infinity;
  for (let j = 0; j < d; j++) largest = Math.max(largest, (t2[j]! - (t1[j]! * t1[j]!) / n) / n);
  const epsilon = varSmoothing * largest;
  const C1 = Math.sqrt(2 * Math.PI);
  const means: number[][] = [];
  const calculateProbabilities: GaussianNBModel['calculateProbabilities'] = [];
  for (let c = 0; c < classes; c++) {
    const rows = count[c]!;
    const probs: [number, ...Array<[number, number]>] = [Math.log(rows / n)];
    for (let j = 0; j < d; j++) {
      const k = c * d + j;
      const variance = rows > 1 ? (s2[k]! - (s1[k]! * s1[k]!) / rows) / (rows - 1) : (s2[k]! - (s1[k]! * s1[k]!) / rows) / rows;
      const std = Math.sqrt(variance + epsilon);
      probs.push([1 / (C1 * std), -2 * std * std]);
    }
    means.push(Array.from(mean.subarray(c * d, (c + 1) * d)));
    calculateProbabilities.push(probs);
  }
  return { model: { modelName: 'NaiveBayes', means, calculateProbabilities }, finite };
}

/** Pass 1 in JS: per-class column sums and column totals, in row order. */
function pass1(x: Matrix, y: Int32Array, classes: number): { sum: Float64Array; total: Float64Array } {
  const n = x.rows;
  const d = x.cols;
  const data = x.data;
  const d2 = d & ~1;
  const sum = new Float64Array(classes * d);
  const total = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    const c = y[i]! * d;
    let j = 0;
    for (; j < d2; j += 2) {
      const v = data[o + j]!;
      const w = data[o + j + 1]!;
      sum[c + j]! += v;
      sum[c + j + 1]! += w;
      total[j]! += v;
      total[j + 1]! += w;
    }
    if (j < d) {
      const v = data[o + j]!;
      sum[c + j]! += v;
      total[j]! += v;
    }
  }
  return { sum, total };
}

/** Pass 2 in JS: sums of deviations and squared deviations from the class means and the column means. */
function pass2(x: Matrix, y: Int32Array, classes: number, mean: Float64Array, totalMean: Float64Array): { s1: Float64Array; s2: Float64Array; t1: Float64Array; t2: Float64Array } {
  const n = x.rows;
  const d = x.cols;
  const data = x.data;
  const d2 = d & ~1;
  const s1 = new Float64Array(classes * d);
  const s2 = new Float64Array(classes * d);
  const t1 = new Float64Array(d);
  const t2 = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    const c = y[i]! * d;
    let j = 0;
    for (; j < d2; j += 2) {
      const v = data[o + j]!;
      const w = data[o + j + 1]!;
      const a = v - mean[c + j]!;
      const a2 = w - mean[c + j + 1]!;
      s1[c + j]! += a;
      s1[c + j + 1]! += a2;
      s2[c + j]! += a * a;
      s2[c + j + 1]! += a2 * a2;
      const b = v - totalMean[j]!;
      const b2 = w - totalMean[j + 1]!;
      t1[j]! += b;
      t1[j + 1]! += b2;
      t2[j]! += b * b;
      t2[j + 1]! += b2 * b2;
    }
    if (j < d) {
      const v = data[o + j]!;
      const a = v - mean[c + j]!;
      s1[c + j]! += a;
      s2[c + j]! += a * a;
      const b = v - totalMean[j]!;
      t1[j]! += b;
      t2[j]! += b * b;
    }
  }
  return { s1, s2, t1, t2 };
}

/**
 * labelIndex's classes and index (the distinct labels ascending; each row's position among them), and the rows
 * per class, in two scans where every label is in [0, 65536) (as digits are): a presence table indexed by the
 * label, then the index; labelIndex's otherwise. (In a fresh process these loops run before V8 optimizes them,
 * so fewer scans count: labelIndex's Set and a separate count took 3–6 ms there.)
 */
function classIndex(y: Int32Array): { classes: Int32Array; index: Int32Array; count: Float64Array } {
  const n = y.length;
  let hi = -1;
  let inRange = n > 0;
  const table = new Int32Array(65536);
  for (let i = 0; i < n; i++) {
    const v = y[i]!;
    if (v < 0 || v > 65535) {
      inRange = false;
      break;
    }
    table[v] = 1;
    if (v > hi) hi = v;
  }
  if (!inRange) {
    const { classes, index } = labelIndex(y);
    const count = new Float64Array(classes.length);
    for (let i = 0; i < n; i++) count[index[i]!]!++;
    return { classes, index, count };
  }
  let k = 0;
  for (let v = 0; v <= hi; v++) if (table[v] === 1) table[v] = ++k;
  const classes = new Int32Array(k);
  for (let v = 0; v <= hi; v++) if (table[v]! > 0) classes[table[v]! - 1] = v;
  const index = new Int32Array(n);
  const count = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    const c = table[y[i]!]! - 1;
    index[i] = c;
    count[c]!++;
  }
  return { classes, index, count };
}

type Trained = Parameters<typeof naiveBayesModelOf>[0];

/** The workbench's onnxruntime-node, as the runtime's NB takes it (the same ort path apps' loadModel uses). */
const native = (threads: number): NativeEngine => ({ description: ortDescription, threads, gaussianScores: ortGaussianScores, rbfProducts: ortRbfProducts, chunkMinima: ortChunkMinima });

/** The model of a fitted NB on `engine` (default: engineChoice()'s): onnxruntime scoring, or the runtime's plain JS. */
export function naiveBayesModelOn(t: Trained, engine: EngineName = engineChoice().engine, threads = defaultThreads()): Model {
  return engine === 'ort' ? naiveBayesModelOf(t, native(threads)) : naiveBayesModelOf(t);
}

export const naiveBayes = defineClassifier<NaiveBayesParams>({
  ...naiveBayesModel,
  library: 'ours: fit and scoring (typed arrays; workbench labels on onnxruntime-node where it loads and the model has 2,048+ feature × class terms, exact recheck), saved format; ml-naivebayes 4.0.0 (patched): origin of the model JSON, test oracle (never loaded by a run)',
  // ml-naivebayes is a test oracle only (a devDependency): nothing a run executes imports it. onnxruntime-node scores where it is the engine (and the model is large enough).
  engineLibraries: { ort: ORT_LIBRARIES },
  testParams: {},
  create: (params) => ({
    async fit(x, y) {
      // The row, label and emptiness checks first; the finiteness check's scan is fitPasses' first pass (a
      // non-finite value anywhere runs checkTrainingData again, which names it).
      if (x.rows !== y.length || x.rows === 0 || x.cols === 0) checkTrainingData(x, y, WHO);
      const { classes, index, count } = classIndex(y);
      const { model, finite } = fitPasses(x, index, classes.length, params.varSmoothing, wasmPasses(), count);
      if (!finite) checkTrainingData(x, y, WHO);
      if (!model.calculateProbabilities.every((c) => c.every((v) => (typeof v === 'number' ? Number.isFinite(v) : Number.isFinite(v[0]) && Number.isFinite(v[1]))))) {
        throw new Error('naive-bayes: every feature is constant over the training data, so no variance can be estimated; check the features (or the split) before fitting.');
      }
      return naiveBayesModelOn({ model, typed: typedModel(model), classes, features: x.cols });
    },
  }),
  // The workbench's load scores on the same engine as its fit (the runtime's load checks the bytes first).
  async load(bytes, params, ctx) {
    (await naiveBayesModel.load!(bytes, params, ctx)).dispose();
    const saved = JSON.parse(new TextDecoder().decode(bytes)) as { classes: number[]; features: number; model: GaussianNBModel };
    return naiveBayesModelOn({ model: saved.model, typed: typedModel(saved.model), classes: Int32Array.from(saved.classes), features: saved.features });
  },
});
