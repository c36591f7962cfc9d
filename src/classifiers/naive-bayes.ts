/**
 * Gaussian naive Bayes in ml-naivebayes 4.0.0's model format, patched (patches/ml-naivebayes+4.0.0.patch):
 * the unpatched GaussianNB scores only the first two features, gets NaN from zero variances and compares
 * `exp(log-likelihood)` (which underflows to 0 on 784 pixels), so it answers −1 for every MNIST digit.
 * The patch scores every feature in log space, adds scikit-learn's variance smoothing
 * (varSmoothing × the largest feature variance) and exposes the per-class log joint probabilities.
 *
 * Fit and scoring run here over typed arrays (`fitTyped`, `logJointTyped`), with the patched library's
 * arithmetic in its order: the same per-class means and variances (ml-matrix's sums, row by row), the
 * same model JSON, bit for bit, and the same log joint probabilities (tests compare both with the
 * library). The library builds an ml-matrix per class and a number[] per row and calls Math.log per
 * feature and row: 0.5 s on full MNIST PCA-50 where these loops take a few milliseconds. The library
 * stays the model's format (`toJSON` / `GaussianNB.load`) and the tests' oracle.
 * Labels are mapped to the 0..k−1 the format needs and back.
 */
import mlNaiveBayes from 'ml-naivebayes';
import { z } from 'zod';
import { createMatrix, type Matrix } from '@digitbench/runtime/internal';
import { checkTrainingData, defineClassifier, defineModel, labelIndex, parseSavedJson, type Model } from './plugin.ts';

interface GaussianNBModel {
  modelName: 'NaiveBayes';
  means: number[][];
  /** Per class: [log prior, ...[1 / (sqrt(2π)·σ), −2σ²] per feature]. */
  calculateProbabilities: [number, ...Array<[number, number]>][];
}

interface GaussianNBInstance {
  train(x: number[][], y: number[], options?: { varSmoothing?: number }): void;
  predict(x: number[][]): number[];
  /** Added by our patch. */
  predictLogJoint(x: number[][]): number[][];
  toJSON(): GaussianNBModel;
}

interface GaussianNBClass {
  new (): GaussianNBInstance;
  load(model: GaussianNBModel): GaussianNBInstance;
}

const { GaussianNB } = mlNaiveBayes as unknown as { GaussianNB: GaussianNBClass };

const ENGINE = 'js (typed arrays; ml-naivebayes 4.0.0 model format)';
const FORMAT = 'digitbench-gaussian-nb';
const WHO = 'naive-bayes';

export const naiveBayesParams = z
  .object({
    varSmoothing: z
      .number()
      .positive()
      .default(1e-9)
      .describe("Fraction of the largest feature variance added to every variance (scikit-learn's var_smoothing)"),
  })
  .strict();

export type NaiveBayesParams = z.infer<typeof naiveBayesParams>;

const savedSchema = z.object({
  format: z.literal(FORMAT),
  version: z.literal(1),
  classes: z.array(z.number().int()).min(1),
  features: z.number().int().positive(),
  model: z.object({
    modelName: z.literal('NaiveBayes'),
    means: z.array(z.array(z.number())),
    calculateProbabilities: z.array(z.array(z.union([z.number(), z.tuple([z.number(), z.number()])]))),
  }),
});


/** Row-wise softmax of log joint probabilities → posterior probabilities (float32, rows × classes). */
function softmaxRows(logJoint: Float64Array, rows: number, classes: number): Matrix {
  const out = new Float32Array(rows * classes);
  for (let i = 0; i < rows; i++) {
    const o = i * classes;
    let max = -Infinity;
    for (let c = 0; c < classes; c++) if (logJoint[o + c]! > max) max = logJoint[o + c]!;
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(logJoint[o + c]! - max);
    for (let c = 0; c < classes; c++) out[o + c] = Math.exp(logJoint[o + c]! - max) / sum;
  }
  return createMatrix(rows, classes, out);
}

/** The library's getCurrentClass: the first largest log joint probability. */
function argmaxRows(logJoint: Float64Array, rows: number, classes: number, labels: Int32Array): Int32Array {
  const out = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    let best = -Infinity;
    let at = -1;
    for (let c = 0; c < classes; c++) {
      if (logJoint[i * classes + c]! > best) {
        best = logJoint[i * classes + c]!;
        at = c;
      }
    }
    out[i] = at < 0 ? -1 : labels[at]!;
  }
  return out;
}

