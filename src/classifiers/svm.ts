/**
 * Support vector classifier: libsvm-js 0.2.1 (libsvm compiled to wasm) trains a C-SVC; prediction runs in
 * JS on the model libsvm wrote (its own model text, parsed once after training).
 *
 * Why not call the library for everything:
 * - Its `kernel` option takes numeric enums; a string such as 'rbf' silently trains a linear kernel, and
 *   bad values (cost: '') silently give a model with no support vectors. Our zod params are checked first and
 *   mapped to the enums.
 * - Its `predictOneProbability` leaks (785×16 bytes per call for 784 features) and returns garbage for
 *   models trained without probabilities; it exposes no decision values at all.
 * - `SVM.load` passes the model text through emscripten's stack (length × 4 bytes on a 5 MB stack, unchecked):
 *   a model text over ~1.3 MB overruns it, and the loaded model silently predicts differently (30 of 300 labels
 *   changed at 4.6 MB; 273 of 1,000 for the 7 MB full-MNIST PCA-50 model).
 * - A dense JS loop over the model reproduces libsvm's decision function (same summation order: no label
 *   differed in our checks).
 * So after `train` we take `serializeModel()` (libsvm's standard model file), free the wasm memory at once
 * (the training problem alone is rows × (features+1) × 16 bytes of a 2 GB heap shared by every instance),
 * and predict, score and save from the parsed text. `serialize()` bytes hold that text unchanged, so a
 * model file written by native libsvm's svm-train (same format) loads too.
 *
 * Speed (issue 10): libsvm runs in one thread and the wasm build has no SIMD. With 3+ classes and no probability
 * estimates, fit trains libsvm's one-vs-one class pairs in worker threads (svm-ovo.ts, svm-worker.ts: each
 * thread has its own wasm instance, the training matrix is shared) and assembles the model text svm_train itself
 * writes, byte for byte (tested; the same text with 1 or 2 threads). rbf predict computes the kernel and decision
 * values as float32 matrix products on the tensor engine and recomputes exactly, in float64, every row whose vote
 * float32 rounding could change (svm-predict.ts): the labels are the exact loop's. scores() keep the exact loop.
 * Where engineChoice() picks onnxruntime (issue 25), those products run there instead (one session per model).
 * On full MNIST PCA-50 the pairs take a fraction of the CPU time of libsvm's own loop over the same pairs (the
 * same model text; why is not established: each pair's rows are contiguous in its problem), and the fast rbf
 * labels a fraction of the exact loop's time: the figures are in docs/measurements.md.
 *
 * Load, predict and scores are in @digitbench/runtime (models/svm.ts: the model format, libsvm's exact float64
 * decision function, vote and probabilities, in plain JS); this file adds fitting, and its load and fitted models
 * take the runtime's Model with the fast rbf labels above (`winners`), so experiment figures are unchanged.
 *
 * libsvm writes gamma, coef0, rho and probA/B with 6 significant digits; we round gamma and coef0 to 6
 * digits before training, so the saved model predicts with exactly the kernel it was trained with.
 * libsvm has no seed: training without probability estimates is deterministic; with them, probA/probB come
 * from an internal 5-fold split drawn with the wasm module's rand(), so scores (not labels) can differ
 * slightly between fits in one process (and only libsvm's own loop, in this thread, trains them).
 */
import type { Worker } from 'node:worker_threads';
import {
  decisionValues,
  prepareSvm,
  readSvm,
  row,
  svmModel,
  svmModelOf,
  type Matrix,
  type SvmParams,
  type SvmTrained,
} from '@digitbench/runtime/internal';
import { cores, defaultThreads, isShared, startTsWorker } from '../engine/threads.ts';
import { checkTrainingData, defineClassifier, type FitOptions, type Model } from './plugin.ts';
import { fastRbfWinners, rbfProductsFor, type RbfProducts } from './svm-predict.ts';
import { engineChoice, ORT_LIBRARIES, ortDescription, type EngineName } from '../engine/ort.ts';
import { loadedEngine, TF_LIBRARIES } from '../engine/tf.ts';
import { assembleOvo, loadLibsvm, markSent, planOvo, trainPair, type OvoPlan, type PairResult } from './svm-ovo.ts';

