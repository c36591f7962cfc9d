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
 * Full MNIST PCA-50 (60k/10k, C=10, gamma scale; 9,366 SVs, 98.63%, model text identical), shared 2-core machine:
 * libsvm's own loop fit 204 s CPU, exact-loop predict 13 s; by pair in 1 thread 69–75 s, in 2 workers 41–63 s
 * wall (73–78 s CPU); fast predict 3.2–3.7 s (2.8% of rows recomputed exactly). Why pairs alone use 3× less CPU
 * than svm_train's loop over the same pairs is not established (each pair's rows are contiguous in its problem).
 *
 * libsvm writes gamma, coef0, rho and probA/B with 6 significant digits; we round gamma and coef0 to 6
 * digits before training, so the saved model predicts with exactly the kernel it was trained with.
 * libsvm has no seed: training without probability estimates is deterministic; with them, probA/probB come
 * from an internal 5-fold split drawn with the wasm module's rand(), so scores (not labels) can differ
 * slightly between fits in one process (and only libsvm's own loop, in this thread, trains them).
 */
import type { Worker } from 'node:worker_threads';
import { z } from 'zod';
import { createMatrix, row, takeRows, type Matrix } from '@digitbench/runtime/internal';
import { cores, isShared, startTsWorker } from '../engine/threads.ts';
import { checkTrainingData, defineClassifier, defineModel, parseSavedJson, threadsParam, type FitOptions, type Model } from './plugin.ts';
import { fastRbfWinners } from './svm-predict.ts';
import { assembleOvo, loadLibsvm, markSent, planOvo, trainPair, type OvoPlan, type PairResult } from './svm-ovo.ts';

const LIBSVM_VERSION = '0.2.1';
const FORMAT = 'digitbench-libsvm';
const WHO = 'svm';

/** libsvm's kernel_type numbers (what its `-t` flag takes). */
const KERNEL_CODES = { linear: 0, poly: 1, rbf: 2, sigmoid: 3 } as const;
type KernelName = keyof typeof KERNEL_CODES;
/** Names libsvm writes in the model file. */
const KERNEL_FROM_FILE: Record<string, KernelName> = { linear: 'linear', polynomial: 'poly', rbf: 'rbf', sigmoid: 'sigmoid' };

/** The wasm heap cannot grow past 2 GB; leave room for libsvm's own arrays and the saved model text. */
const HEAP_BUDGET_MB = 1900;

export const svmParams = z
  .object({
    kernel: z.enum(['rbf', 'linear', 'poly', 'sigmoid']).default('rbf').describe('Kernel function (mapped to libsvm\'s -t numbers)'),
    C: z.number().positive().default(10).describe('Cost of a margin violation (libsvm -c)'),
    gamma: z
      .union([z.enum(['scale', 'auto']), z.number().positive()], { error: 'expected "scale", "auto" or a positive number' })
      .default('scale')
      .describe("Kernel width: 'scale' = 1 / (features × variance of all training values), as scikit-learn; 'auto' = 1 / features; or a number"),
    gammaFactor: z
      .number()
      .positive()
      .default(1)
      .describe("Multiplies the 'scale' or 'auto' gamma (e.g. 2 = a kernel twice as narrow), so a grid can vary the width relative to the features; leave at 1 with a numeric gamma"),
    degree: z.number().int().min(1).max(20).default(3).describe('Degree of the polynomial kernel'),
    coef0: z.number().default(0).describe('Constant term of the poly and sigmoid kernels (rounded to 6 significant digits, as libsvm saves it)'),
    probability: z
      .boolean()
      .default(false)
      .describe('Also fit Platt-scaled pairwise probabilities (about 5× slower to train); scores are then probabilities'),
    cacheSizeMb: z.number().positive().max(1000).default(500).describe("libsvm's kernel cache in MB (part of the 2 GB wasm heap)"),
    tolerance: z.number().positive().default(0.001).describe('Stopping tolerance (libsvm -e)'),
    shrinking: z.boolean().default(true).describe("libsvm's shrinking heuristic (-h)"),
    threads: threadsParam(
      "Worker threads training libsvm's one-vs-one class pairs (each its own wasm instance and cache); null: up to 2, and none for small jobs; the model does not depend on it",
    ),
  })
  .strict();

export type SvmParams = z.infer<typeof svmParams>;

// ---------------------------------------------------------------------------------------------------
// The library

export { loadLibsvm, type LibsvmClass } from './svm-ovo.ts';

// ---------------------------------------------------------------------------------------------------
// The model, as libsvm writes it

export interface SvmModel {
  kernel: KernelName;
  gamma: number;
  coef0: number;
  degree: number;
  nrClass: number;
  /** Number of support vectors. */
  l: number;
  /** Features per support vector. */
  d: number;
  /** Class labels in libsvm's order (first appearance in the training labels). */
  labels: Int32Array;
  /** Support vectors per class, and where each class's block starts. */
  nSV: Int32Array;
  start: Int32Array;
  /** (nrClass − 1) rows of l coefficients. */
  coef: Float64Array;
  /** One per class pair (i < j, in libsvm order). */
  rho: Float64Array;
  probA?: Float64Array;
  probB?: Float64Array;
  /** l × d support vectors, dense. */
  sv: Float64Array;
}

function parseNumbers(s: string, what: string): number[] {
  const v = s.trim().split(/\s+/).map(Number);
  if (v.some((x) => !Number.isFinite(x))) throw new Error(`svm: the libsvm model has a bad "${what}" line; pass the bytes that serialize() returned.`);
  return v;
}

/** Parses libsvm's model file (svm_save_model) for a C-SVC. */
export function parseLibsvmModel(text: string, features: number): SvmModel {
  const bad = (why: string) => new Error(`svm: the libsvm model is not usable (${why}); pass the bytes that serialize() returned.`);
  const lines = text.split('\n');
  const header = new Map<string, string>();
  let at = 0;
  for (; at < lines.length; at++) {
    const line = lines[at]!.trim();
    if (line === 'SV') break;
    if (!line) continue;
    const sp = line.indexOf(' ');
    header.set(sp < 0 ? line : line.slice(0, sp), sp < 0 ? '' : line.slice(sp + 1));
  }
  if (at >= lines.length) throw bad('no SV section');
  if (header.get('svm_type') !== 'c_svc') throw bad(`svm_type ${header.get('svm_type')}, expected c_svc`);
  const kernel = KERNEL_FROM_FILE[header.get('kernel_type') ?? ''];
  if (!kernel) throw bad(`kernel_type ${header.get('kernel_type')}`);
  const nrClass = Number(header.get('nr_class'));
  const l = Number(header.get('total_sv'));
  if (!Number.isInteger(nrClass) || nrClass < 2 || !Number.isInteger(l) || l < 1) throw bad('nr_class or total_sv');
  const pairs = (nrClass * (nrClass - 1)) / 2;
  const get = (key: string, n: number, required = true): Float64Array | undefined => {
    const s = header.get(key);
    if (s === undefined) {
      if (required) throw bad(`no ${key}`);
      return undefined;
    }
    const v = parseNumbers(s, key);
    if (v.length !== n) throw bad(`${key} has ${v.length} values, expected ${n}`);
    return Float64Array.from(v);
  };
  const labels = Int32Array.from(get('label', nrClass)!);
  const nSV = Int32Array.from(get('nr_sv', nrClass)!);
  const start = new Int32Array(nrClass);
  for (let i = 1; i < nrClass; i++) start[i] = start[i - 1]! + nSV[i - 1]!;
  if (start[nrClass - 1]! + nSV[nrClass - 1]! !== l) throw bad('nr_sv does not add up to total_sv');
  const model: SvmModel = {
    kernel,
    gamma: Number(header.get('gamma') ?? 0),
    coef0: Number(header.get('coef0') ?? 0),
    degree: Number(header.get('degree') ?? 3),
    nrClass,
    l,
    d: features,
    labels,
    nSV,
    start,
    coef: new Float64Array((nrClass - 1) * l),
    rho: get('rho', pairs)!,
    probA: get('probA', pairs, false),
    probB: get('probB', pairs, false),
    sv: new Float64Array(l * features),
  };
  for (let i = 0; i < l; i++) {
    const line = lines[at + 1 + i];
    if (line === undefined) throw bad(`only ${i} of ${l} support vectors`);
    const parts = line.trim().split(/\s+/);
    for (let m = 0; m < nrClass - 1; m++) {
      const c = Number(parts[m]);
      if (!Number.isFinite(c)) throw bad(`support vector ${i} has a bad coefficient`);
      model.coef[m * l + i] = c;
    }
    for (let k = nrClass - 1; k < parts.length; k++) {
      const p = parts[k]!;
      const colon = p.indexOf(':');
      const index = Number(p.slice(0, colon));
      const value = Number(p.slice(colon + 1));
      if (colon < 0 || !Number.isInteger(index) || index < 1 || index > features || !Number.isFinite(value)) {
        throw bad(`support vector ${i} has a bad feature "${p}" (features 1..${features})`);
      }
      model.sv[i * features + index - 1] = value;
    }
  }
  return model;
}

// ---------------------------------------------------------------------------------------------------
// libsvm's decision function, in JS

/** libsvm's powi (repeated squaring), so poly kernels match it bit for bit. */
function powi(base: number, times: number): number {
  let tmp = base;
  let ret = 1.0;
  for (let t = times; t > 0; t = Math.floor(t / 2)) {
    if (t % 2 === 1) ret *= tmp;
    tmp = tmp * tmp;
  }
  return ret;
}

const BLOCK = 4;

/**
 * Kernel values of BLOCK rows (xb, BLOCK × d) against every support vector → kv (BLOCK × l).
 * Each value is summed in feature order, as libsvm's k_function does.
 */
function kernelBlock(m: SvmModel, xb: Float64Array, kv: Float64Array): void {
  const { l, d, sv, gamma, coef0, degree } = m;
  const rbf = m.kernel === 'rbf';
  for (let i = 0; i < l; i++) {
    const o = i * d;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    if (rbf) {
      for (let j = 0; j < d; j++) {
        const v = sv[o + j]!;
        const a = xb[j]! - v;
        const b = xb[d + j]! - v;
        const c = xb[2 * d + j]! - v;
        const e = xb[3 * d + j]! - v;
        s0 += a * a;
        s1 += b * b;
        s2 += c * c;
        s3 += e * e;
      }
      kv[i] = Math.exp(-gamma * s0);
      kv[l + i] = Math.exp(-gamma * s1);
      kv[2 * l + i] = Math.exp(-gamma * s2);
      kv[3 * l + i] = Math.exp(-gamma * s3);
    } else {
      for (let j = 0; j < d; j++) {
        const v = sv[o + j]!;
        s0 += xb[j]! * v;
        s1 += xb[d + j]! * v;
        s2 += xb[2 * d + j]! * v;
        s3 += xb[3 * d + j]! * v;
      }
      const f = (s: number) => (m.kernel === 'linear' ? s : m.kernel === 'poly' ? powi(gamma * s + coef0, degree) : Math.tanh(gamma * s + coef0));
      kv[i] = f(s0);
      kv[l + i] = f(s1);
      kv[2 * l + i] = f(s2);
      kv[3 * l + i] = f(s3);
    }
  }
}

/** Pairwise decision values (rows × pairs, libsvm's pair order) of every row of x. */
export function decisionValues(m: SvmModel, x: Matrix): Float64Array {
  const { l, d, nrClass, coef, rho, start, nSV } = m;
  const pairs = rho.length;
  const out = new Float64Array(x.rows * pairs);
  const xb = new Float64Array(BLOCK * d);
  const kv = new Float64Array(BLOCK * l);
  for (let r0 = 0; r0 < x.rows; r0 += BLOCK) {
    const nb = Math.min(BLOCK, x.rows - r0);
    xb.fill(0);
    for (let b = 0; b < nb; b++) xb.set(row(x, r0 + b), b * d);
    kernelBlock(m, xb, kv);
    for (let b = 0; b < nb; b++) {
      const k = kv.subarray(b * l, (b + 1) * l);
      let p = 0;
      for (let i = 0; i < nrClass; i++) {
        for (let j = i + 1; j < nrClass; j++) {
          const si = start[i]!;
          const sj = start[j]!;
          const c1 = (j - 1) * l;
          const c2 = i * l;
          let sum = 0;
          for (let t = 0; t < nSV[i]!; t++) sum += coef[c1 + si + t]! * k[si + t]!;
          for (let t = 0; t < nSV[j]!; t++) sum += coef[c2 + sj + t]! * k[sj + t]!;
          out[(r0 + b) * pairs + p] = sum - rho[p]!;
          p++;
        }
      }
    }
  }
  return out;
}

/** libsvm's vote: index (libsvm order) of the class with most pairwise wins, first on ties. */
function vote(m: SvmModel, dec: Float64Array, r: number, votes: Int32Array): number {
  const pairs = m.rho.length;
  votes.fill(0);
  let p = 0;
  for (let i = 0; i < m.nrClass; i++) {
    for (let j = i + 1; j < m.nrClass; j++) {
      if (dec[r * pairs + p]! > 0) votes[i]!++;
      else votes[j]!++;
      p++;
    }
  }
  let best = 0;
  for (let i = 1; i < m.nrClass; i++) if (votes[i]! > votes[best]!) best = i;
  return best;
}

function sigmoidPredict(dec: number, a: number, b: number): number {
  const fApB = dec * a + b;
  return fApB >= 0 ? Math.exp(-fApB) / (1.0 + Math.exp(-fApB)) : 1.0 / (1 + Math.exp(fApB));
}

/** libsvm's multiclass_probability (Wu, Lin and Weng's second method): pairwise r → class probabilities p. */
function multiclassProbability(k: number, r: Float64Array, p: Float64Array): void {
  const maxIter = Math.max(100, k);
  const Q = new Float64Array(k * k);
  const Qp = new Float64Array(k);
  const eps = 0.005 / k;
  for (let t = 0; t < k; t++) {
    p[t] = 1.0 / k;
    let qtt = 0;
    for (let j = 0; j < t; j++) {
      qtt += r[j * k + t]! * r[j * k + t]!;
      Q[t * k + j] = Q[j * k + t]!;
    }
    for (let j = t + 1; j < k; j++) {
      qtt += r[j * k + t]! * r[j * k + t]!;
      Q[t * k + j] = -r[j * k + t]! * r[t * k + j]!;
    }
    Q[t * k + t] = qtt;
  }
  for (let iter = 0; iter < maxIter; iter++) {
    let pQp = 0;
    for (let t = 0; t < k; t++) {
      let qp = 0;
      for (let j = 0; j < k; j++) qp += Q[t * k + j]! * p[j]!;
      Qp[t] = qp;
      pQp += p[t]! * qp;
    }
    let maxError = 0;
    for (let t = 0; t < k; t++) {
      const error = Math.abs(Qp[t]! - pQp);
      if (error > maxError) maxError = error;
    }
    if (maxError < eps) break;
    for (let t = 0; t < k; t++) {
      const diff = (-Qp[t]! + pQp) / Q[t * k + t]!;
      p[t] = p[t]! + diff;
      pQp = (pQp + diff * (diff * Q[t * k + t]! + 2 * Qp[t]!)) / (1 + diff) / (1 + diff);
      for (let j = 0; j < k; j++) {
        Qp[j] = (Qp[j]! + diff * Q[t * k + j]!) / (1 + diff);
        p[j] = p[j]! / (1 + diff);
      }
    }
  }
}

/** Class probabilities of one row (libsvm order), as libsvm's svm_predict_probability computes them. */
function probabilities(m: SvmModel, dec: Float64Array, r: number, out: Float64Array, pairwise: Float64Array): void {
  const k = m.nrClass;
  const pairs = m.rho.length;
  const minProb = 1e-7;
  let p = 0;
  for (let i = 0; i < k; i++) {
    for (let j = i + 1; j < k; j++) {
      const v = Math.min(Math.max(sigmoidPredict(dec[r * pairs + p]!, m.probA![p]!, m.probB![p]!), minProb), 1 - minProb);
      pairwise[i * k + j] = v;
      pairwise[j * k + i] = 1 - v;
      p++;
    }
  }
  if (k === 2) {
    out[0] = pairwise[1]!;
    out[1] = pairwise[k]!;
  } else {
    multiclassProbability(k, pairwise, out);
  }
}

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

interface Trained {
  model: SvmModel;
  text: string;
  /** Column (ascending label order) of each libsvm class index. */
  column: Int32Array;
  classes: Int32Array;
  /** Threads that trained it class pair by class pair (1: this thread); 0: libsvm's own loop, or loaded. */
  fitThreads: number;
}

function prepare(text: string, features: number, fitThreads: number): Trained {
  const model = parseLibsvmModel(text, features);
  const classes = Int32Array.from(model.labels).sort();
  const column = Int32Array.from(model.labels, (label) => classes.indexOf(label));
  return { model, text, column, classes, fitThreads };
}

/** scikit-learn's one-vs-rest decision function: votes + confidences / (3·(|confidences| + 1)). */
function ovrScores(t: Trained, dec: Float64Array, rows: number, out: Float32Array): void {
  const k = t.model.nrClass;
  const pairs = t.model.rho.length;
  const votes = new Float64Array(k);
  const conf = new Float64Array(k);
  for (let r = 0; r < rows; r++) {
    votes.fill(0);
    conf.fill(0);
    let p = 0;
    for (let i = 0; i < k; i++) {
      for (let j = i + 1; j < k; j++) {
        const v = dec[r * pairs + p]!;
        if (v > 0) votes[i]!++;
        else votes[j]!++;
        conf[i] = conf[i]! + v;
        conf[j] = conf[j]! - v;
        p++;
      }
    }
    for (let c = 0; c < k; c++) out[r * k + t.column[c]!] = votes[c]! + conf[c]! / (3 * (Math.abs(conf[c]!) + 1));
  }
}

/** The wasm model and problem are freed right after training: a fitted model holds only the parsed text, in JS. */
function asModel(t: Trained): Model {
  return defineModel(WHO, {
    classes: t.classes,
    inputSize: t.model.d,
    state: t,
    async predict(s, x) {
      const m = s.model;
      if (m.kernel === 'rbf') {
        const { winners } = await fastRbfWinners(m, x, (rows) => decisionValues(m, takeRows(x, rows)));
        return Int32Array.from(winners, (c) => m.labels[c]!);
      }
      const dec = decisionValues(m, x);
      const out = new Int32Array(x.rows);
      const votes = new Int32Array(m.nrClass);
      for (let r = 0; r < x.rows; r++) out[r] = m.labels[vote(m, dec, r, votes)]!;
      return out;
    },
    /**
     * With probability: true, libsvm's pairwise-coupled probabilities. Otherwise scikit-learn's one-vs-rest
     * decision function, whose argmax is the predicted class except on tied votes.
     */
    scores(s, x) {
      const m = s.model;
      const k = m.nrClass;
      const dec = decisionValues(m, x);
      const out = new Float32Array(x.rows * k);
      if (m.probA && m.probB) {
        const prob = new Float64Array(k);
        const pairwise = new Float64Array(k * k);
        for (let r = 0; r < x.rows; r++) {
          probabilities(m, dec, r, prob, pairwise);
          for (let c = 0; c < k; c++) out[r * k + s.column[c]!] = prob[c]!;
        }
      } else ovrScores(s, dec, x.rows, out);
      return createMatrix(x.rows, k, out);
    },
    serialize: (s) => new TextEncoder().encode(JSON.stringify({ format: FORMAT, version: 1, features: s.model.d, libsvmModel: s.text })),
    engine: (s) => {
      const fit = s.fitThreads > 1 ? ` fit by class pair in ${s.fitThreads} worker threads` : s.fitThreads === 1 ? ' fit by class pair' : ' fit';
      const predict = s.model.kernel === 'rbf' ? 'tfjs float32 predict, exact float64 near ties' : 'js predict';
      return `libsvm-js ${LIBSVM_VERSION} (wasm)${fit}; ${predict}`;
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
 * On full MNIST PCA-50 the pairs take 3.3× less CPU than libsvm's own loop over the same pairs even in one thread
 * (72 s vs 242 s, machine loaded; same model text), so large jobs go by pair whatever the thread count.
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
  const trained = prepare(text, x.cols, how.pairs ? how.threads : 0);
  if (!how.pairs) options?.progress?.tick({ supportVectors: trained.model.l });
  return asModel(trained);
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

const savedSchema = z.object({
  format: z.literal(FORMAT),
  version: z.literal(1),
  features: z.number().int().positive(),
  libsvmModel: z.string().min(1),
});

export const svm = defineClassifier<SvmParams>({
  name: WHO,
  summary: 'C-SVC trained by libsvm (wasm): rbf/linear/poly/sigmoid kernels, one-vs-one; optional Platt probabilities',
  input: 'vector',
  library: `ours: class-pair scheduling, model assembly, rbf predict on tfjs; libsvm-js ${LIBSVM_VERSION}: the solver and the model format`,
  params: svmParams,
  scoreKind: 'one-vs-rest decision values (probabilities with probability: true)',
  testParams: { cacheSizeMb: 100, threads: 2 },
  create: (params) => ({ fit: (x, y, options) => fitSvm(params, x, y, options) }),
  async load(bytes) {
    const saved = parseSavedJson(bytes, savedSchema, WHO, 'a digitbench libsvm model');
    return asModel(prepare(saved.libsvmModel, saved.features, 0));
  },
});
