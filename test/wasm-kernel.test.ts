/**
 * The wasm kernels of src/engine/wasm-kernels.ts against the cpu backend's own kernels (the reference
 * implementation), on seeded random tensors: strides 1, 2 and (2, 3); padding valid, same and explicit.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { getTf, type Tf } from '../src/engine/tf.ts';
import { registerWasmKernels, setIm2colMode } from '../src/engine/wasm-kernels.ts';
import type { Tensor4D } from '@tensorflow/tfjs';
import { createRng } from '../src/engine/rng.ts';
import { FlatAdam } from '../src/classifiers/cnn-replica.ts';

let tf: Tf;

beforeAll(async () => {
  ({ tf } = await getTf());
  expect(tf.getBackend()).toBe('wasm');
});

function randomData(shape: number[], seed: number): Float32Array {
  const rng = createRng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.next() * 2 - 1;
  return out;
}

/** Runs one kernel on a backend with the same input data; returns the output values and shape. */
async function run(
  backend: 'cpu' | 'wasm',
  kernel: string,
  inputs: Record<string, { shape: number[]; data: Float32Array }>,
  attrs: Record<string, unknown>,
): Promise<{ shape: number[]; data: Float32Array }> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const tensors: Record<string, import('@tensorflow/tfjs').Tensor> = {};
  for (const [k, v] of Object.entries(inputs)) tensors[k] = tf.tensor(v.data, v.shape);
  const out = tf.engine().runKernel(kernel, tensors, attrs as never) as import('@tensorflow/tfjs').Tensor;
  const result = { shape: out.shape, data: (await out.data()) as Float32Array };
  out.dispose();
  for (const t of Object.values(tensors)) t.dispose();
  expect(tf.memory().numTensors).toBe(before);
  await tf.setBackend('wasm');
  return result;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

type Pad = 'valid' | 'same' | [[number, number], [number, number], [number, number], [number, number]];
const explicit: Pad = [[0, 0], [1, 2], [2, 0], [0, 0]];
const cases: { x: [number, number, number, number]; f: [number, number]; cout: number; strides: [number, number]; pad: Pad }[] = [];
for (const strides of [[1, 1], [2, 2], [2, 3]] as [number, number][]) {
  for (const pad of ['valid', 'same', explicit] as Pad[]) {
    cases.push({ x: [3, 11, 13, 4], f: [3, 3], cout: 5, strides, pad });
  }
}
cases.push({ x: [4, 12, 12, 1], f: [5, 5], cout: 6, strides: [1, 1], pad: 'same' }); // LeNet's first layer
cases.push({ x: [2, 26, 26, 32], f: [3, 3], cout: 64, strides: [1, 1], pad: 'valid' }); // keras-mnist's second layer

const label = (c: (typeof cases)[number]) =>
  `x ${c.x.join('×')}, filter ${c.f.join('×')}→${c.cout}, strides ${c.strides.join(',')}, pad ${JSON.stringify(c.pad)}`;

describe('Conv2DBackpropFilter on wasm', () => {
  it('is registered for the wasm backend only, and registering again is a no-op', () => {
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    const config = tf.getKernel('Conv2DBackpropFilter', 'wasm');
    const wrapped = ['BatchMatMul', 'Conv2DBackpropInput', 'MaxPoolGrad', 'Sum'].map((k) => tf.getKernel(k, 'wasm'));
    registerWasmKernels();
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBe(config);
    expect(['BatchMatMul', 'Conv2DBackpropInput', 'MaxPoolGrad', 'Sum'].map((k) => tf.getKernel(k, 'wasm'))).toEqual(wrapped);
    expect(tf.getKernel('Conv2DBackpropFilter', 'cpu')).not.toBe(config);
  });

  const refs = new Map<string, { shape: number[]; data: Float32Array }>(); // the cpu kernel is slow at keras-mnist's size
  // Both constructions, forced: im2col + matMul, and the convolution.
  it.each(cases.flatMap((c) => (['im2col', 'conv'] as const).map((how) => [`${how}: ${label(c)}`, c, how] as const)))('matches the cpu kernel, %s', async (_name, c, how) => {
    const probe = tf.backend_util.computeConv2DInfo(c.x, [c.f[0], c.f[1], c.x[3], c.cout], c.strides, 1, c.pad);
    const dyShape = [c.x[0], probe.outHeight, probe.outWidth, c.cout];
    const inputs = { x: { shape: c.x, data: randomData(c.x, 1) }, dy: { shape: dyShape, data: randomData(dyShape, 2) } };
    const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: [c.f[0], c.f[1], c.x[3], c.cout] };
    const key = label(c);
    if (!refs.has(key)) refs.set(key, await run('cpu', 'Conv2DBackpropFilter', inputs, attrs));
    const ref = refs.get(key)!;
    const was = setIm2colMode(how === 'conv' ? 'never' : 'always');
    try {
      const got = await run('wasm', 'Conv2DBackpropFilter', inputs, attrs);
      expect(got.shape).toEqual(ref.shape);
      expect(maxAbsDiff(got.data, ref.data)).toBeLessThanOrEqual(1e-4);
    } finally {
      setIm2colMode(was);
    }
  });
});

