/** The cnn plugin on real MNIST subsets, on the wasm backend (tfjs-node cannot be installed here). */
import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { cnn } from '../src/classifiers/cnn.ts';
import { parseParams, type ClassifierContext, type Model } from '../src/classifiers/plugin.ts';
import { getTf, type Tf } from '../src/engine/tf.ts';
import { engineChoice } from '../src/engine/ort.ts';
import { sliceRows, type Matrix } from '@digitbench/runtime/internal';
import { liveWorkers } from '../src/engine/threads.ts';
import { mnistSubset, type Subset } from './helpers/mnist.ts';
import { ARCHITECTURES, buildModel, MIN_SIDE, type Architecture } from '../src/classifiers/cnn-replica.ts';
import { resizeRows } from './helpers/resize.ts';

let tf: Tf;
let d: Subset;
const silent = { info() {}, warn() {} };
const ctx = (seed: number): ClassifierContext => ({ seed, log: silent, imageShape: [28, 28] });
// The plugin's testParams (lenet, 2 epochs, batch 64) with batch 32 and 3 epochs: more steps, better floor.
const small = () => parseParams(cnn, { ...cnn.testParams, epochs: 3, batchSize: 32 });

function accuracy(pred: Int32Array, y: Int32Array): number {
  let ok = 0;
  for (let i = 0; i < y.length; i++) if (pred[i] === y[i]) ok++;
  return ok / y.length;
}

/**
 * The SHA-256 of the weights part of a serialized cnn model (its header names layers by a process-wide
 * counter). A digest, not the bytes: vitest's toEqual walks a typed array element by element, about 5 s
 * for keras-mnist's 4.8 MB of weights.
 */
function weightBytes(bytes: Uint8Array): string {
  return createHash('sha256')
    .update(bytes.subarray(8 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true)))
    .digest('hex');
}

beforeAll(async () => {
  ({ tf } = await getTf());
  d = await mnistSubset(2000, 1000, 1);
});

describe('cnn params', () => {
  it('parses {} to the defaults and names a bad field', () => {
    expect(parseParams(cnn, {})).toEqual({
      architecture: 'lenet',
      epochs: 12,
      batchSize: 128,
      learningRate: 0.001,
      learningRateDecay: 0.8,
      patience: 3,
      augment: null,
      threads: null,
    });
    expect(parseParams(cnn, { augment: {} }).augment).toEqual({ shift: 2, rotate: 10, scale: 0.1 });
    expect(() => parseParams(cnn, { augment: { scale: 1 } })).toThrow(/^Invalid params for classifier "cnn": augment\.scale: /);
    expect(parseParams(cnn, { architecture: 'caffe-lenet' }).architecture).toBe('caffe-lenet');
    expect(() => parseParams(cnn, { architecture: 'vgg' })).toThrow(/^Invalid params for classifier "cnn": architecture: /);
    expect(() => parseParams(cnn, { epochs: 0 })).toThrow('Invalid params for classifier "cnn": epochs: Too small: expected number to be >0.');
    expect(() => parseParams(cnn, { dropout: 0.1 })).toThrow(/^Invalid params for classifier "cnn": params: Unrecognized key/);
  });
});

describe('cnn architectures', () => {
  it('builds each one with the parameter count cnn.ts documents, logits for the classes last', () => {
    const want = { lenet: 61_706, 'keras-mnist': 1_199_882, 'caffe-lenet': 431_080, 'conv16-32': 117_066 };
    expect(Object.keys(want).sort()).toEqual([...ARCHITECTURES].sort());
    for (const arch of ARCHITECTURES) {
      const m = buildModel(tf, arch, [28, 28], 10, 1);
      expect([arch, m.countParams()]).toEqual([arch, want[arch]]);
      expect(m.outputs[0]!.shape).toEqual([null, 10]);
      m.dispose();
    }
  });
});

