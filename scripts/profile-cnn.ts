/**
 * Per-kernel self time of one CNN training step on the engine getTf() picks (dev tool, not a bench):
 *   node --import ./bin/register.js scripts/profile-cnn.ts lenet|keras-mnist [batches=10] [batch=128]
 * Random images; wraps every kernel of the active backend with a timer (nested kernels are
 * subtracted from their caller's time).
 */
import { getTf } from '../src/engine/tf.ts';
import { buildModel } from '../src/classifiers/cnn-replica.ts';

const arch = (process.argv[2] ?? 'lenet') as import('../src/classifiers/cnn-replica.ts').Architecture;
const batches = Number(process.argv[3] ?? 10);
const n = Number(process.argv[4] ?? 128);
const { tf, engine } = await getTf();
const backend = tf.getBackend();
const self = new Map<string, { ms: number; calls: number }>();
const stack: number[] = [];
let on = false;
for (const k of tf.getKernelsForBackend(backend)) {
  const f = k.kernelFunc;
  tf.unregisterKernel(k.kernelName, backend);
  tf.registerKernel({
    ...k,
    kernelFunc: ((args: Parameters<typeof f>[0]) => {
      if (!on) return f(args);
      stack.push(0);
      const t0 = performance.now();
      const out = f(args);
      const dt = performance.now() - t0;
      const nested = stack.pop()!;
      if (stack.length) stack[stack.length - 1]! += dt;
      const shapes = Object.values(args.inputs).filter(Boolean).map((t) => (t as { shape: number[] }).shape.join('x')).join(' ');
      const key = `${k.kernelName} ${shapes}`;
      const e = self.get(key) ?? { ms: 0, calls: 0 };
      e.ms += dt - nested;
      e.calls++;
      self.set(key, e);
      return out;
    }) as typeof f,
  });
}
const model = buildModel(tf, arch, [28, 28], 10, 1);
const opt = tf.train.adam(1e-3);
const x = tf.randomUniform([n, 28, 28, 1]);
const labels = tf.oneHot(tf.randomUniform([n], 0, 10, 'int32') as import('@tensorflow/tfjs').Tensor1D, 10);
const step = () => tf.tidy(() => { opt.minimize(() => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as import('@tensorflow/tfjs').Tensor2D), false); });
for (let i = 0; i < 3; i++) step();
const times: number[] = [];
on = true;
for (let i = 0; i < batches; i++) {
  const t0 = performance.now();
  step();
  times.push(performance.now() - t0);
}
on = false;
times.sort((a, b) => a - b);
const total = [...self.values()].reduce((s, e) => s + e.ms, 0) / batches;
console.log(`${engine.description} ${arch} batch ${n}: median step ${times[times.length >> 1]!.toFixed(1)} ms (min ${times[0]!.toFixed(1)}), kernels ${total.toFixed(1)} ms/step; epoch of 60k ≈ ${((times[times.length >> 1]! * 60000) / n / 1000).toFixed(1)} s`);
const rows = [...self.entries()].sort((a, b) => b[1].ms - a[1].ms);
for (const [k, e] of rows.slice(0, 40)) console.log(`${(e.ms / batches).toFixed(2).padStart(8)} ms  ${(e.calls / batches).toFixed(0).padStart(3)}×  ${k}`);
