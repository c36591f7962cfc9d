/**
 * The CNN on onnxruntime (issue 25; src/engine/ort-cnn.ts): the training step's gradients against
 * tfjs-cpu's for the same weights, batch and dropout masks (every architecture, and LeNet at an odd
 * non-square shape); its Adam update against tfjs's AdamOptimizer; the plugin trained on ort saves the
 * tfjs bundle format, which the runtime's plain tfjs path loads and predicts with the ort forward graph's
 * labels; the same seed gives the same bytes; ort prediction against the tfjs path on the same weights.
 * Where onnxruntime-node does not load these are skipped with the reason, unless
 * DIGITBENCH_REQUIRE_ORT=1 (CI) makes that a failure.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import { ortSession, f32, type OrtTensor } from '../src/engine/ort.ts';
import { ADAM, cnnShapes, cnnStepGraph, dropoutMask, layersOf, OrtCnnPredictor } from '../src/engine/ort-cnn.ts';
import { getTf, type Tf } from '../src/engine/tf.ts';
import { createRng } from '../src/engine/rng.ts';
import { ARCHITECTURES, buildModel, trainableVars, type Architecture } from '../src/classifiers/cnn-replica.ts';
import { cnn } from '../src/classifiers/cnn.ts';
import { parseParams, type ClassifierContext } from '../src/classifiers/plugin.ts';
import { cnn as runtimeCnn } from '@digitbench/runtime/cnn';
import { mnistSubset, type Subset } from './helpers/mnist.ts';
import { ortForTests } from './helpers/ort.ts';

const { why } = ortForTests();

let tf: Tf;
let d: Subset;
const silent = { info() {}, warn() {} };
const savedEngine = process.env.DIGITBENCH_ENGINE;

beforeAll(async () => {
  ({ tf } = await getTf());
  d = await mnistSubset(1000, 500, 3);
});
afterAll(() => {
  if (savedEngine === undefined) delete process.env.DIGITBENCH_ENGINE;
  else process.env.DIGITBENCH_ENGINE = savedEngine;
});

/** n images of the subset's training rows, cropped to h×w (from row r0, column c0 of the 28×28 image). */
function batch(n: number, [h, w]: readonly [number, number], r0 = 0, c0 = 0): { x: Float32Array; y: Int32Array } {
  const x = new Float32Array(n * h * w);
  for (let i = 0; i < n; i++) {
    for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) x[(i * h + r) * w + c] = d.xTrain.data[i * 784 + (r + r0) * 28 + c + c0]!;
  }
  return { x, y: d.yTrain.slice(0, n) };
}

function onehotOf(y: Int32Array, k: number): Float32Array {
  const out = new Float32Array(y.length * k);
  y.forEach((c, r) => (out[r * k + c] = 1));
  return out;
}

/** tfjs's gradients of the mean softmax cross-entropy, layer by layer with the given dropout masks (NCHW or [N, f]). */
function tfjsGradients(model: LayersModel, x: Float32Array, y: Int32Array, [h, w]: readonly [number, number], classes: number, masks: { data: Float32Array; shape: number[] }[]): { grads: Float32Array[]; loss: number } {
  const vars = trainableVars(model);
  return tf.tidy(() => {
    const n = y.length;
    const xs = tf.tensor4d(x, [n, h, w, 1]);
    const onehot = tf.oneHot(tf.tensor1d(y, 'int32'), classes);
    const { value, grads } = tf.variableGrads(() => {
      let a: Tensor = xs;
      let mi = 0;
      for (const layer of model.layers) {
        if (layer.getClassName() === 'Dropout') {
          const m = masks[mi++]!;
          const t = m.shape.length === 3 ? tf.transpose(tf.tensor4d(m.data, [n, ...m.shape] as [number, number, number, number]), [0, 2, 3, 1]) : tf.tensor2d(m.data, [n, m.shape[0]!]);
          a = tf.mul(a, t);
        } else {
          a = layer.apply(a) as Tensor;
        }
      }
      return tf.losses.softmaxCrossEntropy(onehot, a) as import('@tensorflow/tfjs').Scalar;
    }, vars);
    return { grads: vars.map((v) => grads[v.name]!.dataSync() as Float32Array), loss: value.dataSync()[0]! };
  });
}

