/**
 * Convolutional networks on onnxruntime (issue 25; docs/native-design.md §2.5): prediction and training
 * as ONNX graphs built at run time from a layer list, so every architecture of the cnn plugin (and any
 * stack of the same layer kinds) at any image shape.
 *
 * - The layer list (`layersOf`), the shapes and the forward pass are the runtime's
 *   (packages/runtime/src/engine/ort-cnn-forward.ts, re-exported here); this file adds the training step.
 *   The layer list is read from the tfjs model: Conv2D (stride 1, 'same' or 'valid',
 *   ReLU or none), MaxPooling2D (2×2 style: pool size = strides, 'valid'), Dropout, Flatten, Dense
 *   (ReLU or none). The weights stay in tfjs's layout ([kh, kw, cin, cout] kernels, [in, out] dense
 *   kernels, NHWC flattening) at the graph's edges, so a model trained here goes back into the tfjs
 *   model and its bundle bytes are the tfjs path's format; the graph transposes to NCHW inside.
 * - **Prediction** (`cnnForwardGraph`): the weights as initializers, input `pixels` [N, h·w], output
 *   `probabilities` [N, classes] (softmax of the logits).
 * - **One training step** (`cnnStepGraph`): forward, softmax cross-entropy (mean over the batch),
 *   backward and Adam in one `session.run`. Inputs: the pixels, one-hot labels, each weight and its two
 *   Adam moments, the step's −learning rate and Adam's bias corrections (1 − β₁ᵗ, 1 − β₂ᵗ), and one
 *   dropout mask per Dropout layer (0 or 1/(1 − rate) per value, drawn by the caller from the seed).
 *   Outputs: the new weights and moments, the logits and the batch's summed loss. With `gradients`
 *   it outputs the gradients instead of the update (what the tests compare with tfjs-cpu's).
 *   Backward: Gemm for the dense layers; ConvTranspose for a convolution's input gradient, and for its
 *   kernel gradient one Gemm per kernel offset: the input's shifted window (Slice) by the output
 *   gradient; MaxPool's indices with MaxUnpool for pooling; Where on the layer's output for ReLU (on the
 *   pooled output for a ReLU right before a pool: the same values at a quarter of the size).
 * - Adam is tfjs's arithmetic (β₁ 0.9, β₂ 0.999, ε 1e-7; FlatAdam in cnn-replica.ts) as float32 graph
 *   operators: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², w ← w + (m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε) · (−lr).
 */
import { checkWeights, cnnForward as forward, cnnForwardGraph, cnnShapes, GraphBuilder, GraphNames as Names, layersOf, type CnnLayer, type CnnShape } from '@digitbench/runtime/internal';
import { f32, ortSession, type OrtSession, type OrtTensor } from './ort.ts';
import type { Rng } from './rng.ts';

export { cnnForwardGraph, cnnShapes, layersOf, type CnnLayer };

/**
 * The training-step graph (see the file's comment). `gradients`: output `g<i>` (the mean loss's
 * gradient of weight i, tfjs layout) instead of the Adam update.
 */
