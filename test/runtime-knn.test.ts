/**
 * k-NN in @digitbench/runtime: its plain-JS exact search (engine/nearest.ts) against a plain loop, and
 * its knnModel.load of the workbench's fitted bytes against the workbench model (tfjs brute force or
 * ml-knn's k-d tree): the same labels and scores on real MNIST subsets, for every metric, weighting and
 * tie rule, and the same error messages for damaged bytes.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createMatrix,
  KNN_JS_ENGINE,
  knnModel,
  knnNeighbours,
  NearestIndex,
  nearestByLoop,
  nearestSearch,
  parseParams,
  sliceRows,
  varianceOrder,
  type Matrix,
  type Neighbours,
} from '@digitbench/runtime/internal';
import { fitIndex, KD_TREE_ENGINE, knn, neighbours } from '../src/classifiers/knn.ts';
import { mnistSubset, quadrants, type Subset } from './helpers/mnist.ts';
import { engineChoice } from '../src/engine/ort.ts';

const ctx = { seed: 1, log: { info() {}, warn() {} } };
let s: Subset;

beforeAll(async () => {
  s = await mnistSubset(2000, 600, 11);
});

const same = (a: Neighbours, b: Neighbours) => {
  expect(Array.from(a.indices)).toEqual(Array.from(b.indices));
  expect(Array.from(a.distances)).toEqual(Array.from(b.distances));
};

/** Columns reordered by decreasing variance: the index then keeps the caller's rows as they are. */
function varianceSorted(m: Matrix): Matrix {
  const order = varianceOrder(m)!;
  const out = new Float32Array(m.data.length);
  for (let i = 0; i < m.rows; i++) for (let t = 0; t < m.cols; t++) out[i * m.cols + t] = m.data[i * m.cols + order[t]!]!;
  return createMatrix(m.rows, m.cols, out);
}

describe('runtime nearest search (plain JS, exact)', () => {
  it('equals a plain loop over every row: raw pixels (permuted columns) and variance-ordered columns, l2 and l3, both l3 ranks', () => {
    const x = sliceRows(s.xTrain, 0, 1000);
    const q = sliceRows(s.xTest, 0, 60);
    const sorted = varianceSorted(x);
    expect(varianceOrder(x)).not.toBeNull();
    expect(varianceOrder(sorted)).toBeNull();
    const qSorted = createMatrix(q.rows, q.cols, new Float32Array(q.data.length));
    const order = varianceOrder(x)!;
    for (let i = 0; i < q.rows; i++) for (let t = 0; t < q.cols; t++) qSorted.data[i * q.cols + t] = q.data[i * q.cols + order[t]!]!;
    for (const [train, query] of [[x, q], [sorted, qSorted]] as const) {
      for (const options of [{ metric: 'l2' }, { metric: 'l3', rank: 'sum' }, { metric: 'l3', rank: 'distance' }] as const) {
        const index = new NearestIndex(train, options);
        same(index.search(query, 7), nearestByLoop(train, query, 7, options));
        // Pruning: most rows are abandoned before their last column.
        expect(index.stats.exactRows / index.stats.queries).toBeLessThan(100);
      }
    }
  });

  it('breaks equal distances towards the lower training row, and keeps or restores the caller’s rows', () => {
    // Duplicated rows and a 1-D grid: many equal distances, across the k-th place too.
    const base = quadrants(sliceRows(s.xTrain, 0, 300));
    const dup = createMatrix(600, 4, new Float32Array(2400));
    dup.data.set(base.data);
    dup.data.set(base.data, 1200);
    const grid = createMatrix(40, 2, Float32Array.from({ length: 80 }, (_, i) => (i % 2 ? 0 : Math.floor(i / 2) % 5)));
    for (const [x, q] of [
      [dup, quadrants(sliceRows(s.xTrain, 0, 50))],
      [grid, createMatrix(3, 2, Float32Array.from([2, 0, 2.5, 0, 0, 1]))],
    ] as const) {
      for (const options of [{ metric: 'l2' }, { metric: 'l3' }, { metric: 'l3', rank: 'distance' }] as const) {
        const before = x.data.slice();
        const copy = new NearestIndex(x, options);
        const got = copy.search(q, 9);
        same(got, nearestByLoop(x, q, 9, options));
        expect(Array.from(x.data)).toEqual(Array.from(before));
        // Owned rows are permuted in place; trainingRows() gives the column order back.
        const owned = new NearestIndex(createMatrix(x.rows, x.cols, x.data.slice()), { ...options, ownsRows: true });
        same(owned.search(q, 9), got);
        expect(Array.from(owned.trainingRows().data)).toEqual(Array.from(before));
      }
    }
    // Duplicates: each query's own row (distance 0) comes before its copy 300 rows later.
    const nb = new NearestIndex(dup).search(quadrants(sliceRows(s.xTrain, 0, 5)), 2);
    for (let r = 0; r < 5; r++) expect(Array.from(nb.indices.subarray(r * 2, r * 2 + 2))).toEqual([r, r + 300]);
    expect(() => new NearestIndex(dup).search(createMatrix(1, 3), 2)).toThrow('Queries have 3 features but the index holds 4.');
    expect(() => new NearestIndex(dup).search(createMatrix(1, 4), 601)).toThrow('k = 601 neighbours requested from 600 training rows.');
  });
});

