/**
 * The runtime's built-in model plugins (@digitbench/runtime) rebuild what the workbench fitted: on real
 * MNIST subsets, the runtime's load of a fitted model's bytes gives the workbench model's labels and
 * scores exactly, and refuses damaged bytes in the same words.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { decisionTreeModel, naiveBayesModel, parseParams, randomForestModel, sliceRows, type Matrix, type Model, type ModelPlugin } from '@digitbench/runtime/internal';
import { cnn as runtimeCnn } from '@digitbench/runtime/cnn';
import { cnn } from '../src/classifiers/cnn.ts';
import { decisionTree } from '../src/classifiers/decision-tree.ts';
import { naiveBayes } from '../src/classifiers/naive-bayes.ts';
import type { ClassifierPlugin } from '../src/classifiers/plugin.ts';
import { randomForest } from '../src/classifiers/random-forest.ts';
import { mnistSubset, type Subset } from './helpers/mnist.ts';
import { engineChoice } from '../src/engine/ort.ts';

const silent = { info() {}, warn() {} };
let d: Subset;

beforeAll(async () => {
  d = await mnistSubset(1500, 600, 3);
});

/**
 * `close`: the workbench model predicts on another engine than the runtime's plain load (the CNN on
 * onnxruntime: its forward graph sums in another order than tfjs), so scores agree within 1e-5 and labels
 * everywhere but on rows whose two best scores are that close; otherwise both must be bit-equal.
 */
async function agree(workbench: ClassifierPlugin, runtime: ModelPlugin, raw: Record<string, unknown>, x: Matrix, y: Int32Array, test: Matrix, imageShape?: readonly [number, number], close = false) {
  const ctx = { seed: 5, log: silent, ...(imageShape ? { imageShape } : {}) };
  const params = parseParams(workbench, raw);
  const fitted: Model = await workbench.create(params, ctx).fit(x, y);
  const bytes = await fitted.serialize!();
  const loaded = await runtime.load!(bytes, parseParams(runtime, raw), ctx);
  const [a, b] = [await fitted.predict(test), await loaded.predict(test)];
  const [sa, sb] = [(await fitted.scores!(test)).data, (await loaded.scores!(test)).data];
  if (close) {
    const k = sa.length / test.rows;
    for (let i = 0; i < sa.length; i++) expect(Math.abs(sa[i]! - sb[i]!)).toBeLessThan(1e-5);
    for (let r = 0; r < test.rows; r++) {
      if (a[r] === b[r]) continue;
      const row = Array.from(sb.subarray(r * k, (r + 1) * k)).sort((u, v) => v - u);
      expect(row[0]! - row[1]!, `row ${r}: labels differ away from a tie`).toBeLessThan(1e-5);
    }
  } else {
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(Array.from(sb)).toEqual(Array.from(sa));
  }
  let correct = 0;
  b.forEach((l, i) => (correct += l === d.yTest[i] ? 1 : 0));
  fitted.dispose();
  loaded.dispose();
  return { accuracy: correct / b.length, bytes };
}

describe('runtime models rebuild the workbench fits (labels and scores equal on 600 MNIST test rows)', () => {
  it('decision tree', async () => {
    const { accuracy, bytes } = await agree(decisionTree, decisionTreeModel, {}, d.xTrain, d.yTrain, d.xTest);
    expect(accuracy).toBeGreaterThan(0.68);
    await expect(decisionTreeModel.load!(bytes.subarray(0, bytes.length - 8), parseParams(decisionTreeModel, {}), { seed: 0, log: silent })).rejects.toThrow(
      `decision-tree: the saved model is not a digitbench decision-tree model (expected ${bytes.length} bytes, got ${bytes.length - 8}); pass the bytes that serialize() returned.`,
    );
  });

  it('random forest', async () => {
    const { accuracy } = await agree(randomForest, randomForestModel, { nEstimators: 15 }, d.xTrain, d.yTrain, d.xTest);
    expect(accuracy).toBeGreaterThan(0.85);
  });

  it('Gaussian naive Bayes, without ml-naivebayes (and a saved model whose probabilities lack a feature is refused)', async () => {
    const { accuracy, bytes } = await agree(naiveBayes, naiveBayesModel, {}, d.xTrain, d.yTrain, d.xTest);
    expect(accuracy).toBeGreaterThan(0.5);
    const saved = JSON.parse(new TextDecoder().decode(bytes));
    saved.model.calculateProbabilities[3].pop();
    await expect(naiveBayesModel.load!(new TextEncoder().encode(JSON.stringify(saved)), { varSmoothing: 1e-9 }, { seed: 0, log: silent })).rejects.toThrow(
      'naive-bayes: the saved model is inconsistent (class or feature counts differ); pass the bytes that serialize() returned.',
    );
  });

  it('cnn through @digitbench/runtime/cnn (tfjs-core and tfjs-layers, not the umbrella)', async () => {
    const small = sliceRows(d.xTrain, 0, 600);
    // On ort the workbench's CNN predicts with its forward graph; the runtime's plain load here is tfjs.
    const onOrt = engineChoice().engine === 'ort';
    const { accuracy } = await agree(cnn, runtimeCnn, { epochs: 2, batchSize: 32, threads: 1 }, small, d.yTrain.subarray(0, 600), d.xTest, [28, 28], onOrt);
    expect(accuracy).toBeGreaterThan(0.6);
  });
});

describe('one list of built-ins', () => {
  it('the workbench registry names exactly the runtime built-ins, each spreading its runtime model plugin', async () => {
    const { builtins } = await import('../src/classifiers/registry.ts');
    const { BUILTIN_MODELS, builtinResolver } = await import('@digitbench/runtime');
    expect(builtins.map((p) => p.name)).toEqual([...BUILTIN_MODELS]);
    const resolve = builtinResolver([], async () => runtimeCnn, 'test');
    for (const p of builtins) {
      const model = await resolve(p.name);
      expect(model.name).toBe(p.name);
      expect(p.params).toBe(model.params);
      expect(p.scoreKind).toBe(model.scoreKind);
    }
  });
});
