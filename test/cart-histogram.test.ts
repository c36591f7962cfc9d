/**
 * The histogram split search of forest trees (cart/grow.ts sweepHistogram, issue 25): on features with at
 * most 256 distinct values (raw pixels) every value has its own bin, so it must grow the very tree the
 * sorted search grows (which tests compare with ml-cart's): node for node, on real MNIST rows, from the
 * full prepared set and from the ranks-only one (prepareRanks), and in the random-forest plugin.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { forestModel, fromArrays, takeLabels, takeRows, type Matrix } from '@digitbench/runtime/internal';
import { growForestTree, labelClasses, type ForestTreeSettings } from '../src/classifiers/cart-trees.ts';
import { newSplitSearchStats } from '../src/classifiers/cart/grow.ts';
import { growCartTree, mlCart, toCartJSON, type CartOptions } from '../src/classifiers/cart/model.ts';
import { prepareRanks, prepareTrainingSet, type PreparedTrainingSet } from '../src/classifiers/cart/prepared.ts';
import { parseParams } from '../src/classifiers/plugin.ts';
import { randomForest } from '../src/classifiers/random-forest.ts';
import { createRng } from '../src/engine/rng.ts';
import { mnistSubset, quadrants, type Subset } from './helpers/mnist.ts';

const grown = { gainFunction: 'gini', minNumSamples: 1, gainThreshold: 0, maxDepth: Infinity } as const;

function bootstrap(n: number, key: string): Int32Array {
  const rng = createRng(key);
  const counts = new Int32Array(n);
  for (let i = 0; i < n; i++) counts[rng.int(n)]!++;
  return counts;
}

/** The tree's model JSON (splits, thresholds, gains, leaves) and the number of histogram searches. */
function tree(set: PreparedTrainingSet, options: Partial<CartOptions>, counts: Int32Array) {
  const stats = newSplitSearchStats();
  const t = growCartTree(set, { ...grown, ...options }, counts, stats);
  // the options differ by splitSearch only; the nodes must not
  return { root: JSON.stringify(toCartJSON(t).root), histogramSearches: stats.histogramSearches, nodes: stats.nodes };
}

let data: Subset;
beforeAll(async () => {
  data = await mnistSubset(6000, 1000, 3);
});

