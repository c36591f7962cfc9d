/**
 * The CNN's params and saved format, without TensorFlow.js: what the bundle reader and the workbench
 * need to check a CNN's bytes. Prediction (which needs tfjs) is in ../cnn.ts, the `@digitbench/runtime/cnn`
 * subpath; training is in the workbench (digitbench src/classifiers/cnn.ts).
 *
 * Saved bytes: "DBCN", u32 header length (little-endian), the JSON header (format, version,
 * architecture, image shape, classes, and tfjs's modelTopology and weightSpecs), then tfjs's weight data.
 */
import * as z from 'zod/mini';
import { described } from './describe.ts';
import { ownBytes, threadsParam, type ClassifierContext } from './plugin.ts';

export const ARCHITECTURES = ['lenet', 'keras-mnist', 'caffe-lenet', 'conv16-32'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

/**
 * From this many training images on, threads: null trains 2 replicas (starting a worker costs 1–3 s).
 * Not from the core count: the replica count changes the model, and a seed must give the same model
 * on every machine.
 */
export const PARALLEL_FROM_ROWS = 10000;

const nonNegative = (max?: number) => z.number().check(...(max === undefined ? [z.gte(0)] : [z.gte(0), z.lte(max)]));

export const cnnParams = z.strictObject({
  architecture: described(
    z._default(z.enum(ARCHITECTURES), 'lenet'),
    "Network shape: LeNet-5 (fastest), the Keras mnist_cnn example (slow), Caffe's LeNet (conv20–conv50–dense500) or conv16-32 (conv16–conv32–dense128)",
  ),
  epochs: described(z._default(z.number().check(z.int(), z.positive()), 12), 'Maximum passes over the training data (early stopping may end sooner)'),
  batchSize: described(z._default(z.number().check(z.int(), z.positive()), 128), 'Images per training step'),
  learningRate: described(z._default(z.number().check(z.positive()), 0.001), "Adam's step size"),
  learningRateDecay: described(z._default(z.number().check(z.positive(), z.lte(1)), 0.8), 'The learning rate is multiplied by this after every epoch (1 = constant)'),
  patience: described(
    z._default(z.number().check(z.int(), z.gte(0)), 3),
    'Early stopping: stop after this many epochs without a lower validation loss and keep the best epoch (needs a validation part; 0 = off)',
  ),
  augment: described(
    z._default(
      z.nullable(
        z.strictObject({
          shift: described(z._default(nonNegative(), 2), 'Largest shift, in pixels, along each axis'),
          rotate: described(z._default(nonNegative(180), 10), 'Largest rotation, in degrees, either way'),
          scale: described(z._default(z.number().check(z.gte(0), z.lt(1)), 0.1), 'Largest relative scaling: factors in 1 ± scale'),
        }),
      ),
      null,
    ),
    'Training-time augmentation: every training image, every epoch, gets a fresh random shift, rotation and scaling about its centre (bilinear, zero outside), drawn from the seed; validation, test and predict images are never changed. null: off',
  ),
  threads: threadsParam(
    `Data-parallel training replicas, each on its own thread and engine (batch split between them, gradients averaged); null: 2 from ${PARALLEL_FROM_ROWS.toLocaleString('en-US')} training images on, else 1 (on any machine, so a seed gives the same model everywhere). Results depend on this number but not on timing`,
  ),
});

export type CnnParams = z.output<typeof cnnParams>;

export const CNN_FORMAT = 'digitbench-cnn';
export const CNN_MAGIC = [0x44, 0x42, 0x43, 0x4e]; // "DBCN"

export interface CnnSavedHeader {
  format: typeof CNN_FORMAT;
  version: 1;
  architecture: Architecture;
  imageShape: [number, number];
  classes: number[];
  modelTopology: unknown;
  weightSpecs: unknown;
}

/** The image shape a CNN takes in this context (its bundle's dataset shape; MNIST's by default). */
export function imageShapeOf(ctx: Pick<ClassifierContext, 'imageShape'>): readonly [number, number] {
  return ctx.imageShape ?? [28, 28];
}

/** Saved bytes → header, and the weight data as its own ArrayBuffer; errors say what is wrong in one line. */
export function parseCnnBytes(bytes: Uint8Array, ctx: Pick<ClassifierContext, 'imageShape'>): { header: CnnSavedHeader; weightData: ArrayBuffer; imageShape: readonly [number, number] } {
  const bad = (why: string) => new Error(`cnn.load: these ${bytes.length} bytes are not a saved cnn model (${why}); pass the bytes from a cnn model's serialize().`);
  if (bytes.length < 8 || CNN_MAGIC.some((b, i) => bytes[i] !== b)) throw bad('wrong header');
  const len = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  if (8 + len > bytes.length) throw bad('truncated');
  let header: CnnSavedHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len))) as CnnSavedHeader;
  } catch {
    throw bad('unreadable header');
  }
  if (header.format !== CNN_FORMAT || header.version !== 1) throw bad(`format ${header.format} version ${header.version}`);
  if (!Array.isArray(header.imageShape) || !Array.isArray(header.classes)) throw bad('no image shape or classes');
  const [h, w] = imageShapeOf(ctx);
  if (header.imageShape[0] !== h || header.imageShape[1] !== w) {
    throw new Error(`cnn.load: the saved model takes ${header.imageShape.join('×')} images but this run's images are ${h}×${w}; load it for images of its size.`);
  }
  return { header, weightData: ownBytes(bytes, 8 + len).buffer as ArrayBuffer, imageShape: [h, w] };
}

/** Writes the saved bytes from a header and tfjs's weight data. */
export function cnnBytes(header: CnnSavedHeader, weights: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + weights.length);
  out.set(CNN_MAGIC, 0);
  new DataView(out.buffer).setUint32(4, json.length, true);
  out.set(json, 8);
  out.set(weights, 8 + json.length);
  return out;
}

/** Row-wise argmax of probabilities (rows × classes) → labels (the first largest wins). */
export function argmaxLabels(probs: Float32Array, rows: number, classes: ArrayLike<number>): Int32Array {
  const k = classes.length;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let arg = 0;
    for (let j = 1; j < k; j++) if (probs[r * k + j]! > probs[r * k + arg]!) arg = j;
    out[r] = classes[arg]!;
  }
  return out;
}