describe('cnn lenet on MNIST 2000/1000', () => {
  let first: Model;
  let firstPred: Int32Array;
  const ticks: Record<string, string | number>[] = [];

  beforeAll(async () => {
    let started: [number, string] | undefined;
    const random = Math.random;
    first = await cnn.create(small(), ctx(7)).fit(d.xTrain, d.yTrain, { progress: { start: (n, u) => (started = [n, u]), tick: (i) => void ticks.push(i ?? {}) } });
    expect(Math.random).toBe(random);
    expect(started).toEqual([3, 'epoch']);
    firstPred = await first.predict(d.xTest);
  });

  it('reaches the accuracy floor and reports per-epoch loss and accuracy', () => {
    // Measured 0.933 (seed 7, 3 epochs of batch 32); floor with a margin.
    expect(accuracy(firstPred, d.yTest)).toBeGreaterThanOrEqual(0.91);
    expect(ticks).toHaveLength(3);
    expect(ticks[2]!.loss).toBeLessThan(ticks[0]!.loss as number);
    expect(ticks[2]!.acc).toBeGreaterThan(0.85);
    expect(first.engine()).toMatch(engineChoice().engine === 'ort' ? /^onnxruntime-node 1\.31\.1 \(1 thread\)$/ : /^tfjs-wasm 4\.22\.0 \(SIMD, 1 thread\)$/);
  });

  it('scores are softmax probabilities whose argmax is the prediction', async () => {
    const x = sliceRows(d.xTest, 0, 50);
    const s = await first.scores!(x);
    expect([s.rows, s.cols]).toEqual([50, 10]);
    const pred = await first.predict(x);
    for (let r = 0; r < 50; r++) {
      const row = s.data.subarray(r * 10, r * 10 + 10);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
      expect(row.indexOf(Math.max(...row))).toBe(pred[r]);
    }
  });

  it('gives identical predictions for the same seed, different ones for another seed', async () => {
    const again = await cnn.create(small(), ctx(7)).fit(d.xTrain, d.yTrain);
    expect(await again.predict(d.xTest)).toEqual(firstPred);
    again.dispose();
    const other = await cnn.create(parseParams(cnn, { ...cnn.testParams, epochs: 1, batchSize: 32 }), ctx(8)).fit(d.xTrain, d.yTrain);
    const one = await cnn.create(parseParams(cnn, { ...cnn.testParams, epochs: 1, batchSize: 32 }), ctx(7)).fit(d.xTrain, d.yTrain);
    expect(await other.predict(d.xTest)).not.toEqual(await one.predict(d.xTest));
    other.dispose();
    one.dispose();
  });

  it('threads 2 (data-parallel replicas) matches threads 1 within a margin, is reproducible, and frees its workers', async () => {
    const a = await cnn.create({ ...small(), threads: 2 }, ctx(7)).fit(d.xTrain, d.yTrain);
    expect(liveWorkers()).toBe(0);
    // On ort: one session on 2 threads (src/engine/ort-cnn.ts), no replicas.
    expect(a.engine()).toBe(engineChoice().engine === 'ort' ? 'onnxruntime-node 1.31.1 (2 threads)' : 'tfjs-wasm 4.22.0 (SIMD, 1 thread), trained as 2 data-parallel replicas (worker threads)');
    // The averaged half-batch gradients equal the full-batch gradient up to rounding: close to threads 1.
    expect(Math.abs(accuracy(await a.predict(d.xTest), d.yTest) - accuracy(firstPred, d.yTest))).toBeLessThan(0.02);
    a.dispose();
    // Same seed and replica count: the same weights, bit for bit (fit itself checks that the replicas agree).
    const p = parseParams(cnn, { epochs: 1, batchSize: 32, threads: 2 });
    const x = sliceRows(d.xTrain, 0, 500);
    const y = d.yTrain.subarray(0, 500);
    const b = await cnn.create(p, ctx(7)).fit(x, y);
    const c = await cnn.create(p, ctx(7)).fit(x, y);
    expect(liveWorkers()).toBe(0);
    expect(weightBytes(await c.serialize!())).toEqual(weightBytes(await b.serialize!()));
    b.dispose();
    c.dispose();
  });

  it('serialize → load gives identical predictions and scores', async () => {
    const bytes = await first.serialize!();
    expect(bytes.length).toBeGreaterThan(61_706 * 4); // LeNet's weights as float32, plus the topology
    const loaded = await cnn.load!(bytes, small(), ctx(99));
    expect(await loaded.predict(d.xTest)).toEqual(firstPred);
    const x = sliceRows(d.xTest, 0, 20);
    expect((await loaded.scores!(x)).data).toEqual((await first.scores!(x)).data);
    loaded.dispose();
    await expect(cnn.load!(bytes.slice(0, 6), small(), ctx(1))).rejects.toThrow(
      "cnn.load: these 6 bytes are not a saved cnn model (wrong header); pass the bytes from a cnn model's serialize().",
    );
  });

  it('dispose frees every tensor it made; a second dispose is harmless', () => {
    const before = tf.memory().numTensors;
    first.dispose();
    first.dispose();
    expect(tf.memory().numTensors).toBeLessThan(before);
  });
});