describe('runtime knnModel.load gives the workbench model’s labels and scores (600 MNIST test rows)', () => {
  const grid = ['l2', 'l3', 'cosine'].flatMap((metric) =>
    ['uniform', 'distance'].flatMap((weights) => ['nearest', 'smallest-label'].map((ties) => ({ metric, weights, ties }))),
  );

  async function agree(x: Matrix, q: Matrix, raw: Record<string, unknown>, engine: string | RegExp) {
    const params = parseParams(knn, raw);
    const fitted = await knn.create(params, ctx).fit(x, s.yTrain);
    expect(fitted.engine()).toMatch(engine);
    const bytes = await fitted.serialize!();
    const loaded = await knnModel.load!(bytes, parseParams(knnModel, raw), ctx);
    expect(loaded.engine()).toBe(KNN_JS_ENGINE);
    const want = await fitted.predict(q);
    const got = await loaded.predict(q);
    expect(Array.from(got)).toEqual(Array.from(want));
    expect(Array.from((await loaded.scores!(q)).data)).toEqual(Array.from((await fitted.scores!(q)).data));
    // The runtime's saved bytes are the workbench's (its rows back in column order).
    expect(Buffer.from(await loaded.serialize!()).equals(Buffer.from(bytes))).toBe(true);
    fitted.dispose();
    loaded.dispose();
    return { got, bytes };
  }

  it('brute-force bundles (784 raw pixels, brute force on the engine at fit): every metric × weights × ties, k = 4', async () => {
    const labels = new Map<string, Int32Array>();
    // The product runs on onnxruntime-node where it is the engine, else tfjs.
    const brute = engineChoice().engine === 'ort' ? /^onnxruntime-node / : /^tfjs/;
    for (const raw of grid) {
      const { got } = await agree(s.xTrain, s.xTest, { ...raw, k: 4, threads: 1 }, brute);
      let correct = 0;
      got.forEach((l, i) => (correct += l === s.yTest[i] ? 1 : 0));
      expect([raw, correct / got.length > 0.88]).toEqual([raw, true]);
      labels.set(`${raw.metric} ${raw.weights} ${raw.ties}`, got);
    }
    // k = 4 with uniform votes has 2–2 ties, and the two tie rules then disagree on some rows.
    const [a, b] = [labels.get('l2 uniform nearest')!, labels.get('l2 uniform smallest-label')!];
    expect(a.filter((l, i) => l !== b[i]).length).toBeGreaterThan(0);
  });

  it('k-d tree bundles (4 quadrant features, ml-knn at fit): every metric × weights × ties, k = 3 and 4', async () => {
    const x = quadrants(s.xTrain);
    const q = quadrants(s.xTest);
    for (const raw of grid) {
      for (const k of [3, 4]) await agree(x, q, { ...raw, k }, KD_TREE_ENGINE);
    }
  });

  it('neighbours (indices and float64 distances) equal the workbench engines’ for every metric (brute 784 pixels, k-d tree 4 features)', async () => {
    for (const [x, q, algorithm] of [
      [s.xTrain, s.xTest, 'brute'],
      [quadrants(s.xTrain), quadrants(s.xTest), 'kd-tree'],
    ] as const) {
      for (const metric of ['l2', 'l3', 'cosine'] as const) {
        const params = parseParams(knn, { metric, k: 6, threads: 1 });
        const fitted = await fitIndex(x, s.yTrain, params);
        expect(fitted.algorithm).toBe(algorithm);
        // The runtime's search takes its rows over: give it a copy of the model's (unit rows for cosine).
        const search = nearestSearch(createMatrix(fitted.x.rows, fitted.x.cols, fitted.x.data.slice()), params);
        same(await knnNeighbours(search, metric, q, 6), await neighbours(fitted, q, 6));
        fitted.brute?.dispose();
      }
    }
  });

  it('the workbench load of the same bytes also agrees (its engines, the runtime’s format)', async () => {
    const raw = { metric: 'cosine', weights: 'distance', k: 5, threads: 1 };
    const fitted = await knn.create(parseParams(knn, raw), ctx).fit(s.xTrain, s.yTrain);
    const bytes = await fitted.serialize!();
    const [a, b] = [await knn.load!(bytes, parseParams(knn, raw), ctx), await knnModel.load!(bytes, parseParams(knnModel, raw), ctx)];
    const q = sliceRows(s.xTest, 0, 500);
    expect(Array.from(await b.predict(q))).toEqual(Array.from(await a.predict(q)));
    expect(Array.from((await b.scores!(q)).data)).toEqual(Array.from((await a.scores!(q)).data));
    for (const m of [fitted, a, b]) m.dispose();
  });
});

