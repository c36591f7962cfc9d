/**
 * Convolutional networks trained with @tensorflow/tfjs (4.22.0), on the engine getTf() picks (tfjs-node when
 * installed, else wasm with the kernels of src/engine/wasm-kernels.ts). The params and saved format are
 * @digitbench/runtime's (models/cnn-format.ts), and apps predict with its `/cnn` subpath (tfjs-core,
 * tfjs-layers and tfjs-backend-wasm); this file adds training, and loads bundles on getTf()'s engine.
 *
 * Architectures:
 * - `lenet`: LeNet-5 with ReLU and max pooling: conv6 5×5 same – pool 2 – conv16 5×5 – pool 2 –
 *   dense120 – dense84 – dense(classes). 61,706 parameters at 28×28.
 * - `keras-mnist`: the Keras mnist_cnn example: conv32 3×3 – conv64 3×3 – pool 2 – dropout .25 –
 *   dense128 – dropout .5 – dense(classes). 1,199,882 parameters at 28×28.
 * - `caffe-lenet`: Caffe's LeNet with ReLU: conv20 5×5 – pool 2 – conv50 5×5 – pool 2 – dense500 –
 *   dense(classes). 431,080 parameters at 28×28.
 * - `conv16-32`: conv16 5×5 same – pool 2 – conv32 5×5 – pool 2 – dense128 – dense(classes). 117,066
 *   parameters at 28×28.
 * Any image shape (square or not) whose sides are both at least an architecture's smallest side: lenet
 * and conv16-32 12, caffe-lenet 16, keras-mnist 6 (MIN_SIDE in cnn-replica.ts; the dense layers take
 * whatever the convolutions leave). A smaller shape is refused when the estimator is created, in one line
 * naming the architectures that take it, e.g. "cnn (lenet) takes images of at least 12×12; this run's
 * images are 8×8: use architecture keras-mnist (at least 6×6)."
 * The last layer outputs logits; training uses softmax cross-entropy on them (the stable form of a
 * softmax layer + categorical cross-entropy) and scores() applies the softmax. Optimizer: Adam.
 *
 * Defaults: lenet, 12 epochs, batch 128, Adam 1e-3 × 0.8 per epoch (what they reach on full MNIST, and
 * each architecture's seconds per epoch on wasm, are in docs/measurements.md; current figures in
 * reports/bench/). keras-mnist costs far more per epoch than the others: its second convolution alone is
 * ~8 GFLOP per batch of 128.
 *
 * `augment` (off by default): every training image, every epoch, is shifted, rotated and scaled by
 * a fresh random affine map drawn from createRng(`${seed}:cnn-augment`) (cnn-augment.ts), in the
 * batch-fill loop before the batch is split among replicas; validation, test and predict rows are
 * never changed.
 *
 * Our own training loop (not model.fit): batches shuffled with createRng(seed); layer initializers
 * seeded from the seed; dropout masks (tfjs draws their seeds from Math.random) come from a seeded
 * Math.random installed only while a batch runs synchronously, so nothing else sees it.
 *
 * Engines (src/engine/ort.ts, engineChoice()): on **ort** (onnxruntime-node, the default where it loads)
 * training and prediction run as ONNX graphs built from the tfjs model's layer list (src/engine/ort-cnn.ts:
 * one session.run per step: forward, loss, backward and Adam), on one session whose operators use
 * `threads` threads (no replicas); the dropout masks come from createRng(`${seed}:cnn-dropout-masks`).
 * The tfjs model is still built (same seeded initial weights), takes the ort weights after every epoch
 * (validation, early stopping) and is what serialize saves, so bundles have the same format whichever
 * engine trained them. Same seed and threads → same bytes on one machine; 1 and 2 threads differ in the
 * last bits (other summation orders). On **wasm** (DIGITBENCH_ENGINE=wasm, or ort missing) everything
 * below holds as before.
 *
 * `threads` ≥ 2 (the default from 10,000 training images on) trains data-parallel replicas on worker
 * threads (ParallelTrainer below, cnn-replica.ts, cnn-worker.ts): the same model for a seed and a
 * replica count, whatever the timing. It needs free cores: on an idle 2-core machine two replicas train
 * an epoch faster than one, but on a machine whose cores other work already fills, two threads get no
 * more CPU than one, and the per-step barrier made a fit slower in wall time (docs/measurements.md).
 */