describe('cnn tensor bookkeeping', () => {
  it('returns numTensors to the baseline after fit/predict/dispose and after a fit that throws', async () => {
    const x = sliceRows(d.xTrain, 0, 200);
    const y = d.yTrain.subarray(0, 200);
    await getTf();
    const baseline = tf.memory().numTensors;
    const c = await cnn.create(parseParams(cnn, { epochs: 1, batchSize: 50 }), ctx(1)).fit(x, y, { validation: { x: sliceRows(d.xTest, 0, 100), y: d.yTest.subarray(0, 100) } });
    await c.predict(x);
    await c.serialize!();
    c.dispose();
    expect(tf.memory().numTensors).toBe(baseline);

    const failing = cnn.create(parseParams(cnn, { epochs: 2, batchSize: 50 }), ctx(1));
    const random = Math.random;
    const progress = { start() {}, tick() { throw new Error('progress display broke'); } };
    await expect(failing.fit(x, y, { progress })).rejects.toThrow('progress display broke');
    expect(Math.random).toBe(random);
    expect(tf.memory().numTensors).toBe(baseline);
  });

  it('rejects input that is not images of ctx.imageShape', async () => {
    const c = cnn.create(small(), ctx(1));
    const wrong: Matrix = { rows: 2, cols: 50, data: new Float32Array(100) };
    await expect(c.fit(wrong, new Int32Array([0, 1]))).rejects.toThrow(
      'cnn.fit: each row must be one 28×28 image (784 values) but has 50; give the cnn plugin image input with ctx.imageShape set.',
    );
    await expect(c.fit(sliceRows(d.xTrain, 0, 3), new Int32Array([4, 4, 4]))).rejects.toThrow(
      'cnn.fit: the training labels hold 1 class(es); a classifier needs at least 2.',
    );
  });
});

describe('cnn keras-mnist and early stopping', () => {
  it.each([1, 2])('keras-mnist (with dropout) trains deterministically for a seed, threads %i', async (threads) => {
    const x = sliceRows(d.xTrain, 0, 300);
    const y = d.yTrain.subarray(0, 300);
    const p = parseParams(cnn, { architecture: 'keras-mnist', epochs: 1, batchSize: 50, threads });
    const preds: Int32Array[] = [];
    const weights: string[] = [];
    for (let k = 0; k < 2; k++) {
      const c = await cnn.create(p, ctx(3)).fit(x, y);
      preds.push(await c.predict(sliceRows(d.xTest, 0, 300)));
      weights.push(weightBytes(await c.serialize!()));
      c.dispose();
    }
    expect(preds[1]).toEqual(preds[0]);
    expect(weights[1]).toEqual(weights[0]);
    expect(liveWorkers()).toBe(0);
    // 6 steps of Adam: well above chance (0.1) already.
    expect(accuracy(preds[0]!, d.yTest.subarray(0, 300))).toBeGreaterThan(0.5);
  });

  it('stops when the validation loss stops improving and reports valAcc', async () => {
    const ticks: Record<string, string | number>[] = [];
    const logs: string[] = [];
    // A far too large learning rate: the validation loss gets worse after the first epochs.
    const c = await cnn.create(parseParams(cnn, { epochs: 10, batchSize: 50, learningRate: 0.05, patience: 1 }), {
      ...ctx(5),
      log: { info: (m) => logs.push(m), warn() {} },
    }).fit(sliceRows(d.xTrain, 0, 500), d.yTrain.subarray(0, 500), {
      validation: { x: sliceRows(d.xTest, 0, 200), y: d.yTest.subarray(0, 200) },
      progress: { start() {}, tick: (i) => void ticks.push(i ?? {}) },
    });
    expect(ticks.length).toBeLessThan(10);
    expect(ticks[0]).toHaveProperty('valAcc');
    expect(logs.join('\n')).toMatch(/^cnn: early stop after epoch \d+: validation loss did not improve for 1 epochs\.$/);
    c.dispose();
  });
});

