import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import { KD_TREE_ENGINE, knn } from '../src/classifiers/knn.ts';
import { parseParams, type Estimator } from '../src/classifiers/plugin.ts';
import { BruteForceIndex } from '../src/engine/distance.ts';
import { createMatrix, sliceRows, toArrays, type Matrix } from '@digitbench/runtime/internal';
import { getTf } from '../src/engine/tf.ts';
import { engineChoice, ortDescription } from '../src/engine/ort.ts';
import { mnistSubset, quadrants, type Subset } from './helpers/mnist.ts';

const require = createRequire(import.meta.url);
type Pair = [number[], number];
interface Lib {
  new (x: number[][], y: number[], o: { k: number; distance?: (a: number[], b: number[]) => number }): {
    predict(x: number[][]): number[];
    kdTree: { nearest(p: number[], k: number): Pair[] };
  };
}
const Patched = require('ml-knn') as Lib;
const Unpatched = require('ml-knn-unpatched') as Lib;
const { euclidean } = require('ml-distance-euclidean') as { euclidean: (a: number[], b: number[]) => number };

const log = { info() {}, warn() {} };
const make = (raw: object = {}, seed = 1): Estimator => knn.create(parseParams(knn, raw), { seed, log });


function accuracy(p: Int32Array, y: Int32Array): number {
  let ok = 0;
  for (let i = 0; i < p.length; i++) if (p[i] === y[i]) ok++;
  return ok / p.length;
}

/** Neighbours as (distance, appended value) sorted: comparable across tree shapes and heap orders. */
const sortedNeighbours = (found: Pair[]) => found.map(([p, d]) => [d, p[p.length - 1]!]).sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);

let s: Subset;
beforeAll(async () => {
  s = await mnistSubset(2000, 1000, 1);
});

describe('ml-knn patch (k-d tree pruning)', () => {
  it('finds the same neighbours and predictions as the unpatched library (500 train × 100 queries, raw pixels)', () => {
    const x = toArrays(sliceRows(s.xTrain, 0, 500));
    const y = Array.from(s.yTrain.subarray(0, 500));
    const q = toArrays(sliceRows(s.xTest, 0, 100));
    const patched = new Patched(x, y, { k: 3 });
    const unpatched = new Unpatched(x, y, { k: 3 });
    // k = 3: a 1-1-1 tie goes to the heap root (the farthest) in both, so predictions must agree exactly.
    expect(patched.predict(q)).toEqual(unpatched.predict(q));
    for (const point of q) {
      expect(sortedNeighbours(patched.kdTree.nearest(point, 5))).toEqual(sortedNeighbours(unpatched.kdTree.nearest(point, 5)));
    }
  });

  it('visits a small part of the tree on low-dimensional data (unpatched: every point, twice per node)', () => {
    const x = toArrays(quadrants(s.xTrain));
    const q = toArrays(quadrants(s.xTest));
    const y = Array.from(s.yTrain);
    const counting = () => {
      const c = { calls: 0, distance: (a: number[], b: number[]) => (c.calls++, euclidean(a, b)) };
      return c;
    };
    const cp = counting();
    const cu = counting();
    const patched = new Patched(x, y, { k: 3, distance: cp.distance });
    const unpatched = new Unpatched(x, y, { k: 3, distance: cu.distance });
    cp.calls = 0;
    cu.calls = 0;
    const pp = patched.predict(q);
    const pu = unpatched.predict(q);
    expect(pp).toEqual(pu);
    // Two distance calls per visited node (own distance + plane bound). Measured: 205 per query of 4,000.
    expect(cu.calls / q.length).toBe(2 * x.length);
    expect(cp.calls / q.length).toBeLessThan(400);
  });
});

