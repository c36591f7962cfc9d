/**
 * Compact bundles (issue 23 item 6): the shared float16 / int8 packing, and per built-in plugin, on real
 * MNIST subsets, models saved at float16 and int8 load in the runtime and predict close to the float32
 * model (agreement on every test row above a stated floor, accuracy within a stated bound), with the
 * expected size ratio; the float32 bytes stay the old format, and old-format bytes still load.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  decisionTreeModel,
  fromFloat16Bits,
  knnModel,
  packedBytes,
  packValues,
  parseParams,
  randomForestModel,
  sliceRows,
  svmModel,
  toFloat16Bits,
  unpackValues,
  createMatrix,
  cnnBytes,
  parseCnnBytes,
  type CnnSavedHeader,
  type Matrix,
  type ModelPlugin,
  type Precision,
} from '@digitbench/runtime/internal';
import { cnn as runtimeCnn } from '@digitbench/runtime/cnn';
import { cnn } from '../src/classifiers/cnn.ts';
import { decisionTree } from '../src/classifiers/decision-tree.ts';
import { knn } from '../src/classifiers/knn.ts';
import type { ClassifierPlugin } from '../src/classifiers/plugin.ts';
import { randomForest } from '../src/classifiers/random-forest.ts';
import { svm } from '../src/classifiers/svm.ts';
import { fitPca, projectPca } from '../src/features/pca.ts';
import { mnistSubset, type Subset } from './helpers/mnist.ts';

const silent = { info() {}, warn() {} };

describe('float16 and int8 packing', () => {
  it('float16: every finite half decodes and encodes back to its own bits; rounding is to nearest, ties to even', () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      expect(toFloat16Bits(fromFloat16Bits(h))).toBe(h);
    }
    expect(fromFloat16Bits(0x3c00)).toBe(1);
    expect(fromFloat16Bits(0x7bff)).toBe(65504);
    expect(fromFloat16Bits(0x0001)).toBe(2 ** -24);
    expect(toFloat16Bits(65519.99)).toBe(0x7bff);
    expect(toFloat16Bits(65520)).toBe(0x7c00);
    expect(toFloat16Bits(2 ** -25)).toBe(0); // a tie between 0 and the smallest subnormal: to even
    expect(toFloat16Bits(3 * 2 ** -25)).toBe(2); // between 1 and 2 units: to even (2)
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // halfway between 1 and its successor: to even
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(toFloat16Bits(-0)).toBe(0x8000);
    // Random values: the half chosen is a nearest one.
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 20000; i++) {
      const v = (rand() - 0.5) * 2 ** (rand() * 40 - 24);
      const h = toFloat16Bits(v);
      const err = Math.abs(fromFloat16Bits(h) - v);
      for (const other of [h - 1, h + 1]) {
        if ((other & 0x7fff) >= 0x7c00 || (other & 0x8000) !== (h & 0x8000)) continue;
        expect(err).toBeLessThanOrEqual(Math.abs(fromFloat16Bits(other) - v));
      }
    }
  });

  it('int8: ranges per group, the ends exact, every other value within half a level; a constant group is exact', () => {
    const values = Float64Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? Math.sin(i) * 1000 : i % 3 === 1 ? Math.cos(i) * 1e-3 : 42));
    const packed = packValues(values, 'int8', { by: 'column', cols: 3 }, 'test');
    expect(packed.length).toBe(packedBytes(300, 'int8', { by: 'column', cols: 3 }));
    expect(packed.length).toBe(3 * 16 + 300);
    const out = new Float64Array(300);
    unpackValues(packed, 300, 'int8', { by: 'column', cols: 3 }, out);
    for (let c = 0; c < 3; c++) {
      const col = values.filter((_, i) => i % 3 === c);
      const lo = Math.min(...col);
      const hi = Math.max(...col);
      const step = (hi - lo) / 255;
      for (let i = c; i < 300; i += 3) expect(Math.abs(out[i]! - values[i]!)).toBeLessThanOrEqual(step / 2 + 1e-12 * Math.abs(hi));
      expect(out[values.indexOf(lo)]).toBe(lo);
      expect(out[values.indexOf(hi)]).toBe(hi);
    }
    expect(out.filter((_, i) => i % 3 === 2).every((v) => v === 42)).toBe(true);
  });

  it('refuses what it cannot store, in one line', () => {
    expect(() => packValues([1, NaN], 'int8', { by: 'all' }, 'knn: the training rows')).toThrow('knn: the training rows: value 1 (NaN) is not finite; a int8 model stores finite values only.');
    expect(() => packValues([1, 70000], 'float16', { by: 'all' }, 'svm: the support vectors')).toThrow(
      "svm: the support vectors: value 1 (70000) is beyond float16's range (±65504); store this model as int8 or float32.",
    );
    const bad = packValues([1, 2], 'int8', { by: 'all' }, 'x');
    new DataView(bad.buffer).setFloat64(0, 5, true); // min above max
    expect(() => unpackValues(bad, 2, 'int8', { by: 'all' }, new Float32Array(2))).toThrow('int8 group 0 has an invalid range');
  });
});

/** Fits, saves at every precision, loads each with the runtime plugin and compares with the float32 model. */
async function atPrecisions(workbench: ClassifierPlugin, runtime: ModelPlugin, raw: Record<string, unknown>, x: Matrix, y: Int32Array, test: Matrix, yTest: Int32Array, imageShape?: readonly [number, number]) {
  const ctx = { seed: 5, log: silent, ...(imageShape ? { imageShape } : {}) };
  expect(runtime.precisions).toEqual(['float16', 'int8']);
  expect(workbench.precisions).toEqual(['float16', 'int8']);
  const fitted = await workbench.create(parseParams(workbench, raw), ctx).fit(x, y);
  const out: Record<Precision, { bytes: Uint8Array; accuracy: number; same: number; labels: Int32Array }> = {} as never;
  try {
    const reference = await fitted.predict(test);
    const plain = await fitted.serialize!();
    // The default is the exact, old format: float32 writes the same bytes.
    expect(Buffer.from(await fitted.serialize!({ precision: 'float32' })).equals(Buffer.from(plain))).toBe(true);
    for (const precision of ['float32', 'float16', 'int8'] as const) {
      const bytes = precision === 'float32' ? plain : await fitted.serialize!({ precision });
      const loaded = await runtime.load!(bytes, parseParams(runtime, raw), ctx);
      // The workbench's load (its own engines) reads the compact bytes too, to the same labels.
      const wb = await workbench.load!(bytes, parseParams(workbench, raw), ctx);
      try {
        const labels = await loaded.predict(test);
        expect(Array.from(await wb.predict(test))).toEqual(Array.from(labels));
        let same = 0;
        let correct = 0;
        labels.forEach((l, i) => {
          same += l === reference[i] ? 1 : 0;
          correct += l === yTest[i] ? 1 : 0;
        });
        out[precision] = { bytes, accuracy: correct / labels.length, same, labels };
        // A compact model saves again at its precision to the same bytes (the quantization is idempotent).
        if (precision !== 'float32' && loaded.serialize) expect(Buffer.from(await loaded.serialize({ precision })).equals(Buffer.from(bytes))).toBe(true);
      } finally {
        loaded.dispose();
        wb.dispose();
      }
    }
    expect(out.float32.same).toBe(test.rows);
  } finally {
    fitted.dispose();
  }
  return out;
}