import seedrandom from 'seedrandom';
import type { LayersModel, Tensor, Tensor2D } from '@tensorflow/tfjs';
import { checkTrainingData, defineClassifier, defineModel, type ClassifierContext, type FitOptions, type Model } from './plugin.ts';
import { getTf, TF_LIBRARIES, type Tf } from '../engine/tf.ts';
import { createRng } from '../engine/rng.ts';
import { argmaxLabels, cnnBytes, CNN_FORMAT, imageShapeOf, parseCnnBytes, PARALLEL_FROM_ROWS, type CnnParams, type CnnSavedHeader, createMatrix, type Matrix, type SerializeOptions } from '@digitbench/runtime/internal';
import { cnn as cnnModel } from '@digitbench/runtime/cnn';
import { callWorker, startTsWorker } from '../engine/threads.ts';
import { augmentBatch } from './cnn-augment.ts';
import { averageGradients, buildModel, checkArchitectureShape, FlatTrainer, flatWeights, partGradients, trainableVars, withRandom, type PartGradients } from './cnn-replica.ts';
import { engineChoice, ORT_LIBRARIES, ortDescription } from '../engine/ort.ts';
import { layersOf, OrtCnnPredictor, OrtCnnTrainer } from '../engine/ort-cnn.ts';

export { cnnParams, PARALLEL_FROM_ROWS, type CnnParams } from '@digitbench/runtime/internal';

const WHO = 'cnn';
const PREDICT_BATCH = 1000;

const nextTick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A trained network and what it needs to predict. */
interface Net {
  tf: Tf;
  model: LayersModel;
  /** Label of each output unit, ascending. */
  classes: number[];
  architecture: CnnParams['architecture'];
  imageShape: readonly [number, number];
  description: string;
  /** Threads the tensor engine's ops keep busy (predict). */
  threads: number;
  /** Data-parallel replicas the fit ran (each a worker thread on its own engine); absent for a loaded network. */
  replicas?: number;
  /** On the ort engine: the forward graph that predicts (the tfjs model holds the same weights, for saving). */
  predictor?: OrtCnnPredictor;
}

/** Softmax probabilities, rows × classes, computed in batches (on ort where the network has its forward graph). */
async function probabilities(net: Net, x: Matrix): Promise<Float32Array> {
  if (net.predictor) return net.predictor.probabilities(x.data, x.rows);
  const { tf, model } = net;
  const [h, w] = net.imageShape;
  const k = net.classes.length;
  const out = new Float32Array(x.rows * k);
  for (let start = 0; start < x.rows; start += PREDICT_BATCH) {
    const n = Math.min(PREDICT_BATCH, x.rows - start);
    const p = tf.tidy(() => {
      const xs = tf.tensor4d(x.data.subarray(start * h * w, (start + n) * h * w), [n, h, w, 1]);
      return tf.softmax(model.apply(xs, { training: false }) as Tensor2D);
    });
    out.set(p.dataSync() as Float32Array, start * k);
    p.dispose();
  }
  return out;
}

/** Mean cross-entropy and accuracy on labelled data (labels outside the training classes count as wrong). */
async function evaluate(net: Net, x: Matrix, y: Int32Array): Promise<{ loss: number; acc: number }> {
  const probs = await probabilities(net, x);
  let loss = 0;
  let correct = 0;
  const k = net.classes.length;
  const index = new Map(net.classes.map((c, i) => [c, i]));
  for (let r = 0; r < x.rows; r++) {
    const row = probs.subarray(r * k, (r + 1) * k);
    let arg = 0;
    for (let j = 1; j < k; j++) if (row[j]! > row[arg]!) arg = j;
    const t = index.get(y[r]!);
    if (t === arg) correct++;
    loss -= Math.log(Math.max(t === undefined ? 0 : row[t]!, 1e-7));
  }
  return { loss: loss / Math.max(1, x.rows), acc: correct / Math.max(1, x.rows) };
}