export { decisionValues, parseLibsvmModel, svmParams, type SvmModel, type SvmParams } from '@digitbench/runtime/internal';

const LIBSVM_VERSION = '0.2.1';
const WHO = 'svm';

/** libsvm's kernel_type numbers (what its `-t` flag takes). */
const KERNEL_CODES = { linear: 0, poly: 1, rbf: 2, sigmoid: 3 } as const;

/** The wasm heap cannot grow past 2 GB; leave room for libsvm's own arrays and the saved model text. */
const HEAP_BUDGET_MB = 1900;

// ---------------------------------------------------------------------------------------------------
// The library

export { loadLibsvm, type LibsvmClass } from './svm-ovo.ts';

// ---------------------------------------------------------------------------------------------------
// The plugin

/** Rounds to the 6 significant digits libsvm keeps in its model file. */
const sixDigits = (v: number) => Number(v.toPrecision(6));

/** The gamma libsvm gets: 'scale' is scikit-learn's 1 / (features × var(X)) over all training values. */
export function resolveGamma(gamma: SvmParams['gamma'], x: Matrix, factor = 1): number {
  if (typeof gamma === 'number') {
    if (factor !== 1) throw new Error(`svm: gammaFactor (${factor}) multiplies the 'scale' or 'auto' gamma; with a numeric gamma (${gamma}) leave gammaFactor at 1.`);
    return sixDigits(gamma);
  }
  if (gamma === 'auto') return sixDigits(factor / x.cols);
  const d = x.data;
  let sum = 0;
  for (let i = 0; i < d.length; i++) sum += d[i]!;
  const mean = sum / d.length;
  let sum2 = 0;
  for (let i = 0; i < d.length; i++) sum2 += (d[i]! - mean) ** 2;
  const variance = sum2 / d.length;
  return variance > 0 ? sixDigits(factor / (x.cols * variance)) : factor;
}

/** The options object libsvm-js gets (numeric enums, explicit gamma, always quiet). */
export function libsvmOptions(params: SvmParams, x: Matrix): Record<string, number | boolean> {
  return {
    type: 0, // C_SVC
    kernel: KERNEL_CODES[params.kernel],
    degree: params.degree,
    gamma: resolveGamma(params.gamma, x, params.gammaFactor),
    coef0: sixDigits(params.coef0),
    cost: params.C,
    cacheSize: params.cacheSizeMb,
    tolerance: params.tolerance,
    shrinking: params.shrinking,
    probabilityEstimates: params.probability,
    quiet: true,
  };
}

/**
 * The runtime's Model of a fitted or loaded SVM, with rbf labels from float32 products on the tensor engine and an
 * exact float64 recheck of near ties (svm-predict.ts: the labels equal the exact loop's); scores stay exact.
 * The products run on `engine` (default: engineChoice()'s): tfjs as before (tensors made per call), or
 * onnxruntime with one session per model, made at its first prediction and released by dispose().
 */
export function asModel(t: SvmTrained, fitted = false, on: EngineName = engineChoice().engine, ortThreads = defaultThreads()): Model {
  const ort = on === 'ort' && t.model.kernel === 'rbf';
  let products: Promise<RbfProducts> | undefined;
  const engine = (s: SvmTrained) => {
    const fit = s.fitThreads > 1 ? ` fit by class pair in ${s.fitThreads} worker threads` : s.fitThreads === 1 ? ' fit by class pair' : ' fit';
    const predict = s.model.kernel !== 'rbf' ? 'js predict' : ort ? `${ortDescription(ortThreads)} float32 predict, exact float64 near ties` : 'tfjs float32 predict, exact float64 near ties';
    return `libsvm-js ${LIBSVM_VERSION} (wasm)${fit}; ${predict}`;
  };
  return svmModelOf(t, {
    ...(t.model.kernel === 'rbf'
      ? {
          winners: async (m, x) => {
            const opts = ort ? { products: await (products ??= rbfProductsFor(m, 'ort', ortThreads)) } : {};
            return (await fastRbfWinners(m, x, (rows) => decisionValues(m, x, rows), opts)).winners;
          },
        }
      : {}),
    engine,
    // Fit: the class pairs' worker threads (1: libsvm's own loop or the pairs in this thread). Predict: rbf labels on the tensor engine or onnxruntime, else plain JS.
    runtime: (s) => ({
      engine: engine(s),
      threads: s.model.kernel === 'rbf' ? (ort ? ortThreads : (loadedEngine()?.threads ?? 1)) : 1,
      ...(fitted ? { fitThreads: Math.max(1, s.fitThreads) } : {}),
    }),
    // The onnxruntime session of the products (made at the first prediction on ort), released once.
    free: () => {
      void products?.then((p) => p.dispose());
      products = undefined;
    },
  });
}