describe('cnn training-time augmentation', () => {
  const augment = { shift: 2, rotate: 10, scale: 0.1 };

  it('reaches the accuracy floor on MNIST 2000/1000 with augment on', async () => {
    const m = await cnn.create({ ...small(), augment }, ctx(7)).fit(d.xTrain, d.yTrain);
    // Measured 0.925 (seed 7, 3 epochs of batch 32, threads 1; 0.933 without augment: harder batches,
    // few steps); floor with a margin.
    expect(accuracy(await m.predict(d.xTest), d.yTest)).toBeGreaterThanOrEqual(0.9);
    m.dispose();
  });

  it('changes the training batches (other weights), reproducibly for a seed, with threads 1 and 2', async () => {
    const x = sliceRows(d.xTrain, 0, 300);
    const y = d.yTrain.subarray(0, 300);
    for (const threads of [1, 2]) {
      const p = parseParams(cnn, { epochs: 1, batchSize: 50, threads });
      const plain = await cnn.create(p, ctx(3)).fit(x, y);
      const a = await cnn.create({ ...p, augment }, ctx(3)).fit(x, y);
      const b = await cnn.create({ ...p, augment }, ctx(3)).fit(x, y);
      expect(weightBytes(await a.serialize!())).toEqual(weightBytes(await b.serialize!()));
      expect(weightBytes(await a.serialize!())).not.toEqual(weightBytes(await plain.serialize!()));
      for (const m of [plain, a, b]) m.dispose();
    }
    expect(liveWorkers()).toBe(0);
  });

  it('never touches validation rows or predict: valAcc is the plain accuracy, and augment at load time changes nothing', async () => {
    const x = sliceRows(d.xTrain, 0, 500);
    const y = d.yTrain.subarray(0, 500);
    const val = { x: sliceRows(d.xTest, 0, 300), y: d.yTest.subarray(0, 300) };
    const ticks: Record<string, string | number>[] = [];
    const p = parseParams(cnn, { epochs: 1, batchSize: 50, augment });
    const m = await cnn.create(p, ctx(4)).fit(x, y, { validation: val, progress: { start() {}, tick: (i) => void ticks.push(i ?? {}) } });
    const pred = await m.predict(val.x);
    // The one epoch is the best one: the returned model is the one validated, on the rows as given.
    expect(ticks[0]!.valAcc).toBe(Math.round(accuracy(pred, val.y) * 1e4) / 1e4);
    const bytes = await m.serialize!();
    for (const q of [{ ...p, augment: null }, { ...p, augment: { shift: 5, rotate: 45, scale: 0.5 } }]) {
      const loaded = await cnn.load!(bytes, q, ctx(4));
      expect(await loaded.predict(val.x)).toEqual(pred);
      expect((await loaded.scores!(val.x)).data).toEqual((await m.scores!(val.x)).data);
      loaded.dispose();
    }
    m.dispose();
  });
});

/** Parameters of each architecture on h×w images, from its layers (cnn.ts): convolutions, pools, dense layers. */
function paramsAt(arch: Architecture, h: number, w: number): number {
  const half = (v: number) => Math.floor(v / 2);
  if (arch === 'lenet') return 6 * 26 + 16 * 151 + (16 * half(half(h) - 4) * half(half(w) - 4) + 1) * 120 + 121 * 84 + 85 * 10;
  if (arch === 'conv16-32') return 16 * 26 + 32 * 401 + (32 * half(half(h) - 4) * half(half(w) - 4) + 1) * 128 + 129 * 10;
  if (arch === 'caffe-lenet') return 20 * 26 + 50 * 501 + (50 * half(half(h - 4) - 4) * half(half(w - 4) - 4) + 1) * 500 + 501 * 10;
  return 32 * 10 + 64 * 289 + (64 * half(h - 4) * half(w - 4) + 1) * 128 + 129 * 10;
}