/** Largest |a − b| over the largest |b| (at least 1e-3), per tensor. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 1e-3;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

async function ortRun(model: Uint8Array, feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> {
  const session = await ortSession(model, 1);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

const maskRng = () => createRng('test:masks');

describe.skipIf(!!why)(`the CNN training step on onnxruntime${why ? ` (skipped: ${why})` : ''}`, () => {
  const cases: { arch: Architecture; shape: [number, number]; at?: [number, number] }[] = [
    ...ARCHITECTURES.map((arch) => ({ arch, shape: [28, 28] as [number, number] })),
    { arch: 'lenet', shape: [17, 14], at: [5, 7] },
    { arch: 'keras-mnist', shape: [9, 11], at: [9, 8] },
  ];
  for (const { arch, shape, at } of cases) {
    it(`${arch} at ${shape.join('×')}: the gradients and loss of tfjs-cpu for the same weights, batch and dropout masks`, async () => {
      await tf.setBackend('cpu');
      try {
        // tfjs-cpu's keras-mnist at 28×28 is the slow part of this file: fewer images there.
        const n = arch === 'keras-mnist' && !at ? 2 : 4;
        const model = buildModel(tf, arch, shape, 10, 11);
        const layers = layersOf(model);
        const { weights: shapes, masks } = cnnShapes(layers, shape);
        const weights = trainableVars(model).map((v) => v.dataSync() as Float32Array);
        const { x, y } = batch(n, shape, ...(at ?? [0, 0]));
        const rng = maskRng();
        const rates = layers.flatMap((l) => (l.kind === 'dropout' ? [l.rate] : []));
        const maskData = masks.map((s, i) => ({ data: dropoutMask(n * s.reduce((a, b) => a * b, 1), rates[i]!, rng), shape: s }));
        const want = tfjsGradients(model, x, y, shape, 10, maskData);
        const feeds: Record<string, OrtTensor> = { pixels: f32(x, [n, shape[0] * shape[1]]), onehot: f32(onehotOf(y, 10), [n, 10]) };
        shapes.forEach((s, i) => (feeds[`w${i}`] = f32(weights[i]!, s)));
        maskData.forEach((m, i) => (feeds[`mask${i}`] = f32(m.data, [n, ...m.shape])));
        const got = await ortRun(cnnStepGraph(layers, shape, { gradients: true }), feeds);
        expect(Math.abs((got.loss!.data as Float32Array)[0]! / n - want.loss)).toBeLessThan(1e-5 * Math.max(1, want.loss));
        if (process.env.SHOW) console.log(arch, shape, shapes.map((_, i) => relErr(got[`g${i}`]!.data as Float32Array, want.grads[i]!).toExponential(1)).join(' '));
        shapes.forEach((_, i) => expect(relErr(got[`g${i}`]!.data as Float32Array, want.grads[i]!), `weight tensor ${i}`).toBeLessThan(1e-5));
        model.dispose();
      } finally {
        await tf.setBackend('wasm');
      }
    });
  }
});

describe.skipIf(!!why)(`Adam on onnxruntime${why ? ` (skipped: ${why})` : ''}`, () => {
  it("two steps of the step graph equal tfjs-cpu's AdamOptimizer applied to the gradient graph's gradients (conv16-32)", async () => {
    await tf.setBackend('cpu');
    try {
      const shape: [number, number] = [20, 20];
      const n = 5;
      const lr = 0.003;
      const model = buildModel(tf, 'conv16-32', shape, 10, 5);
      const layers = layersOf(model);
      const { weights: shapes } = cnnShapes(layers, shape);
      const { x, y } = batch(n, shape, 4, 4);
      const gradSession = await ortSession(cnnStepGraph(layers, shape, { gradients: true }), 1);
      const stepSession = await ortSession(cnnStepGraph(layers, shape), 1);
      const vars = shapes.map((s, i) => tf.variable(tf.tensor(trainableVars(model)[i]!.dataSync() as Float32Array, s), true, `adam_w${i}`));
      const optimizer = tf.train.adam(lr);
      let w: Float32Array[] = vars.map((v) => v.dataSync() as Float32Array);
      let m: Float32Array[] = shapes.map((s) => new Float32Array(s.reduce((a, b) => a * b, 1)));
      let v: Float32Array[] = m.map((a) => a.slice());
      let acc1 = Math.fround(ADAM.beta1);
      let acc2 = Math.fround(ADAM.beta2);
      for (let step = 0; step < 2; step++) {
        const feeds: Record<string, OrtTensor> = { pixels: f32(x, [n, shape[0] * shape[1]]), onehot: f32(onehotOf(y, 10), [n, 10]) };
        shapes.forEach((s, i) => (feeds[`w${i}`] = f32(w[i]!, s)));
        const g = await gradSession.run(feeds);
        Object.assign(feeds, { neg_lr: f32(Float32Array.of(-lr), []), bias1: f32(Float32Array.of(1 - acc1), []), bias2: f32(Float32Array.of(1 - acc2), []) });
        shapes.forEach((s, i) => {
          feeds[`m${i}`] = f32(m[i]!, s);
          feeds[`v${i}`] = f32(v[i]!, s);
        });
        const out = await stepSession.run(feeds);
        tf.tidy(() => optimizer.applyGradients(vars.map((vv, i) => ({ name: vv.name, tensor: tf.tensor(g[`g${i}`]!.data as Float32Array, shapes[i]) }))));
        w = shapes.map((_, i) => out[`w${i}_next`]!.data as Float32Array);
        m = shapes.map((_, i) => out[`m${i}_next`]!.data as Float32Array);
        v = shapes.map((_, i) => out[`v${i}_next`]!.data as Float32Array);
        acc1 = Math.fround(acc1 * Math.fround(ADAM.beta1));
        acc2 = Math.fround(acc2 * Math.fround(ADAM.beta2));
        const want = vars.map((vv) => vv.dataSync() as Float32Array);
        let moved = 0;
        shapes.forEach((_, i) => {
          // Where a gradient is near 0 Adam's step is sensitive to its last bits: compare within lr · 1e-3.
          for (let j = 0; j < w[i]!.length; j++) expect(Math.abs(w[i]![j]! - want[i]![j]!)).toBeLessThan(lr * 1e-3);
          moved += w[i]!.reduce((s, a, j) => s + (a !== (feeds[`w${i}`]!.data as Float32Array)[j] ? 1 : 0), 0);
        });
        expect(moved).toBeGreaterThan(0.5 * w.reduce((s, a) => s + a.length, 0));
      }
      optimizer.dispose();
      tf.dispose(vars);
      model.dispose();
      await gradSession.release();
      await stepSession.release();
    } finally {
      await tf.setBackend('wasm');
    }
  });
});

const ctx = (seed: number, imageShape: [number, number] = [28, 28]): ClassifierContext => ({ seed, log: silent, imageShape });

/** Labels equal, or where they differ, the two top probabilities of the row are a float32 tie (within 1e-5). */
function expectSameLabels(a: Int32Array, b: Int32Array, probs: Float32Array, k: number): number {
  let ties = 0;
  for (let r = 0; r < a.length; r++) {
    if (a[r] === b[r]) continue;
    const row = Array.from(probs.subarray(r * k, (r + 1) * k)).sort((p, q) => q - p);
    expect(row[0]! - row[1]!, `row ${r}: ${a[r]} against ${b[r]}`).toBeLessThan(1e-5);
    ties++;
  }
  return ties;
}

