/** knn's `metric` (l2, l3, cosine) and `weights` (uniform, distance), checked against plain reference loops. */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBundleBytes } from '@digitbench/runtime/internal';
import { encodeBundle } from '@digitbench/runtime/internal';
import { fitIndex, knn, neighbours, unitRows, type KnnParams } from '../src/classifiers/knn.ts';
import { parseParams, type Estimator } from '../src/classifiers/plugin.ts';
import { BruteForceIndex } from '../src/engine/distance.ts';
import { createMatrix, sliceRows, type Matrix } from '@digitbench/runtime/internal';
import { fitPca, projectPca } from '../src/features/pca.ts';
import { bundleInput } from './helpers/bundle.ts';
import { mnistSubset, quadrants, type Subset } from './helpers/mnist.ts';

const log = { info() {}, warn() {} };
const params = (raw: object = {}): KnnParams => parseParams(knn, raw);
const make = (raw: object = {}): Estimator => knn.create(params(raw), { seed: 1, log });

function accuracy(p: Int32Array, y: Int32Array): number {
  let ok = 0;
  for (let i = 0; i < p.length; i++) if (p[i] === y[i]) ok++;
  return ok / p.length;
}


/** Mean intensity of each 7×7 block: 16 features, cheap enough for batches of thousands of queries. */
function blocks(m: Matrix): Matrix {
  const out = new Float32Array(m.rows * 16);
  for (let i = 0; i < m.rows; i++) {
    for (let r = 0; r < 28; r++) {
      for (let c = 0; c < 28; c++) out[i * 16 + Math.floor(r / 7) * 4 + Math.floor(c / 7)]! += m.data[i * 784 + r * 28 + c]! / 49;
    }
  }
  return createMatrix(m.rows, 16, out);
}

/** The k nearest by a plain loop over every training row: [distance, index], ordered by (distance, index). */
function reference(x: Matrix, q: Matrix, k: number, dist: (a: Float32Array, b: Float32Array) => number): Array<Array<[number, number]>> {
  const out: Array<Array<[number, number]>> = [];
  for (let r = 0; r < q.rows; r++) {
    const qr = q.data.subarray(r * q.cols, (r + 1) * q.cols);
    const all: Array<[number, number]> = [];
    for (let i = 0; i < x.rows; i++) all.push([dist(qr, x.data.subarray(i * x.cols, (i + 1) * x.cols)), i]);
    all.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    out.push(all.slice(0, k));
  }
  return out;
}

/** Σ|a − b|³ then the cube root, float64, in column order. */
const l3 = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  for (let j = 0; j < a.length; j++) {
    const d = Math.abs(a[j]! - b[j]!);
    s += d * d * d;
  }
  return Math.cbrt(s);
};

/** 1 − cos, float64, from the raw rows. */
const cosine = (a: Float32Array, b: Float32Array) => {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let j = 0; j < a.length; j++) {
    ab += a[j]! * b[j]!;
    aa += a[j]! * a[j]!;
    bb += b[j]! * b[j]!;
  }
  return 1 - ab / Math.sqrt(aa * bb);
};

/** Half the squared Euclidean distance (the unit rows' 1 − cos), float64, in column order. */
const halfSquared = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += (a[j]! - b[j]!) ** 2;
  return Math.sqrt(s) ** 2 / 2;
};

const split = (nb: { k: number; indices: Int32Array; distances: Float64Array }, r: number) => ({
  indices: Array.from(nb.indices.subarray(r * nb.k, (r + 1) * nb.k)),
  distances: Array.from(nb.distances.subarray(r * nb.k, (r + 1) * nb.k)),
});

let s: Subset;
beforeAll(async () => {
  s = await mnistSubset(2000, 1000, 1);
});