async function serializeNet(net: Net, options: SerializeOptions = {}): Promise<Uint8Array> {
  let artifacts: import('@tensorflow/tfjs').io.ModelArtifacts | undefined;
  await net.model.save(
    net.tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const header: CnnSavedHeader = {
    format: CNN_FORMAT,
    version: 1,
    architecture: net.architecture,
    imageShape: [...net.imageShape],
    classes: net.classes,
    modelTopology: artifacts!.modelTopology,
    weightSpecs: artifacts!.weightSpecs,
  };
  return cnnBytes(header, new Uint8Array(net.tf.io.CompositeArrayBuffer.join(artifacts!.weightData!)), options.precision);
}

function asModel(net: Net): Model {
  const [h, w] = net.imageShape;
  return defineModel(WHO, {
    classes: Int32Array.from(net.classes),
    inputSize: h * w,
    inputName: `pixels (one ${h}×${w} image per row)`,
    state: net,
    predict: async (s, x) => argmaxLabels(await probabilities(s, x), x.rows, s.classes),
    scores: async (s, x) => createMatrix(x.rows, s.classes.length, await probabilities(s, x)),
    serialize: serializeNet,
    engine: (s) => s.description,
    runtime: (s) => ({ engine: s.description, threads: s.threads, ...(s.replicas ? { fitThreads: Math.max(s.replicas, s.threads) } : {}) }),
    free: (s) => {
      s.model.dispose();
      void s.predictor?.release();
    },
  });
}

function checkImages(x: Matrix, [h, w]: readonly [number, number], where: string): void {
  if (x.cols !== h * w) {
    throw new Error(
      `cnn.${where}: each row must be one ${h}×${w} image (${h * w} values) but has ${x.cols}; give the cnn plugin image input with ctx.imageShape set.`,
    );
  }
}

async function fitCnn(p: CnnParams, ctx: ClassifierContext, x: Matrix, y: Int32Array, options: FitOptions = {}): Promise<Model> {
  const { tf, engine } = await getTf();
  const imageShape = imageShapeOf(ctx);
  checkImages(x, imageShape, 'fit');
  checkTrainingData(x, y, WHO);
  const classes = [...new Set(y)].sort((a, b) => a - b);
  if (classes.length < 2) throw new Error(`cnn.fit: the training labels hold ${classes.length} class(es); a classifier needs at least 2.`);
  const index = new Map(classes.map((c, i) => [c, i]));
  const yi = Int32Array.from(y, (v) => index.get(v)!);
  const val = options.validation;
  if (val) {
    checkImages(val.x, imageShape, 'fit (validation)');
    if (val.y.length !== val.x.rows) throw new Error(`cnn.fit: validation has ${val.x.rows} images but ${val.y.length} labels; pass one label per row.`);
  }

  const { architecture, epochs, batchSize, learningRate, learningRateDecay, patience, augment } = p;
  const [h, w] = imageShape;
  const threads = Math.max(1, Math.min(p.threads ?? (x.rows >= PARALLEL_FROM_ROWS ? 2 : 1), Math.min(batchSize, x.rows)));
  // On ort: one session whose operators use `threads` threads (src/engine/ort-cnn.ts); on wasm: replicas.
  const onOrt = engineChoice().engine === 'ort';
  const replicas = onOrt ? 1 : threads;
  options.progress?.start(epochs, 'epoch');
  const model = buildModel(tf, architecture, imageShape, classes.length, ctx.seed);
  const net: Net = {
    tf,
    model,
    classes,
    architecture,
    imageShape,
    description: onOrt
      ? ortDescription(threads)
      : replicas > 1
        ? `${engine.description}, trained as ${replicas} data-parallel replicas (worker threads)`
        : engine.description,
    threads: onOrt ? threads : engine.threads,
    replicas,
  };
  const optimizer = tf.train.adam(learningRate); // holds two scalar variables from here on
  const vars = model.trainableWeights.map((v) => v.read()) as import('@tensorflow/tfjs').Variable[];
  const order = createRng(`${ctx.seed}:cnn-shuffle`);
  const prng = seedrandom(`${ctx.seed}:cnn-dropout`);
  const augmentRng = createRng(`${ctx.seed}:cnn-augment`);
  const perm = Int32Array.from({ length: x.rows }, (_, i) => i);
  const px = h * w;
  const xb = new Float32Array(Math.min(batchSize, x.rows) * px);
  const yb = new Int32Array(Math.min(batchSize, x.rows));
  const stats: Tensor[] = [];
  let best: { loss: number; weights: Tensor[] } | undefined;
  let waited = 0;
  let ok = false;
  const workers: import('node:worker_threads').Worker[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  try {
    let parallel: ParallelTrainer | undefined;
    let onnx: OrtCnnTrainer | undefined;
    const layers = onOrt ? layersOf(model) : [];
    // The tfjs model's variables take the ort weights after every epoch (validation, early stopping, saving).
    const syncWeights = () => onnx && tf.tidy(() => vars.forEach((v, i) => v.assign(tf.tensor(onnx!.weights[i]!, v.shape, 'float32'))));
    if (onOrt) {
      const dropoutRng = createRng(`${ctx.seed}:cnn-dropout-masks`);
      onnx = await OrtCnnTrainer.create(layers, imageShape, vars.map((v) => v.dataSync() as Float32Array), threads, dropoutRng);
      cleanups.push(() => onnx!.release());
    }
    if (replicas > 1) {
      parallel = await ParallelTrainer.start(tf, model, prng, workers, replicas, { architecture, imageShape: [h, w], classes: classes.length, seed: ctx.seed });
    }
    for (let epoch = 0; epoch < epochs; epoch++) {
      const rate = learningRate * learningRateDecay ** epoch;
      // Adam reads its (protected) learningRate at every step.
      (optimizer as unknown as { learningRate: number }).learningRate = rate;
      order.shuffle(perm);
      let lastYield = performance.now();
      let epochLoss = 0;
      let epochCorrect = 0;
      for (let start = 0; start < x.rows; start += batchSize) {
        const n = Math.min(batchSize, x.rows - start);
        for (let k = 0; k < n; k++) {
          const i = perm[start + k]!;
          if (!augment) xb.set(x.data.subarray(i * px, (i + 1) * px), k * px);
          yb[k] = yi[i]!;
        }
        // Before the split among replicas: the augmented batch depends on the seed only.
        if (augment) augmentBatch((k) => x.data.subarray(perm[start + k]! * px, (perm[start + k]! + 1) * px), xb, n, imageShape, augment, augmentRng);
        if (onnx) {
          const r = await onnx.step(xb, yb, n, rate);
          epochLoss += r.lossSum;
          epochCorrect += r.correct;
          if (performance.now() - lastYield > 250) {
            await nextTick();
            lastYield = performance.now();
          }
          continue;
        }
        if (parallel) {
          const r = await parallel.step(xb, yb, n, rate);
          epochLoss += r.lossSum;
          epochCorrect += r.correct;
          continue; // awaiting the workers yields every step
        }
        const batchStats = withRandom(prng, () =>
          tf.tidy(() => {
            const xs = tf.tensor4d(xb.subarray(0, n * px), [n, h, w, 1]);
            const labels = tf.tensor1d(yb.subarray(0, n), 'int32');
            let correct: Tensor | undefined;
            const loss = optimizer.minimize(
              () => {
                const logits = model.apply(xs, { training: true }) as Tensor2D;
                correct = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'float32')));
                return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, classes.length), logits);
              },
              true,
              vars,
            )!;
            const row = tf.stack([tf.mul(loss, n), correct!]);
            correct!.dispose(); // kept past minimize's own tidy; not needed beyond this row
            return row;
          }),
        );
        stats.push(batchStats);
        if (performance.now() - lastYield > 250) {
          await nextTick();
          lastYield = performance.now();
        }
      }
      let lossSum = epochLoss;
      let correct = epochCorrect;
      syncWeights();
      if (!parallel && !onnx) {
        const sums = tf.tidy(() => tf.sum(tf.stack(stats), 0));
        tf.dispose(stats.splice(0));
        [lossSum, correct] = (await sums.data()) as unknown as [number, number];
        sums.dispose();
      }
      const info: Record<string, number> = { loss: round(lossSum / x.rows), acc: round(correct / x.rows) };
      let stop = false;
      if (val) {
        if (onnx) {
          // Validation on ort: a forward graph of this epoch's weights.
          await net.predictor?.release();
          net.predictor = undefined;
          net.predictor = await OrtCnnPredictor.create(layers, imageShape, onnx.weights, threads);
        }
        const v = await evaluate(net, val.x, val.y);
        info.valLoss = round(v.loss);
        info.valAcc = round(v.acc);
        if (patience > 0) {
          if (!best || v.loss < best.loss) {
            if (best) tf.dispose(best.weights);
            best = { loss: v.loss, weights: model.getWeights().map((t) => tf.clone(t)) };
            waited = 0;
          } else if (++waited >= patience) {
            stop = true;
          }
        }
      }
      options.progress?.tick(info);
      if (stop) {
        ctx.log.info(`cnn: early stop after epoch ${epoch + 1}: validation loss did not improve for ${patience} epochs.`);
        break;
      }
    }
    await parallel?.checkReplicas();
    if (best) model.setWeights(best.weights);
    if (onOrt) {
      await net.predictor?.release();
      net.predictor = undefined;
      net.predictor = await OrtCnnPredictor.create(layers, imageShape, trainableVars(model).map((v) => v.dataSync() as Float32Array), threads);
    }
    ok = true;
  } finally {
    await Promise.all(workers.map((wk) => wk.terminate()));
    await Promise.all(cleanups.map((c) => c()));
    tf.dispose(stats);
    if (best) tf.dispose(best.weights);
    optimizer.dispose();
    if (!ok) {
      model.dispose();
      await net.predictor?.release();
    }
  }
  return asModel(net);
}