describe('runtime knnModel: params and errors as today', () => {
  it('parses the same defaults and rejects bad params in the same words', () => {
    expect(parseParams(knnModel, {})).toEqual({ k: 3, algorithm: 'auto', ties: 'nearest', metric: 'l2', weights: 'uniform', threads: null });
    const cases: Array<[object, string]> = [
      [{ k: 0 }, 'k: Too small: expected number to be >0.'],
      [{ k: 1.5 }, 'k: Invalid input: expected int, received number.'],
      [{ algorithm: 'ball' }, 'algorithm: Invalid option: expected one of "auto"|"kd-tree"|"brute".'],
      [{ metric: 'l1' }, 'metric: Invalid option: expected one of "l2"|"l3"|"cosine".'],
      [{ weights: 'x' }, 'weights: Invalid option: expected one of "uniform"|"distance".'],
      [{ ties: 1 }, 'ties: Invalid option: expected one of "nearest"|"smallest-label".'],
      [{ threads: 65 }, 'threads: Too big: expected number to be <=64.'],
      [{ leafSize: 3 }, 'params: Unrecognized key: "leafSize".'],
    ];
    for (const [raw, message] of cases) {
      expect(() => parseParams(knnModel, raw)).toThrow(`Invalid params for classifier "knn": ${message}`);
      expect(() => parseParams(knn, raw)).toThrow(`Invalid params for classifier "knn": ${message}`);
    }
  });

  it('refuses damaged bytes, a metric mismatch and too large a k with today’s messages (runtime and workbench alike)', async () => {
    const fitted = await knn.create(parseParams(knn, { metric: 'cosine' }), ctx).fit(sliceRows(s.xTrain, 0, 50), s.yTrain.subarray(0, 50));
    const good = await fitted.serialize!();
    fitted.dispose();
    const headerLength = new DataView(good.buffer, good.byteOffset).getUint32(0, true);
    const withHeader = (header: unknown) => {
      const h = new TextEncoder().encode(JSON.stringify(header));
      const out = new Uint8Array(((4 + h.length + 3) & ~3) + 16);
      new DataView(out.buffer).setUint32(0, h.length, true);
      out.set(h, 4);
      return out;
    };
    const header = { format: 'digitbench-knn', version: 1, rows: 2, cols: 1, params: {} };
    const notKnn = (why: string) => `knn: the saved model is not a digitbench knn model (${why}); pass the bytes that serialize() returned.`;
    const pastEnd = new Uint8Array(8);
    new DataView(pastEnd.buffer).setUint32(0, 100, true);
    const notJson = good.slice();
    notJson[4] = 0x7b;
    notJson[5] = 0x7b;
    const nan = good.slice();
    new DataView(nan.buffer).setFloat32(((4 + headerLength + 3) & ~3) + 4 * 7, NaN, true);
    const cases: Array<[Uint8Array, object, string]> = [
      [new Uint8Array(2), { metric: 'cosine' }, notKnn('too short')],
      [pastEnd, { metric: 'cosine' }, notKnn('header length past the end')],
      [notJson, { metric: 'cosine' }, notKnn('header is not JSON')],
      [withHeader({ ...header, format: 'x' }), {}, notKnn('format: Invalid input: expected "digitbench-knn"')],
      [withHeader({ ...header, version: 2 }), {}, notKnn('version: Invalid input: expected 1')],
      [withHeader({ ...header, rows: -1 }), {}, notKnn('rows: Too small: expected number to be >0')],
      [withHeader({ ...header, rows: 1.5 }), {}, notKnn('rows: Invalid input: expected int, received number')],
      [withHeader({ ...header, cols: undefined }), {}, notKnn('cols: Invalid input: expected number, received undefined')],
      [withHeader({ ...header, extra: 1 }), {}, notKnn('header: Unrecognized key: "extra"')],
      [withHeader({ ...header, params: [1] }), {}, notKnn('params: Invalid input: expected record, received array')],
      [withHeader([1, 2]), {}, notKnn('header: Invalid input: expected object, received array')],
      [good.subarray(0, good.length - 4), { metric: 'cosine' }, notKnn(`expected ${good.length} bytes, got ${good.length - 4}`)],
      [nan, { metric: 'cosine' }, 'knn: the saved training data has a non-finite value (NaN) at row 0, column 7; clean or impute the features first.'],
      [good, {}, "knn: the model was saved with metric 'cosine' but load got metric 'l2'; load it with metric 'cosine'."],
      [good, { metric: 'l3' }, "knn: the model was saved with metric 'cosine' but load got metric 'l3'; load it with metric 'cosine'."],
      [withHeader(header), { metric: 'l3' }, "knn: the model was saved with metric 'l2' but load got metric 'l3'; load it with metric 'l2'."],
      [withHeader(header), {}, 'knn: k = 3 is more than the 2 saved training rows; lower k.'],
      [good, { metric: 'cosine', k: 51 }, 'knn: k = 51 is more than the 50 saved training rows; lower k.'],
    ];
    for (const [bytes, raw, message] of cases) {
      await expect(knnModel.load!(bytes, parseParams(knnModel, raw), ctx)).rejects.toThrow(message);
      await expect(knn.load!(bytes, parseParams(knn, raw), ctx)).rejects.toThrow(message);
    }
    // A good model loads, and its input checks name the plugin.
    const loaded = await knnModel.load!(good, parseParams(knnModel, { metric: 'cosine' }), ctx);
    await expect(loaded.predict(createMatrix(1, 3))).rejects.toThrow('knn: the model was trained on 784 features but got rows of 3; use the same feature pipeline for fit and predict.');
    loaded.dispose();
    await expect(loaded.predict(createMatrix(1, 784))).rejects.toThrow('knn: this model was disposed; fit or load a new one to predict.');
  });
});
