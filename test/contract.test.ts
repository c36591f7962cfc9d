/**
 * One contract for every plugin: the built-ins and the example plugin loaded by path.
 * Real MNIST rows, each plugin with its small testParams.
 */
import * as tf from '@tensorflow/tfjs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeParams } from '../src/classifiers/describe.ts';
import { parseParams, type ClassifierPlugin } from '../src/classifiers/plugin.ts';
import { builtins, resolvePlugin } from '../src/classifiers/registry.ts';
import { loadLibsvm, type LibsvmClass } from '../src/classifiers/svm.ts';
import { liveWorkers } from '../src/engine/threads.ts';
import { getTf } from '../src/engine/tf.ts';
import { checkPredictedLabels } from '../src/results/row.ts';
import { mnistSubset, type Subset } from './helpers/mnist.ts';

const example = await resolvePlugin(resolve(__dirname, '../examples/nearest-centroid.ts'));
const plugins: ClassifierPlugin[] = [...builtins, example];

let data: Subset;
/** 2,000 query rows: enough for knn's second search thread to start. */
let many: Subset['xTest'];
/** libsvm-js models in the wasm heap that were trained and not freed (counted by wrapping its class). */
let svmLive = 0;
let unwrap = () => {};
beforeAll(async () => {
  await getTf();
  data = await mnistSubset(600, 200, 21);
  many = { rows: 2000, cols: 784, data: new Float32Array(2000 * 784) };
  for (let i = 0; i < 10; i++) many.data.set(data.xTest.data, i * 200 * 784);
  const SVM: LibsvmClass = await loadLibsvm();
  const { train, free } = SVM.prototype;
  SVM.prototype.train = function (this: { __live?: boolean }, ...args: Parameters<typeof train>) {
    if (!this.__live) svmLive++;
    this.__live = true;
    return train.apply(this as never, args);
  };
  SVM.prototype.free = function (this: { __live?: boolean }) {
    if (this.__live) svmLive--;
    this.__live = false;
    return free.apply(this as never);
  };
  unwrap = () => Object.assign(SVM.prototype, { train, free });
});
afterAll(() => unwrap());

const ctx = (seed: number) => ({ seed, log: { info() {}, warn() {} }, imageShape: [28, 28] as const });

/** What a model can hold outside the JS heap: tensors, worker threads, libsvm models in wasm memory. */
async function held() {
  // A terminated worker leaves the count once its 'exit' event has run.
  for (let i = 0; i < 50 && liveWorkers() > 0; i++) await new Promise((r) => setTimeout(r, 20));
  return { tensors: tf.memory().numTensors, workers: liveWorkers(), libsvmModels: svmLive };
}