/** The stated bounds: agreement with the float32 labels on at least `floor` of the test rows, accuracy within `points`. */
function expectClose(r: Awaited<ReturnType<typeof atPrecisions>>, rows: number, bounds: Record<'float16' | 'int8', { floor: number; points: number; ratio: [number, number] }>) {
  if (process.env.COMPACT_FIGURES) {
    console.log((['float32', 'float16', 'int8'] as const).map((p) => `${p}: ${r[p].bytes.length} B (${(r[p].bytes.length / r.float32.bytes.length).toFixed(3)}), ${(r[p].accuracy * 100).toFixed(1)}%, same ${r[p].same}/${rows}`).join('; '));
  }
  for (const p of ['float16', 'int8'] as const) {
    const b = bounds[p];
    expect(r[p].same / rows, `${p} agreement`).toBeGreaterThanOrEqual(b.floor);
    expect(Math.abs(r[p].accuracy - r.float32.accuracy) * 100, `${p} accuracy change, points`).toBeLessThanOrEqual(b.points);
    const ratio = r[p].bytes.length / r.float32.bytes.length;
    expect(ratio, `${p} size ratio`).toBeGreaterThanOrEqual(b.ratio[0]);
    expect(ratio, `${p} size ratio`).toBeLessThanOrEqual(b.ratio[1]);
  }
}

