/**
 * decision-tree: the patched ml-cart builds the unpatched tree (same splits, thresholds, gains, leaves),
 * its split search stays O(n log n), and the plugin's accuracy, scores, saving and errors.
 */
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import { cart, type CartOptions } from '../src/classifiers/cart-trees.ts';
import { decisionTree } from '../src/classifiers/decision-tree.ts';
import { parseParams } from '../src/classifiers/plugin.ts';
import { toArrays, type Matrix } from '../src/engine/matrix.ts';
import { createRng } from '../src/engine/rng.ts';
import { mnistSubset, type Subset } from './helpers/mnist.ts';

const require = createRequire(import.meta.url);
const unpatched = require('ml-cart-unpatched') as Pick<typeof cart, 'DecisionTreeClassifier'>;

const ctx = { seed: 1, log: { info() {}, warn() {} } };

/** Both libraries' tree on the same data: the whole model as JSON, and the predictions. */
function bothTrees(x: number[][], y: number[], options: Partial<CartOptions>) {
  const slow = new unpatched.DecisionTreeClassifier(options);
  slow.train(x, y);
  const fast = new cart.DecisionTreeClassifier(options);
  fast.train(x, y);
  return {
    slow: JSON.stringify(slow.toJSON()),
    fast: JSON.stringify(fast.toJSON()),
    slowPredictions: slow.predict(x),
    fastPredictions: fast.predict(x),
  };
}

function pickColumns(m: Matrix, rows: number, columns: number[]): number[][] {
  return Array.from({ length: rows }, (_, i) => columns.map((j) => m.data[i * m.cols + j]!));
}

/** Small sets full of ties: few distinct values (some -0), few labels, duplicated rows with other labels. */
function tiedSet(seed: string) {
  const r = createRng(seed);
  const n = 10 + r.int(70);
  const nf = 1 + r.int(6);
  const levels = 1 + r.int(5);
  const k = 2 + r.int(3);
  const x = Array.from({ length: n }, () => Array.from({ length: nf }, () => (r.next() < 0.1 ? -0 : r.int(levels) * 0.25 - 0.5)));
  for (let d = 0; d < 3; d++) x[r.int(n)] = x[r.int(n)]!.slice();
  const labels = [0, 3, 7, 1].slice(0, k); // label gaps
  const y = Array.from({ length: n }, () => labels[r.int(k)]!);
  return { x, y };
}

let data: Subset;
beforeAll(async () => {
  data = await mnistSubset(2000, 1000, 1);
});