describe('knn metric and weights params', () => {
  it('parses the defaults (today’s behaviour) and rejects bad values with the zod error', () => {
    expect(params()).toMatchObject({ metric: 'l2', weights: 'uniform' });
    expect(() => params({ metric: 'l1' })).toThrow(/^Invalid params for classifier "knn": metric: Invalid option: expected one of "l2"\|"l3"\|"cosine"/);
    expect(() => params({ weights: 'inverse' })).toThrow(/^Invalid params for classifier "knn": weights: Invalid option: expected one of "uniform"\|"distance"/);
    expect(() => params({ metric: 3 })).toThrow(/^Invalid params for classifier "knn": metric: /);
  });

  it('l3 brute force finds the neighbours of a plain float64 loop (2,000 train × 300 queries, raw pixels and PCA-50)', async () => {
    const q = sliceRows(s.xTest, 0, 300);
    const pca = await fitPca(s.xTrain, { components: 50, oversamples: 10, iterations: 7, seed: 1, threads: 1 });
    const sets = [
      { x: s.xTrain, q, name: 'raw' },
      { x: await projectPca(pca, s.xTrain), q: await projectPca(pca, q), name: 'pca' },
    ];
    const scanned: Record<string, number> = {};
    for (const { x, q, name } of sets) {
      const expected = reference(x, q, 5, l3);
      // Default: the product uses the features holding 90% of the variance (Hölder factor over those); 1: all.
      for (const boundVariance of [0.9, 1]) {
        const index = await BruteForceIndex.create(x, { boundVariance, metric: 'l3' });
        const nb = await index.query(q, 5);
        scanned[`${name} ${boundVariance}`] = Math.round(index.stats.rowsScanned / index.stats.queries);
        index.dispose();
        for (let r = 0; r < q.rows; r++) {
          expect(split(nb, r)).toEqual({ indices: expected[r]!.map((e) => e[1]), distances: expected[r]!.map((e) => e[0]) });
        }
      }
    }
    // Rows rescanned per query of 2,000: the bound prunes well on PCA features, little on raw pixels.
    // Measured: pca 532 (0.9) and 403 (1); raw 1429 and 1759.
    expect(scanned['pca 0.9']).toBeLessThan(1000);
    expect(scanned['pca 1']).toBeLessThan(1000);
  });

  it('l3 and cosine neighbours of the plugin (brute and k-d tree) equal plain float64 loops (2,000 train × 150 queries)', async () => {
    const q = sliceRows(s.xTest, 0, 150);
    const raw = { x: s.xTrain, q };
    const quad = { x: quadrants(s.xTrain), q: quadrants(q) };
    for (const [data, algorithm] of [[raw, 'brute'], [quad, 'kd-tree'], [quad, 'brute']] as const) {
      // l3: indices and distances exactly those of the loop.
      const m3 = await fitIndex(data.x, s.yTrain, params({ metric: 'l3', algorithm, k: 5 }));
      expect(m3.algorithm).toBe(algorithm);
      const nb3 = await neighbours(m3, data.q, 5);
      const e3 = reference(data.x, data.q, 5, l3);
      for (let r = 0; r < q.rows; r++) expect(split(nb3, r)).toEqual({ indices: e3[r]!.map((e) => e[1]), distances: e3[r]!.map((e) => e[0]) });
      m3.brute?.dispose();
      // cosine: exactly the loop on the unit rows (distance ‖â − b̂‖² / 2), and the same order as 1 − cos
      // from the raw rows in float64, whose values it matches to float32 rounding.
      const mc = await fitIndex(data.x, s.yTrain, params({ metric: 'cosine', algorithm, k: 5 }));
      const nbc = await neighbours(mc, data.q, 5);
      const unit = reference(unitRows(data.x), unitRows(data.q), 5, halfSquared);
      const exact = reference(data.x, data.q, 5, cosine);
      for (let r = 0; r < q.rows; r++) {
        const got = split(nbc, r);
        expect(got.indices).toEqual(unit[r]!.map((e) => e[1]));
        for (let t = 0; t < 5; t++) expect(got.distances[t]).toBeCloseTo(unit[r]![t]![0], 12);
        expect(got.indices).toEqual(exact[r]!.map((e) => e[1]));
        for (let t = 0; t < 5; t++) expect(Math.abs(got.distances[t]! - exact[r]![t]![0])).toBeLessThan(1e-6);
      }
      mc.brute?.dispose();
    }
  });

  it('cosine leaves zero rows zero: 0 from another zero row, 0.5 from any other row', async () => {
    const x = createMatrix(4, 2, Float32Array.from([1, 0, 0, 1, 0, 0, -2, 0]));
    const y = Int32Array.from([1, 2, 3, 4]);
    for (const algorithm of ['kd-tree', 'brute']) {
      const m = await fitIndex(x, y, params({ metric: 'cosine', algorithm, k: 4 }));
      // The model keeps the unit rows; the zero row stays zero.
      expect(Array.from(m.x.data)).toEqual([1, 0, 0, 1, 0, 0, -1, 0]);
      const nb = await neighbours(m, createMatrix(2, 2, Float32Array.from([0, 0, 5, 0])), 4);
      expect(split(nb, 0)).toEqual({ indices: [2, 0, 1, 3], distances: [0, 0.5, 0.5, 0.5] });
      // [5, 0]: same direction as row 0 (0), the zero row (0.5), orthogonal to row 1 (1), opposite row 3 (2).
      const far = split(nb, 1);
      expect(far.indices).toEqual([0, 2, 1, 3]);
      expect([far.distances[0], far.distances[1], far.distances[3]]).toEqual([0, 0.5, 2]);
      expect(far.distances[2]).toBeCloseTo(1, 12);
      m.brute?.dispose();
      // Weighted: the zero query's only zero-distance neighbour (the zero row) votes alone.
      const c = await make({ metric: 'cosine', algorithm, k: 3, weights: 'distance' }).fit(x, y);
      const q = createMatrix(1, 2, new Float32Array(2));
      expect(Array.from(await c.predict(q))).toEqual([3]);
      expect(Array.from((await c.scores!(q)).data)).toEqual([0, 0, 1, 0]);
      c.dispose();
    }
  });

  it('distance weights: 1/distance votes, and only the zero-distance neighbours vote when there are any (hand-computed)', async () => {
    // 1-D training rows 0, 1, 2, 10 (labels 7, 3, 3, 7) and duplicates 5, 5 (labels 2, 1), then 6, 6.5 (label 4).
    const x = createMatrix(8, 1, Float32Array.from([0, 1, 2, 10, 5, 5, 6, 6.5]));
    const y = Int32Array.from([7, 3, 3, 7, 2, 1, 4, 4]);
    // Score columns: labels 1, 2, 3, 4, 7.
    const q1 = createMatrix(1, 1, Float32Array.from([0.25])); // neighbours 0 (.25, 7), 1 (.75, 3), 2 (1.75, 3)
    const q2 = createMatrix(1, 1, Float32Array.from([5])); // 4 and 5 at 0 (labels 2, 1), 6 (1, 4), 7 (1.5, 4)
    const q3 = createMatrix(1, 1, Float32Array.from([5.25])); // 4, 5 at .25 (labels 2, 1), 6 (.75, 4), 7 (1.25, 4)
    for (const algorithm of ['kd-tree', 'brute']) {
      const uniform3 = await make({ algorithm, k: 3 }).fit(x, y);
      const weighted3 = await make({ algorithm, k: 3, weights: 'distance' }).fit(x, y);
      expect(Array.from(await uniform3.predict(q1))).toEqual([3]);
      expect(Array.from(await weighted3.predict(q1))).toEqual([7]);
      const w7 = 1 / 0.25;
      const w3 = 1 / 0.75 + 1 / 1.75;
      expect(Array.from((await weighted3.scores!(q1)).data)).toEqual([0, 0, w3 / (w3 + w7), 0, w7 / (w3 + w7)].map(Math.fround));
      uniform3.dispose();
      weighted3.dispose();

      const uniform = await make({ algorithm, k: 4 }).fit(x, y);
      const nearest = await make({ algorithm, k: 4, weights: 'distance' }).fit(x, y);
      const smallest = await make({ algorithm, k: 4, weights: 'distance', ties: 'smallest-label' }).fit(x, y);
      // q2: the two exact matches vote alone, one each: a tie, to the nearest (row 4, label 2) or label 1.
      expect(Array.from(await uniform.predict(q2))).toEqual([4]);
      expect(Array.from(await nearest.predict(q2))).toEqual([2]);
      expect(Array.from(await smallest.predict(q2))).toEqual([1]);
      expect(Array.from((await nearest.scores!(q2)).data)).toEqual([0.5, 0.5, 0, 0, 0]);
      // q3: no exact match; labels 1 and 2 get 4 each, label 4 gets 1/.75 + 1/1.25.
      expect(Array.from(await uniform.predict(q3))).toEqual([4]);
      expect(Array.from(await nearest.predict(q3))).toEqual([2]);
      expect(Array.from(await smallest.predict(q3))).toEqual([1]);
      const w4 = 1 / 0.75 + 1 / 1.25;
      expect(Array.from((await nearest.scores!(q3)).data)).toEqual([4, 4, 0, w4, 0].map((w) => Math.fround(w / (8 + w4))));
      for (const c of [uniform, nearest, smallest]) c.dispose();
    }
  });

  it('l3 with two search threads gives exactly the predictions and scores of one (2,400 queries: the batch is split)', async () => {
    const big = await mnistSubset(2000, 2400, 31);
    const [x, q] = [blocks(big.xTrain), blocks(big.xTest)];
    const one = await make({ metric: 'l3', weights: 'distance', threads: 1 }).fit(x, big.yTrain);
    const two = await make({ metric: 'l3', weights: 'distance', threads: 2 }).fit(x, big.yTrain);
    expect(two.engine()).toMatch(/×2 threads/);
    expect(Array.from(await two.predict(q))).toEqual(Array.from(await one.predict(q)));
    expect(Array.from((await two.scores!(q)).data)).toEqual(Array.from((await one.scores!(q)).data));
    one.dispose();
    two.dispose();
  });

  it('reaches an accuracy floor for each metric and weighting on raw MNIST 2000/1000', async () => {
    const got: Record<string, number> = {};
    for (const metric of ['l2', 'l3', 'cosine']) {
      for (const weights of ['uniform', 'distance']) {
        const c = await make({ metric, weights }).fit(s.xTrain, s.yTrain);
        got[`${metric} ${weights}`] = accuracy(await c.predict(s.xTest), s.yTest);
        c.dispose();
      }
    }
    // Measured (uniform and distance alike at k = 3): l2 0.920, l3 0.929, cosine 0.927.
    for (const [name, acc] of Object.entries(got)) expect([name, acc >= 0.9]).toEqual([name, true]);
  });

  it('save/load keeps metric and weights (same predictions and scores), directly and through a bundle', async () => {
    // Raw 0..255 pixels, so a bundle with no feature steps takes the same rows.
    const x255 = createMatrix(1000, 784, s.xTrain.data.slice(0, 1000 * 784).map((v) => v * 255));
    const y = s.yTrain.subarray(0, 1000);
    const q = createMatrix(200, 784, s.xTest.data.slice(0, 200 * 784).map((v) => v * 255));
    for (const raw of [{ metric: 'cosine', weights: 'distance', k: 5 }, { metric: 'l3', weights: 'distance' }, { metric: 'l3' }]) {
      const p = params(raw);
      const c = await make(raw).fit(x255, y);
      const bytes = await c.serialize!();
      const header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true))));
      expect(header.params).toMatchObject({ metric: p.metric, weights: p.weights });
      const loaded = await knn.load!(bytes, p, { seed: 1, log });
      const bundle = await loadBundleBytes(
        await encodeBundle({ ...bundleInput([], [], new Uint8Array(bytes)), plugin: { name: 'knn', ref: 'knn', library: knn.library, params: p, engine: c.engine() } }),
        'knn.bundle',
        async () => knn,
      );
      const want = Array.from(await c.predict(q));
      const wantScores = Array.from((await c.scores!(q)).data);
      expect(Array.from(await loaded.predict(q))).toEqual(want);
      expect(Array.from((await loaded.scores!(q)).data)).toEqual(wantScores);
      expect(Array.from(await bundle.predictLabels(q))).toEqual(want);
      expect(Array.from((await bundle.scores!(q)).data)).toEqual(wantScores);
      // Another metric would search the saved rows wrongly: refused, naming what to do.
      const other = p.metric === 'cosine' ? 'l2' : 'cosine';
      await expect(knn.load!(bytes, params({ ...raw, metric: other }), { seed: 1, log })).rejects.toThrow(
        `knn: the model was saved with metric '${p.metric}' but load got metric '${other}'; load it with metric '${p.metric}'.`,
      );
      c.dispose();
      loaded.dispose();
      bundle.dispose();
    }
  });
});