describe('compact models on MNIST (2,000 training rows, 500 test rows)', () => {
  let d: Subset;
  let pca: { xTrain: Matrix; xTest: Matrix };
  beforeAll(async () => {
    d = await mnistSubset(2000, 500, 4);
    const model = await fitPca(d.xTrain, { components: 50, oversamples: 10, iterations: 4, seed: 1, threads: 1 });
    pca = { xTrain: await projectPca(model, d.xTrain), xTest: await projectPca(model, d.xTest) };
  });

  it('knn (PCA-50): float16 agrees on every row; int8 (ranges per feature) on ≥ 99%; sizes ½ and ¼ (labels as bytes)', async () => {
    const r = await atPrecisions(knn, knnModel, { k: 3 }, pca.xTrain, d.yTrain, pca.xTest, d.yTest);
    expectClose(r, 500, { float16: { floor: 1, points: 0, ratio: [0.49, 0.51] }, int8: { floor: 0.99, points: 0.6, ratio: [0.25, 0.27] } });
  });

  it('knn, cosine, on raw pixels: rows of k / 255 are exact at int8 (one level per pixel value)', async () => {
    const r = await atPrecisions(knn, knnModel, { k: 3, metric: 'cosine' }, sliceRows(d.xTrain, 0, 500), d.yTrain.subarray(0, 500), sliceRows(d.xTest, 0, 200), d.yTest.subarray(0, 200));
    expectClose(r, 200, { float16: { floor: 0.99, points: 0.5, ratio: [0.49, 0.51] }, int8: { floor: 0.99, points: 0.5, ratio: [0.25, 0.3] } });
  });

  it('svm (rbf, PCA-50): the compact binary format; float16 agrees on ≥ 99.8%, int8 support vectors on ≥ 99%', async () => {
    const r = await atPrecisions(svm, svmModel, { kernel: 'rbf', C: 10, threads: 1 }, pca.xTrain, d.yTrain, pca.xTest, d.yTest);
    // float32 is libsvm's model text (about 12 characters a value); the binary formats are 2 and 1 bytes a value (+ float16 coefficients).
    expectClose(r, 500, { float16: { floor: 0.998, points: 0.4, ratio: [0.1, 0.25] }, int8: { floor: 0.99, points: 0.6, ratio: [0.05, 0.16] } });
  });

  it('decision tree and random forest on scaled pixels: float16 labels identical (thresholds rounded down stay between pixel values), int8 on ≥ 98%', async () => {
    const tree = await atPrecisions(decisionTree, decisionTreeModel, {}, d.xTrain, d.yTrain, d.xTest, d.yTest);
    // A tree's leaf fractions (float32 at every node) shrink to the leaves only.
    expectClose(tree, 500, { float16: { floor: 1, points: 0, ratio: [0.2, 0.32] }, int8: { floor: 0.98, points: 1, ratio: [0.2, 0.32] } });
    const forest = await atPrecisions(randomForest, randomForestModel, { nEstimators: 10, threads: 1 }, d.xTrain, d.yTrain, d.xTest, d.yTest);
    // 16 bytes a node → 4 (i16 feature, u16 child) + a threshold per split node.
    expectClose(forest, 500, { float16: { floor: 1, points: 0, ratio: [0.3, 0.4] }, int8: { floor: 0.98, points: 1, ratio: [0.28, 0.36] } });
  });

  it('random forest on PCA-50: thresholds quantized per feature; ≥ 98% agreement at int8', async () => {
    const r = await atPrecisions(randomForest, randomForestModel, { nEstimators: 10, threads: 1 }, pca.xTrain, d.yTrain, pca.xTest, d.yTest);
    expectClose(r, 500, { float16: { floor: 0.99, points: 1, ratio: [0.3, 0.4] }, int8: { floor: 0.98, points: 1.5, ratio: [0.28, 0.36] } });
  });

  it('cnn (LeNet, 1 epoch): float16 weights agree on ≥ 99.6%, int8 kernels (ranges per output unit) on ≥ 99%', async () => {
    const r = await atPrecisions(cnn, runtimeCnn, { architecture: 'lenet', epochs: 1, batchSize: 64 }, d.xTrain, d.yTrain, d.xTest, d.yTest, [28, 28]);
    expectClose(r, 500, { float16: { floor: 0.996, points: 0.4, ratio: [0.49, 0.52] }, int8: { floor: 0.99, points: 0.6, ratio: [0.25, 0.3] } });
  });
});