/** Below this much training work (rows² × features) libsvm's own loop is quicker than pairs (and workers). */
const SMALL_JOB = 2e10;

interface FitPlan {
  /** Train class pair by class pair (else one libsvm instance runs svm_train's own loop over the pairs). */
  pairs: boolean;
  /** Worker threads for the pairs (1: in this thread). */
  threads: number;
}

/**
 * On full MNIST PCA-50 the pairs take about a third of the CPU of libsvm's own loop over the same pairs even in
 * one thread (same model text; docs/measurements.md), so large jobs go by pair whatever the thread count.
 */
function fitPlan(p: SvmParams, x: Matrix, classes: number): FitPlan {
  // Probability estimates draw libsvm's rand() across the pairs in sequence: only the library's own loop reproduces them.
  if (p.probability || classes < 3) return { pairs: false, threads: 1 };
  const pairs = (classes * (classes - 1)) / 2;
  const big = x.rows * x.rows * x.cols >= SMALL_JOB;
  const threads = p.threads !== null ? Math.min(p.threads, pairs) : big ? Math.max(1, Math.min(2, cores(), pairs)) : 1;
  return { pairs: big || threads > 1, threads };
}

async function fitSvm(params: SvmParams, x: Matrix, y: Int32Array, options?: FitOptions): Promise<Model> {
  checkTrainingData(x, y, WHO);
  const distinct = new Set(y);
  if (distinct.size < 2) throw new Error(`svm: the training labels hold only one class (${y[0]}); a classifier needs at least two.`);
  const how = fitPlan(params, x, distinct.size);
  const plan = planOvo(y);
  // libsvm's own loop holds the whole problem in one instance; by pair, each instance holds one pair's rows.
  const heapRows = how.pairs ? largestPair(plan) : x.rows;
  const problemMb = (heapRows * (x.cols + 1) * 16) / 2 ** 20;
  if (problemMb + params.cacheSizeMb > HEAP_BUDGET_MB) {
    throw new Error(
      `svm: libsvm-js would need about ${Math.round(problemMb + params.cacheSizeMb)} MB of its 2 GB wasm heap (${heapRows} rows × ${x.cols} features stored densely, ${Math.round(problemMb)} MB, plus a ${params.cacheSizeMb} MB kernel cache); lower cacheSizeMb, train on fewer rows or reduce the features (e.g. PCA).`,
    );
  }
  const libOptions = libsvmOptions(params, x);
  let text: string;
  if (!how.pairs) {
    options?.progress?.start(1, 'libsvm train');
    const SVM = await loadLibsvm();
    const svm = new SVM(libOptions);
    try {
      const rows = Array.from({ length: x.rows }, (_, i) => row(x, i));
      svm.train(rows, Array.from(y));
      text = svm.serializeModel();
    } finally {
      svm.free();
    }
  } else if (how.threads === 1) {
    options?.progress?.start(plan.pairs.length / 2, 'class pair');
    const SVM = await loadLibsvm();
    const sent = new Uint8Array(x.rows);
    const results: PairResult[] = [];
    for (let p = 0; p < plan.pairs.length / 2; p++) {
      const result = trainPair(SVM, libOptions, x, plan, p, (r) => sent[r] === 1);
      markSent(plan, p, result, sent);
      results.push(result);
      options?.progress?.tick({ supportVectors: result.sv.length, seconds: Number(result.seconds.toFixed(2)) });
    }
    text = assembleOvo(plan, results);
  } else {
    options?.progress?.start(plan.pairs.length / 2, 'class pair');
    text = assembleOvo(plan, await trainPairsInWorkers(x, plan, libOptions, how.threads, options));
  }
  const trained = prepareSvm(text, x.cols, how.pairs ? how.threads : 0);
  if (!how.pairs) options?.progress?.tick({ supportVectors: trained.model.l });
  return asModel(trained, true);
}