describe('Conv2DBackpropInput on wasm (stride 1 as a convolution, others by the backend)', () => {
  it.each(cases.map((c) => [label(c), c] as const))('matches the cpu kernel: %s', async (_name, c) => {
    const filterShape = [c.f[0], c.f[1], c.x[3], c.cout];
    const probe = tf.backend_util.computeConv2DInfo(c.x, filterShape as never, c.strides, 1, c.pad);
    const dyShape = [c.x[0], probe.outHeight, probe.outWidth, c.cout];
    const inputs = { dy: { shape: dyShape, data: randomData(dyShape, 3) }, filter: { shape: filterShape, data: randomData(filterShape, 4) } };
    const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x };
    const ref = await run('cpu', 'Conv2DBackpropInput', inputs, attrs);
    const got = await run('wasm', 'Conv2DBackpropInput', inputs, attrs);
    expect(got.shape).toEqual(ref.shape);
    expect(maxAbsDiff(got.data, ref.data)).toBeLessThanOrEqual(1e-4);
  });
});

describe('BatchMatMul on wasm', () => {
  it.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('matches the cpu kernel with transposeA=%s transposeB=%s', async (ta, tb) => {
    const [m, k, n] = [7, 33, 5];
    const aShape = [2, ta ? k : m, ta ? m : k];
    const bShape = [2, tb ? n : k, tb ? k : n];
    const inputs = { a: { shape: aShape, data: randomData(aShape, 5) }, b: { shape: bShape, data: randomData(bShape, 6) } };
    const attrs = { transposeA: ta, transposeB: tb };
    const ref = await run('cpu', 'BatchMatMul', inputs, attrs);
    const got = await run('wasm', 'BatchMatMul', inputs, attrs);
    expect(got.shape).toEqual([2, m, n]);
    expect(maxAbsDiff(got.data, ref.data)).toBeLessThanOrEqual(1e-5);
  });
});

describe('MaxPoolGrad on wasm (JS on the heap)', () => {
  const pools: { x: number[]; filterSize: [number, number]; strides: [number, number]; pad: 'valid' | 'same' }[] = [
    { x: [2, 8, 8, 5], filterSize: [2, 2], strides: [2, 2], pad: 'valid' },
    { x: [2, 9, 7, 3], filterSize: [3, 3], strides: [2, 2], pad: 'same' }, // overlapping windows, padding
    { x: [1, 6, 6, 4], filterSize: [3, 2], strides: [1, 1], pad: 'same' },
    { x: [2, 7, 9, 3], filterSize: [2, 2], strides: [2, 3], pad: 'valid' },
    { x: [3, 9, 11, 6], filterSize: [2, 2], strides: [2, 2], pad: 'valid' }, // 2×2 fast path, odd sizes
    { x: [2, 10, 10, 16], filterSize: [2, 2], strides: [2, 2], pad: 'same' }, // fast path (even: no padding)
    { x: [2, 9, 9, 4], filterSize: [2, 2], strides: [2, 2], pad: 'same' }, // padding: the general loop
  ];
  it.each(pools.map((c) => [JSON.stringify(c), c] as const))('matches the cpu kernel, ties included: %s', async (_n, c) => {
    const probe = tf.backend_util.computePool2DInfo(c.x as [number, number, number, number], c.filterSize, c.strides, 1, c.pad);
    // Values from {0, 0.25, 0.5, 0.75}: many ties, as after a ReLU. The first maximum gets the gradient.
    const xData = randomData(c.x, 9).map((v) => Math.max(0, Math.round(v * 4) / 4));
    await tf.setBackend('cpu');
    const y = tf.maxPool(tf.tensor4d(xData, c.x as [number, number, number, number]), c.filterSize, c.strides, c.pad);
    const yData = (await y.data()) as Float32Array;
    y.dispose();
    await tf.setBackend('wasm');
    const dyShape = [c.x[0]!, probe.outHeight, probe.outWidth, c.x[3]!];
    const inputs = {
      dy: { shape: dyShape, data: randomData(dyShape, 10) },
      input: { shape: c.x, data: xData },
      output: { shape: dyShape, data: yData },
    };
    const attrs = { filterSize: c.filterSize, strides: c.strides, pad: c.pad };
    const ref = await run('cpu', 'MaxPoolGrad', inputs, attrs);
    const got = await run('wasm', 'MaxPoolGrad', inputs, attrs);
    expect(got.shape).toEqual(ref.shape);
    expect(maxAbsDiff(got.data, ref.data)).toBeLessThanOrEqual(1e-6);
  });
});