describe('models saved before compact bundles (test/fixtures/old-models, written by 56ce7be) load as they did', () => {
  const dir = new URL('./fixtures/old-models/', import.meta.url);
  const expected = JSON.parse(readFileSync(new URL('expected.json', dir), 'utf8')) as Record<string, { params: Record<string, unknown>; input: string; labels: number[]; scores: number[] }>;
  const input = (file: string): Matrix => {
    const b = readFileSync(new URL(file, dir));
    if (file.endsWith('.u8')) return createMatrix(20, 784, Float32Array.from(b, (v) => v / 255));
    return createMatrix(20, 8, new Float32Array(new Uint8Array(b).buffer));
  };
  const plugins: [string, ModelPlugin, ClassifierPlugin][] = [
    ['decision-tree', decisionTreeModel, decisionTree],
    ['random-forest', randomForestModel, randomForest],
    ['knn', knnModel, knn],
    ['svm', svmModel, svm],
  ];
  it.each(plugins)('%s: the same labels and scores, by the runtime and by the workbench', async (name, runtime, workbench) => {
    const e = expected[name]!;
    const bytes = new Uint8Array(readFileSync(new URL(`${name}.v1.bin`, dir)));
    for (const plugin of [runtime, workbench]) {
      const m = await plugin.load!(bytes, parseParams(plugin, e.params), { seed: 3, log: silent });
      expect(Array.from(await m.predict(input(e.input)))).toEqual(e.labels);
      expect(Array.from((await m.scores!(input(e.input))).data)).toEqual(e.scores.map(Math.fround));
      // Saved again at float32: the old format, byte for byte (the svm keeps its libsvm text).
      expect(Buffer.from(await m.serialize!()).equals(Buffer.from(bytes))).toBe(true);
      m.dispose();
    }
  });
});

describe('the experiment key bundle.precision', () => {
  const base = { classifiers: [{ plugin: 'knn' }] };
  it('takes one precision or a list (float32 is always written; the others are extra bundles)', async () => {
    const { compactPrecisions, parseExperiment } = await import('../src/harness/experiment.ts');
    const of = async (bundle?: unknown) => compactPrecisions((await parseExperiment({ ...base, ...(bundle === undefined ? {} : { bundle }) }, 'x.json')).config);
    expect(await of()).toEqual([]);
    expect(await of({})).toEqual([]);
    expect(await of({ precision: 'float32' })).toEqual([]);
    expect(await of({ precision: 'int8' })).toEqual(['int8']);
    expect(await of({ precision: ['int8', 'float32', 'float16'] })).toEqual(['float16', 'int8']);
  });

  it('refuses anything else in one line naming the field', async () => {
    const { parseExperiment } = await import('../src/harness/experiment.ts');
    const cases: [unknown, string][] = [
      [{ bundle: { precision: 'f16' } }, 'x.json: bundle.precision: expected "float32", "float16", "int8" or a list of them.'],
      [{ bundle: { precision: ['int8', 'bfloat16'] } }, 'x.json: bundle.precision: expected "float32", "float16", "int8" or a list of them.'],
      [{ bundle: { precision: [] } }, 'x.json: bundle.precision: Too small: expected array to have >=1 items.'],
      [{ bundle: { precision: ['int8', 'int8'] } }, 'x.json: bundle.precision: list each precision once.'],
      [{ bundle: { precison: 'int8' } }, 'x.json: bundle: Unrecognized key: "precison".'],
      [{ bundle: 'int8' }, 'x.json: bundle: Invalid input: expected object, received string.'],
      [{ bundles: false, bundle: { precision: 'int8' } }, 'x.json: bundle.precision asks for compact bundles, but "bundles" is false; remove one of the two.'],
    ];
    for (const [extra, message] of cases) await expect(parseExperiment({ ...base, ...(extra as object) }, 'x.json')).rejects.toThrow(message);
    // float32 alone with bundles off is fine (nothing extra asked for).
    await expect(parseExperiment({ ...base, bundles: false, bundle: { precision: 'float32' } }, 'x.json')).resolves.toBeDefined();
  });
});