export function cnnStepGraph(layers: readonly CnnLayer[], imageShape: readonly [number, number], options: { gradients?: boolean } = {}): Uint8Array {
  const { weights: shapes, masks, classes } = cnnShapes(layers, imageShape);
  const g = new GraphBuilder(options.gradients ? 'convolutional-network-gradients' : 'convolutional-network-adam-step');
  const b = new Names(g);
  g.input('pixels', 'FLOAT', ['N', imageShape[0] * imageShape[1]]);
  g.input('onehot', 'FLOAT', ['N', classes]);
  shapes.forEach((s, i) => g.input(`w${i}`, 'FLOAT', s));
  masks.forEach((s, i) => g.input(`mask${i}`, 'FLOAT', ['N', ...s]));
  const { logits, saved } = forward(b, layers, imageShape, (i) => `w${i}`, true);
  g.node('Identity', [logits], ['logits']);
  g.output('logits', 'FLOAT', ['N', classes]);

  // Softmax cross-entropy: the batch's summed loss, and d(mean loss)/d(logits) = (softmax − onehot)/N.
  const logp = b.op('LogSoftmax', [logits], { axis: 1 });
  g.node('Neg', [b.op('ReduceSum', [b.op('Mul', [logp, 'onehot'])], { keepdims: 0 })], ['loss']);
  g.output('loss', 'FLOAT', []);
  const n = b.op('Cast', [b.op('Gather', [b.op('Shape', ['pixels']), b.ints('zero', [0])], { axis: 0 })], { to: 1 });
  let d = b.op('Div', [b.op('Sub', [b.op('Exp', [logp]), 'onehot']), n], {}, 'dlogits');

  const zero = b.scalar('zero_f', 0);
  const grads: string[] = [];
  const axes0 = b.ints('axes_0', [0]);
  const axes023 = b.ints('axes_023', [0, 2, 3]);
  // A ReLU right before a max pool is masked at the pool's size: MaxUnpool puts each gradient on its
  // window's maximum, which is > 0 exactly where the pooled value is (the same values, 4× fewer).
  let reluMasked = false;
  for (let i = saved.length - 1; i >= 0; i--) {
    const sv = saved[i]!;
    const first = i === 0;
    const l = sv.layer;
    if ((l.kind === 'conv' || l.kind === 'dense') && l.relu && !reluMasked) d = b.op('Where', [b.op('Greater', [sv.output, zero]), d, zero], {}, 'drelu');
    reluMasked = false;
    if (l.kind === 'dense') {
      grads[sv.weight!] = b.op('Gemm', [sv.input, d], { transA: 1 }, 'gkernel');
      grads[sv.weight! + 1] = b.op('ReduceSum', [d, axes0], { keepdims: 0 }, 'gbias');
      if (!first) d = b.op('Gemm', [d, sv.kernel!], { transB: 1 }, 'dx');
    } else if (l.kind === 'conv') {
      const pads = l.same ? [(l.kernel[0] - 1) / 2, (l.kernel[1] - 1) / 2, (l.kernel[0] - 1) / 2, (l.kernel[1] - 1) / 2] : [0, 0, 0, 0];
      // dW[i, j, ci, co] = Σ_n,y,x in[n, ci, y+i, x+j] · d[n, co, y, x]: for each of the kh·kw shifts, the
      // (padded) input's window as [ci, (n, y, x)] times d as [co, (n, y, x)]ᵀ (Gemm). A Conv with d as its
      // kernel, or one Gemm of all windows concatenated, ran about 2× slower on keras-mnist's second layer.
      const s = sv.inShape as Extract<CnnShape, { c: number }>;
      const [kh, kw] = l.kernel;
      const [oh, ow] = l.same ? [s.h, s.w] : [s.h - kh + 1, s.w - kw + 1];
      let src = b.op('Transpose', [sv.input], { perm: [1, 0, 2, 3] }); // [cin, N, h, w]
      if (l.same) src = b.op('Pad', [src, b.ints(b.fresh('pads'), [0, 0, pads[0]!, pads[1]!, 0, 0, pads[2]!, pads[3]!])]);
      const dT = b.op('Reshape', [b.op('Transpose', [d], { perm: [1, 0, 2, 3] }), b.ints(b.fresh('d_shape'), [l.filters, -1])]);
      const rows = b.ints(b.fresh('rows_shape'), [s.c, -1]);
      const parts: string[] = [];
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const win = b.op('Slice', [src, b.ints(b.fresh('starts'), [i, j]), b.ints(b.fresh('ends'), [i + oh, j + ow]), b.ints(b.fresh('axes'), [2, 3])], {}, 'window');
          parts.push(b.op('Gemm', [b.op('Reshape', [win, rows]), dT], { transB: 1 }, 'gkernel_part')); // [ci, co] at (i, j)
        }
      }
      const gk = b.op('Concat', parts, { axis: 0 }, 'gkernel_rows'); // [(i, j, ci), co]
      grads[sv.weight!] = b.op('Reshape', [gk, b.ints(b.fresh('kernel_shape'), [kh, kw, s.c, l.filters])], {}, 'gkernel');
      grads[sv.weight! + 1] = b.op('ReduceSum', [d, axes023], { keepdims: 0 }, 'gbias');
      if (!first) d = b.op('ConvTranspose', [d, sv.kernel!], { kernel_shape: l.kernel, pads }, 'dx');
    } else if (l.kind === 'pool') {
      const before = saved[i - 1]?.layer;
      if (before && before.kind === 'conv' && before.relu) {
        d = b.op('Where', [b.op('Greater', [sv.output, zero]), d, zero], {}, 'drelu');
        reluMasked = true;
      }
      d = b.op('MaxUnpool', [d, sv.indices!, b.op('Shape', [sv.input])], { kernel_shape: l.size, strides: l.size }, 'dx');
    } else if (l.kind === 'dropout') {
      d = b.op('Mul', [d, sv.mask!], {}, 'dx');
    } else if (l.kind === 'flatten') {
      const s = sv.inShape as Extract<CnnShape, { c: number }>;
      const nhwc = b.op('Reshape', [d, b.ints(b.fresh('nhwc_shape'), [-1, s.h, s.w, s.c])]);
      d = b.op('Transpose', [nhwc], { perm: [0, 3, 1, 2] }, 'dx');
    }
  }

  if (options.gradients) {
    shapes.forEach((s, i) => {
      g.node('Identity', [grads[i]!], [`g${i}`]);
      g.output(`g${i}`, 'FLOAT', s);
    });
    return g.encode(17);
  }
  g.input('neg_lr', 'FLOAT', []);
  g.input('bias1', 'FLOAT', []); // 1 − β₁ᵗ
  g.input('bias2', 'FLOAT', []); // 1 − β₂ᵗ
  const beta1 = b.scalar('beta1', ADAM.beta1);
  const beta2 = b.scalar('beta2', ADAM.beta2);
  const one1 = b.scalar('one_minus_beta1', 1 - ADAM.beta1);
  const one2 = b.scalar('one_minus_beta2', 1 - ADAM.beta2);
  const eps = b.scalar('epsilon', ADAM.epsilon);
  shapes.forEach((s, i) => {
    const gi = grads[i]!;
    g.input(`m${i}`, 'FLOAT', s);
    g.input(`v${i}`, 'FLOAT', s);
    g.node('Add', [b.op('Mul', [`m${i}`, beta1]), b.op('Mul', [gi, one1])], [`m${i}_next`]);
    g.node('Add', [b.op('Mul', [`v${i}`, beta2]), b.op('Mul', [b.op('Mul', [gi, gi]), one2])], [`v${i}_next`]);
    const mh = b.op('Div', [`m${i}_next`, 'bias1']);
    const vh = b.op('Div', [`v${i}_next`, 'bias2']);
    const step = b.op('Mul', [b.op('Div', [mh, b.op('Add', [b.op('Sqrt', [vh]), eps])]), 'neg_lr']);
    g.node('Add', [step, `w${i}`], [`w${i}_next`]);
    for (const o of [`w${i}_next`, `m${i}_next`, `v${i}_next`]) g.output(o, 'FLOAT', s);
  });
  return g.encode(17);
}

