/**
 * One contract for every plugin: the built-ins and the example plugin loaded by path.
 * Real MNIST rows, each plugin with its small testParams.
 */
import * as tf from '@tensorflow/tfjs';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseParams, type ClassifierPlugin } from '../src/classifiers/plugin.ts';
import { builtins, resolvePlugin } from '../src/classifiers/registry.ts';
import { getTf } from '../src/engine/tf.ts';
import { mnistSubset, type Subset } from './helpers/mnist.ts';

const example = await resolvePlugin(resolve(__dirname, '../examples/nearest-centroid.ts'));
const plugins: ClassifierPlugin[] = [...builtins, example];

let data: Subset;
beforeAll(async () => {
  await getTf();
  data = await mnistSubset(600, 200, 21);
});

const ctx = (seed: number) => ({ seed, log: { info() {}, warn() {} }, imageShape: [28, 28] as const });

describe.each(plugins.map((p) => [p.name, p] as const))('%s', (_name, plugin) => {
  const params = () => parseParams(plugin, plugin.testParams ?? {});

  it('predicts only labels it was trained on, and the same seed gives the same predictions', async () => {
    // Train on five classes only: predictions must stay inside them.
    const keep = Array.from(data.yTrain.keys()).filter((i) => data.yTrain[i]! % 2 === 0);
    const x = { rows: keep.length, cols: 784, data: new Float32Array(keep.length * 784) };
    keep.forEach((i, k) => x.data.set(data.xTrain.data.subarray(i * 784, (i + 1) * 784), k * 784));
    const y = Int32Array.from(keep, (i) => data.yTrain[i]!);
    const runOnce = async () => {
      const clf = plugin.create(params(), ctx(7));
      try {
        await clf.fit(x, y);
        return await clf.predict(data.xTest);
      } finally {
        clf.dispose();
      }
    };
    const a = await runOnce();
    const b = await runOnce();
    expect(a.length).toBe(200);
    expect(new Set(a).size).toBeGreaterThan(1);
    for (const label of a) expect([0, 2, 4, 6, 8]).toContain(label);
    expect(Array.from(b)).toEqual(Array.from(a));
  });

  it('fit mutates neither the params nor the inputs', async () => {
    const p = params();
    const pBefore = structuredClone(p);
    const xBefore = data.xTrain.data.slice();
    const yBefore = data.yTrain.slice();
    const clf = plugin.create(p, ctx(1));
    try {
      await clf.fit(data.xTrain, data.yTrain);
      await clf.predict(data.xTest);
    } finally {
      clf.dispose();
    }
    expect(p).toEqual(pBefore);
    expect(data.xTrain.data).toEqual(xBefore);
    expect(data.yTrain).toEqual(yBefore);
  });

  it('serialize → load gives identical predictions and scores', async () => {
    const clf = plugin.create(params(), ctx(3));
    try {
      await clf.fit(data.xTrain, data.yTrain);
      const pred = await clf.predict(data.xTest);
      expect(clf.serialize, `${plugin.name} has no serialize()`).toBeDefined();
      expect(plugin.load, `${plugin.name} has no load()`).toBeDefined();
      const bytes = await clf.serialize!();
      expect(bytes.byteLength).toBeGreaterThan(0);
      const loaded = await plugin.load!(bytes, params(), ctx(3));
      try {
        expect(Array.from(await loaded.predict(data.xTest))).toEqual(Array.from(pred));
        if (clf.scores && loaded.scores) {
          const [s1, s2] = [await clf.scores(data.xTest), await loaded.scores(data.xTest)];
          expect(s2.rows).toBe(200);
          for (let i = 0; i < s1.data.length; i++) expect(s2.data[i]).toBeCloseTo(s1.data[i]!, 5);
        }
      } finally {
        loaded.dispose();
      }
    } finally {
      clf.dispose();
    }
  });

  it('dispose frees its tensors (and is safe twice)', async () => {
    const before = tf.memory().numTensors;
    const clf = plugin.create(params(), ctx(5));
    await clf.fit(data.xTrain, data.yTrain);
    await clf.predict(data.xTest);
    if (clf.scores) await clf.scores(data.xTest);
    clf.dispose();
    clf.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad params with an error naming the plugin and the field', () => {
    expect(() => parseParams(plugin, { notAParam: 1 })).toThrow(`Invalid params for classifier "${plugin.name}": params: Unrecognized key: "notAParam".`);
    const defaults = parseParams(plugin, {}) as Record<string, unknown>;
    const [field, value] = Object.entries(defaults)[0]!;
    const wrong = typeof value === 'string' ? 12345 : 'not-a-value';
    expect(() => parseParams(plugin, { [field]: wrong })).toThrow(new RegExp(`^Invalid params for classifier "${plugin.name}": ${field}: `));
  });

  it('describes itself for the report', () => {
    expect(plugin.summary.length).toBeGreaterThan(5);
    expect(plugin.library.length).toBeGreaterThan(0);
  });
});