describe('damaged compact bytes are refused in one line naming the plugin (never a crash or a huge allocation)', () => {
  const dir = new URL('./fixtures/old-models/', import.meta.url);
  const plugins: [string, ModelPlugin][] = [
    ['decision-tree', decisionTreeModel],
    ['random-forest', randomForestModel],
    ['knn', knnModel],
    ['svm', svmModel],
  ];
  it.each(plugins)('%s: truncations and byte flips', async (name, plugin) => {
    const ctx = { seed: 3, log: silent };
    const e = JSON.parse(readFileSync(new URL('expected.json', dir), 'utf8'))[name] as { params: Record<string, unknown> };
    const params = parseParams(plugin, e.params);
    const old = await plugin.load!(new Uint8Array(readFileSync(new URL(`${name}.v1.bin`, dir))), params, ctx);
    let seed = 11;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) >>> 0) % n;
    for (const precision of ['float16', 'int8'] as const) {
      const good = await old.serialize!({ precision });
      (await plugin.load!(good, params, ctx)).dispose();
      const tries: Uint8Array[] = [good.subarray(0, rand(good.length)), good.subarray(0, good.length - 1), new Uint8Array([...good, 0])];
      for (let i = 0; i < 60; i++) {
        const b = good.slice();
        // Mostly the header and the first bytes after it, where lengths and ranges are.
        const at = i % 2 ? rand(Math.min(b.length, 400)) : rand(b.length);
        b[at] = rand(256);
        tries.push(b);
      }
      for (const b of tries) {
        try {
          (await plugin.load!(b, params, ctx)).dispose();
        } catch (err) {
          expect(err).toBeInstanceOf(Error);
          expect((err as Error).message).toMatch(new RegExp(`^${name}: [^\\n]+$`));
        }
      }
    }
    old.dispose();
  });
});

describe('the cnn compact format alone (no tfjs)', () => {
  const header: CnnSavedHeader = {
    format: 'digitbench-cnn',
    version: 1,
    architecture: 'lenet',
    imageShape: [28, 28],
    classes: [0, 1],
    modelTopology: {},
    weightSpecs: [
      { name: 'k', shape: [3, 2], dtype: 'float32' },
      { name: 'b', shape: [2], dtype: 'float32' },
    ],
  };
  const weights = Float32Array.from([0.5, -1, 0.25, 2, -0.75, 1.5, 0.1, -0.2]);
  const raw = new Uint8Array(weights.buffer);
  it('packs kernels per output unit and keeps biases float32 at int8; float32 is version 1 unchanged', () => {
    expect(parseCnnBytes(cnnBytes(header, raw), {}).header.version).toBe(1);
    const f16 = parseCnnBytes(cnnBytes(header, raw, 'float16'), {});
    expect(f16.header).toMatchObject({ version: 2, precision: 'float16' });
    expect(Array.from(new Float32Array(f16.weightData))).toEqual(Array.from(weights, (v) => fromFloat16Bits(toFloat16Bits(v))));
    const int8 = new Float32Array(parseCnnBytes(cnnBytes(header, raw, 'int8'), {}).weightData);
    // Each unit's (column's) smallest and largest kernel weights are exact; the biases are exact.
    expect([int8[0], int8[1], int8[3], int8[4], int8[6], int8[7]]).toEqual([0.5, -1, 2, -0.75, Math.fround(0.1), Math.fround(-0.2)]);
    expect(Math.abs(int8[2]! - 0.25)).toBeLessThanOrEqual((0.5 + 0.75) / 255 / 2 + 1e-7);
    expect(Math.abs(int8[5]! - 1.5)).toBeLessThanOrEqual((2 + 1) / 255 / 2 + 1e-7);
  });
  it('refuses a header whose weights are not there before allocating them', () => {
    const bytes = cnnBytes({ ...header, weightSpecs: [{ name: 'k', shape: [3, 2], dtype: 'float32' }, { name: 'b', shape: [2], dtype: 'float32' }] }, raw, 'int8');
    const json = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + new DataView(bytes.buffer).getUint32(4, true))));
    json.weightSpecs[0].shape = [100000, 100000];
    const text = new TextEncoder().encode(JSON.stringify(json));
    const forged = new Uint8Array(8 + text.length + 16);
    forged.set(bytes.subarray(0, 4));
    new DataView(forged.buffer).setUint32(4, text.length, true);
    forged.set(text, 8);
    expect(() => parseCnnBytes(forged, {})).toThrow(`cnn.load: these ${forged.length} bytes are not a saved cnn model (truncated); pass the bytes from a cnn model's serialize().`);
  });
});
