/**
 * The support vector classifier's load and predict, in plain JS over typed arrays: libsvm's standard model
 * file (svm_save_model, a C-SVC) parsed once, then libsvm's decision function in float64 with its summation
 * order (each kernel value summed in feature order; each pair's decision value over class i's then class j's
 * support vectors, minus rho), its one-vs-one vote (ties: the lowest class index in libsvm's order), its
 * pairwise-coupled probabilities (svm_predict_probability) and scikit-learn's one-vs-rest decision function.
 * Training (libsvm-js in worker threads) is in the workbench (digitbench src/classifiers/svm.ts), which
 * builds the same Model with a faster label path (`winners` in `svmModelOf`).
 *
 * Speed: rows go in chunks of ROWS, converted to float64 once; every support vector streams past a chunk
 * once (the chunk stays in cache) and gives 4 rows' kernel values per pass over its features. The pair sums
 * then run 4 rows at a time, sharing each coefficient load. Every value keeps libsvm's summation order, so
 * the decision values equal the one-row-at-a-time loop's bit for bit.
 */
import * as z from 'zod/mini';
import { createMatrix, type Matrix } from '../engine/matrix.ts';
import { firstIssue, safeParse } from '../schema.ts';
import { align8, COMPACT_PRECISIONS, packedBytes, packValues, PRECISIONS, unpackValues, type Precision } from './compact.ts';
import { described } from './describe.ts';
import { defineModel, ownBytes, parseSavedJson, threadsParam, type Model, type ModelPlugin, type ModelRuntime, type NativeEngine } from './plugin.ts';
import { fastRbfWinners, ORT_RBF_CHUNK, rbfPlan, type ChunkedRbfProducts } from './svm-fast.ts';

const WHO = 'svm';
/** The format tag of the saved JSON (which holds libsvm's model text unchanged). */
export const SVM_FORMAT = 'digitbench-libsvm';

export type SvmKernel = 'rbf' | 'linear' | 'poly' | 'sigmoid';
/** Names libsvm writes in the model file. */
const KERNEL_FROM_FILE: Record<string, SvmKernel> = { linear: 'linear', polynomial: 'poly', rbf: 'rbf', sigmoid: 'sigmoid' };

export const svmParams = z.strictObject({
  kernel: described(z._default(z.enum(['rbf', 'linear', 'poly', 'sigmoid']), 'rbf'), "Kernel function (mapped to libsvm's -t numbers)"),
  C: described(z._default(z.number().check(z.positive()), 10), 'Cost of a margin violation (libsvm -c)'),
  gamma: described(
    z._default(z.union([z.enum(['scale', 'auto']), z.number().check(z.positive())], { error: 'expected "scale", "auto" or a positive number' }), 'scale'),
    "Kernel width: 'scale' = 1 / (features × variance of all training values), as scikit-learn; 'auto' = 1 / features; or a number",
  ),
  gammaFactor: described(
    z._default(z.number().check(z.positive()), 1),
    "Multiplies the 'scale' or 'auto' gamma (e.g. 2 = a kernel twice as narrow), so a grid can vary the width relative to the features; leave at 1 with a numeric gamma",
  ),
  degree: described(z._default(z.number().check(z.int(), z.gte(1), z.lte(20)), 3), 'Degree of the polynomial kernel'),
  coef0: described(z._default(z.number(), 0), 'Constant term of the poly and sigmoid kernels (rounded to 6 significant digits, as libsvm saves it)'),
  probability: described(
    z._default(z.boolean(), false),
    'Also fit Platt-scaled pairwise probabilities (about 5× slower to train); scores are then probabilities',
  ),
  cacheSizeMb: described(z._default(z.number().check(z.positive(), z.lte(1000)), 500), "libsvm's kernel cache in MB (part of the 2 GB wasm heap)"),
  tolerance: described(z._default(z.number().check(z.positive()), 0.001), 'Stopping tolerance (libsvm -e)'),
  shrinking: described(z._default(z.boolean(), true), "libsvm's shrinking heuristic (-h)"),
  threads: threadsParam(
    "Worker threads training libsvm's one-vs-one class pairs (each its own wasm instance and cache); null: up to 2, and none for small jobs; the model does not depend on it",
  ),
});

