/**
 * One replica of data-parallel CNN training (used by the main thread and by cnn-worker.ts alike): the
 * gradients of a part of a batch as one flat array, and an Adam step from averaged flat gradients.
 * Every replica starts from the same weights and applies the same averaged gradients with the same
 * learning rate on the same engine, so all replicas stay bit-identical (cnn.ts checks that at the end).
 */
import type { LayersModel, Optimizer, Tensor, Tensor2D, Variable } from '@tensorflow/tfjs';
import type { Tf } from '../engine/tf.ts';

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
  for (let j = 0; j < out.length; j++) {
    let s = 0;
    for (const p of live) s += p.n * p.grads[j]!;
    out[j] = s / total;
  }
  return out;
}

/** One optimizer step from flat gradients (in trainableVars order) at the given learning rate. */
export function applyFlatGradients(tf: Tf, optimizer: Optimizer, vars: Variable[], flat: Float32Array, learningRate: number): void {
  // Adam reads its (protected) learningRate at every step.
  (optimizer as unknown as { learningRate: number }).learningRate = learningRate;
  tf.tidy(() => {
    const named: Record<string, Tensor> = {};
    let at = 0;
    for (const v of vars) {
      named[v.name] = tf.tensor(flat.subarray(at, at + v.size), v.shape, 'float32');
      at += v.size;
    }
    optimizer.applyGradients(named);
  });
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
