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

const silent = { info() {}, warn() {} };
let d: Subset;

beforeAll(async () => {
  d = await mnistSubset(1500, 600, 3);
});

async function agree(workbench: ClassifierPlugin, runtime: ModelPlugin, raw: Record<string, unknown>, x: Matrix, y: Int32Array, test: Matrix, imageShape?: readonly [number, number]) {
  const ctx = { seed: 5, log: silent, ...(imageShape ? { imageShape } : {}) };
  const params = parseParams(workbench, raw);
  const fitted: Model = await workbench.create(params, ctx).fit(x, y);
  const bytes = await fitted.serialize!();
  const loaded = await runtime.load!(bytes, parseParams(runtime, raw), ctx);
  const [a, b] = [await fitted.predict(test), await loaded.predict(test)];
  expect(Array.from(b)).toEqual(Array.from(a));
  expect(Array.from((await loaded.scores!(test)).data)).toEqual(Array.from((await fitted.scores!(test)).data));
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
    const { accuracy } = await agree(cnn, runtimeCnn, { epochs: 2, batchSize: 32, threads: 1 }, small, d.yTrain.subarray(0, 600), d.xTest, [28, 28]);
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
