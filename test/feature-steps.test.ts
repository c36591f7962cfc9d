/**
 * One definition per feature step, in two houses: the runtime's list (spec, shape, transform from a
 * saved state) and the workbench's (the same definitions plus fitting and cache flags). The runtime's
 * restored pipeline must transform real MNIST rows exactly as the workbench's fitted one; PCA's plain-JS
 * projection is compared with the tfjs projection the workbench used before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  builtinSteps,
  decodeBundle,
  encodeBundle,
  projectPca,
  restorePipeline as runtimeRestore,
  sliceRows,
  STEP_NAMES,
  stepSpecSchema,
  transformRows as runtimeTransform,
  type Matrix,
  type PcaModel,
} from '@digitbench/runtime/internal';
import { naiveBayes } from '../src/classifiers/naive-bayes.ts';
import { knn } from '../src/classifiers/knn.ts';
import { parseParams, type ClassifierPlugin } from '../src/classifiers/plugin.ts';
import { closeEnginePool } from '../src/engine/pool.ts';
import { getTf } from '../src/engine/tf.ts';
import { fitPca } from '../src/features/pca.ts';
import { createPipeline, fitTransform, parsePipeline, pipelineStates } from '../src/features/pipeline.ts';
import { steps } from '../src/features/steps.ts';
import { bundleInput } from './helpers/bundle.ts';
import { mnistSubset, type Subset } from './helpers/mnist.ts';

const log = { info() {}, warn() {} };

describe('the step lists', () => {
  it('the workbench lists exactly the runtime steps, in order, each built on its runtime definition', () => {
    const names = builtinSteps.map((s) => s.name);
    expect(names).toEqual(['scale', 'standardize', 'drop-constant', 'deskew', 'blur', 'downsample', 'hog', 'pca']);
    expect(Object.keys(steps)).toEqual(names);
    expect([...STEP_NAMES]).toEqual(names);
    for (const def of builtinSteps) {
      const wb = steps[def.name];
      expect(wb.name).toBe(def.name);
      expect(wb.spec).toBe(def.spec);
      expect(wb.shape).toBe(def.shape);
      expect(wb.restore).toBe(def.restore);
    }
    // The spec union is the list's schemas.
    expect(stepSpecSchema._zod.def.options).toEqual(builtinSteps.map((s) => s.spec));
  });

  it('fitting, caching and engine dependence come from the definitions', () => {
    const which = (f: (d: (typeof steps)[keyof typeof steps]) => boolean) => Object.values(steps).filter(f).map((d) => d.name);
    expect(which((d) => d.fit !== undefined)).toEqual(['standardize', 'drop-constant', 'pca']);
    expect(which((d) => d.expensive)).toEqual(['deskew', 'blur', 'hog', 'pca']);
    expect(which((d) => d.engineDependent)).toEqual(['pca']);
    const flags = (raw: unknown[]) => {
      const p = createPipeline(parsePipeline(raw), [28, 28]);
      return { expensive: p.expensive, engineDependent: p.engineDependent };
    };
    expect(flags([{ step: 'scale' }, { step: 'standardize' }])).toEqual({ expensive: false, engineDependent: false });
    expect(flags([{ step: 'scale' }, { step: 'hog' }])).toEqual({ expensive: true, engineDependent: false });
    expect(flags([{ step: 'scale' }, { step: 'pca', components: 5 }])).toEqual({ expensive: true, engineDependent: true });
  });

  it('a stateful step transforms only once fitted or restored', () => {
    const p = createPipeline(parsePipeline([{ step: 'standardize' }]), [28, 28]);
    expect(() => p.steps[0]!.transform({ rows: 1, cols: 784, data: new Float32Array(784) })).toThrow('Feature step "standardize" was used before it was fitted.');
  });
});

/** Every step, alone after scale and in the combinations the experiments use. */
const PIPELINES: unknown[][] = [
  [{ step: 'scale' }],
  [{ step: 'scale', max: 1 }, { step: 'standardize' }],
  [{ step: 'drop-constant' }],
  [{ step: 'scale' }, { step: 'deskew' }],
  [{ step: 'scale' }, { step: 'blur', sigma: 1.3 }],
  [{ step: 'scale' }, { step: 'downsample', factor: 4 }],
  [{ step: 'scale' }, { step: 'hog', cellSize: [4, 7], bins: 12 }],
  [{ step: 'scale' }, { step: 'pca', components: 50 }],
  [{ step: 'scale' }, { step: 'pca', components: 20, whiten: true }],
  [{ step: 'scale' }, { step: 'deskew' }, { step: 'blur' }, { step: 'downsample' }, { step: 'drop-constant' }, { step: 'standardize' }, { step: 'pca', components: 30 }],
  [{ step: 'scale' }, { step: 'deskew' }, { step: 'hog', cellSize: 7 }, { step: 'standardize' }, { step: 'pca', components: 40 }],
];