/** The model as flat arrays: per class, then per feature. */
interface TypedModel {
  classes: number;
  features: number;
  logPrior: Float64Array;
  mean: Float64Array;
  /** Math.log(1 / (sqrt(2π)·σ)), as the library's calculateLogProbability takes it each time. */
  logC1: Float64Array;
  /** −2σ². */
  c2: Float64Array;
}

/**
 * The patched GaussianNB's train, over typed arrays: class sizes, then (pass 1) column sums per class
 * and overall, then (pass 2) the deviations' sums and squares, each accumulated in row order as
 * ml-matrix's sumByColumn / varianceByColumn do, so every value is the library's to the bit.
 */
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

export function typedModel(m: GaussianNBModel): TypedModel {
  const classes = m.means.length;
  const features = m.means[0]!.length;
  const t: TypedModel = { classes, features, logPrior: new Float64Array(classes), mean: new Float64Array(classes * features), logC1: new Float64Array(classes * features), c2: new Float64Array(classes * features) };
  for (let c = 0; c < classes; c++) {
    const p = m.calculateProbabilities[c]!;
    t.logPrior[c] = p[0] as number;
    for (let j = 0; j < features; j++) {
      const [c1, c2] = p[j + 1] as [number, number];
      t.mean[c * features + j] = m.means[c]![j]!;
      t.logC1[c * features + j] = Math.log(c1);
      t.c2[c * features + j] = c2;
    }
  }
  return t;
}

/** Log joint probabilities (rows × classes), summed as the patched getLogJoint sums them. */
export function logJointTyped(t: TypedModel, x: Matrix): Float64Array {
  const { classes, features: d } = t;
  const out = new Float64Array(x.rows * classes);
  const data = x.data;
  for (let i = 0; i < x.rows; i++) {
    const o = i * d;
    for (let c = 0; c < classes; c++) {
      const k = c * d;
      let acc = t.logPrior[c]!;
      for (let j = 0; j < d; j++) {
        const v = data[o + j]! - t.mean[k + j]!;
        acc += t.logC1[k + j]! + (v * v) / t.c2[k + j]!;
      }
      out[i * classes + c] = acc;
    }
  }
  return out;
}

interface Trained {
  model: GaussianNBModel;
  typed: TypedModel;
  /** Original label of each library class index, ascending. */
  classes: Int32Array;
  features: number;
}

function asModel(t: Trained): Model {
  return defineModel(WHO, {
    classes: t.classes,
    inputSize: t.features,
    state: t,
    predict: (s, x) => argmaxRows(logJointTyped(s.typed, x), x.rows, s.classes.length, s.classes),
    scores: (s, x) => softmaxRows(logJointTyped(s.typed, x), x.rows, s.classes.length),
    serialize: (s) => new TextEncoder().encode(JSON.stringify({ format: FORMAT, version: 1, classes: Array.from(s.classes), features: s.features, model: s.model })),
    engine: () => ENGINE,
  });
}

export const naiveBayes = defineClassifier<NaiveBayesParams>({
  name: WHO,
  summary: 'Gaussian naive Bayes (log-space scoring, scikit-learn variance smoothing)',
  input: 'vector',
  library: 'ours: fit and scoring (typed arrays); ml-naivebayes 4.0.0 (patched): model format, test oracle',
  params: naiveBayesParams,
  scoreKind: 'posterior probabilities',
  testParams: {},
  create: (params) => ({
    async fit(x, y) {
      checkTrainingData(x, y, WHO);
      const { classes, index } = labelIndex(y);
      const model = fitTyped(x, index, classes.length, params.varSmoothing);
      if (!model.calculateProbabilities.every((c) => c.every((v) => (typeof v === 'number' ? Number.isFinite(v) : Number.isFinite(v[0]) && Number.isFinite(v[1]))))) {
        throw new Error('naive-bayes: every feature is constant over the training data, so no variance can be estimated; check the features (or the split) before fitting.');
      }
      return asModel({ model, typed: typedModel(model), classes, features: x.cols });
    },
  }),
  async load(bytes) {
    const s = parseSavedJson(bytes, savedSchema, 'naive-bayes', 'a digitbench Gaussian NB model');
    if (s.model.means.length !== s.classes.length || s.model.means.some((m) => m.length !== s.features)) {
      throw new Error('naive-bayes: the saved model is inconsistent (class or feature counts differ); pass the bytes that serialize() returned.');
    }
    // The library's own loader checks the model's shape; scoring then runs on the same numbers, typed.
    const model = GaussianNB.load(s.model as GaussianNBModel).toJSON();
    return asModel({ model, typed: typedModel(model), classes: Int32Array.from(s.classes), features: s.features });
  },
});
