/**
 * One replica of data-parallel CNN training (used by the main thread and by cnn-worker.ts alike): the
 * gradients of a part of a batch as one flat array, and an Adam step from averaged flat gradients.
 * Every replica starts from the same weights and applies the same averaged gradients with the same
 * learning rate (FlatAdam, in JS), so all replicas stay bit-identical (cnn.ts checks that at the end).
 */
import type { LayersModel, Tensor, Tensor2D, Variable } from '@tensorflow/tfjs';
import type { Tf } from '../engine/tf.ts';
import { createRng } from '../engine/rng.ts';

import { ARCHITECTURES, type Architecture } from '@digitbench/runtime/internal';

export { ARCHITECTURES, type Architecture };

/**
 * The smallest image side each architecture takes (both height and width), from its layer arithmetic
 * (valid 5×5 or 3×3 convolutions shrink a side by 4 or 2, a 2×2 pool halves it rounding down, and the
 * last pool needs a side of at least 2):
 * - lenet, conv16-32: same conv (s) – pool (⌊s/2⌋) – valid 5×5 (⌊s/2⌋ − 4) – pool: ⌊s/2⌋ − 4 ≥ 2, s ≥ 12;
 * - caffe-lenet: valid 5×5 (s − 4) – pool – valid 5×5 – pool: ⌊(s − 4)/2⌋ − 4 ≥ 2, s ≥ 16;
 * - keras-mnist: two valid 3×3 (s − 4) – pool: s − 4 ≥ 2, s ≥ 6.
 * The architectures are not changed for small images (a 28×28 network stays what it was): a smaller
 * image is refused by `checkArchitectureShape`, which names the architectures that take it.
 */
export const MIN_SIDE: Readonly<Record<Architecture, number>> = { lenet: 12, 'conv16-32': 12, 'caffe-lenet': 16, 'keras-mnist': 6 };

/** Throws the one-line refusal when `arch` cannot take h×w images, naming the architectures that can. */
export function checkArchitectureShape(arch: Architecture, [h, w]: readonly [number, number]): void {
  const min = MIN_SIDE[arch];
  if (h >= min && w >= min) return;
  const fits = ARCHITECTURES.filter((a) => h >= MIN_SIDE[a] && w >= MIN_SIDE[a]);
  const smallest = Math.min(...Object.values(MIN_SIDE));
  const instead = fits.length
    ? `use architecture ${fits.map((a) => `${a} (at least ${MIN_SIDE[a]}×${MIN_SIDE[a]})`).join(' or ')}`
    : `no architecture takes them (the smallest is ${smallest}×${smallest}); give larger images or another classifier`;
  throw new Error(`cnn (${arch}) takes images of at least ${min}×${min}; this run's images are ${h}×${w}: ${instead}.`);
}

/** The network of an architecture (cnn.ts describes them), with layer initializers seeded from seed. */
export function buildModel(tf: Tf, arch: Architecture, [h, w]: readonly [number, number], classes: number, seed: number): LayersModel {
  checkArchitectureShape(arch, [h, w]);
  const rng = createRng(`${seed}:cnn-init`);
  // tfjs treats seed 0 as "unseeded": draw from 1..2^31-1.
  const init = () => tf.initializers.glorotUniform({ seed: 1 + rng.int(2 ** 31 - 2) });
  const m = tf.sequential();
  if (arch === 'lenet') {
    m.add(tf.layers.conv2d({ inputShape: [h, w, 1], filters: 6, kernelSize: 5, padding: 'same', activation: 'relu', kernelInitializer: init() }));
    m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tf.layers.conv2d({ filters: 16, kernelSize: 5, activation: 'relu', kernelInitializer: init() }));
    m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 120, activation: 'relu', kernelInitializer: init() }));
    m.add(tf.layers.dense({ units: 84, activation: 'relu', kernelInitializer: init() }));
  } else if (arch === 'caffe-lenet') {
    m.add(tf.layers.conv2d({ inputShape: [h, w, 1], filters: 20, kernelSize: 5, activation: 'relu', kernelInitializer: init() }));
    m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tf.layers.conv2d({ filters: 50, kernelSize: 5, activation: 'relu', kernelInitializer: init() }));
    m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 500, activation: 'relu', kernelInitializer: init() }));
  } else if (arch === 'conv16-32') {
    m.add(tf.layers.conv2d({ inputShape: [h, w, 1], filters: 16, kernelSize: 5, padding: 'same', activation: 'relu', kernelInitializer: init() }));
    m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tf.layers.conv2d({ filters: 32, kernelSize: 5, activation: 'relu', kernelInitializer: init() }));
    m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 128, activation: 'relu', kernelInitializer: init() }));
  } else {
    m.add(tf.layers.conv2d({ inputShape: [h, w, 1], filters: 32, kernelSize: 3, activation: 'relu', kernelInitializer: init() }));
    m.add(tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu', kernelInitializer: init() }));
    m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tf.layers.dropout({ rate: 0.25 }));
    m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 128, activation: 'relu', kernelInitializer: init() }));
    m.add(tf.layers.dropout({ rate: 0.5 }));
  }
  m.add(tf.layers.dense({ units: classes, kernelInitializer: init() })); // logits
  return m;
}

export interface PartGradients {
  /** d(mean loss over the part)/d(weights), the trainable weights concatenated in model order. */
  grads: Float32Array;
  /** Sum of the part's per-image losses, and how many images it got right. */
  lossSum: number;
  correct: number;
}

export function trainableVars(model: LayersModel): Variable[] {
  return model.trainableWeights.map((v) => v.read()) as Variable[];
}

export function paramCount(vars: Variable[]): number {
  return vars.reduce((s, v) => s + v.size, 0);
}

