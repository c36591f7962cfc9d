/**
 * Times single kernels on wasm before and after registerWasmKernels() in one process (dev tool):
 *   npx tsx scripts/ab-kernels.ts [reps=20]
 * Medians of reps runs; the shapes are LeNet's and keras-mnist's at batch 128.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmKernels } from '../src/engine/wasm-kernels.ts';

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
cases.forEach(([name], i) => console.log(`${name.padEnd(28)} backend ${before[i]!.toFixed(2)} ms → ours ${after[i]!.toFixed(2)} / ${again[i]!.toFixed(2)} ms`));