/**
 * Data-parallel training: this thread is replica 0 and holds the model that fit returns; each worker
 * (cnn-worker.ts) holds an identical replica. Every step splits the batch into contiguous parts, each
 * replica computes the gradients of its part (this thread while the workers compute theirs), the parts
 * are averaged weighted by their sizes, and every replica applies that average with its own Adam
 * (FlatAdam: tfjs's arithmetic in one JS pass; the workers at the same time as this thread). Dropout masks come from one seeded generator per
 * replica, so a run depends on the seed and the replica count, not on timing.
 */
class ParallelTrainer {
  private readonly trainer: FlatTrainer;

  private constructor(
    private readonly tf: Tf,
    private readonly model: LayersModel,
    private readonly prng: () => number,
    private readonly workers: import('node:worker_threads').Worker[],
    private readonly shape: { architecture: CnnParams['architecture']; imageShape: [number, number]; classes: number; seed: number },
  ) {
    this.trainer = new FlatTrainer(tf, trainableVars(model));
  }

  static async start(
    tf: Tf,
    model: LayersModel,
    prng: () => number,
    workers: import('node:worker_threads').Worker[],
    replicas: number,
    shape: { architecture: CnnParams['architecture']; imageShape: [number, number]; classes: number; seed: number },
  ): Promise<ParallelTrainer> {
    const weights = flatWeights(trainableVars(model));
    for (let r = 1; r < replicas; r++) workers.push(startTsWorker(new URL('./cnn-worker.ts', import.meta.url), null));
    await Promise.all(workers.map((wk, i) => callWorker(wk, { kind: 'init', ...shape, replica: i + 1, weights }, WHO)));
    return new ParallelTrainer(tf, model, prng, workers, shape);
  }