describe('cnn on any image shape', () => {
  const shapes: [number, number][] = [[8, 8], [12, 12], [16, 16], [20, 24], [24, 20], [12, 64], [32, 32], [64, 64], [6, 6], [11, 30]];

  it('builds every architecture on every shape it takes (parameters from the layer arithmetic, [n, classes] out) and refuses the others in one line', () => {
    expect(MIN_SIDE).toEqual({ lenet: 12, 'conv16-32': 12, 'caffe-lenet': 16, 'keras-mnist': 6 });
    for (const arch of ARCHITECTURES) expect(paramsAt(arch, 28, 28)).toBe(buildModel(tf, arch, [28, 28], 10, 1).countParams());
    let built = 0;
    for (const [h, w] of shapes) {
      for (const arch of ARCHITECTURES) {
        const create = () => cnn.create(parseParams(cnn, { architecture: arch }), { seed: 1, log: silent, imageShape: [h, w] });
        if (h < MIN_SIDE[arch] || w < MIN_SIDE[arch]) {
          expect(create).toThrow(`cnn (${arch}) takes images of at least ${MIN_SIDE[arch]}×${MIN_SIDE[arch]}; this run's images are ${h}×${w}: `);
          expect(() => buildModel(tf, arch, [h, w], 10, 1)).toThrow(`cnn (${arch}) takes images of at least`);
          continue;
        }
        expect(typeof create().fit).toBe('function');
        const m = buildModel(tf, arch, [h, w], 10, 1);
        expect([arch, h, w, m.countParams()]).toEqual([arch, h, w, paramsAt(arch, h, w)]);
        const out = tf.tidy(() => (m.predict(tf.zeros([3, h, w, 1])) as import('@tensorflow/tfjs').Tensor).shape);
        expect(out).toEqual([3, 10]);
        m.dispose();
        built++;
      }
    }
    expect(built).toBe(29);
  });

  it('names the architectures that take a shape it refuses, when the estimator is created', () => {
    const make = (architecture: Architecture, imageShape: [number, number]) => () => cnn.create(parseParams(cnn, { architecture }), { seed: 1, log: silent, imageShape });
    expect(make('lenet', [8, 8])).toThrow("cnn (lenet) takes images of at least 12×12; this run's images are 8×8: use architecture keras-mnist (at least 6×6).");
    expect(make('caffe-lenet', [12, 20])).toThrow(
      "cnn (caffe-lenet) takes images of at least 16×16; this run's images are 12×20: use architecture lenet (at least 12×12) or keras-mnist (at least 6×6) or conv16-32 (at least 12×12).",
    );
    expect(make('conv16-32', [64, 11])).toThrow("cnn (conv16-32) takes images of at least 12×12; this run's images are 64×11: use architecture keras-mnist (at least 6×6).");
    expect(make('keras-mnist', [5, 40])).toThrow(
      "cnn (keras-mnist) takes images of at least 6×6; this run's images are 5×40: no architecture takes them (the smallest is 6×6); give larger images or another classifier.",
    );
  });

  it('trains on non-square 20×24 MNIST digits (augmented, two replicas), and its bytes load only for 20×24', async () => {
    const shape: [number, number] = [20, 24];
    const x = resizeRows(d.xTrain, [28, 28], shape);
    const xt = resizeRows(sliceRows(d.xTest, 0, 300), [28, 28], shape);
    expect([x.rows, x.cols]).toEqual([2000, 480]);
    const c = { seed: 5, log: silent, imageShape: shape } as const;
    const p = parseParams(cnn, { epochs: 3, batchSize: 32, threads: 2, augment: { shift: 1, rotate: 8, scale: 0.1 } });
    const m = await cnn.create(p, c).fit(x, d.yTrain);
    const pred = await m.predict(xt);
    // Measured 0.903 (seed 5, 3 epochs of batch 32 on 2,000 images); floor with a margin.
    expect(accuracy(pred, d.yTest.subarray(0, 300))).toBeGreaterThanOrEqual(0.85);
    const bytes = await m.serialize!();
    const loaded = await cnn.load!(bytes, p, c);
    expect(await loaded.predict(xt)).toEqual(pred);
    loaded.dispose();
    await expect(cnn.load!(bytes, p, { ...c, imageShape: [24, 20] })).rejects.toThrow(
      "cnn.load: the saved model takes 20×24 images but this run's images are 24×20; load it for images of its size.",
    );
    m.dispose();
    expect(liveWorkers()).toBe(0);
  });
});