export type SvmParams = z.output<typeof svmParams>;

const savedSchema = z.object({
  format: z.literal(SVM_FORMAT),
  version: z.literal(1),
  features: z.number().check(z.int(), z.positive()),
  libsvmModel: z.string().check(z.minLength(1)),
});

// ---------------------------------------------------------------------------------------------------
// The model, as libsvm writes it

export interface SvmModel {
  kernel: SvmKernel;
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

/** Rows per chunk: their float64 copy stays in cache while every support vector streams past once. */
export const SVM_ROWS = 32;

/** The kernel of a dot product, as libsvm's k_function ends (rbf is done apart). */
function dotKernel(m: SvmModel, s: number): number {
  return m.kernel === 'linear' ? s : m.kernel === 'poly' ? powi(m.gamma * s + m.coef0, m.degree) : Math.tanh(m.gamma * s + m.coef0);
}

/** One kernel value: row b of xb against support vector i, summed in feature order. */
function kernelOne(m: SvmModel, xb: Float64Array, b: number, i: number): number {
  const { d, sv } = m;
  const x0 = b * d;
  const o = i * d;
  let s = 0;
  if (m.kernel === 'rbf') {
    for (let j = 0; j < d; j++) {
      const a = xb[x0 + j]! - sv[o + j]!;
      s += a * a;
    }
    return Math.exp(-m.gamma * s);
  }
  for (let j = 0; j < d; j++) s += xb[x0 + j]! * sv[o + j]!;
  return dotKernel(m, s);
}

/**
 * Kernel values of nb rows (xb, nb × d, float64) against every support vector → kv (nb × l).
 * Each value is summed in feature order, as libsvm's k_function does: rbf exp(−γ·Σ(x−s)²), linear x·s,
 * poly powi(γ·x·s + coef0, degree), sigmoid tanh(γ·x·s + coef0). 4 rows × 2 support vectors per pass over
 * the features (8 independent sums: faster than 4 × 1 on full MNIST PCA-50; digitbench docs/measurements.md).
 */
export function kernelBlock(m: SvmModel, xb: Float64Array, nb: number, kv: Float64Array): void {
  const { l, d, sv, gamma } = m;
  const rbf = m.kernel === 'rbf';
  const rows4 = nb - (nb % 4);
  const sv2 = l - (l % 2);
  for (let i = 0; i < sv2; i += 2) {
    const o = i * d;
    const q = o + d;
    for (let b = 0; b < rows4; b += 4) {
      const x0 = b * d;
      const x1 = x0 + d;
      const x2 = x1 + d;
      const x3 = x2 + d;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let t0 = 0;
      let t1 = 0;
      let t2 = 0;
      let t3 = 0;
      if (rbf) {
        for (let j = 0; j < d; j++) {
          const v = sv[o + j]!;
          const w = sv[q + j]!;
          const a0 = xb[x0 + j]!;
          const a1 = xb[x1 + j]!;
          const a2 = xb[x2 + j]!;
          const a3 = xb[x3 + j]!;
          let e = a0 - v;
          s0 += e * e;
          e = a1 - v;
          s1 += e * e;
          e = a2 - v;
          s2 += e * e;
          e = a3 - v;
          s3 += e * e;
          e = a0 - w;
          t0 += e * e;
          e = a1 - w;
          t1 += e * e;
          e = a2 - w;
          t2 += e * e;
          e = a3 - w;
          t3 += e * e;
        }
        kv[b * l + i] = Math.exp(-gamma * s0);
        kv[(b + 1) * l + i] = Math.exp(-gamma * s1);
        kv[(b + 2) * l + i] = Math.exp(-gamma * s2);
        kv[(b + 3) * l + i] = Math.exp(-gamma * s3);
        kv[b * l + i + 1] = Math.exp(-gamma * t0);
        kv[(b + 1) * l + i + 1] = Math.exp(-gamma * t1);
        kv[(b + 2) * l + i + 1] = Math.exp(-gamma * t2);
        kv[(b + 3) * l + i + 1] = Math.exp(-gamma * t3);
      } else {
        for (let j = 0; j < d; j++) {
          const v = sv[o + j]!;
          const w = sv[q + j]!;
          const a0 = xb[x0 + j]!;
          const a1 = xb[x1 + j]!;
          const a2 = xb[x2 + j]!;
          const a3 = xb[x3 + j]!;
          s0 += a0 * v;
          s1 += a1 * v;
          s2 += a2 * v;
          s3 += a3 * v;
          t0 += a0 * w;
          t1 += a1 * w;
          t2 += a2 * w;
          t3 += a3 * w;
        }
        kv[b * l + i] = dotKernel(m, s0);
        kv[(b + 1) * l + i] = dotKernel(m, s1);
        kv[(b + 2) * l + i] = dotKernel(m, s2);
        kv[(b + 3) * l + i] = dotKernel(m, s3);
        kv[b * l + i + 1] = dotKernel(m, t0);
        kv[(b + 1) * l + i + 1] = dotKernel(m, t1);
        kv[(b + 2) * l + i + 1] = dotKernel(m, t2);
        kv[(b + 3) * l + i + 1] = dotKernel(m, t3);
      }
    }
    for (let b = rows4; b < nb; b++) {
      kv[b * l + i] = kernelOne(m, xb, b, i);
      kv[b * l + i + 1] = kernelOne(m, xb, b, i + 1);
    }
  }
  if (sv2 < l) for (let b = 0; b < nb; b++) kv[b * l + sv2] = kernelOne(m, xb, b, sv2);
}

/**
 * Pair decision values of nb rows from their kernel values (kv, nb × l) → out[(o + b·pairs) + p]:
 * Σ over class i's SVs, then class j's, of coef · K, minus rho (libsvm's order), 4 rows at a time.
 */
function pairSums(m: SvmModel, kv: Float64Array, nb: number, out: Float64Array, o: number): void {
  const { l, nrClass, coef, rho, start, nSV } = m;
  const pairs = rho.length;
  const full = nb - (nb % 4);
  let p = 0;
  for (let i = 0; i < nrClass; i++) {
    for (let j = i + 1; j < nrClass; j++) {
      const si = start[i]!;
      const sj = start[j]!;
      const ei = si + nSV[i]!;
      const ej = sj + nSV[j]!;
      const c1 = (j - 1) * l;
      const c2 = i * l;
      const r = rho[p]!;
      for (let b = 0; b < full; b += 4) {
        const k0 = b * l;
        const k1 = k0 + l;
        const k2 = k1 + l;
        const k3 = k2 + l;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let t = si; t < ei; t++) {
          const c = coef[c1 + t]!;
          s0 += c * kv[k0 + t]!;
          s1 += c * kv[k1 + t]!;
          s2 += c * kv[k2 + t]!;
          s3 += c * kv[k3 + t]!;
        }
        for (let t = sj; t < ej; t++) {
          const c = coef[c2 + t]!;
          s0 += c * kv[k0 + t]!;
          s1 += c * kv[k1 + t]!;
          s2 += c * kv[k2 + t]!;
          s3 += c * kv[k3 + t]!;
        }
        out[o + b * pairs + p] = s0 - r;
        out[o + (b + 1) * pairs + p] = s1 - r;
        out[o + (b + 2) * pairs + p] = s2 - r;
        out[o + (b + 3) * pairs + p] = s3 - r;
      }
      for (let b = full; b < nb; b++) {
        const k0 = b * l;
        let s = 0;
        for (let t = si; t < ei; t++) s += coef[c1 + t]! * kv[k0 + t]!;
        for (let t = sj; t < ej; t++) s += coef[c2 + t]! * kv[k0 + t]!;
        out[o + b * pairs + p] = s - r;
      }
      p++;
    }
  }
}