describe.each(plugins.map((p) => [p.name, p] as const))('%s', (_name, plugin) => {
  const params = () => parseParams(plugin, plugin.testParams ?? {});

  it('predicts only labels it was trained on, and the same seed gives the same predictions', async () => {
    // Train on five classes only: predictions must stay inside them.
    const keep = Array.from(data.yTrain.keys()).filter((i) => data.yTrain[i]! % 2 === 0);
    const x = { rows: keep.length, cols: 784, data: new Float32Array(keep.length * 784) };
    keep.forEach((i, k) => x.data.set(data.xTrain.data.subarray(i * 784, (i + 1) * 784), k * 784));
    const y = Int32Array.from(keep, (i) => data.yTrain[i]!);
    const runOnce = async () => {
      const model = await plugin.create(params(), ctx(7)).fit(x, y);
      try {
        expect(Array.from(model.classes)).toEqual([0, 2, 4, 6, 8]);
        return await model.predict(data.xTest);
      } finally {
        model.dispose();
      }
    };
    const a = await runOnce();
    const b = await runOnce();
    expect(a.length).toBe(200);
    expect(new Set(a).size).toBeGreaterThan(1);
    // The check every run applies to the labels it records (src/harness/child.ts).
    checkPredictedLabels(a, Int32Array.from([0, 2, 4, 6, 8]));
    expect(Array.from(b)).toEqual(Array.from(a));
  });

  it('fit mutates neither the params nor the inputs', async () => {
    const p = params();
    const pBefore = structuredClone(p);
    const xBefore = data.xTrain.data.slice();
    const yBefore = data.yTrain.slice();
    const model = await plugin.create(p, ctx(1)).fit(data.xTrain, data.yTrain);
    try {
      await model.predict(data.xTest);
    } finally {
      model.dispose();
    }
    expect(p).toEqual(pBefore);
    expect(data.xTrain.data).toEqual(xBefore);
    expect(data.yTrain).toEqual(yBefore);
  });

  it('serialize → load gives identical predictions and scores', async () => {
    const model = await plugin.create(params(), ctx(3)).fit(data.xTrain, data.yTrain);
    try {
      const pred = await model.predict(data.xTest);
      expect(model.serialize, `${plugin.name} has no serialize()`).toBeDefined();
      expect(plugin.load, `${plugin.name} has no load()`).toBeDefined();
      const bytes = await model.serialize!();
      expect(bytes.byteLength).toBeGreaterThan(0);
      // As a file read from disk gives them: a Node Buffer at an odd offset of a larger pool.
      const fromDisk = Buffer.concat([Buffer.from([1, 2, 3]), Buffer.from(bytes)]).subarray(3);
      const loaded = await plugin.load!(fromDisk, params(), ctx(3));
      try {
        expect(Array.from(loaded.classes)).toEqual(Array.from(model.classes));
        expect(Array.from(await loaded.predict(data.xTest))).toEqual(Array.from(pred));
        if (model.scores && loaded.scores) {
          const [s1, s2] = [await model.scores(data.xTest), await loaded.scores(data.xTest)];
          expect(s2.rows).toBe(200);
          expect(s2.cols).toBe(model.classes.length);
          for (let i = 0; i < s1.data.length; i++) expect(s2.data[i]).toBeCloseTo(s1.data[i]!, 5);
        }
      } finally {
        loaded.dispose();
      }
    } finally {
      model.dispose();
    }
  });

  it('dispose frees what the model holds (tensors, worker threads, libsvm wasm models) and is safe twice', async () => {
    const before = await held();
    const model = await plugin.create(params(), ctx(5)).fit(data.xTrain, data.yTrain);
    await model.predict(many);
    if (model.scores) await model.scores(many);
    const loaded = model.serialize && plugin.load ? await plugin.load(await model.serialize(), params(), ctx(5)) : undefined;
    await loaded?.predict(many);
    model.dispose();
    model.dispose();
    loaded?.dispose();
    expect(await held()).toEqual(before);
    await expect(model.predict(data.xTest)).rejects.toThrow(`${plugin.name}: this model was disposed; fit or load a new one to predict.`);
  });

  it('rejects rows of the wrong width, naming the plugin', async () => {
    const model = await plugin.create(params(), ctx(2)).fit(data.xTrain, data.yTrain);
    try {
      const narrow = { rows: 1, cols: 100, data: new Float32Array(100) };
      await expect(model.predict(narrow)).rejects.toThrow(new RegExp(`^${plugin.name}: the model was trained on 784 .* but got rows of 100; use the same feature pipeline for fit and predict\\.$`));
      expect(Array.from(await model.predict({ rows: 0, cols: 784, data: new Float32Array(0) }))).toEqual([]);
    } finally {
      model.dispose();
    }
  });

  it('rejects bad params with an error naming the plugin and the field', () => {
    expect(() => parseParams(plugin, { notAParam: 1 })).toThrow(`Invalid params for classifier "${plugin.name}": params: Unrecognized key: "notAParam".`);
    const defaults = parseParams(plugin, {}) as Record<string, unknown>;
    const [field, value] = Object.entries(defaults)[0]!;
    const wrong = typeof value === 'string' ? 12345 : 'not-a-value';
    expect(() => parseParams(plugin, { [field]: wrong })).toThrow(new RegExp(`^Invalid params for classifier "${plugin.name}": ${field}: `));
  });

  it('describes itself and every parameter for the report and `digitbench list`', () => {
    expect(plugin.summary.length).toBeGreaterThan(5);
    expect(plugin.library.length).toBeGreaterThan(0);
    for (const p of describeParams(plugin)) expect(p.description, `${plugin.name}.${p.name} has no .describe() text`).toMatch(/\S{3}/);
  });
});
