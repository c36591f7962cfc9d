/**
 * Gaussian naive Bayes' load and predict, in plain JS over typed arrays: the log joint probabilities
 * summed as the patched ml-naivebayes 4.0.0 sums them (the saved model is that library's model JSON;
 * the workbench's tests compare with the library), argmax for labels, softmax for posteriors.
 * Fitting is in the workbench (digitbench src/classifiers/naive-bayes.ts).
 */
import * as z from 'zod/mini';
import { createMatrix, type Matrix } from '../engine/matrix.ts';
import { described } from './describe.ts';
import { defineModel, parseSavedJson, type Model, type ModelPlugin } from './plugin.ts';

/** ml-naivebayes 4.0.0's GaussianNB model JSON. */
export interface GaussianNBModel {
  modelName: 'NaiveBayes';
  means: number[][];
  /** Per class: [log prior, ...[1 / (sqrt(2π)·σ), −2σ²] per feature]. */
  calculateProbabilities: [number, ...Array<[number, number]>][];
}

const ENGINE = 'js (typed arrays; ml-naivebayes 4.0.0 model format)';
const FORMAT = 'digitbench-gaussian-nb';
const WHO = 'naive-bayes';

export const naiveBayesParams = z.strictObject({
  varSmoothing: described(
    z._default(z.number().check(z.positive()), 1e-9),
    "Fraction of the largest feature variance added to every variance (scikit-learn's var_smoothing)",
  ),
});

export type NaiveBayesParams = z.output<typeof naiveBayesParams>;

const savedSchema = z.object({
  format: z.literal(FORMAT),
  version: z.literal(1),
  classes: z.array(z.number().check(z.int())).check(z.minLength(1)),
  features: z.number().check(z.int(), z.positive()),
  model: z.object({
    modelName: z.literal('NaiveBayes'),
    means: z.array(z.array(z.number())),
    calculateProbabilities: z.array(z.array(z.union([z.number(), z.tuple([z.number(), z.number()])]))),
  }),
});
/** Row-wise softmax of log joint probabilities → posterior probabilities (float32, rows × classes). */
export function softmaxRows(logJoint: Float64Array, rows: number, classes: number): Matrix {
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
export function argmaxRows(logJoint: Float64Array, rows: number, classes: number, labels: Int32Array): Int32Array {
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
export interface TypedModel {
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

export interface Trained {
  model: GaussianNBModel;
  typed: TypedModel;
  /** Original label of each library class index, ascending. */
  classes: Int32Array;
  features: number;
}

/** The model of a fitted or loaded Gaussian NB. */
export function naiveBayesModelOf(t: Trained): Model {
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

export const naiveBayesModel: ModelPlugin<NaiveBayesParams> = {
  name: WHO,
  summary: 'Gaussian naive Bayes (log-space scoring, scikit-learn variance smoothing)',
  input: 'vector',
  params: naiveBayesParams,
  scoreKind: 'posterior probabilities',
  libraries: [],
  async load(bytes) {
    const s = parseSavedJson(bytes, savedSchema, 'naive-bayes', 'a digitbench Gaussian NB model');
    const { means, calculateProbabilities: probs } = s.model;
    const consistent =
      means.length === s.classes.length &&
      means.every((m) => m.length === s.features) &&
      probs.length === s.classes.length &&
      probs.every((p) => p.length === s.features + 1 && typeof p[0] === 'number' && p.slice(1).every((v) => Array.isArray(v)));
    if (!consistent) {
      throw new Error('naive-bayes: the saved model is inconsistent (class or feature counts differ); pass the bytes that serialize() returned.');
    }
    const model = s.model as GaussianNBModel;
    return naiveBayesModelOf({ model, typed: typedModel(model), classes: Int32Array.from(s.classes), features: s.features });
  },
};
