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
import { checkTrainingData, defineClassifier, defineModel, labelIndex, parseSavedJson, type Model } from './plugin.ts';

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

function asModel(t: Trained): Model {
  return defineModel(WHO, {
    classes: t.classes,
    inputSize: t.features,
    state: t,
    predict: (s, x) => Int32Array.from(s.nb.predict(toMl(x)), (i) => s.classes[i]!),
    scores: (s, x) => softmaxRows(s.nb.predictLogJoint(toMl(x)), s.classes.length),
    serialize: (s) =>
      new TextEncoder().encode(JSON.stringify({ format: FORMAT, version: 1, classes: Array.from(s.classes), features: s.features, model: s.nb.toJSON() })),
    engine: () => ENGINE,
  });
}

export const naiveBayes = defineClassifier<NaiveBayesParams>({
  name: WHO,
  summary: 'Gaussian naive Bayes (log-space scoring, scikit-learn variance smoothing)',
  input: 'vector',
  library: 'ml-naivebayes 4.0.0 (patched)',
  params: naiveBayesParams,
  scoreKind: 'posterior probabilities',
  testParams: {},
  create: (params) => ({
    async fit(x, y) {
      checkTrainingData(x, y, WHO);
      const { classes, index } = labelIndex(y);
      const nb = new GaussianNB();
      nb.train(toMl(x), Array.from(index), { varSmoothing: params.varSmoothing });
      const model = nb.toJSON();
      if (!model.calculateProbabilities.every((c) => c.every((v) => (typeof v === 'number' ? Number.isFinite(v) : Number.isFinite(v[0]) && Number.isFinite(v[1]))))) {
        throw new Error('naive-bayes: every feature is constant over the training data, so no variance can be estimated; check the features (or the split) before fitting.');
      }
      return asModel({ nb, classes, features: x.cols });
    },
  }),
  async load(bytes) {
    const s = parseSavedJson(bytes, savedSchema, 'naive-bayes', 'a digitbench Gaussian NB model');
    if (s.model.means.length !== s.classes.length || s.model.means.some((m) => m.length !== s.features)) {
      throw new Error('naive-bayes: the saved model is inconsistent (class or feature counts differ); pass the bytes that serialize() returned.');
    }
    const nb = GaussianNB.load(s.model as GaussianNBModel);
    return asModel({ nb, classes: Int32Array.from(s.classes), features: s.features });
  },
});