/** Runs fn with Math.random replaced by a seeded generator (tfjs dropout draws its seeds from it). */
export function withRandom<T>(prng: () => number, fn: () => T): T {
  const saved = Math.random;
  Math.random = prng;
  try {
    return fn();
  } finally {
    Math.random = saved;
  }
}

/** Gradients of the mean softmax cross-entropy over n images (x: n·h·w pixels, y: class indices). */
export function partGradients(
  tf: Tf,
  model: LayersModel,
  vars: Variable[],
  x: Float32Array,
  y: Int32Array,
  n: number,
  [h, w]: readonly [number, number],
  classes: number,
  prng: () => number,
): PartGradients {
  const grads = new Float32Array(paramCount(vars));
  if (n === 0) return { grads, lossSum: 0, correct: 0 };
  let lossSum = 0;
  let correct = 0;
  withRandom(prng, () =>
    tf.tidy(() => {
      const xs = tf.tensor4d(x.subarray(0, n * h * w), [n, h, w, 1]);
      const labels = tf.tensor1d(y.subarray(0, n), 'int32');
      let right: Tensor | undefined;
      const { value, grads: g } = tf.variableGrads(() => {
        const logits = model.apply(xs, { training: true }) as Tensor2D;
        right = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'float32')));
        return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, classes), logits) as import('@tensorflow/tfjs').Scalar;
      }, vars);
      let at = 0;
      for (const v of vars) {
        grads.set(g[v.name]!.dataSync() as Float32Array, at);
        at += v.size;
      }
      lossSum = (value.dataSync()[0] as number) * n;
      correct = right!.dataSync()[0] as number;
      right!.dispose();
    }),
  );
  return { grads, lossSum, correct };
}

/** Σ (n_i / n) · g_i, in a fixed order (float64 accumulation, one float32 rounding). */
export function averageGradients(parts: { grads: Float32Array; n: number }[]): Float32Array {
  const total = parts.reduce((s, p) => s + p.n, 0);
  const out = new Float32Array(parts[0]!.grads.length);
  const live = parts.filter((p) => p.n > 0);
  if (live.length === 2) {
    const [a, b] = [live[0]!.grads, live[1]!.grads];
    const [wa, wb] = [live[0]!.n, live[1]!.n];
    for (let j = 0; j < out.length; j++) out[j] = (wa * a[j]! + wb * b[j]!) / total;
    return out;
  }
  for (let j = 0; j < out.length; j++) {
    let s = 0;
    for (const p of live) s += p.n * p.grads[j]!;
    out[j] = s / total;
  }
  return out;
}

/**
 * Adam on flat float32 arrays in one JS pass: the same arithmetic as tfjs's AdamOptimizer (beta1 0.9,
 * beta2 0.999, epsilon 1e-7, every intermediate rounded to float32 as its kernels do), bit for bit on
 * wasm (checked in test/wasm-kernel.test.ts), without its ~12 kernel calls per variable and step.
 */
export class FlatAdam {
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private acc1: number;
  private acc2: number;

  constructor(
    size: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-7,
  ) {
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
    this.acc1 = Math.fround(beta1);
    this.acc2 = Math.fround(beta2);
  }

  /** w ← w − lr · m̂ / (√v̂ + ε), in place. */
  step(w: Float32Array, g: Float32Array, learningRate: number): void {
    const f = Math.fround;
    const { m, v } = this;
    const b1 = f(this.beta1);
    const b2 = f(this.beta2);
    const c1 = f(1 - this.beta1);
    const c2 = f(1 - this.beta2);
    const om1 = f(1 - this.acc1);
    const om2 = f(1 - this.acc2);
    const eps = f(this.epsilon);
    const nlr = f(-learningRate);
    for (let i = 0; i < w.length; i++) {
      const gi = g[i]!;
      const mi = f(f(m[i]! * b1) + f(gi * c1));
      const vi = f(f(v[i]! * b2) + f(f(gi * gi) * c2));
      m[i] = mi;
      v[i] = vi;
      const mh = f(mi / om1);
      const vh = f(vi / om2);
      w[i] = f(f(mh / f(f(Math.sqrt(vh)) + eps)) * nlr) + w[i]!;
    }
    this.acc1 = f(this.acc1 * b1);
    this.acc2 = f(this.acc2 * b2);
  }
}

/** Writes flat weights (in trainableVars order) into the model's variables. */
export function assignFlatWeights(tf: Tf, vars: Variable[], flat: Float32Array): void {
  tf.tidy(() => {
    let at = 0;
    for (const v of vars) {
      v.assign(tf.tensor(flat.subarray(at, at + v.size), v.shape, 'float32'));
      at += v.size;
    }
  });
}

/** A replica's weights as one flat array, updated by FlatAdam and written to the model after each step. */
export class FlatTrainer {
  readonly weights: Float32Array;
  private readonly adam: FlatAdam;

  constructor(
    private readonly tf: Tf,
    private readonly vars: Variable[],
    initial?: Float32Array,
  ) {
    this.weights = initial ? Float32Array.from(initial) : flatWeights(vars);
    if (initial) assignFlatWeights(tf, vars, this.weights);
    this.adam = new FlatAdam(this.weights.length);
  }

  apply(grads: Float32Array, learningRate: number): void {
    this.adam.step(this.weights, grads, learningRate);
    assignFlatWeights(this.tf, this.vars, this.weights);
  }
}

/** The trainable weights concatenated in model order. */
export function flatWeights(vars: Variable[]): Float32Array {
  const out = new Float32Array(paramCount(vars));
  let at = 0;
  for (const v of vars) {
    out.set(v.dataSync() as Float32Array, at);
    at += v.size;
  }
  return out;
}
