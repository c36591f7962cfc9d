/**
 * An example classifier plugin, complete in one file: nearest centroid (each class is the mean of
 * its training rows; a row gets the class of the closest mean). Load it from an experiment with
 * { "plugin": "./examples/nearest-centroid.ts" } (paths are relative to the experiment file's folder,
 * so from experiments/ it is "../examples/nearest-centroid.ts").
 *
 * The shape every plugin has: `create(params)` returns an estimator whose `fit` returns a model;
 * `defineModel` does the bookkeeping (input width and finiteness checks, empty inputs, dispose);
 * `serialize` + `load` let the run write a bundle that `digitbench predict` and apps can load.
 */
import { z } from 'zod';
import { checkTrainingData, defineClassifier, defineModel, labelIndex, ownBytes, type Model } from '../src/classifiers/plugin.ts';
import type { Matrix } from '@digitbench/runtime/internal';

const params = z
  .object({
    metric: z.enum(['l2', 'l1']).default('l2').describe('Distance to the centroids: squared Euclidean (l2) or city-block (l1)'),
  })
  .strict();

type Params = z.output<typeof params>;

interface Centroids {
  labels: Int32Array;
  /** classes × cols, row-major. */
  means: Float32Array;
  cols: number;
}

function nearest(p: Params, c: Centroids, x: Matrix): Int32Array {
  const k = c.labels.length;
  const out = new Int32Array(x.rows);
  for (let i = 0; i < x.rows; i++) {
    let best = 0;
    let bestD = Infinity;
    for (let t = 0; t < k; t++) {
      let s = 0;
      for (let j = 0; j < c.cols; j++) {
        const diff = x.data[i * c.cols + j]! - c.means[t * c.cols + j]!;
        s += p.metric === 'l2' ? diff * diff : Math.abs(diff);
      }
      if (s < bestD) [best, bestD] = [t, s];
    }
    out[i] = c.labels[best]!;
  }
  return out;
}

function asModel(p: Params, c: Centroids): Model {
  return defineModel('nearest-centroid', {
    classes: c.labels,
    inputSize: c.cols,
    state: c,
    predict: (s, x) => nearest(p, s, x),
    serialize(s) {
      // [k, cols, labels…] as int32, then the means as float32.
      const head = new Int32Array([s.labels.length, s.cols, ...s.labels]);
      const bytes = new Uint8Array(head.byteLength + s.means.byteLength);
      bytes.set(new Uint8Array(head.buffer), 0);
      bytes.set(new Uint8Array(s.means.buffer, s.means.byteOffset, s.means.byteLength), head.byteLength);
      return bytes;
    },
    engine: () => 'js',
  });
}

export const nearestCentroid = defineClassifier<Params>({
  name: 'nearest-centroid',
  summary: 'Nearest class mean (an example plugin in one file)',
  input: 'vector',
  library: 'none (example plugin)',
  params,
  testParams: {},
  create: (p) => ({
    async fit(x, y) {
      checkTrainingData(x, y, 'nearest-centroid');
      const { classes, index } = labelIndex(y);
      const sums = new Float64Array(classes.length * x.cols);
      const counts = new Float64Array(classes.length);
      for (let i = 0; i < x.rows; i++) {
        const c = index[i]!;
        counts[c]!++;
        for (let j = 0; j < x.cols; j++) sums[c * x.cols + j]! += x.data[i * x.cols + j]!;
      }
      const means = Float32Array.from(sums, (s, t) => s / counts[Math.floor(t / x.cols)]!);
      return asModel(p, { labels: classes, means, cols: x.cols });
    },
  }),
  async load(bytes, p) {
    const copy = ownBytes(bytes); // a private, aligned copy (bytes may be a view into a Node Buffer)
    const head = new Int32Array(copy.buffer, 0, 2);
    const [k, cols] = [head[0]!, head[1]!];
    if (copy.byteLength !== 8 + 4 * k + 4 * k * cols) throw new Error('nearest-centroid: the saved model has the wrong length; pass the bytes serialize() returned.');
    const labels = new Int32Array(copy.buffer, 8, k);
    const means = new Float32Array(copy.buffer, 8 + 4 * k, k * cols);
    return asModel(p, { labels, means, cols });
  },
});
