/**
 * An example classifier plugin, complete in one file: nearest centroid (each class is the mean of
 * its training rows; a row gets the class of the closest mean). Load it from an experiment with
 * { "plugin": "./examples/nearest-centroid.ts" } (paths are relative to the experiment file's folder,
 * so from experiments/ it is "../examples/nearest-centroid.ts").
 */
import { z } from 'zod';
import { defineClassifier, type Classifier } from '../src/classifiers/plugin.ts';
import type { Matrix } from '../src/engine/matrix.ts';

const params = z
  .object({
    /** Squared euclidean ("l2") or city-block ("l1") distance to the centroids. */
    metric: z.enum(['l2', 'l1']).default('l2'),
  })
  .strict();

type Params = z.output<typeof params>;

function model(params: Params, labels: Int32Array, centroids: Float32Array, cols: number): Classifier {
  const k = labels.length;
  const distances = (x: Matrix): Float64Array => {
    if (x.cols !== cols) throw new Error(`nearest-centroid was fitted on ${cols} features but got ${x.cols}; use the same features.`);
    const d = new Float64Array(x.rows * k);
    for (let i = 0; i < x.rows; i++) {
      for (let c = 0; c < k; c++) {
        let s = 0;
        for (let j = 0; j < cols; j++) {
          const diff = x.data[i * cols + j]! - centroids[c * cols + j]!;
          s += params.metric === 'l2' ? diff * diff : Math.abs(diff);
        }
        d[i * k + c] = s;
      }
    }
    return d;
  };
  return {
    async fit() {},
    async predict(x) {
      const d = distances(x);
      const out = new Int32Array(x.rows);
      for (let i = 0; i < x.rows; i++) {
        let best = 0;
        for (let c = 1; c < k; c++) if (d[i * k + c]! < d[i * k + best]!) best = c;
        out[i] = labels[best]!;
      }
      return out;
    },
    async serialize() {
      const header = new Int32Array([k, cols, ...labels]);
      const bytes = new Uint8Array(header.byteLength + centroids.byteLength);
      bytes.set(new Uint8Array(header.buffer), 0);
      bytes.set(new Uint8Array(centroids.buffer, centroids.byteOffset, centroids.byteLength), header.byteLength);
      return bytes;
    },
    engine: () => 'js',
    dispose() {},
  };
}

export const nearestCentroid = defineClassifier<Params>({
  name: 'nearest-centroid',
  summary: 'Nearest class mean (an example plugin in one file)',
  input: 'vector',
  library: 'none (example plugin)',
  params,
  testParams: {},
  create(p) {
    let fitted: Classifier | undefined;
    const need = () => {
      if (!fitted) throw new Error('nearest-centroid: call fit before predict.');
      return fitted;
    };
    return {
      async fit(x, y) {
        const labels = Int32Array.from(new Set(y)).sort();
        const index = new Map(Array.from(labels, (l, i) => [l, i] as const));
        const sums = new Float64Array(labels.length * x.cols);
        const counts = new Float64Array(labels.length);
        for (let i = 0; i < x.rows; i++) {
          const c = index.get(y[i]!)!;
          counts[c]!++;
          for (let j = 0; j < x.cols; j++) sums[c * x.cols + j]! += x.data[i * x.cols + j]!;
        }
        const centroids = Float32Array.from(sums, (s, t) => s / counts[Math.floor(t / x.cols)]!);
        fitted = model(p, labels, centroids, x.cols);
      },
      predict: (x) => need().predict(x),
      serialize: () => need().serialize!(),
      engine: () => 'js',
      dispose() {
        fitted = undefined;
      },
    };
  },
  async load(bytes, p) {
    const head = new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + 8));
    const [k, cols] = [head[0]!, head[1]!];
    const labels = new Int32Array(bytes.buffer.slice(bytes.byteOffset + 8, bytes.byteOffset + 8 + 4 * k));
    const centroids = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 8 + 4 * k, bytes.byteOffset + 8 + 4 * k + 4 * k * cols));
    return model(p, labels, centroids, cols);
  },
});