/**
 * Pairwise decision values (rows × pairs, libsvm's pair order) of every row of x, or of the rows listed in
 * `rows` (in that order), exactly as libsvm's svm_predict_values computes them in float64.
 */
export function decisionValues(m: SvmModel, x: Matrix, rows?: Int32Array): Float64Array {
  const { l, d } = m;
  const n = rows ? rows.length : x.rows;
  const pairs = m.rho.length;
  const out = new Float64Array(n * pairs);
  const chunk = Math.min(SVM_ROWS, n);
  const xb = new Float64Array(chunk * d);
  const kv = new Float64Array(chunk * l);
  const data = x.data;
  for (let r0 = 0; r0 < n; r0 += chunk) {
    const nb = Math.min(chunk, n - r0);
    for (let b = 0; b < nb; b++) {
      const o = (rows ? rows[r0 + b]! : r0 + b) * d;
      for (let j = 0; j < d; j++) xb[b * d + j] = data[o + j]!;
    }
    kernelBlock(m, xb, nb, kv);
    pairSums(m, kv, nb, out, r0 * pairs);
  }
  return out;
}

/** libsvm's vote on row r of dec: index (libsvm order) of the class with most pairwise wins, first on ties. */
export function svmVote(m: SvmModel, dec: Float64Array, r: number, votes: Int32Array): number {
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

/** Class indices (libsvm order) of every row: the exact decision values and libsvm's vote. */
export function exactWinners(m: SvmModel, x: Matrix): Int32Array {
  const dec = decisionValues(m, x);
  const out = new Int32Array(x.rows);
  const votes = new Int32Array(m.nrClass);
  for (let r = 0; r < x.rows; r++) out[r] = svmVote(m, dec, r, votes);
  return out;
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

/** Class probabilities of row r (libsvm order), as libsvm's svm_predict_probability computes them. */
export function svmProbabilities(m: SvmModel, dec: Float64Array, r: number, out: Float64Array, pairwise: Float64Array): void {
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
// The fitted model

/** A parsed libsvm model with its label mapping: a fitted or loaded SVM's whole state. */
export interface SvmTrained {
  model: SvmModel;
  /** libsvm's model text, saved unchanged; absent for a model loaded from the compact format. */
  text?: string;
  /** Column (ascending label order) of each libsvm class index. */
  column: Int32Array;
  classes: Int32Array;
  /** Threads that trained it class pair by class pair (1: one thread); 0: libsvm's own loop, or loaded. */
  fitThreads: number;
}

/** Parses libsvm's model text and maps its class order to ascending labels. */
export function prepareSvm(text: string, features: number, fitThreads = 0): SvmTrained {
  return trained(parseLibsvmModel(text, features), fitThreads, text);
}

/** The ascending-label mapping of a parsed model. */
function trained(model: SvmModel, fitThreads: number, text?: string): SvmTrained {
  const classes = Int32Array.from(model.labels).sort();
  const column = Int32Array.from(model.labels, (label) => classes.indexOf(label));
  return { model, ...(text !== undefined ? { text } : {}), column, classes, fitThreads };
}

/** Reads serialize() bytes (JSON holding libsvm's model text, or the compact binary format) back into a parsed model. */
export function readSvm(bytes: Uint8Array): SvmTrained {
  if (bytes.length >= 4 && SVM_MAGIC.every((b, i) => bytes[i] === b)) return trained(parseCompactSvm(bytes), 0);
  const saved = parseSavedJson(bytes, savedSchema, WHO, 'a digitbench libsvm model');
  return prepareSvm(saved.libsvmModel, saved.features, 0);
}

// ---------------------------------------------------------------------------------------------------
// The compact format (version 2): binary support vectors and coefficients

/** "DBSV": the compact format's first bytes (version 1 is JSON, so it starts with "{"). */
export const SVM_MAGIC = [0x44, 0x42, 0x53, 0x56];
const COMPACT_FORMAT = 'digitbench-svm';

/**
 * The coefficients' precision for each precision asked for. The coefficients ((classes − 1) × support
 * vectors) weigh every kernel value of a decision value; at int8 their error (up to C / 255 each, C
 * shared by all of them) moved labels where float16 coefficients did not, and they are only
 * (classes − 1) / features of the support vectors' size, so an int8 model keeps them at float16.
 */
const COEF_PRECISION: Record<Precision, Precision> = { float32: 'float32', float16: 'float16', int8: 'float16' };

const finite = z.number().check(z.refine(Number.isFinite, 'expected a finite number'));
const compactSvmSchema = z.strictObject({
  format: z.literal(COMPACT_FORMAT),
  version: z.literal(2),
  /** The support vectors' precision (int8: ranges per feature) and the coefficients' (int8: per row). */
  precision: z.enum(PRECISIONS),
  coefPrecision: z.enum(PRECISIONS),
  features: z.number().check(z.int(), z.positive()),
  kernel: z.enum(['rbf', 'linear', 'poly', 'sigmoid']),
  gamma: finite,
  coef0: finite,
  degree: z.number().check(z.int(), z.gte(0)),
  labels: z.array(z.number().check(z.int())).check(z.minLength(2)),
  nSV: z.array(z.number().check(z.int(), z.gte(0))),
  rho: z.array(finite),
  probA: z.optional(z.array(finite)),
  probB: z.optional(z.array(finite)),
});

/**
 * Layout: "DBSV", u32 header length, the JSON header (compactSvmSchema: kernel, its parameters, labels,
 * support vectors per class, rho and the optional Platt pairs, as exact JSON numbers), then at 8-byte
 * offsets the support vectors (total × features, packed at `precision`, int8 ranges per feature: the
 * features' spreads differ, as for k-NN rows) and the coefficients ((classes − 1) × total, packed at
 * `coefPrecision`, int8 ranges per row). Sparse libsvm vectors are stored dense.
 */
function serializeCompactSvm(m: SvmModel, precision: Precision): Uint8Array {
  const coefPrecision = COEF_PRECISION[precision];
  const header = {
    format: COMPACT_FORMAT,
    version: 2,
    precision,
    coefPrecision,
    features: m.d,
    kernel: m.kernel,
    gamma: m.gamma,
    coef0: m.coef0,
    degree: m.degree,
    labels: Array.from(m.labels),
    nSV: Array.from(m.nSV),
    rho: Array.from(m.rho),
    ...(m.probA && m.probB ? { probA: Array.from(m.probA), probB: Array.from(m.probB) } : {}),
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const sv = packValues(m.sv, precision, { by: 'column', cols: m.d }, `${WHO}: the support vectors`);
  const coef = packValues(m.coef, coefPrecision, { by: 'row', cols: m.l }, `${WHO}: the coefficients`);
  const svAt = align8(8 + json.length);
  const coefAt = align8(svAt + sv.length);
  const out = new Uint8Array(coefAt + coef.length);
  out.set(SVM_MAGIC, 0);
  new DataView(out.buffer).setUint32(4, json.length, true);
  out.set(json, 8);
  out.set(sv, svAt);
  out.set(coef, coefAt);
  return out;
}

function parseCompactSvm(bytes: Uint8Array): SvmModel {
  const bad = (why: string) => new Error(`svm: the saved model is not a digitbench compact svm model (${why}); pass the bytes that serialize() returned.`);
  if (bytes.length < 8) throw bad('too short');
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getUint32(4, true);
  if (8 + length > bytes.length) throw bad('header length past the end');
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  } catch {
    throw bad('header is not JSON');
  }
  const r = safeParse(compactSvmSchema, raw);
  if (!r.success) throw bad(firstIssue(r.error, 'header'));
  const h = r.data;
  const k = h.labels.length;
  const pairs = (k * (k - 1)) / 2;
  if (h.nSV.length !== k) throw bad(`nSV has ${h.nSV.length} counts for ${k} classes`);
  if (h.rho.length !== pairs) throw bad(`rho has ${h.rho.length} values, expected ${pairs}`);
  if ((h.probA === undefined) !== (h.probB === undefined) || (h.probA && (h.probA.length !== pairs || h.probB!.length !== pairs))) throw bad(`probA and probB need ${pairs} values each`);
  const l = h.nSV.reduce((a, b) => a + b, 0);
  const d = h.features;
  const svAt = align8(8 + length);
  const coefAt = align8(svAt + packedBytes(l * d, h.precision, { by: 'column', cols: d }));
  const end = coefAt + packedBytes((k - 1) * l, h.coefPrecision, { by: 'row', cols: l });
  if (bytes.length !== end) throw bad(`expected ${end} bytes, got ${bytes.length}`);
  const start = new Int32Array(k);
  for (let i = 1; i < k; i++) start[i] = start[i - 1]! + h.nSV[i - 1]!;
  const model: SvmModel = {
    kernel: h.kernel,
    gamma: h.gamma,
    coef0: h.coef0,
    degree: h.degree,
    nrClass: k,
    l,
    d,
    labels: Int32Array.from(h.labels),
    nSV: Int32Array.from(h.nSV),
    start,
    coef: new Float64Array((k - 1) * l),
    rho: Float64Array.from(h.rho),
    ...(h.probA && h.probB ? { probA: Float64Array.from(h.probA), probB: Float64Array.from(h.probB) } : {}),
    sv: new Float64Array(l * d),
  };
  const body = ownBytes(bytes);
  try {
    unpackValues(body.subarray(svAt, coefAt), l * d, h.precision, { by: 'column', cols: d }, model.sv);
  } catch (e) {
    throw bad(`support vectors: ${(e as Error).message}`);
  }
  try {
    unpackValues(body.subarray(coefAt, end), (k - 1) * l, h.coefPrecision, { by: 'row', cols: l }, model.coef);
  } catch (e) {
    throw bad(`coefficients: ${(e as Error).message}`);
  }
  return model;
}

/** scikit-learn's one-vs-rest decision function: votes + confidences / (3·(|confidences| + 1)). */
export function svmOvrScores(t: SvmTrained, dec: Float64Array, rows: number, out: Float32Array): void {
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

/** Scores of every row (columns: ascending labels): probabilities when the model has probA/probB, else one-vs-rest. */
export function svmScores(t: SvmTrained, x: Matrix, dec = decisionValues(t.model, x)): Matrix {
  const m = t.model;
  const k = m.nrClass;
  const out = new Float32Array(x.rows * k);
  if (m.probA && m.probB) {
    const prob = new Float64Array(k);
    const pairwise = new Float64Array(k * k);
    for (let r = 0; r < x.rows; r++) {
      svmProbabilities(m, dec, r, prob, pairwise);
      for (let c = 0; c < k; c++) out[r * k + t.column[c]!] = prob[c]!;
    }
  } else svmOvrScores(t, dec, x.rows, out);
  return createMatrix(x.rows, k, out);
}

/**
 * The saved bytes: JSON holding libsvm's model text unchanged (float32, the default: exact), or, for
 * float16 and int8, the compact binary format. A model loaded from the compact format has no model
 * text, so it is saved in the compact format at any precision (float32: binary float32 values).
 */
export function saveSvm(t: SvmTrained, precision: Precision = 'float32'): Uint8Array {
  if (precision !== 'float32' || t.text === undefined) return serializeCompactSvm(t.model, precision);
  return new TextEncoder().encode(JSON.stringify({ format: SVM_FORMAT, version: 1, features: t.model.d, libsvmModel: t.text }));
}

export interface SvmModelOptions {
  /**
   * A faster way to the class indices (libsvm order) of every row, which must equal the exact loop's
   * (`exactWinners`); e.g. the workbench's float32 products with an exact recheck of near ties.
   */
  winners?(m: SvmModel, x: Matrix): Int32Array | Promise<Int32Array>;
  /** The engine description (default: plain JS). */
  engine?(t: SvmTrained): string;
  /** The engine and threads used (default: the engine on 1 thread). */
  runtime?(t: SvmTrained): ModelRuntime;
  /** Releases what `winners` holds (e.g. an onnxruntime session); called once, by the model's first dispose(). */
  free?(): void;
}

const ENGINE = 'js (exact float64 decision values; libsvm model format)';

/**
 * The Model of a fitted or loaded SVM: labels from libsvm's vote (or `options.winners`), scores as
 * libsvm's probabilities (models with probA/probB) or scikit-learn's one-vs-rest decision function.
 */
export function svmModelOf(t: SvmTrained, options: SvmModelOptions = {}): Model {
  const winners = options.winners ?? exactWinners;
  return defineModel(WHO, {
    classes: t.classes,
    inputSize: t.model.d,
    state: t,
    async predict(s, x) {
      const w = await winners(s.model, x);
      return Int32Array.from(w, (c) => s.model.labels[c]!);
    },
    /**
     * With probability: true, libsvm's pairwise-coupled probabilities. Otherwise scikit-learn's one-vs-rest
     * decision function, whose argmax is the predicted class except on tied votes.
     */
    scores: (s, x) => svmScores(s, x),
    /** One pass of exact decision values for both: libsvm's vote on them is the exact label (what `winners` must equal). */
    predictWithScores(s, x) {
      const dec = decisionValues(s.model, x);
      const votes = new Int32Array(s.model.nrClass);
      const labels = Int32Array.from({ length: x.rows }, (_, r) => s.model.labels[svmVote(s.model, dec, r, votes)]!);
      return { labels, scores: svmScores(s, x, dec) };
    },
    serialize: (s, o) => saveSvm(s, o.precision),
    engine: options.engine ?? (() => ENGINE),
    ...(options.runtime ? { runtime: options.runtime } : {}),
    ...(options.free ? { free: () => options.free!() } : {}),
  });
}

/**
 * An rbf SVM whose labels come from onnxruntime's float32 kernel products (one session per model, made at its
 * first predict, released by dispose), with the exact float64 recheck of every row they cannot settle
 * (./svm-fast.ts): the exact loop's labels. Scores stay exact float64, as on the plain path.
 */
function nativeSvmModel(t: SvmTrained, native: NativeEngine): Model {
  const threads = native.threads;
  let products: Promise<ChunkedRbfProducts> | undefined;
  const made = (m: SvmModel): Promise<ChunkedRbfProducts> => {
    const { st, w } = rbfPlan(m);
    return native.rbfProducts(st, m.d + 2, m.l, w, m.rho.length + m.nrClass, threads).then((p) => ({ ...p, chunk: ORT_RBF_CHUNK }));
  };
  const engine = () => `${native.description(threads)} float32 predict, exact float64 near ties (libsvm model format)`;
  return svmModelOf(t, {
    winners: async (m, x) => (await fastRbfWinners(m, x, (rows) => decisionValues(m, x, rows), { products: await (products ??= made(m)) })).winners,
    engine,
    runtime: () => ({ engine: engine(), threads }),
    free: () => {
      void products?.then((p) => p.dispose());
      products = undefined;
    },
  });
}

export const svmModel: ModelPlugin<SvmParams> = {
  name: WHO,
  summary: 'C-SVC trained by libsvm (wasm): rbf/linear/poly/sigmoid kernels, one-vs-one; optional Platt probabilities',
  input: 'vector',
  params: svmParams,
  scoreKind: 'one-vs-rest decision values (probabilities with probability: true)',
  libraries: [],
  precisions: COMPACT_PRECISIONS,
  async load(bytes, _params, ctx) {
    const t = readSvm(bytes);
    return ctx?.native && t.model.kernel === 'rbf' ? nativeSvmModel(t, ctx.native) : svmModelOf(t);
  },
};