/** tfjs's Adam defaults (tf.train.adam(lr)). */
export const ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 } as const;

/** A forward session: probabilities of rows of pixels, in chunks. */
export class OrtCnnPredictor {
  private constructor(
    private readonly session: OrtSession,
    private readonly px: number,
    private readonly classes: number,
  ) {}

  static async create(layers: readonly CnnLayer[], imageShape: readonly [number, number], weights: readonly Float32Array[], threads: number): Promise<OrtCnnPredictor> {
    const { classes } = cnnShapes(layers, imageShape);
    return new OrtCnnPredictor(await ortSession(cnnForwardGraph(layers, imageShape, weights), threads), imageShape[0] * imageShape[1], classes);
  }

  async probabilities(x: Float32Array, rows: number): Promise<Float32Array> {
    const out = new Float32Array(rows * this.classes);
    const chunk = 1000;
    for (let r0 = 0; r0 < rows; r0 += chunk) {
      const n = Math.min(chunk, rows - r0);
      const res = await this.session.run({ pixels: f32(x.subarray(r0 * this.px, (r0 + n) * this.px), [n, this.px]) });
      out.set(res.probabilities!.data as Float32Array, r0 * this.classes);
    }
    return out;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/**
 * Training on one onnxruntime session: holds the weights (tfjs layout and order) and Adam's moments,
 * and runs one step graph per batch. Dropout masks are drawn from `dropoutRng` (keep with probability
 * 1 − rate, in the mask's NCHW / row order, image by image).
 */
export class OrtCnnTrainer {
  readonly weights: Float32Array[];
  private m: Float32Array[];
  private v: Float32Array[];
  private acc1 = Math.fround(ADAM.beta1);
  private acc2 = Math.fround(ADAM.beta2);

  private constructor(
    private readonly session: OrtSession,
    private readonly layers: readonly CnnLayer[],
    private readonly imageShape: readonly [number, number],
    weights: readonly Float32Array[],
    private readonly dropoutRng: Rng,
  ) {
    this.weights = weights.map((w) => Float32Array.from(w));
    this.m = weights.map((w) => new Float32Array(w.length));
    this.v = weights.map((w) => new Float32Array(w.length));
  }

  static async create(layers: readonly CnnLayer[], imageShape: readonly [number, number], weights: readonly Float32Array[], threads: number, dropoutRng: Rng): Promise<OrtCnnTrainer> {
    checkWeights(weights, cnnShapes(layers, imageShape).weights);
    return new OrtCnnTrainer(await ortSession(cnnStepGraph(layers, imageShape), threads), layers, imageShape, weights, dropoutRng);
  }

  /** One Adam step on the first n images of x (n·h·w pixels) and class indices y; the batch's summed loss and correct count. */
  async step(x: Float32Array, y: Int32Array, n: number, learningRate: number): Promise<{ lossSum: number; correct: number }> {
    const { weights: shapes, masks, classes } = cnnShapes(this.layers, this.imageShape);
    const px = this.imageShape[0] * this.imageShape[1];
    const onehot = new Float32Array(n * classes);
    for (let r = 0; r < n; r++) onehot[r * classes + y[r]!] = 1;
    const feeds: Record<string, OrtTensor> = {
      pixels: f32(x.subarray(0, n * px), [n, px]),
      onehot: f32(onehot, [n, classes]),
      neg_lr: f32(Float32Array.of(-learningRate), []),
      bias1: f32(Float32Array.of(1 - this.acc1), []),
      bias2: f32(Float32Array.of(1 - this.acc2), []),
    };
    shapes.forEach((s, i) => {
      feeds[`w${i}`] = f32(this.weights[i]!, s);
      feeds[`m${i}`] = f32(this.m[i]!, s);
      feeds[`v${i}`] = f32(this.v[i]!, s);
    });
    let di = 0;
    for (const l of this.layers) {
      if (l.kind !== 'dropout') continue;
      const s = masks[di]!;
      feeds[`mask${di}`] = f32(dropoutMask(n * s.reduce((a, b) => a * b, 1), l.rate, this.dropoutRng), [n, ...s]);
      di++;
    }
    const out = await this.session.run(feeds);
    shapes.forEach((_, i) => {
      this.weights[i]!.set(out[`w${i}_next`]!.data as Float32Array);
      this.m[i]!.set(out[`m${i}_next`]!.data as Float32Array);
      this.v[i]!.set(out[`v${i}_next`]!.data as Float32Array);
    });
    this.acc1 = Math.fround(this.acc1 * Math.fround(ADAM.beta1));
    this.acc2 = Math.fround(this.acc2 * Math.fround(ADAM.beta2));
    const logits = out.logits!.data as Float32Array;
    let correct = 0;
    for (let r = 0; r < n; r++) {
      let arg = 0;
      for (let j = 1; j < classes; j++) if (logits[r * classes + j]! > logits[r * classes + arg]!) arg = j;
      if (arg === y[r]) correct++;
    }
    return { lossSum: (out.loss!.data as Float32Array)[0]!, correct };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/**
 * A dropout mask: each value 1/(1 − rate) with probability 1 − rate, else 0. One draw from `rng` seeds a
 * mulberry32 stream for the mask's values (keras-mnist's first mask has 1.2 million values per batch of
 * 128: drawing each from `rng` took ~15 ms a step, this ~5 on a busy machine).
 */
export function dropoutMask(size: number, rate: number, rng: Rng): Float32Array {
  const keep = 1 - rate;
  const scale = Math.fround(1 / keep);
  const below = Math.floor(keep * 2 ** 32);
  const out = new Float32Array(size);
  let a = Math.floor(rng.next() * 2 ** 32) | 0;
  for (let i = 0; i < size; i++) {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = scale * +(((t ^ (t >>> 14)) >>> 0) < below);
  }
  return out;
}
