/**
 * random-forest: accuracy, vote-fraction scores, seeds, threads, features drawn per split, bootstrap
 * size; our per-split feature draws against the full search and against repeated rows; forest trees
 * flattened directly equal the same trees loaded by ml-cart.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { flattenCartTree, flattenGrown, loadTrees } from '../src/classifiers/cart-trees.ts';
import { growCartTree, loadInCart, mlCart, toCartJSON } from '../src/classifiers/cart/model.ts';
import { prepareTrainingSet } from '../src/classifiers/cart/prepared.ts';
import { fromArrays, toArrays } from '@digitbench/runtime/internal';
import { parseParams } from '../src/classifiers/plugin.ts';
import { randomForest } from '../src/classifiers/random-forest.ts';
import { takeLabels, takeRows, type Matrix } from '@digitbench/runtime/internal';
import { createRng } from '../src/engine/rng.ts';
import { mnistSubset, type Subset } from './helpers/mnist.ts';

const ctx = (seed: number) => ({ seed, log: { info() {}, warn() {} } });
const params = (raw: Record<string, unknown>) => parseParams(randomForest, raw);

async function fitted(raw: Record<string, unknown>, x: Matrix, y: Int32Array, seed = 1) {
  return randomForest.create(params(raw), ctx(seed)).fit(x, y);
}

let data: Subset;
let small: { x: Matrix; y: Int32Array };
beforeAll(async () => {
  data = await mnistSubset(2000, 1000, 1);
  const rows = Array.from({ length: 600 }, (_, i) => i);
  small = { x: takeRows(data.xTrain, rows), y: takeLabels(data.yTrain, rows) };
});

describe('random-forest plugin', () => {
  it('reaches its accuracy on 2,000 / 1,000 MNIST rows with the defaults (measured 0.933)', async () => {
    const clf = await fitted({}, data.xTrain, data.yTrain);
    const predicted = await clf.predict(data.xTest);
    const accuracy = predicted.filter((p, i) => p === data.yTest[i]).length / predicted.length;
    expect(accuracy).toBeGreaterThan(0.9);

    // scores are vote fractions: multiples of 1/100 summing to 1, first argmax = the prediction
    const scores = await clf.scores!(data.xTest);
    expect([scores.rows, scores.cols]).toEqual([1000, 10]);
    for (let r = 0; r < scores.rows; r++) {
      const row = Array.from(scores.data.subarray(r * 10, r * 10 + 10));
      for (const s of row) expect(Math.abs(s * 100 - Math.round(s * 100))).toBeLessThan(1e-4);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(row.indexOf(Math.max(...row))).toBe(predicted[r]);
    }
  });

  it('same seed: same forest; another seed: another forest; saving and loading keeps predictions and scores', async () => {
    const a = await fitted({ nEstimators: 15 }, small.x, small.y, 7);
    const b = await fitted({ nEstimators: 15 }, small.x, small.y, 7);
    const c = await fitted({ nEstimators: 15 }, small.x, small.y, 8);
    const bytes = await a.serialize!();
    expect(await b.serialize!()).toEqual(bytes);
    const pa = await a.predict(data.xTest);
    const pc = await c.predict(data.xTest);
    expect(pc.filter((p, i) => p !== pa[i]).length).toBeGreaterThan(10);

    const loaded = await randomForest.load!(bytes, params({}), ctx(7));
    expect(Array.from(await loaded.predict(data.xTest))).toEqual(Array.from(pa));
    expect(Array.from((await loaded.scores!(data.xTest)).data)).toEqual(Array.from((await a.scores!(data.xTest)).data));
  });

  it('grows the same forest in 2 worker threads as in this thread', async () => {
    const here = await fitted({ nEstimators: 6, threads: 1 }, small.x, small.y, 3);
    const workers = await fitted({ nEstimators: 6, threads: 2 }, small.x, small.y, 3);
    expect(here.engine()).toBe('js');
    expect(workers.engine()).toBe('js, 2 worker threads (fit)');
    // the saved header holds the params (threads differ); the trees must be the same
    const [w, h] = [loadTrees(await workers.serialize!(), 'random-forest', 'test'), loadTrees(await here.serialize!(), 'random-forest', 'test')];
    expect(w.trees.length).toBe(6);
    expect(w.trees).toEqual(h.trees);
  });

  it('draws sqrt(784) = 28 features at every split, not once per tree', async () => {
    const clf = await fitted({ nEstimators: 3 }, data.xTrain, data.yTrain);
    const { trees } = loadTrees(await clf.serialize!(), 'random-forest', 'test');
    for (const tree of trees) {
      const used = new Set(Array.from(tree.feature).filter((f) => f >= 0));
      expect(used.size).toBeGreaterThan(150); // with features drawn once per tree it could be at most 28
    }
  });

  it('draws maxSamples rows from all rows, not the first ones', async () => {
    // rows sorted by label: the first 300 hold only labels 0..4
    const order = Array.from(small.y.keys()).sort((i, j) => small.y[i]! - small.y[j]! || i - j);
    const x = takeRows(small.x, order);
    const y = takeLabels(small.y, order);
    expect(Math.max(...y.subarray(0, 300))).toBe(4);
    const clf = await fitted({ nEstimators: 20, maxSamples: 300 }, x, y);
    const predicted = new Set(await clf.predict(data.xTest));
    expect(predicted.size).toBe(10);
  });

  it('gives errors a user can act on', async () => {
    expect(() => params({ nEstimators: 0 })).toThrow('Invalid params for classifier "random-forest": nEstimators: Too small: expected number to be >0.');
    expect(() => params({ maxFeatures: 'half' })).toThrow(/^Invalid params for classifier "random-forest": maxFeatures: /);
    const x = { rows: 4, cols: 2, data: Float32Array.from([0, 1, 1, 0, 1, 1, 0, 0]) };
    const y = Int32Array.from([0, 1, 1, 0]);
    await expect(randomForest.create(params({ maxFeatures: 5 }), ctx(1)).fit(x, y)).rejects.toThrow(
      "random-forest: maxFeatures is 5 but the data has 2 features; use at most 2 or 'all'.",
    );
    await expect(randomForest.create(params({ bootstrap: false, maxSamples: 0.5 }), ctx(1)).fit(x, y)).rejects.toThrow(
      'random-forest: maxSamples needs bootstrap: true (without bootstrap every tree sees every row); drop maxSamples or set bootstrap.',
    );
  });
});

describe('features drawn per split (ours)', () => {
  // 200 MNIST rows, 30 pixels and one constant column
  const setup = () => {
    const r = createRng('per-split');
    const columns = new Set<number>();
    while (columns.size < 30) columns.add(150 + r.int(480));
    const picked = [...columns];
    const x = Array.from({ length: 200 }, (_, i) => [...picked.map((j) => data.xTrain.data[i * 784 + j]!), 0.5]);
    const y = Array.from(data.yTrain.subarray(0, 200));
    const counts = y.map(() => r.int(3));
    return { x, y, counts };
  };
  const options = { minNumSamples: 1, gainThreshold: 0 };

  it('draws among non-constant features only: drawing at least all of them gives the full search (ml-cart\'s tree of the repeated rows)', () => {
    // maxFeatures 30 < 31 features draws every non-constant feature at every node, so splits,
    // thresholds, gains and leaves match the full search
    const { x, y, counts } = setup();
    const structure = (node: Record<string, any>): unknown => (node.left ? [node.splitColumn, node.splitValue, node.gain, structure(node.left), structure(node.right)] : node.distribution);
    const drawn = toCartJSON(growCartTree(prepareTrainingSet(fromArrays(x), y), { ...options, maxFeatures: 30, seed: 5 }, counts));
    const xe: number[][] = [];
    const ye: number[] = [];
    counts.forEach((c, i) => {
      for (let q = 0; q < c; q++) {
        xe.push(x[i]!);
        ye.push(y[i]!);
      }
    });
    const full = new mlCart.DecisionTreeClassifier(options);
    full.train(xe, ye);
    expect(structure(JSON.parse(JSON.stringify(drawn)).root)).toEqual(structure(JSON.parse(JSON.stringify(full.toJSON())).root));
  });

  it('a bootstrap sample as sampleCounts gives the tree of the repeated rows, for the same seed; flattening it directly equals ml-cart\'s loaded tree', () => {
    const { x, y, counts } = setup();
    const xe: number[][] = [];
    const ye: number[] = [];
    counts.forEach((c, i) => {
      for (let q = 0; q < c; q++) {
        xe.push(x[i]!);
        ye.push(y[i]!);
      }
    });
    const classes = Int32Array.from(new Set(y)).sort();
    for (const seed of [1, 2, 3]) {
      const drawn = growCartTree(prepareTrainingSet(fromArrays(x), y), { ...options, maxFeatures: 5, seed }, counts);
      const repeated = growCartTree(prepareTrainingSet(fromArrays(xe), ye), { ...options, maxFeatures: 5, seed });
      expect(JSON.stringify(toCartJSON(drawn)), `seed ${seed}`).toBe(JSON.stringify(toCartJSON(repeated)));
      const loaded = loadInCart(drawn);
      expect(flattenGrown(drawn.root, classes, true), `seed ${seed}`).toEqual(flattenCartTree(loaded.root, classes, true));
      expect(loaded.predict(toArrays(data.xTest)).length).toBe(1000);
    }
  });
});