describe('Sum on wasm (leading axes in JS)', () => {
  it.each([
    [[128, 6, 6, 16], [0, 1, 2], false],
    [[128, 6, 6, 32], [2, 0, 1], true],
    [[200, 30], 0, false],
    [[128, 6, 6, 8], [0, 1, 2], false], // few columns: the backend's kernel
    [[128, 6, 7], [1], false], // not leading: the backend's kernel
    [[128, 6, 7], [0, 1, 2], false], // all axes: the backend's kernel
  ] as const)('matches the cpu kernel for shape %j, axis %j, keepDims %s', async (shape, axis, keepDims) => {
    const inputs = { x: { shape: [...shape], data: randomData([...shape], 11) } };
    const attrs = { axis, keepDims };
    const ref = await run('cpu', 'Sum', inputs, attrs);
    const got = await run('wasm', 'Sum', inputs, attrs);
    expect(got.shape).toEqual(ref.shape);
    // The cpu backend and ours accumulate in float64; the backend's own kernel (fallback cases) in
    // float32, whose error grows with the count m of values summed (in [-1, 1]): ≲ m·ε.
    const axes: number[] = typeof axis === 'number' ? [axis] : [...axis];
    const m = axes.reduce((p: number, a) => p * shape[a]!, 1);
    expect(maxAbsDiff(got.data, ref.data)).toBeLessThanOrEqual(Math.max(1e-5, m * 1.2e-7));
  });
});

describe('training a conv layer on wasm', () => {
  it('gives the same gradients as the cpu backend', async () => {
    const xs = randomData([4, 10, 10, 2], 7);
    const ws = randomData([3, 3, 2, 3], 8);
    const grads = async (backend: 'cpu' | 'wasm') => {
      await tf.setBackend(backend);
      const x = tf.tensor4d(xs, [4, 10, 10, 2]);
      const w = tf.tensor4d(ws, [3, 3, 2, 3]);
      const g = tf.grads((a: import('@tensorflow/tfjs').Tensor, b: import('@tensorflow/tfjs').Tensor) =>
        tf.sum(tf.square(tf.fused.conv2d({ x: a as Tensor4D, filter: b as Tensor4D, strides: 1, pad: 'same', activation: 'relu' }))),
      );
      const [gx, gw] = g([x, w]);
      const out = [await gx!.data(), await gw!.data()] as Float32Array[];
      tf.dispose([x, w, gx!, gw!]);
      await tf.setBackend('wasm');
      return out;
    };
    const ref = await grads('cpu');
    const got = await grads('wasm');
    expect(maxAbsDiff(got[0]!, ref[0]!)).toBeLessThanOrEqual(1e-4);
    expect(maxAbsDiff(got[1]!, ref[1]!)).toBeLessThanOrEqual(1e-4);
  });
});

describe('FlatAdam (the data-parallel CNN replicas\' optimizer, in JS)', () => {
  it('matches tfjs AdamOptimizer on wasm bit for bit over several steps and learning rates', async () => {
    const n = 3000;
    const w0 = randomData([n], 20).map((v) => v * 3);
    const w = tf.variable(tf.tensor1d(w0));
    const opt = tf.train.adam(0.001);
    const flat = Float32Array.from(w0);
    const adam = new FlatAdam(n);
    for (let step = 0; step < 6; step++) {
      const lr = 0.001 * 0.8 ** Math.floor(step / 2);
      // Gradients of all sizes, zeros and signs included.
      const g = randomData([n], 30 + step).map((v, i) => (i % 97 === 0 ? 0 : v * 10 ** ((i % 7) - 3)));
      (opt as unknown as { learningRate: number }).learningRate = lr;
      tf.tidy(() => opt.applyGradients([{ name: w.name, tensor: tf.tensor1d(g) }]));
      adam.step(flat, g, lr);
    }
    const ref = (await w.data()) as Float32Array;
    expect(Array.from(flat)).toEqual(Array.from(ref));
    opt.dispose();
    w.dispose();
  });
});
