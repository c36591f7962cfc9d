/**
 * Gaussian naive Bayes' load and predict, in plain JS over typed arrays: the log joint probabilities
 * summed as the patched ml-naivebayes 4.0.0 sums them (the saved model is that library's model JSON;
 * the workbench's tests compare with the library), argmax for labels, softmax for posteriors.
 * Fitting is in the workbench (digitbench src/classifiers/naive-bayes.ts).
 */
import * as z from 'zod/mini';
import { createMatrix, type Matrix } from '../engine/matrix.ts';
import { described } from './describe.ts';
import { defineModel, parseSavedJson, type Model, type ModelPlugin, type NativeEngine } from './plugin.ts';
import type { GaussianScores } from '../engine/ort-linear.ts';

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

/**
 * Log joint probabilities (rows × classes) whose argmax is the exact loop's: the scorer's float32 values, and
 * for every row where some other class's value could, within the bounds, reach the best one's (or where float32
 * overflowed), the exact float64 values of logJointTyped.
 */
export async function settledLogJoint(scorer: GaussianScores, t: TypedModel, x: Matrix): Promise<{ logJoint: Float64Array; recomputed: number }> {
  const C = t.classes;
  const { values, bound } = await scorer.logJoint(x);
  const unsure: number[] = [];
  for (let i = 0; i < x.rows; i++) {
    const o = i * C;
    let best = 0;
    for (let c = 1; c < C; c++) if (values[o + c]! > values[o + best]!) best = c;
    const low = values[o + best]! - bound[o + best]!;
    for (let c = 0; c < C; c++) {
      // (A float32 overflow, e.g. x² of a value over 1.8e19, makes a value or bound infinite or NaN: unsure.)
      if (!(Number.isFinite(values[o + c]!) && Number.isFinite(bound[o + c]!)) || (c !== best && values[o + c]! + bound[o + c]! >= low)) {
        unsure.push(i);
        break;
      }
    }
  }
  if (unsure.length > 0) {
    const d = x.cols;
    const sub = new Float32Array(unsure.length * d);
    unsure.forEach((r, u) => sub.set(x.data.subarray(r * d, (r + 1) * d), u * d));
    const exact = logJointTyped(t, { rows: unsure.length, cols: d, data: sub });
    unsure.forEach((r, u) => values.set(exact.subarray(u * C, (u + 1) * C), r * C));
  }
  return { logJoint: values, recomputed: unsure.length };
}

/**
 * A Gaussian NB whose labels come from onnxruntime (one session per model, made at its first predict, released
 * by dispose): float32 products, then the exact float64 loop for every row the rounding bound cannot settle, so
 * the labels are the plain loop's. Its scores stay the plain loop's exact float64 posteriors: the same numbers
 * on either engine, so calibration and thresholds do not depend on the engine.
 */
function nativeModelOf(t: Trained, native: NativeEngine, threads: number): Model {
  let scorer: Promise<GaussianScores> | undefined;
  const engine = () => `${native.description(threads)}: labels from float32 log joint products, exact float64 near ties; scores exact float64 (fit: js typed arrays; ml-naivebayes 4.0.0 model format)`;
  return defineModel(WHO, {
    classes: t.classes,
    inputSize: t.features,
    state: t,
    async predict(s, x) {
      const { logJoint } = await settledLogJoint(await (scorer ??= native.gaussianScores(s.typed, threads)), s.typed, x);
      return argmaxRows(logJoint, x.rows, s.classes.length, s.classes);
    },
    scores: (s, x) => softmaxRows(logJointTyped(s.typed, x), x.rows, s.classes.length),
    predictWithScores(s, x) {
      const lj = logJointTyped(s.typed, x);
      return { labels: argmaxRows(lj, x.rows, s.classes.length, s.classes), scores: softmaxRows(lj, x.rows, s.classes.length) };
    },
    serialize: (s) => serializeNb(s),
    engine,
    runtime: () => ({ engine: engine(), threads }),
    free: () => void scorer?.then((sc) => sc.dispose()),
  });
}

function serializeNb(s: Trained): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ format: FORMAT, version: 1, classes: Array.from(s.classes), features: s.features, model: s.model }));
}

/**
 * The model of a fitted or loaded Gaussian NB: plain JS, or with `native` (onnxruntime-node) its labels on
 * that engine's `threads` (the same labels; the same scores and bytes).
 */
export function naiveBayesModelOf(t: Trained, native?: NativeEngine, threads = native?.threads ?? 1): Model {
  if (native) return nativeModelOf(t, native, threads);
  return defineModel(WHO, {
    classes: t.classes,
    inputSize: t.features,
    state: t,
    predict: (s, x) => argmaxRows(logJointTyped(s.typed, x), x.rows, s.classes.length, s.classes),
    scores: (s, x) => softmaxRows(logJointTyped(s.typed, x), x.rows, s.classes.length),
    serialize: (s) => serializeNb(s),
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
  async load(bytes, _params, ctx) {
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
    return naiveBayesModelOf({ model, typed: typedModel(model), classes: Int32Array.from(s.classes), features: s.features }, ctx?.native);
  },
};
