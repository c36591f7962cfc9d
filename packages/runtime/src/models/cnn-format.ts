/**
 * The CNN's params and saved format, without TensorFlow.js: what the bundle reader and the workbench
 * need to check a CNN's bytes. Prediction (which needs tfjs) is in ../cnn.ts, the `@digitbench/runtime/cnn`
 * subpath; training is in the workbench (digitbench src/classifiers/cnn.ts).
 *
 * Saved bytes: "DBCN", u32 header length (little-endian), the JSON header (format, version,
 * architecture, image shape, classes, and tfjs's modelTopology and weightSpecs), then tfjs's weight data.
 */
import * as z from 'zod/mini';
import { align8, packedBytes, packValues, parsePrecision, unpackValues, type Grouping, type Precision } from './compact.ts';
import { described } from './describe.ts';
import { ownBytes, threadsParam, type ClassifierContext } from './plugin.ts';

export const ARCHITECTURES = ['lenet', 'keras-mnist', 'caffe-lenet', 'conv16-32'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

/**
 * From this many training images on, threads: null trains 2 replicas (starting a worker thread costs
 * seconds, which a small fit does not earn back; digitbench docs/measurements.md).
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
  /** 1: tfjs's float32 weight data as it is; 2: the weights packed at `precision` (cnnBytes). */
  version: 1 | 2;
  precision?: Precision;
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
  // Version 2 headers name their precision; without it a version-2 header is refused as before.
  const compact = header?.format === CNN_FORMAT && header.version === 2 && header.precision !== undefined;
  if (!compact && (header?.format !== CNN_FORMAT || header.version !== 1)) throw bad(`format ${header?.format} version ${header?.version}`);
  if (!Array.isArray(header.imageShape) || !Array.isArray(header.classes)) throw bad('no image shape or classes');
  const [h, w] = imageShapeOf(ctx);
  if (header.imageShape[0] !== h || header.imageShape[1] !== w) {
    throw new Error(`cnn.load: the saved model takes ${header.imageShape.join('×')} images but this run's images are ${h}×${w}; load it for images of its size.`);
  }
  const weightData = compact ? unpackWeights(bytes.subarray(8 + len), header, bad) : (ownBytes(bytes, 8 + len).buffer as ArrayBuffer);
  return { header, weightData, imageShape: [h, w] };
}

interface WeightSpec {
  shape: number[];
  dtype: string;
}

/** The weight specs' shapes, when every one is a plain float32 tensor (what the compact format stores). */
function float32Specs(specs: unknown): WeightSpec[] | undefined {
  if (!Array.isArray(specs)) return undefined;
  const ok = specs.every(
    (s: Partial<WeightSpec> & { quantization?: unknown }) =>
      s?.dtype === 'float32' && s.quantization === undefined && Array.isArray(s.shape) && s.shape.every((d) => Number.isInteger(d) && d >= 0),
  );
  return ok ? (specs as WeightSpec[]) : undefined;
}

/**
 * How one weight tensor is stored at a precision: float16 for every tensor; int8 for kernels (2 or more
 * dimensions) with a range per output unit / channel (the last dimension: a unit's or filter's weights
 * share a scale, while different units' spreads differ), and float32 for biases (1 dimension, a few
 * hundred values in all).
 */
function weightPacking(shape: readonly number[], precision: Precision): { precision: Precision; grouping: Grouping } {
  if (precision === 'int8' && shape.length < 2) return { precision: 'float32', grouping: { by: 'all' } };
  return { precision, grouping: shape.length >= 2 ? { by: 'column', cols: shape[shape.length - 1]! } : { by: 'all' } };
}

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * Version 2's weight data: each tensor of `weightSpecs`, in order, packed as weightPacking says, each at an
 * 8-byte offset from the start of the weight data.
 */
function packWeights(weights: Uint8Array, specs: WeightSpec[], precision: Precision): Uint8Array {
  const parts: Uint8Array[] = [];
  let from = 0;
  for (const [i, spec] of specs.entries()) {
    const n = sizeOf(spec.shape);
    const values = new Float32Array(n);
    new Uint8Array(values.buffer).set(weights.subarray(from, from + n * 4));
    from += n * 4;
    const p = weightPacking(spec.shape, precision);
    parts.push(packValues(values, p.precision, p.grouping, `cnn: weight tensor ${i}`));
  }
  if (from !== weights.length) throw new Error(`cnn: the weight data has ${weights.length} bytes where the weight specs describe ${from}.`);
  const out = new Uint8Array(parts.reduce((a, p) => align8(a) + p.length, 0));
  let at = 0;
  for (const p of parts) {
    at = align8(at);
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function unpackWeights(data: Uint8Array, header: CnnSavedHeader, bad: (why: string) => Error): ArrayBuffer {
  const precision = parsePrecision(header.precision);
  if (!precision || precision === 'float32') throw bad(`precision ${String(header.precision)}`);
  const specs = float32Specs(header.weightSpecs);
  if (!specs) throw bad('weight specs that are not float32 tensors');
  // The packed sizes first: the weights are allocated only for data that is there.
  let end = 0;
  for (const spec of specs) {
    const p = weightPacking(spec.shape, precision);
    end = align8(end) + packedBytes(sizeOf(spec.shape), p.precision, p.grouping);
  }
  if (end !== data.length) throw bad(end > data.length ? 'truncated' : `${data.length - end} bytes after the weights`);
  const out = new Float32Array(specs.reduce((a, s) => a + sizeOf(s.shape), 0));
  let at = 0;
  let to = 0;
  for (const [i, spec] of specs.entries()) {
    const n = sizeOf(spec.shape);
    const p = weightPacking(spec.shape, precision);
    at = align8(at);
    const length = packedBytes(n, p.precision, p.grouping);
    try {
      unpackValues(data.subarray(at, at + length), n, p.precision, p.grouping, out.subarray(to, to + n));
    } catch (e) {
      throw bad(`weight tensor ${i}: ${(e as Error).message}`);
    }
    at += length;
    to += n;
  }
  return out.buffer;
}

/**
 * Writes the saved bytes from a header and tfjs's weight data: version 1 as given (float32), or, with
 * precision float16 or int8, version 2 with the weights packed (weightPacking). tfjs gets float32 weights
 * back from parseCnnBytes either way.
 */
export function cnnBytes(header: CnnSavedHeader, weights: Uint8Array, precision: Precision = 'float32'): Uint8Array {
  if (precision !== 'float32') {
    const specs = float32Specs(header.weightSpecs);
    if (!specs) throw new Error('cnn: only float32 weight tensors can be stored compactly.');
    weights = packWeights(weights, specs, precision);
    header = { ...header, version: 2, precision };
  }
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