  /** One synchronous step on the first n images of xb/yb; returns the batch's loss sum and correct count. */
  async step(xb: Float32Array, yb: Int32Array, n: number, lr: number): Promise<{ lossSum: number; correct: number }> {
    const replicas = this.workers.length + 1;
    const px = this.shape.imageShape[0] * this.shape.imageShape[1];
    const bounds = Array.from({ length: replicas + 1 }, (_, r) => Math.round((r * n) / replicas));
    const asked = this.workers.map((wk, i) => {
      const [a, b] = [bounds[i + 1]!, bounds[i + 2]!];
      const msg = { kind: 'step', x: xb.slice(a * px, b * px), y: yb.slice(a, b), n: b - a };
      return callWorker<PartGradients>(wk, msg, WHO, [msg.x.buffer, msg.y.buffer]);
    });
    const mine = partGradients(this.tf, this.model, trainableVars(this.model), xb, yb, bounds[1]!, this.shape.imageShape, this.shape.classes, this.prng);
    const theirs = await Promise.all(asked);
    const all = [mine, ...theirs];
    const mean = averageGradients(all.map((g, r) => ({ grads: g.grads, n: bounds[r + 1]! - bounds[r]! })));
    // The workers apply it (no answer) while this thread does; they read the next request after it.
    for (const wk of this.workers) wk.postMessage({ kind: 'apply', avg: mean, lr });
    this.trainer.apply(mean, lr);
    return { lossSum: all.reduce((s, g) => s + g.lossSum, 0), correct: all.reduce((s, g) => s + g.correct, 0) };
  }

