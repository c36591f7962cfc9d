/**
 * Gaussian naive Bayes from ml-naivebayes 4.0.0, patched (patches/ml-naivebayes+4.0.0.patch):
 * the unpatched GaussianNB scores only the first two features, gets NaN from zero variances and compares
 * `exp(log-likelihood)` (which underflows to 0 on 784 pixels), so it answers −1 for every MNIST digit.
 * The patch scores every feature in log space, adds scikit-learn's variance smoothing
 * (varSmoothing × the largest feature variance) and exposes the per-class log joint probabilities.
 * This wrapper maps arbitrary labels to the 0..k−1 the library needs and back.
 */
import { createRequire } from 'node:module';
import { Matrix as MlMatrix } from 'ml-matrix';
import { z } from 'zod';
import { createMatrix, type Matrix } from '../engine/matrix.ts';
import { checkFinite, defineClassifier, parseSavedJson, type Classifier } from './plugin.ts';

const require = createRequire(import.meta.url);

interface GaussianNBModel {
  modelName: 'NaiveBayes';
  means: number[][];
  /** Per class: [log prior, ...[1 / (sqrt(2π)·σ), −2σ²] per feature]. */
  calculateProbabilities: [number, ...Array<[number, number]>][];
}

interface GaussianNBInstance {
  train(x: MlMatrix, y: number[], options?: { varSmoothing?: number }): void;
  predict(x: MlMatrix): number[];
  /** Added by our patch. */
  predictLogJoint(x: MlMatrix): number[][];
  toJSON(): GaussianNBModel;
}

interface GaussianNBClass {
  new (): GaussianNBInstance;
  load(model: GaussianNBModel): GaussianNBInstance;
}

const { GaussianNB } = require('ml-naivebayes') as { GaussianNB: GaussianNBClass };

const ENGINE = 'ml-naivebayes 4.0.0 (patched, js)';
const FORMAT = 'digitbench-gaussian-nb';

export const naiveBayesParams = z
  .object({
    /** Fraction of the largest feature variance added to every variance (scikit-learn's var_smoothing). */
    varSmoothing: z.number().positive().default(1e-9),
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


/** The library's input type, filled row by row (nested number[] arrays are several times slower to build). */
function toMl(x: Matrix): MlMatrix {
  const m = new MlMatrix(x.rows, x.cols);
  // ml-matrix keeps one Float64Array per row in `data` (not in its .d.ts).
  const rows = (m as unknown as { data: Float64Array[] }).data;
  for (let i = 0; i < x.rows; i++) rows[i]!.set(x.data.subarray(i * x.cols, (i + 1) * x.cols));
  return m;
}

/** Row-wise softmax of log joint probabilities → posterior probabilities (float32, rows × classes). */
function softmaxRows(logJoint: number[][], classes: number): Matrix {
  const out = new Float32Array(logJoint.length * classes);
  for (let i = 0; i < logJoint.length; i++) {
    const r = logJoint[i]!;
    let max = -Infinity;
    for (let c = 0; c < classes; c++) if (r[c]! > max) max = r[c]!;
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(r[c]! - max);
    for (let c = 0; c < classes; c++) out[i * classes + c] = Math.exp(r[c]! - max) / sum;
  }
  return createMatrix(logJoint.length, classes, out);
}

interface Trained {
  nb: GaussianNBInstance;
  /** Original label of each library class index, ascending. */
  classes: Int32Array;
  features: number;
}

function makeClassifier(params: NaiveBayesParams, initial?: Trained): Classifier {
  let trained: Trained | undefined = initial;
  let disposed = false;

  function ready(x: Matrix): Trained {
    if (disposed) throw new Error('naive-bayes: this classifier was disposed; create a new one to predict.');
    if (!trained) throw new Error('naive-bayes: predict was called before fit; call fit(x, y) first.');
    if (x.cols !== trained.features) {
      throw new Error(`naive-bayes: the model was trained on ${trained.features} features but got rows of ${x.cols}; use the same feature pipeline for fit and predict.`);
    }
    checkFinite(x, 'naive-bayes', 'the input to predict');
    return trained;
  }

  return {
    async fit(x, y) {
      if (disposed) throw new Error('naive-bayes: this classifier was disposed; create a new one to fit.');
      if (x.rows !== y.length) throw new Error(`naive-bayes: fit got ${x.rows} rows but ${y.length} labels; pass one label per row.`);
      if (x.rows === 0 || x.cols === 0) throw new Error('naive-bayes: fit got no training data; pass at least one row with at least one feature.');
      checkFinite(x, 'naive-bayes', 'the training data');
      const classes = Int32Array.from(new Set(y)).sort();
      const index = new Map<number, number>();
      classes.forEach((c, i) => index.set(c, i));
      const mapped = Array.from(y, (v) => index.get(v)!);
      const nb = new GaussianNB();
      nb.train(toMl(x), mapped, { varSmoothing: params.varSmoothing });
      const model = nb.toJSON();
      if (!model.calculateProbabilities.every((c) => c.every((v) => (typeof v === 'number' ? Number.isFinite(v) : Number.isFinite(v[0]) && Number.isFinite(v[1]))))) {
        throw new Error('naive-bayes: every feature is constant over the training data, so no variance can be estimated; check the features (or the split) before fitting.');
      }
      trained = { nb, classes, features: x.cols };
    },

    async predict(x) {
      const t = ready(x);
      if (x.rows === 0) return new Int32Array(0);
      const idx = t.nb.predict(toMl(x));
      return Int32Array.from(idx, (i) => t.classes[i]!);
    },

    async scores(x) {
      const t = ready(x);
      if (x.rows === 0) return createMatrix(0, t.classes.length);
      return softmaxRows(t.nb.predictLogJoint(toMl(x)), t.classes.length);
    },

    async serialize() {
      if (disposed) throw new Error('naive-bayes: this classifier was disposed; serialize before dispose.');
      if (!trained) throw new Error('naive-bayes: serialize was called before fit; call fit(x, y) first.');
      const saved = { format: FORMAT, version: 1, classes: Array.from(trained.classes), features: trained.features, model: trained.nb.toJSON() };
      return new TextEncoder().encode(JSON.stringify(saved));
    },

    engine: () => ENGINE,

    dispose() {
      disposed = true;
      trained = undefined;
    },
  };
}

export const naiveBayes = defineClassifier<NaiveBayesParams>({
  name: 'naive-bayes',
  summary: 'Gaussian naive Bayes (log-space scoring, scikit-learn variance smoothing); scores are posterior probabilities',
  input: 'vector',
  library: 'ml-naivebayes 4.0.0 (patched)',
  params: naiveBayesParams,
  testParams: {},
  create: (params) => makeClassifier(params),
  async load(bytes, params) {
    const s = parseSavedJson(bytes, savedSchema, 'naive-bayes', 'a digitbench Gaussian NB model');
    if (s.model.means.length !== s.classes.length || s.model.means.some((m) => m.length !== s.features)) {
      throw new Error('naive-bayes: the saved model is inconsistent (class or feature counts differ); pass the bytes that serialize() returned.');
    }
    const nb = GaussianNB.load(s.model as GaussianNBModel);
    return makeClassifier(params, { nb, classes: Int32Array.from(s.classes), features: s.features });
  },
});
