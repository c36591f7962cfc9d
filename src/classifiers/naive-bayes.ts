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
 * Scoring engine (issue 25): where engineChoice() picks onnxruntime, a fitted model's labels come from it
 * (@digitbench/runtime engine/ort-linear.ts: one float32 MatMul per chunk of rows, with a rounding bound per value), and every
 * row whose argmax that bound cannot settle is recomputed with logJointTyped in float64: the labels are the
 * plain loop's. Scores (posteriors) stay the plain loop's exact ones on both engines. Otherwise (wasm) it is the runtime's plain-JS model unchanged. The workbench's load does the
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

export { logJointTyped, naiveBayesParams, settledLogJoint, typedModel, type GaussianNBModel, type NaiveBayesParams } from '@digitbench/runtime/internal';

const WHO = 'naive-bayes';

export function fitTyped(x: Matrix, y: Int32Array, classes: number, varSmoothing: number): GaussianNBModel {
  const n = x.rows;
  const d = x.cols;
  const data = x.data;
  const count = new Float64Array(classes);
  for (let i = 0; i < n; i++) count[y[i]!]!++;
  const sum = new Float64Array(classes * d);
  const total = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    const c = y[i]! * d;
    for (let j = 0; j < d; j++) {
      const v = data[o + j]!;
      sum[c + j]! += v;
      total[j]! += v;
    }
  }
  const mean = sum.map((s, k) => s / count[Math.floor(k / d)]!);
  const totalMean = total.map((s) => s / n);
  const s1 = new Float64Array(classes * d);
  const s2 = new Float64Array(classes * d);
  const t1 = new Float64Array(d);
  const t2 = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const o = i * d;
    const c = y[i]! * d;
    for (let j = 0; j < d; j++) {
      const v = data[o + j]!;
      const a = v - mean[c + j]!;
      s1[c + j]! += a;
      s2[c + j]! += a * a;
      const b = v - totalMean[j]!;
      t1[j]! += b;
      t2[j]! += b * b;
    }
  }
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
  return { modelName: 'NaiveBayes', means, calculateProbabilities };
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
  library: 'ours: fit and scoring (typed arrays; workbench labels on onnxruntime-node where it loads, exact recheck), saved format; ml-naivebayes 4.0.0 (patched): origin of the model JSON, test oracle (never loaded by a run)',
  // ml-naivebayes is a test oracle only (a devDependency): nothing a run executes imports it. onnxruntime-node scores where it is the engine.
  fitLibraries: [...ORT_LIBRARIES],
  testParams: {},
  create: (params) => ({
    async fit(x, y) {
      checkTrainingData(x, y, WHO);
      const { classes, index } = labelIndex(y);
      const model = fitTyped(x, index, classes.length, params.varSmoothing);
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