describe('knn plugin', () => {
  it('parses {} to the defaults and rejects bad params with a clear error', () => {
    expect(parseParams(knn, {})).toEqual({ k: 3, algorithm: 'auto', ties: 'nearest', metric: 'l2', weights: 'uniform', threads: null });
    expect(() => parseParams(knn, { k: 0 })).toThrow('Invalid params for classifier "knn": k: Too small: expected number to be >0.');
    expect(() => parseParams(knn, { algorithm: 'ball-tree' })).toThrow(/^Invalid params for classifier "knn": algorithm: /);
    expect(() => parseParams(knn, { k: 3, leafSize: 30 })).toThrow(/^Invalid params for classifier "knn": /);
  });

  it('reaches its accuracy floor on raw MNIST 2000/1000 (brute force, auto for 784 features)', async () => {
    const c = await make().fit(s.xTrain, s.yTrain);
    // The product runs on the chosen engine: onnxruntime-node where it loads, else tfjs.
    const described = engineChoice().engine === 'ort' ? ortDescription(1) : (await getTf()).engine.description;
    // The training rows (2000 × 784) are in shared memory, so large batches use a second thread.
    expect(c.engine()).toBe(`${described} ×2 threads (large batches)`);
    // Measured 0.920 (scikit-learn KNN k=3 on the same kind of subset: ~0.92).
    expect(accuracy(await c.predict(s.xTest), s.yTest)).toBeGreaterThanOrEqual(0.9);
    c.dispose();
  });

  it('two search threads give exactly the neighbours of one (2,400 queries: the batch is split)', async () => {
    const big = await mnistSubset(2000, 2400, 31);
    const one = await make({ threads: 1 }).fit(big.xTrain, big.yTrain);
    const two = await make({ threads: 2 }).fit(big.xTrain, big.yTrain);
    expect(Array.from(await two.predict(big.xTest))).toEqual(Array.from(await one.predict(big.xTest)));
    expect(Array.from((await two.scores!(big.xTest)).data)).toEqual(Array.from((await one.scores!(big.xTest)).data));
    one.dispose();
    two.dispose();
  });

  it('k-d tree and brute force give identical predictions and scores (raw pixels and 4 features)', async () => {
    for (const [x, q] of [
      [s.xTrain, sliceRows(s.xTest, 0, 150)],
      [quadrants(s.xTrain), quadrants(s.xTest)],
    ] as const) {
      const kd = await make({ algorithm: 'kd-tree' }).fit(x, s.yTrain);
      const brute = await make({ algorithm: 'brute' }).fit(x, s.yTrain);
      expect(kd.engine()).toBe(KD_TREE_ENGINE);
      expect(await kd.predict(q)).toEqual(await brute.predict(q));
      expect((await kd.scores!(q)).data).toEqual((await brute.scores!(q)).data);
      kd.dispose();
      brute.dispose();
    }
  });

  it('auto uses the k-d tree for few features', async () => {
    const c = await make().fit(quadrants(s.xTrain), s.yTrain);
    expect(c.engine()).toBe(KD_TREE_ENGINE);
    c.dispose();
  });

  it('brute force returns the exact k nearest, in order (checked against a plain loop)', async () => {
    const x = sliceRows(s.xTrain, 0, 700); // 700 rows: a partial last chunk
    const q = sliceRows(s.xTest, 0, 40);
    const xs = toArrays(x);
    const qs = toArrays(q);
    const expected = qs.map((qr) => xs.map((row, i) => [euclidean(qr, row), i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]).slice(0, 5));
    // Default: the product uses the ~300 highest-variance pixels (a lower bound); 1: all 784.
    for (const boundVariance of [0.9, 1]) {
      const index = await BruteForceIndex.create(x, { boundVariance });
      if (boundVariance === 1) expect(index.features.length).toBe(784);
      else expect(index.features.length).toBeLessThan(0.7 * 784);
      const nb = await index.query(q, 5);
      index.dispose();
      for (let r = 0; r < q.rows; r++) {
        expect(Array.from(nb.indices.subarray(r * 5, r * 5 + 5))).toEqual(expected[r]!.map((e) => e[1]));
        expect(Array.from(nb.distances.subarray(r * 5, r * 5 + 5))).toEqual(expected[r]!.map((e) => e[0]));
      }
    }
  });

  it('breaks vote ties towards the nearest neighbour, or the smallest label (ml-knn: the farthest)', async () => {
    // One query at 0.1 with neighbours at 0 (label 5), 1 (label 3), 2 (label 9): a 1-1-1 tie for k = 3.
    const x = createMatrix(3, 1, Float32Array.from([0, 1, 2]));
    const y = Int32Array.from([5, 3, 9]);
    const q = createMatrix(1, 1, Float32Array.from([0.1]));
    for (const algorithm of ['kd-tree', 'brute']) {
      const nearest = await make({ algorithm }).fit(x, y);
      const smallest = await make({ algorithm, ties: 'smallest-label' }).fit(x, y);
      expect(Array.from(await nearest.predict(q))).toEqual([5]);
      expect(Array.from(await smallest.predict(q))).toEqual([3]);
      // scores: vote fractions, columns in ascending label order (3, 5, 9).
      expect(Array.from((await nearest.scores!(q)).data)).toEqual([1 / 3, 1 / 3, 1 / 3].map(Math.fround));
      nearest.dispose();
      smallest.dispose();
    }
    expect(new Unpatched([[0], [1], [2]], [5, 3, 9], { k: 3 }).predict([[0.1]])).toEqual([9]);
  });

  it('rejects NaN input with an error naming the row and column', async () => {
    const x = quadrants(sliceRows(s.xTrain, 0, 50));
    const c = await make({ algorithm: 'kd-tree' }).fit(x, s.yTrain.subarray(0, 50));
    const q = createMatrix(5, 4, new Float32Array(20));
    q.data[3 * 4 + 2] = NaN;
    await expect(c.predict(q)).rejects.toThrow('knn: the input to predict has a non-finite value (NaN) at row 3, column 2; clean or impute the features first.');
    await expect(c.predict(createMatrix(1, 3))).rejects.toThrow('knn: the model was trained on 4 features but got rows of 3; use the same feature pipeline for fit and predict.');
    await expect(make().fit(x, s.yTrain.subarray(0, 2))).rejects.toThrow('knn: fit got 50 rows but 2 labels; pass one label per row.');
    await expect(make({ k: 51 }).fit(x, s.yTrain.subarray(0, 50))).rejects.toThrow('knn: k = 51 is more than the 50 training rows; lower k or train on more rows.');
    c.dispose();
  });

  it('gives identical predictions for the same seed, and does not mutate its inputs', async () => {
    const x = sliceRows(s.xTrain, 0, 1000);
    const y = s.yTrain.subarray(0, 1000);
    const q = sliceRows(s.xTest, 0, 300);
    const before = [x.data.slice(), y.slice(), q.data.slice()];
    const a = await make({}, 7).fit(x, y);
    const b = await make({}, 7).fit(x, y);
    expect(await a.predict(q)).toEqual(await b.predict(q));
    // Byte comparison (vitest's deep equality is slow on 784,000-element arrays).
    const same = (a: ArrayBufferView, b: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    expect([same(x.data, before[0]!), same(y, before[1]!), same(q.data, before[2]!)]).toEqual([true, true, true]);
    a.dispose();
    b.dispose();
  });

  it('serializes the training set as float32 bytes and loads it back with the same predictions', async () => {
    const x = sliceRows(s.xTrain, 0, 1000);
    const y = s.yTrain.subarray(0, 1000);
    const q = sliceRows(s.xTest, 0, 200);
    const c = await make().fit(x, y);
    const bytes = await c.serialize!();
    // Header + 1000 × 784 float32 + 1000 int32 labels (JSON numbers would be ~4× larger).
    expect(bytes.length).toBeGreaterThan(1000 * 785 * 4);
    expect(bytes.length).toBeLessThan(1000 * 785 * 4 + 200);
    const loaded = await knn.load!(bytes, parseParams(knn, {}), { seed: 1, log });
    expect(await loaded.predict(q)).toEqual(await c.predict(q));
    await expect(knn.load!(bytes.subarray(0, 100), parseParams(knn, {}), { seed: 1, log })).rejects.toThrow(/^knn: the saved model is not a digitbench knn model \(.*\); pass the bytes that serialize\(\) returned\.$/);
    c.dispose();
    loaded.dispose();
  });

  it('frees its tensors on dispose (twice is safe)', async () => {
    const { tf } = await getTf();
    const before = tf.memory().numTensors;
    const c = await make({ algorithm: 'brute' }).fit(sliceRows(s.xTrain, 0, 300), s.yTrain.subarray(0, 300));
    await c.predict(sliceRows(s.xTest, 0, 20));
    c.dispose();
    c.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