  /** Checks that every replica holds this thread's weights, bit for bit. */
  async checkReplicas(): Promise<void> {
    const mine = flatWeights(trainableVars(this.model));
    const theirs = await Promise.all(this.workers.map((wk) => callWorker<{ weights: Float32Array }>(wk, { kind: 'check' }, WHO)));
    const a = new Uint32Array(mine.buffer);
    theirs.forEach(({ weights }, i) => {
      const b = new Uint32Array(weights.buffer);
      const at = a.findIndex((v, j) => v !== b[j]);
      if (b.length !== a.length || at >= 0) {
        throw new Error(`cnn.fit: training replica ${i + 1} diverged from replica 0 (first at weight ${at}); the replicas must run the same engine.`);
      }
    });
  }
}

async function loadCnn(bytes: Uint8Array, ctx: ClassifierContext): Promise<Model> {
  const { header, weightData, imageShape } = parseCnnBytes(bytes, ctx);
  const { tf, engine } = await getTf();
  const onOrt = engineChoice().engine === 'ort';
  const model = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: header.modelTopology as object,
      weightSpecs: header.weightSpecs as import('@tensorflow/tfjs').io.WeightsManifestEntry[],
      weightData,
    }),
  );
  if (!onOrt) return asModel({ tf, model, classes: header.classes, architecture: header.architecture, imageShape, description: engine.description, threads: engine.threads });
  const predictor = await OrtCnnPredictor.create(layersOf(model), imageShape, trainableVars(model).map((v) => v.dataSync() as Float32Array), 1);
  return asModel({ tf, model, classes: header.classes, architecture: header.architecture, imageShape, description: ortDescription(1), threads: 1, predictor });
}

function round(v: number): number {
  return Math.round(v * 1e4) / 1e4;
}

export const cnn = defineClassifier<CnnParams>({
  ...cnnModel,
  library: 'ours: training loop, Adam step, bundle format; on onnxruntime-node: the forward/backward/Adam graphs; on wasm: data-parallel replicas and wasm kernels; @tensorflow/tfjs 4.22.0: layers, topology and weights (and ops on wasm; apps: tfjs-core, -layers, -backend-wasm 4.22.0, or onnxruntime-node in Node)',
  // seedrandom: the shuffles, augmentations, initial weights and dropout masks.
  fitLibraries: [...TF_LIBRARIES, 'seedrandom 3.0.5'],
  // Training and predict graphs on ort (tfjs still builds the model and writes its weights there).
  engineLibraries: { ort: ORT_LIBRARIES },
  testParams: { architecture: 'lenet', epochs: 2, batchSize: 64 },
  create: (p, ctx) => {
    // Before anything is fitted: an architecture that cannot take the run's image shape says which can.
    checkArchitectureShape(p.architecture, imageShapeOf(ctx));
    return { fit: (x, y, options) => fitCnn(p, ctx, x, y, options) };
  },
  // The workbench's engine (getTf: tfjs-node where installed, else wasm with our kernels) also for loading.
  load: (bytes, _p, ctx) => loadCnn(bytes, ctx),
});
