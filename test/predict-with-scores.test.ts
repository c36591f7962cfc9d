/**
 * Labels and scores in one pass (Model.predictWithScores, used by loadModel's classify and predict): for
 * k-NN (one neighbour search) and SVM (one pass of exact decision values), workbench-fitted and
 * runtime-loaded, the labels equal predict()'s and the scores equal scores()' exactly, on real MNIST rows.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { knnModel, parseParams, svmModel, type Model, type ModelPlugin } from '@digitbench/runtime/internal';
import { knn } from '../src/classifiers/knn.ts';
import type { ClassifierPlugin } from '../src/classifiers/plugin.ts';
import { svm } from '../src/classifiers/svm.ts';
import { mnistSubset, type Subset } from './helpers/mnist.ts';

const silent = { info() {}, warn() {} };
let d: Subset;

beforeAll(async () => {
  d = await mnistSubset(1200, 400, 7);
});

async function onePass(model: Model) {
  const both = await model.predictWithScores!(d.xTest);
  expect(Array.from(both.labels)).toEqual(Array.from(await model.predict(d.xTest)));
  const scores = await model.scores!(d.xTest);
  expect([both.scores.rows, both.scores.cols]).toEqual([scores.rows, scores.cols]);
  expect(Array.from(both.scores.data)).toEqual(Array.from(scores.data));
  return both.labels;
}

async function check(workbench: ClassifierPlugin, runtime: ModelPlugin, raw: Record<string, unknown>) {
  const ctx = { seed: 3, log: silent };
  const fitted = await workbench.create(parseParams(workbench, raw), ctx).fit(d.xTrain, d.yTrain);
  const loaded = await runtime.load!(await fitted.serialize!(), parseParams(runtime, raw), ctx);
  try {
    const a = await onePass(fitted);
    const b = await onePass(loaded);
    expect(Array.from(b)).toEqual(Array.from(a));
    let right = 0;
    a.forEach((l, i) => (right += l === d.yTest[i] ? 1 : 0));
    return right / a.length;
  } finally {
    fitted.dispose();
    loaded.dispose();
  }
}

describe('predictWithScores equals predict and scores', () => {
  it('k-NN, uniform and distance votes', async () => {
    expect(await check(knn, knnModel, { k: 3 })).toBeGreaterThan(0.85);
    expect(await check(knn, knnModel, { k: 5, weights: 'distance', metric: 'l3' })).toBeGreaterThan(0.85);
  });

  it('SVM (rbf): libsvm\'s vote on the exact decision values', async () => {
    expect(await check(svm, svmModel, { kernel: 'rbf', C: 10, gamma: 'scale' })).toBeGreaterThan(0.88);
  });
});
