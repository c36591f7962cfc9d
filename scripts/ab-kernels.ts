/**
 * Times single kernels on wasm before and after registerWasmKernels() in one process (dev tool):
 *   node --import ./bin/register.js scripts/ab-kernels.ts [reps=20]
 * Medians of reps runs; the shapes are LeNet's and keras-mnist's at batch 128.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmKernels, setIm2colMode } from '../src/engine/wasm-kernels.ts';

const reps = Number(process.argv[2] ?? 20);
if (!(await tf.setBackend('wasm'))) throw new Error('no wasm');
const r = (s: number[]) => tf.randomUniform(s);
const cases: [string, () => tf.Tensor][] = [];
const lx = r([128, 28, 28, 6]);
const kx = r([128, 24, 24, 64]);
const lp = tf.maxPool(lx as tf.Tensor4D, 2, 2, 'valid');
const kp = tf.maxPool(kx as tf.Tensor4D, 2, 2, 'valid');
cases.push(['MaxPoolGrad 128x28x28x6', () => tf.engine().runKernel('MaxPoolGrad', { dy: lp, input: lx, output: lp }, { filterSize: 2, strides: 2, pad: 'valid' }) as tf.Tensor]);
cases.push(['MaxPoolGrad 128x24x24x64', () => tf.engine().runKernel('MaxPoolGrad', { dy: kp, input: kx, output: kp }, { filterSize: 2, strides: 2, pad: 'valid' }) as tf.Tensor]);
const filterGrad = (x: tf.Tensor, cout: number, f: number, pad: 'same' | 'valid') => {
  const probe = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], [f, f, x.shape[3]!, cout], 1, 1, pad);
  const dy = r([x.shape[0]!, probe.outHeight, probe.outWidth, cout]);
  return () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad, dataFormat: 'NHWC', filterShape: [f, f, x.shape[3]!, cout] } as never) as tf.Tensor;
};
const grads: [string, () => tf.Tensor][] = [
  ['dW lenet conv1 128x28x28x1 5x5→6', filterGrad(r([128, 28, 28, 1]), 6, 5, 'same')],
  ['dW lenet conv2 128x14x14x6 5x5→16', filterGrad(r([128, 14, 14, 6]), 16, 5, 'valid')],
  ['dW keras conv1 128x28x28x1 3x3→32', filterGrad(r([128, 28, 28, 1]), 32, 3, 'valid')],
  ['dW keras conv2 128x26x26x32 3x3→64', filterGrad(r([128, 26, 26, 32]), 64, 3, 'valid')],
];
const time = (f: () => tf.Tensor) => {
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    f().dispose();
    t.push(performance.now() - t0);
  }
  return t.sort((a, b) => a - b)[reps >> 1]!;
};
const before = cases.map(([, f]) => time(f));
registerWasmKernels();
const after = cases.map(([, f]) => time(f));
const again = (() => cases.map(([, f]) => time(f)))();
for (const [name, f] of grads) {
  setIm2colMode('never');
  const conv = time(f);
  setIm2colMode('always');
  const cols = time(f);
  setIm2colMode('never');
  const conv2 = time(f);
  setIm2colMode('auto');
  console.log(`${name.padEnd(36)} conv ${conv.toFixed(2)} / ${conv2.toFixed(2)} ms, im2col+matMul ${cols.toFixed(2)} ms`);
}
cases.forEach(([name], i) => console.log(`${name.padEnd(28)} backend ${before[i]!.toFixed(2)} ms → ours ${after[i]!.toFixed(2)} / ${again[i]!.toFixed(2)} ms`));