describe('the runtime transform is the workbench transform', () => {
  let raw: Subset;
  beforeAll(async () => {
    // Raw 0..255 pixels, as a bundle's pipeline gets them.
    const s = await mnistSubset(2000, 1000, 31);
    const unscale = (m: Matrix): Matrix => ({ rows: m.rows, cols: m.cols, data: m.data.map((v) => Math.round(v * 255)) });
    raw = { ...s, xTrain: unscale(s.xTrain), xTest: unscale(s.xTest) };
  });
  afterAll(() => closeEnginePool());

  it('on 1,000 real MNIST test rows, for every step: restored from bundle bytes, the runtime gives exactly the fitted pipeline\'s output', async () => {
    const tested = new Set<string>();
    for (const rawSpecs of PIPELINES) {
      const specs = parsePipeline(rawSpecs);
      const fitted = createPipeline(specs, [28, 28], 5);
      const out = await fitTransform(fitted, { train: raw.xTrain, test: raw.xTest }, raw.yTrain);
      const bytes = await encodeBundle(bundleInput(specs, pipelineStates(fitted)));
      const restored = runtimeRestore(specs, [28, 28], (await decodeBundle(bytes, 'steps.bundle')).states);
      expect(restored.labels).toEqual(fitted.labels);
      expect(restored.outputImage).toEqual(fitted.outputImage);
      const mine = runtimeTransform(restored, raw.xTest);
      const what = JSON.stringify(rawSpecs);
      expect(mine.cols, what).toBe(out.parts.test!.cols);
      expect(mine.rows, what).toBe(1000);
      expect(Buffer.from(mine.data.buffer, mine.data.byteOffset, mine.data.byteLength).equals(Buffer.from(out.parts.test!.data.buffer, out.parts.test!.data.byteOffset, out.parts.test!.data.byteLength)), what).toBe(true);
      // A row's features do not depend on the rows beside it: one image at a time (as a page predicts) gives the same.
      for (const i of [0, 1, 2, 3, 4, 997, 998, 999]) {
        const one = runtimeTransform(restored, sliceRows(raw.xTest, i, i + 1));
        expect(Array.from(one.data), `${what} row ${i}`).toEqual(Array.from(mine.data.subarray(i * mine.cols, (i + 1) * mine.cols)));
      }
      for (const s of specs) tested.add(s.step);
    }
    expect([...tested].sort()).toEqual([...STEP_NAMES].sort());
  });
});

/** The projection the workbench ran before (features/pca.ts projectRows): float32 on the tensor engine, X Cᵀ − μᵀCᵀ. */
async function tfjsProjection(model: PcaModel, x: Matrix): Promise<Matrix> {
  const { tf } = await getTf();
  const { k, d } = model;
  const cT = new Float32Array(d * k);
  for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) cT[j * k + c] = model.components[c * d + j]!;
  const y = tf.tidy(() => {
    const c = tf.tensor2d(cT, [d, k]);
    return tf.sub(tf.matMul(tf.tensor2d(x.data, [x.rows, d]), c), tf.matMul(tf.tensor2d(Float32Array.from(model.mean), [1, d]), c));
  });
  const data = (await y.data()) as Float32Array;
  y.dispose();
  return { rows: x.rows, cols: k, data };
}

describe('PCA: the plain-JS projection against the tfjs one', () => {
  afterAll(() => closeEnginePool());

  it('on 5,000 + 2,000 real MNIST rows → 50: within 3e-5 of tfjs (and closer to float64), and k-NN and naive Bayes on top give the same labels', async () => {
    const d = await mnistSubset(5000, 2000, 32);
    const model = await fitPca(d.xTrain, { components: 50, oversamples: 10, iterations: 4, seed: 1, threads: 1 });
    const js = { train: projectPca(model, d.xTrain), test: projectPca(model, d.xTest) };
    const tf = { train: await tfjsProjection(model, d.xTrain), test: await tfjsProjection(model, d.xTest) };
    let maxDiff = 0;
    let jsErr = 0;
    let tfErr = 0;
    for (const part of ['train', 'test'] as const) {
      const x = part === 'train' ? d.xTrain : d.xTest;
      const a = js[part].data;
      const b = tf[part].data;
      for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
      // Exact float64 projections of every 50th row.
      for (let i = 0; i < x.rows; i += 50) {
        for (let c = 0; c < 50; c++) {
          let s = 0;
          for (let j = 0; j < 784; j++) s += (x.data[i * 784 + j]! - model.mean[j]!) * model.components[c * 784 + j]!;
          jsErr = Math.max(jsErr, Math.abs(a[i * 50 + c]! - s));
          tfErr = Math.max(tfErr, Math.abs(b[i * 50 + c]! - s));
        }
      }
    }
    expect(maxDiff).toBeLessThan(3e-5);
    expect(jsErr).toBeLessThan(tfErr);
    expect(jsErr).toBeLessThan(2e-6); // float32 rounding of values up to about 10

    const labels = async (plugin: ClassifierPlugin, f: { train: Matrix; test: Matrix }) => {
      const est = await plugin.create(parseParams(plugin, {}), { seed: 1, log }).fit(f.train, d.yTrain);
      const out = await est.predict(f.test);
      est.dispose?.();
      return out;
    };
    for (const plugin of [knn, naiveBayes] as ClassifierPlugin[]) {
      const a = await labels(plugin, js);
      const b = await labels(plugin, tf);
      const agree = a.filter((l, i) => l === b[i]).length;
      expect(`${plugin.name}: ${agree}/${a.length}`).toBe(`${plugin.name}: 2000/2000`);
    }
  });
});