describe('histogram split search', () => {
  it('grows the sorted search\'s forest trees node for node on 6,000 MNIST rows, from the full (row-major ranks) and the ranks-only set (feature-major ones for the largest nodes)', () => {
    const full = prepareTrainingSet(data.xTrain, data.yTrain);
    const ranks = prepareRanks(data.xTrain, data.yTrain)!;
    expect(ranks.sorted).toBe(false);
    for (const t of [0, 1, 2]) {
      const counts = bootstrap(6000, `histogram/${t}`);
      const options = { maxFeatures: 28, seed: 100 + t };
      const exact = tree(full, { ...options, splitSearch: 'exact' }, counts);
      const fromFull = tree(full, options, counts);
      const fromRanks = tree(ranks, options, counts);
      expect(exact.histogramSearches).toBe(0);
      // the root (3,800 distinct rows, column histograms) and its large children (compact copies) at least
      expect(fromFull.histogramSearches, `tree ${t}`).toBeGreaterThan(28);
      expect(exact.nodes).toBeGreaterThan(200);
      expect(fromFull.root, `tree ${t}`).toBe(exact.root);
      expect(fromRanks.root, `tree ${t}`).toBe(exact.root);
    }
  });

  it('the sorted search, which gathers one drawn feature at a time and only checks the features drawn beyond the need for constancy, grows the trees of a search from histograms at every node, on 6,000 MNIST rows', () => {
    // histogramMinRows 1: no node gathers, sorts or sweeps rows, so this reference shares none of that code
    const ranks = prepareRanks(data.xTrain, data.yTrain)!;
    const full = prepareTrainingSet(data.xTrain, data.yTrain);
    for (const t of [0, 1]) {
      const counts = bootstrap(6000, `constancy/${t}`);
      const options = { maxFeatures: 28, seed: 200 + t };
      const stats = newSplitSearchStats();
      const sorted = toCartJSON(growCartTree(full, { ...grown, ...options, splitSearch: 'exact' }, counts, stats));
      const everyNode = tree(ranks, { ...options, histogramMinRows: 1 }, counts);
      expect(stats.histogramSearches).toBe(0);
      // batches sized by the parent's share of constant features draw more than needed in many nodes
      expect(stats.constancyOnly, `tree ${t}`).toBeGreaterThan(stats.nodes / 2);
      expect(everyNode.histogramSearches).toBeGreaterThan(20 * everyNode.nodes);
      expect(JSON.stringify(sorted.root), `tree ${t}`).toBe(everyNode.root);
    }
  });

  it('searching every node from histograms gives the tree ml-cart grows on the repeated rows (and the sorted search\'s with fewer features drawn)', () => {
    // 300 MNIST rows, 30 pixels and one constant column, each row repeated 0–2 times
    const r = createRng('histogram-every-node');
    const columns = new Set<number>();
    while (columns.size < 30) columns.add(150 + r.int(480));
    const picked = [...columns];
    const x = Array.from({ length: 300 }, (_, i) => [...picked.map((j) => data.xTrain.data[i * 784 + j]!), 0.5]);
    const y = Array.from(data.yTrain.subarray(0, 300));
    const counts = Int32Array.from(y, () => r.int(3));
    const set = prepareTrainingSet(fromArrays(x), y);
    const everyNode = { histogramMinRows: 1 };

    // maxFeatures 30 of 31 features: every non-constant feature is drawn at every node, the full search
    const stats = newSplitSearchStats();
    const drawn = toCartJSON(growCartTree(set, { ...grown, ...everyNode, maxFeatures: 30, seed: 5 }, counts, stats));
    expect(stats.histogramSearches).toBeGreaterThan(stats.nodes);
    const xe: number[][] = [];
    const ye: number[] = [];
    counts.forEach((c, i) => {
      for (let q = 0; q < c; q++) {
        xe.push(x[i]!);
        ye.push(y[i]!);
      }
    });
    const reference = new mlCart.DecisionTreeClassifier({ minNumSamples: 1, gainThreshold: 0 });
    reference.train(xe, ye);
    const structure = (node: Record<string, any>): unknown => (node.left ? [node.splitColumn, node.splitValue, node.gain, structure(node.left), structure(node.right)] : node.distribution);
    expect(structure(JSON.parse(JSON.stringify(drawn)).root)).toEqual(structure(JSON.parse(JSON.stringify(reference.toJSON())).root));

    for (const seed of [1, 2, 3]) {
      const a = tree(set, { ...everyNode, maxFeatures: 5, seed }, counts);
      const b = tree(set, { maxFeatures: 5, seed, splitSearch: 'exact' }, counts);
      expect(a.histogramSearches).toBeGreaterThan(0);
      expect(a.root, `seed ${seed}`).toBe(b.root);
    }
  });

  it('float64 values with neighbouring doubles (midpoints that round down onto a value) and labels above 255: the same trees', () => {
    const r = createRng('histogram-doubles');
    const levels = [0, 1, 1 + 2 ** -52, 1 + 2 ** -51, 2, 3, -1];
    // 400 rows, 6 features; the label leans on features 0 and 1; labels 0, 1, 2 and 300 (Int32 labels)
    const x = Array.from({ length: 400 }, () => Array.from({ length: 6 }, () => levels[r.int(levels.length)]!));
    const y = x.map((row) => (r.int(4) === 0 ? r.int(3) : row[0]! >= 1 + 2 ** -52 ? (row[1]! > 1 ? 300 : 1) : 2));
    const counts = Int32Array.from(y, () => r.int(3));
    const wide = { rows: 400, cols: 6, data: Float64Array.from(x.flat()) };
    const set = prepareTrainingSet(wide, y);
    expect(set.distinct).toBeInstanceOf(Float64Array);
    expect(set.labels).toBeInstanceOf(Int32Array);
    const ranks = prepareRanks(wide, y)!;
    for (const seed of [1, 2, 3, 4]) {
      const exact = tree(set, { maxFeatures: 3, seed, splitSearch: 'exact' }, counts);
      const a = tree(set, { maxFeatures: 3, seed, histogramMinRows: 1 }, counts);
      const b = tree(ranks, { maxFeatures: 3, seed, histogramMinRows: 1 }, counts);
      expect(a.histogramSearches).toBeGreaterThan(0);
      expect(a.root, `seed ${seed}`).toBe(exact.root);
      expect(b.root, `seed ${seed}`).toBe(exact.root);
    }
  });

  it('prepareRanks gives prepareTrainingSet\'s ranks, and declines features with more than 256 values', () => {
    const x = takeRows(data.xTrain, Array.from({ length: 1500 }, (_, i) => i));
    const y = takeLabels(data.yTrain, Array.from({ length: 1500 }, (_, i) => i));
    const full = prepareTrainingSet(x, y);
    const ranks = prepareRanks(x, y)!;
    for (const key of ['nSamples', 'nFeatures', 'nClasses'] as const) expect(ranks[key], key).toBe(full[key]);
    for (const key of ['labels', 'minimum', 'distinct', 'distinctStart', 'dense'] as const) {
      const a = ranks[key];
      const b = full[key];
      expect(a.constructor, key).toBe(b.constructor);
      expect(a.length, key).toBe(b.length);
      // the first index where they differ (typed arrays of a million entries: toEqual is slow)
      expect(a.findIndex((v, i) => !Object.is(v, b[i])), key).toBe(-1);
    }
    // and feature major: column j is dense's column j
    expect(full.columns.length).toBe(0);
    expect(ranks.columns.length).toBe(1500 * 784);
    expect(ranks.columns.findIndex((v, at) => v !== full.dense[(at % 1500) * 784 + Math.floor(at / 1500)])).toBe(-1);
    // the quadrant means of 6,000 images have thousands of distinct values
    const q = quadrants(data.xTrain);
    expect(prepareRanks(q, data.yTrain)).toBeNull();
    expect(() => prepareRanks(fromArrays([[0], [Number.NaN]]), [0, 1])).toThrow('Training value [1, 0] is NaN.');
  });

  it('prepareRanks on float32 input (hashed by bits) equals it on the same values as float64, also with -0, on shared memory', () => {
    const x = takeRows(data.xTrain, Array.from({ length: 2000 }, (_, i) => i));
    expect(x.data).toBeInstanceOf(Float32Array);
    const y = takeLabels(data.yTrain, Array.from({ length: 2000 }, (_, i) => i));
    // every 7th zero as -0 (the same value: the same rank), and 1.5 in a few rows of column 400
    const f32 = Float32Array.from(x.data, (v, i) => (v === 0 && i % 7 === 3 ? -0 : v));
    for (let i = 0; i < 2000; i += 97) f32[i * 784 + 400] = 1.5;
    const a = prepareRanks({ rows: 2000, cols: 784, data: f32 }, y, { shared: true })!;
    const b = prepareRanks({ rows: 2000, cols: 784, data: Float64Array.from(f32) }, y)!;
    const full = prepareTrainingSet({ rows: 2000, cols: 784, data: Float64Array.from(f32) }, y);
    expect(a.dense.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(a.columns.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(b.dense.buffer).toBeInstanceOf(ArrayBuffer);
    for (const key of ['minimum', 'distinct', 'distinctStart', 'dense', 'columns'] as const) {
      const u = a[key];
      const v = b[key];
      expect(u.length, key).toBe(v.length);
      expect(u.findIndex((value, i) => value !== v[i]), key).toBe(-1);
    }
    expect(a.dense.findIndex((value, i) => value !== full.dense[i])).toBe(-1);
    expect(a.distinct.findIndex((value, i) => value !== full.distinct[i])).toBe(-1);
    const nan = Float32Array.from([0, 1, 2, Number.NaN]);
    expect(() => prepareRanks({ rows: 2, cols: 2, data: nan }, [0, 1])).toThrow('Training value [1, 1] is NaN.');
  });

  it('a ranks-only set refuses the searches it cannot serve, in one line', () => {
    const x = takeRows(data.xTrain, Array.from({ length: 300 }, (_, i) => i));
    const ranks = prepareRanks(x, takeLabels(data.yTrain, Array.from({ length: 300 }, (_, i) => i)))!;
    const message = /^cart: this training set holds ranks only \(prepareRanks\), for the histogram split search; prepare it with prepareTrainingSet/;
    expect(() => growCartTree(ranks, { ...grown })).toThrow(message);
    expect(() => growCartTree(ranks, { ...grown, maxFeatures: 28, splitSearch: 'exact' })).toThrow(message);
    expect(() => growCartTree(ranks, { ...grown, maxFeatures: 28, gainFunction: 'entropy' })).toThrow(message);
  });

  it('keeps the sorted search on features with many distinct values (no bins there): the same trees', () => {
    const q = quadrants(data.xTrain);
    const set = prepareTrainingSet(q, data.yTrain);
    expect(set.dense).not.toBeInstanceOf(Uint8Array);
    const counts = bootstrap(6000, 'histogram/floats');
    const a = tree(set, { maxFeatures: 2, seed: 9 }, counts);
    const b = tree(set, { maxFeatures: 2, seed: 9, splitSearch: 'exact' }, counts);
    expect(a.histogramSearches).toBe(0);
    expect(a.root).toBe(b.root);
  });
});

describe('random-forest plugin with histograms', () => {
  it('fits in 2 worker threads from the ranks-only set and predicts what the sorted search\'s trees predict', async () => {
    const params = parseParams(randomForest, { nEstimators: 6, threads: 2 });
    const clf = await randomForest.create(params, { seed: 4, log: { info() {}, warn() {} } }).fit(data.xTrain, data.yTrain);
    const classes = labelClasses(data.yTrain, 'test');
    const settings: ForestTreeSettings = { draws: 6000, seed: 4, cartOptions: { ...grown, maxFeatures: 28, splitSearch: 'exact' } };
    const full = prepareTrainingSet(data.xTrain, data.yTrain);
    const trees = Array.from({ length: 6 }, (_, t) => growForestTree(full, t, settings, classes));
    const reference = forestModel(params, { trees, classes, nFeatures: 784, threads: 1 });
    const predicted = await clf.predict(data.xTest);
    expect(Array.from(predicted)).toEqual(Array.from(await reference.predict(data.xTest as Matrix)));
    expect(Array.from((await clf.scores!(data.xTest)).data)).toEqual(Array.from((await reference.scores!(data.xTest)).data));
    const accuracy = predicted.filter((p, i) => p === data.yTest[i]).length / predicted.length;
    expect(accuracy).toBeGreaterThan(0.85);
    clf.dispose();
  });
});