function pairRows(plan: OvoPlan, p: number): number {
  return plan.classRows[plan.pairs[2 * p]!]!.length + plan.classRows[plan.pairs[2 * p + 1]!]!.length;
}

function largestPair(plan: OvoPlan): number {
  let most = 0;
  for (let p = 0; p < plan.pairs.length / 2; p++) most = Math.max(most, pairRows(plan, p));
  return most;
}

/**
 * Trains every class pair in `threads` worker threads, largest pairs first, each worker taking the next pair
 * when it finishes one. Results are kept by pair index, so the model does not depend on which worker trained what.
 */
function trainPairsInWorkers(
  x: Matrix,
  plan: OvoPlan,
  libOptions: Record<string, number | boolean>,
  threads: number,
  options?: FitOptions,
): Promise<PairResult[]> {
  let data = x.data;
  if (!isShared(data)) {
    data = new Float32Array(new SharedArrayBuffer(x.data.byteLength));
    data.set(x.data);
  }
  const shared: Matrix = { rows: x.rows, cols: x.cols, data };
  const n = plan.pairs.length / 2;
  const order = Array.from({ length: n }, (_, p) => p).sort((a, b) => pairRows(plan, b) - pairRows(plan, a) || a - b);
  const results = new Array<PairResult>(n);
  return new Promise((resolve, reject) => {
    const workers: Worker[] = [];
    let next = 0;
    let done = 0;
    let failed = false;
    const stop = () => workers.forEach((w) => void w.terminate());
    const fail = (why: string) => {
      if (failed) return;
      failed = true;
      stop();
      reject(new Error(`${WHO}: ${why}; set threads: 1 to train in this thread.`));
    };
    const busy = new Set<Worker>();
    const give = (w: Worker) => {
      if (next < n) {
        busy.add(w);
        w.postMessage({ pair: order[next++] });
      } else w.postMessage({ pair: -1 });
    };
    for (let i = 0; i < threads; i++) {
      const w = startTsWorker(new URL('./svm-worker.ts', import.meta.url), { x: shared, plan, options: libOptions });
      workers.push(w);
      w.on('message', (msg: { ready?: true; pair?: number; result?: PairResult; error?: string }) => {
        if (failed) return;
        if (msg.error !== undefined) return fail(`a worker thread failed while training a class pair: ${msg.error}`);
        if (msg.result !== undefined && msg.pair !== undefined) {
          busy.delete(w);
          results[msg.pair] = msg.result;
          done++;
          options?.progress?.tick({ supportVectors: msg.result.sv.length, seconds: Number(msg.result.seconds.toFixed(2)) });
          if (done === n) {
            // Resolve once the workers have exited (their wasm heaps are freed; liveWorkers() is back to 0).
            void Promise.all(workers.map((wk) => wk.terminate())).then(() => resolve(results), () => resolve(results));
            return;
          }
        }
        give(w);
      });
      w.on('error', (err) => fail(`a worker thread failed to run (${err.message})`));
      w.on('exit', (code) => {
        if (busy.has(w)) fail(`a worker thread exited (code ${code}) while training a class pair`);
      });
    }
  });
}

export const svm = defineClassifier<SvmParams>({
  ...svmModel,
  library: `ours: class-pair scheduling, model assembly, predict (exact float64 JS; workbench rbf labels: onnxruntime-node or tfjs products, exact recheck); libsvm-js ${LIBSVM_VERSION}: the solver and the model text (fit only)`,
  fitLibraries: [`libsvm-js ${LIBSVM_VERSION}`],
  // The rbf kernel products of predict: tfjs on wasm, onnxruntime-node on ort.
  engineLibraries: { wasm: TF_LIBRARIES, ort: ORT_LIBRARIES },
  testParams: { cacheSizeMb: 100, threads: 2 },
  create: (params) => ({ fit: (x, y, options) => fitSvm(params, x, y, options) }),
  load: async (bytes) => asModel(readSvm(bytes)),
});