describe('patched ml-cart builds the unpatched tree', () => {
  const full = { minNumSamples: 1, gainThreshold: 0 }; // grown fully (the plugin's defaults)

  it('on 300 MNIST rows × 40 pixels: same model JSON and predictions, ml-cart defaults and fully grown', () => {
    const r = createRng('columns');
    const columns = new Set<number>();
    while (columns.size < 40) columns.add(150 + r.int(480)); // pixels away from the always-blank border
    const x = pickColumns(data.xTrain, 300, [...columns].sort((a, b) => a - b));
    const y = Array.from(data.yTrain.subarray(0, 300));
    for (const options of [{}, full, { maxDepth: 3 }]) {
      const t = bothTrees(x, y, options);
      expect(t.fast).toBe(t.slow);
      expect(t.fastPredictions).toEqual(t.slowPredictions);
    }
  });

  it('on 60 small sets full of ties, constant columns, -0 and label gaps', () => {
    for (let i = 0; i < 60; i++) {
      const { x, y } = tiedSet(`ties-${i}`);
      for (const options of [{}, full]) {
        const t = bothTrees(x, y, options);
        expect(t.fast, `set ${i}, options ${JSON.stringify(options)}`).toBe(t.slow);
      }
    }
  });

  it('sampleCounts gives the tree of the expanded rows (row i repeated counts[i] times, in order)', () => {
    for (let i = 0; i < 30; i++) {
      const { x, y } = tiedSet(`counts-${i}`);
      const r = createRng(`draws-${i}`);
      const counts = x.map(() => r.int(3));
      counts[0] = 1;
      const xe: number[][] = [];
      const ye: number[] = [];
      counts.forEach((c, row) => {
        for (let q = 0; q < c; q++) {
          xe.push(x[row]!);
          ye.push(y[row]!);
        }
      });
      const slow = new unpatched.DecisionTreeClassifier(full);
      slow.train(xe, ye);
      const fast = new cart.DecisionTreeClassifier(full);
      fast.train(x, y, { sampleCounts: counts });
      expect(JSON.stringify(fast.toJSON()), `set ${i}`).toBe(JSON.stringify(slow.toJSON()));
    }
  });

  it('keeps the unpatched code for regression trees and rejects bad sample counts', () => {
    const fast = new cart.DecisionTreeClassifier({});
    expect(() => fast.train([[1], [2]], [0, 1], { sampleCounts: [1, -1] })).toThrow('sampleCounts[1] is -1; counts must be integers ≥ 0.');
    expect(() => fast.train([[1], [2]], [0, 1], { sampleCounts: [0, 0] })).toThrow('sampleCounts selects no rows; at least one count must be > 0.');
    type Regression = new () => { train(x: number[], y: number[]): void; predict(x: number[]): number[]; toJSON(): unknown };
    const trees = [require('ml-cart'), require('ml-cart-unpatched')].map((m: { DecisionTreeRegression: Regression }) => {
      const reg = new m.DecisionTreeRegression();
      reg.train([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [1, 1, 1, 1, 1, 5, 5, 5, 5, 6]);
      return JSON.stringify(reg.toJSON());
    });
    expect(trees[0]).toBe(trees[1]);
  });
});

describe('split search cost', () => {
  const work = () => cart.splitSearchStats.sweptSamples + cart.splitSearchStats.partitionedSamples + cart.splitSearchStats.exactEvaluationWork;

  it('visits each (feature, row) about once per tree level: O(F · n log n), not O(F · n²)', () => {
    const F = 784;
    const measured: number[] = [];
    for (const n of [1000, 2000]) {
      const x = { rows: n, cols: F, data: data.xTrain.data.subarray(0, n * F) };
      const y = data.yTrain.subarray(0, n);
      const prepared = cart.prepareTrainingSet(toArrays(x), Array.from(y));
      // the root alone: every listed (feature, row) once, plus the two children
      cart.resetSplitSearchStats();
      new cart.DecisionTreeClassifier({ maxDepth: 1 }).train(prepared, undefined);
      expect(cart.splitSearchStats.sweptSamples).toBeLessThanOrEqual(2 * F * n);
      // a fully grown tree (measured: 1.2 M and 3.0 M swept samples)
      cart.resetSplitSearchStats();
      new cart.DecisionTreeClassifier({ minNumSamples: 1, gainThreshold: 0 }).train(prepared, undefined);
      expect(work()).toBeLessThanOrEqual(F * n * Math.log2(n));
      expect(cart.splitSearchStats.exactEvaluationWork).toBeLessThan(cart.splitSearchStats.sweptSamples / 4);
      measured.push(work());
    }
    // doubling n doubles the work and adds a level or two (measured 2.5×); quadratic would be 4×
    expect(measured[1]! / measured[0]!).toBeLessThan(3.2);
  });
});

describe('decision-tree plugin', () => {
  it('reaches its accuracy on 2,000 / 1,000 MNIST rows (measured 0.752 gini, 0.752 entropy)', async () => {
    for (const gainFunction of ['gini', 'entropy']) {
      const clf = await decisionTree.create(parseParams(decisionTree, { gainFunction }), ctx).fit(data.xTrain, data.yTrain);
      const predicted = await clf.predict(data.xTest);
      const accuracy = predicted.filter((p, i) => p === data.yTest[i]).length / predicted.length;
      expect(accuracy, gainFunction).toBeGreaterThan(0.73);
      clf.dispose();
    }
  });

  it('predicts what ml-cart predicts, scores its leaf fractions, and saves and loads exactly', async () => {
    const x = { rows: 600, cols: 784, data: data.xTrain.data.subarray(0, 600 * 784) };
    const y = data.yTrain.subarray(0, 600);
    const clf = await decisionTree.create(parseParams(decisionTree, { maxDepth: 8 }), ctx).fit(x, y);
    const predicted = await clf.predict(data.xTest);

    const tree = new cart.DecisionTreeClassifier({ minNumSamples: 1, gainThreshold: 0, maxDepth: 8 });
    tree.train(toArrays(x), Array.from(y));
    expect(Array.from(predicted)).toEqual(tree.predict(toArrays(data.xTest)));

    const scores = await clf.scores!(data.xTest);
    expect(scores.cols).toBe(10);
    for (let r = 0; r < scores.rows; r++) {
      const row = Array.from(scores.data.subarray(r * 10, r * 10 + 10));
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(row.indexOf(Math.max(...row))).toBe(predicted[r]);
    }

    const loaded = await decisionTree.load!(await clf.serialize!(), parseParams(decisionTree, {}), ctx);
    expect(Array.from(await loaded.predict(data.xTest))).toEqual(Array.from(predicted));
    expect(Array.from((await loaded.scores!(data.xTest)).data)).toEqual(Array.from(scores.data));
    expect(loaded.engine()).toBe('js');
  });

  it('gives errors a user can act on', async () => {
    expect(() => parseParams(decisionTree, { maxDepth: 0 })).toThrow('Invalid params for classifier "decision-tree": maxDepth: Too small: expected number to be >0.');
    expect(() => parseParams(decisionTree, { gainFunction: 'mse' })).toThrow(/^Invalid params for classifier "decision-tree": gainFunction: /);
    const estimator = decisionTree.create(parseParams(decisionTree, {}), ctx);
    const x = { rows: 3, cols: 2, data: Float32Array.from([0, 1, 1, 0, 1, 1]) };
    await expect(estimator.fit(x, Int32Array.from([0, -1, 1]))).rejects.toThrow(
      'decision-tree: label -1 at row 1 is negative; ml-cart needs labels ≥ 0, so map the labels to 0..k−1 first.',
    );
    const clf = await estimator.fit(x, Int32Array.from([0, 2, 2]));
    expect(Array.from(await clf.predict(x))).toEqual([0, 2, 2]);
    await expect(clf.predict(data.xTest)).rejects.toThrow(
      'decision-tree: the model was trained on 2 features but got rows of 784; use the same feature pipeline for fit and predict.',
    );
    await expect(decisionTree.load!(new Uint8Array(3), parseParams(decisionTree, {}), ctx)).rejects.toThrow(
      'decision-tree: the saved model is not a digitbench decision-tree model (too short); pass the bytes that serialize() returned.',
    );
  });
});