function weightBytes(bytes: Uint8Array): Uint8Array {
  return bytes.subarray(8 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true));
}

function headerOf(bytes: Uint8Array): { modelTopology: unknown; weightSpecs: { name: string; shape: number[]; dtype: string }[] } {
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true))));
}

async function fitOn(engine: 'ort' | 'wasm', params: Record<string, unknown>, seed: number, x = d.xTrain, y = d.yTrain, imageShape: [number, number] = [28, 28]) {
  process.env.DIGITBENCH_ENGINE = engine;
  try {
    return await cnn.create(parseParams(cnn, { patience: 0, ...params }), ctx(seed, imageShape)).fit(x, y);
  } finally {
    process.env.DIGITBENCH_ENGINE = savedEngine ?? '';
  }
}

function accuracy(pred: Int32Array, y: Int32Array): number {
  return pred.reduce((s, v, i) => s + (v === y[i] ? 1 : 0), 0) / y.length;
}

describe.skipIf(!!why)(`the cnn plugin on onnxruntime${why ? ` (skipped: ${why})` : ''}`, () => {
  const lenet = { architecture: 'lenet', epochs: 3, batchSize: 32, threads: 1 };

  it("trains LeNet on ort into the tfjs bundle format; the runtime's plain tfjs path loads it and predicts the ort graph's labels; it learns as the wasm path does", async () => {
    const onOrt = await fitOn('ort', lenet, 7);
    expect(onOrt.runtime?.().engine).toMatch(/^onnxruntime-node /);
    const labels = await onOrt.predict(d.xTest);
    const probs = (await onOrt.scores!(d.xTest)).data;
    // Rows in shared memory (how the workbench holds large batches; onnxruntime refuses such views itself):
    // the same labels, the test rows repeated to more than one 1,000-row chunk, in part of a larger buffer.
    const reps = Math.ceil(1500 / d.xTest.rows);
    const big = new Float32Array(new SharedArrayBuffer(2 * reps * d.xTest.data.length * 4));
    for (let r = 0; r < reps; r++) big.set(d.xTest.data, r * d.xTest.data.length);
    const sharedLabels = await onOrt.predict({ rows: reps * d.xTest.rows, cols: d.xTest.cols, data: big.subarray(0, reps * d.xTest.data.length) });
    expect(Array.from(sharedLabels.subarray(0, d.xTest.rows))).toEqual(Array.from(labels));
    expect(Array.from(sharedLabels.subarray((reps - 1) * d.xTest.rows))).toEqual(Array.from(labels));
    const bytes = await onOrt.serialize!();
    const onWasm = await fitOn('wasm', lenet, 7);
    expect(onWasm.runtime?.().engine).toMatch(/^tfjs-wasm /);
    const wasmBytes = await onWasm.serialize!();
    // The same format: the same topology (but for tfjs's layer name counter), weight specs and sizes.
    const [ho, hw] = [headerOf(bytes), headerOf(wasmBytes)];
    expect(ho.weightSpecs.map((s) => [s.shape, s.dtype])).toEqual(hw.weightSpecs.map((s) => [s.shape, s.dtype]));
    const unnamed = (t: unknown) => JSON.stringify(t).replace(/"name":"[^"]*"/g, '"name"');
    expect(unnamed(ho.modelTopology)).toBe(unnamed(hw.modelTopology));
    expect(weightBytes(bytes).length).toBe(weightBytes(wasmBytes).length);

    const plain = await runtimeCnn.load!(bytes, parseParams(cnn, {}), ctx(7));
    expect(plain.runtime?.().engine).toMatch(/tfjs/);
    const plainLabels = await plain.predict(d.xTest);
    expect(expectSameLabels(labels, plainLabels, probs, 10)).toBeLessThanOrEqual(1);
    const plainProbs = (await plain.scores!(d.xTest)).data;
    expect(relErr(probs, plainProbs)).toBeLessThan(1e-4);

    // The same initial weights and batches (LeNet has no dropout): the two engines learn alike.
    const [accOrt, accWasm] = [accuracy(labels, d.yTest), accuracy(await onWasm.predict(d.xTest), d.yTest)];
    expect(accOrt).toBeGreaterThan(0.8);
    expect(Math.abs(accOrt - accWasm)).toBeLessThan(0.02);
    for (const m of [onOrt, onWasm, plain]) m.dispose();
  });

  it('gives the same bytes for the same seed and threads (keras-mnist at 12×12, with its dropout masks), other bytes for another seed', async () => {
    const shape: [number, number] = [12, 12];
    const x = new Float32Array(300 * 144);
    for (let i = 0; i < 300; i++) for (let r = 0; r < 12; r++) for (let c = 0; c < 12; c++) x[i * 144 + r * 12 + c] = d.xTrain.data[i * 784 + (r + 8) * 28 + c + 8]!;
    const xs = { rows: 300, cols: 144, data: x };
    const y = d.yTrain.slice(0, 300);
    const params = { architecture: 'keras-mnist', epochs: 1, batchSize: 32, threads: 2 };
    const runs = [];
    for (const seed of [3, 3, 4]) {
      const m = await fitOn('ort', params, seed, xs, y, shape);
      runs.push(Buffer.from(weightBytes(await m.serialize!())));
      m.dispose();
    }
    expect(runs[0]!.equals(runs[1]!)).toBe(true);
    expect(runs[0]!.equals(runs[2]!)).toBe(false);
  });

  it('predicts on ort with the labels of the tfjs path for a bundle trained on wasm (conv16-32)', async () => {
    const trained = await fitOn('wasm', { architecture: 'conv16-32', epochs: 1, batchSize: 64, threads: 1 }, 5);
    const bytes = await trained.serialize!();
    trained.dispose();
    const load = async (engine: 'ort' | 'wasm') => {
      process.env.DIGITBENCH_ENGINE = engine;
      try {
        return await cnn.load!(bytes, parseParams(cnn, {}), ctx(5));
      } finally {
        process.env.DIGITBENCH_ENGINE = savedEngine ?? '';
      }
    };
    const [onOrt, onWasm] = [await load('ort'), await load('wasm')];
    expect(onOrt.runtime?.().engine).toMatch(/^onnxruntime-node /);
    expect(onWasm.runtime?.().engine).toMatch(/^tfjs-wasm /);
    const probs = (await onOrt.scores!(d.xTest)).data;
    expect(expectSameLabels(await onOrt.predict(d.xTest), await onWasm.predict(d.xTest), probs, 10)).toBeLessThanOrEqual(1);
    expect(relErr(probs, (await onWasm.scores!(d.xTest)).data)).toBeLessThan(1e-4);
    onOrt.dispose();
    onWasm.dispose();
  });

  it('refuses a layer the graphs do not build, in one line', async () => {
    const m = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 2, kernelSize: 3, strides: 2 }), tf.layers.flatten(), tf.layers.dense({ units: 3 })] });
    expect(() => layersOf(m)).toThrow('cnn on onnxruntime: layer 0 (Conv2D) has strides or dilation other than 1; train it with DIGITBENCH_ENGINE=wasm.');
    m.dispose();
    await expect(OrtCnnPredictor.create([{ kind: 'flatten' }, { kind: 'dense', units: 3, relu: false }], [4, 4], [new Float32Array(3), new Float32Array(3)], 1)).rejects.toThrow(
      'cnn on onnxruntime: weight tensor 0 has 3 values; its layer needs [16, 3] = 48.',
    );
  });
});
