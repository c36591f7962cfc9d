/**
 * Gaussian naive Bayes' load and predict, in plain JS over typed arrays: the log joint probabilities
 * summed as the patched ml-naivebayes 4.0.0 sums them (the saved model is that library's model JSON;
 * the workbench's tests compare with the library), softmax for posteriors; labels are their argmax, found
 * faster by labelsTyped (a float64 quadratic form, exact where a rounding bound cannot settle the argmax).
 * Fitting is in the workbench (digitbench src/classifiers/naive-bayes.ts).
 */
import * as z from 'zod/mini';
import { createMatrix, type Matrix } from '../engine/matrix.ts';
import { described } from './describe.ts';
import { checkFinite, defineModel, parseSavedJson, type Model, type ModelPlugin, type NativeEngine } from './plugin.ts';
import type { GaussianScores } from '../engine/ort-linear.ts';
import { wasmQuadratic } from './naive-bayes-wasm.ts';

export { wasmPasses, type WasmPasses } from './naive-bayes-wasm.ts';

/** ml-naivebayes 4.0.0's GaussianNB model JSON. */
export interface GaussianNBModel {
  modelName: 'NaiveBayes';
  means: number[][];
  /** Per class: [log prior, ...[1 / (sqrt(2π)·σ), −2σ²] per feature]. */
  calculateProbabilities: [number, ...Array<[number, number]>][];
}

const ENGINE = 'js (typed arrays: labels from a float64 quadratic form, exact float64 near ties; ml-naivebayes 4.0.0 model format)';
const FORMAT = 'digitbench-gaussian-nb';
const WHO = 'naive-bayes';

export const naiveBayesParams = z.strictObject({
  varSmoothing: described(
    z._default(z.number().check(z.positive()), 1e-9),
    "Fraction of the largest feature variance added to every variance (scikit-learn's var_smoothing)",
  ),
});

export type NaiveBayesParams = z.output<typeof naiveBayesParams>;

const savedSchema = z.object({
  format: z.literal(FORMAT),
  version: z.literal(1),
  classes: z.array(z.number().check(z.int())).check(z.minLength(1)),
  features: z.number().check(z.int(), z.positive()),
  model: z.object({
    modelName: z.literal('NaiveBayes'),
    means: z.array(z.array(z.number())),
    calculateProbabilities: z.array(z.array(z.union([z.number(), z.tuple([z.number(), z.number()])]))),
  }),
});
/** Row-wise softmax of log joint probabilities → posterior probabilities (float32, rows × classes). */
export function softmaxRows(logJoint: Float64Array, rows: number, classes: number): Matrix {
  const out = new Float32Array(rows * classes);
  for (let i = 0; i < rows; i++) {
    const o = i * classes;
    let max = -Infinity;
    for (let c = 0; c < classes; c++) if (logJoint[o + c]! > max) max = logJoint[o + c]!;
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += Math.exp(logJoint[o + c]! - max);
    for (let c = 0; c < classes; c++) out[o + c] = Math.exp(logJoint[o + c]! - max) / sum;
  }
  return createMatrix(rows, classes, out);
}

/** The library's getCurrentClass: the first largest log joint probability. */
export function argmaxRows(logJoint: Float64Array, rows: number, classes: number, labels: Int32Array): Int32Array {
  const out = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    let best = -Infinity;
    let at = -1;
    for (let c = 0; c < classes; c++) {
      if (logJoint[i * classes + c]! > best) {
        best = logJoint[i * classes + c]!;
        at = c;
      }
    }
    out[i] = at < 0 ? -1 : labels[at]!;
  }
  return out;
}

/** The model as flat arrays: per class, then per feature. */
export interface TypedModel {
  classes: number;
  features: number;
  logPrior: Float64Array;
  mean: Float64Array;
  /** Math.log(1 / (sqrt(2π)·σ)), as the library's calculateLogProbability takes it each time. */
  logC1: Float64Array;
  /** −2σ². */
  c2: Float64Array;
}

/**
 * The patched GaussianNB's train, over typed arrays: class sizes, then (pass 1) column sums per class
 * and overall, then (pass 2) the deviations' sums and squares, each accumulated in row order as
 * ml-matrix's sumByColumn / varianceByColumn do, so every value is the library's to the bit.
 */
export function typedModel(m: GaussianNBModel): TypedModel {
  const classes = m.means.length;
  const features = m.means[0]!.length;
  const t: TypedModel = { classes, features, logPrior: new Float64Array(classes), mean: new Float64Array(classes * features), logC1: new Float64Array(classes * features), c2: new Float64Array(classes * features) };
  for (let c = 0; c < classes; c++) {
    const p = m.calculateProbabilities[c]!;
    t.logPrior[c] = p[0] as number;
    for (let j = 0; j < features; j++) {
      const [c1, c2] = p[j + 1] as [number, number];
      t.mean[c * features + j] = m.means[c]![j]!;
      t.logC1[c * features + j] = Math.log(c1);
      t.c2[c * features + j] = c2;
    }
  }
  return t;
}

/** Log joint probabilities (rows × classes), summed as the patched getLogJoint sums them. */
export function logJointTyped(t: TypedModel, x: Matrix): Float64Array {
  const { classes, features: d } = t;
  const out = new Float64Array(x.rows * classes);
  const data = x.data;
  for (let i = 0; i < x.rows; i++) {
    const o = i * d;
    for (let c = 0; c < classes; c++) {
      const k = c * d;
      let acc = t.logPrior[c]!;
      for (let j = 0; j < d; j++) {
        const v = data[o + j]! - t.mean[k + j]!;
        acc += t.logC1[k + j]! + (v * v) / t.c2[k + j]!;
      }
      out[i * classes + c] = acc;
    }
  }
  return out;
}

/**
 * The log joint as a quadratic form in x, the same sum regrouped: with a = 1/c2 and b = −2m·a,
 *   L[c] = K_c + Σ_j x_j·(a_cj·x_j + b_cj),   K_c = log prior_c + Σ_j (log C1_cj + a_cj·m_cj²),
 * in float64 (per class: a then b, d values each), with what bounds its rounding: `magnitude` (the sum of
 * the absolute terms of K_c) and the largest |a| and |b| per class. onnxruntime's scorer (engine/ort-linear.ts)
 * takes its coefficients from here too. Made once per typed model (remembered).
 */
export interface QuadraticForm {
  ab: Float64Array;
  constant: Float64Array;
  magnitude: Float64Array;
  amax: Float64Array;
  bmax: Float64Array;
}

const quadratics = new WeakMap<TypedModel, QuadraticForm>();

export function quadraticForm(t: TypedModel): QuadraticForm {
  const known = quadratics.get(t);
  if (known) return known;
  const { classes: C, features: d } = t;
  const q: QuadraticForm = { ab: new Float64Array(2 * C * d), constant: new Float64Array(C), magnitude: new Float64Array(C), amax: new Float64Array(C), bmax: new Float64Array(C) };
  for (let c = 0; c < C; c++) {
    let k = t.logPrior[c]!;
    let mag = Math.abs(k);
    let am = 0;
    let bm = 0;
    for (let j = 0; j < d; j++) {
      const m = t.mean[c * d + j]!;
      const a = 1 / t.c2[c * d + j]!;
      const b = -2 * m * a;
      q.ab[2 * c * d + j] = a;
      q.ab[2 * c * d + d + j] = b;
      am = Math.max(am, Math.abs(a));
      bm = Math.max(bm, Math.abs(b));
      const lc = t.logC1[c * d + j]!;
      k += lc + a * m * m;
      mag += Math.abs(lc) + Math.abs(a * m * m);
    }
    q.constant[c] = k;
    q.magnitude[c] = mag;
    q.amax[c] = am;
    q.bmax[c] = bm;
  }
  quadratics.set(t, q);
  return q;
}

/** labelsTyped's values and row norms in JS (four rows at a time), where WebAssembly is missing. */
function quadraticJs(q: QuadraticForm, x: Matrix, C: number): { values: Float64Array; n2: Float64Array; n1: Float64Array } {
  const { ab, constant } = q;
  const n = x.rows;
  const d = x.cols;
  const data = x.data;
  const vals = new Float64Array(n * C);
  const n4 = n & ~3;
  for (let i0 = 0; i0 < n4; i0 += 4) {
    const o0 = i0 * d;
    const o1 = o0 + d;
    const o2 = o1 + d;
    const o3 = o2 + d;
    for (let c = 0; c < C; c++) {
      const k = 2 * c * d;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let j = 0; j < d; j++) {
        const a = ab[k + j]!;
        const b = ab[k + d + j]!;
        const v0 = data[o0 + j]!;
        const v1 = data[o1 + j]!;
        const v2 = data[o2 + j]!;
        const v3 = data[o3 + j]!;
        s0 += v0 * (a * v0 + b);
        s1 += v1 * (a * v1 + b);
        s2 += v2 * (a * v2 + b);
        s3 += v3 * (a * v3 + b);
      }
      const kc = constant[c]!;
      vals[i0 * C + c] = kc + s0;
      vals[(i0 + 1) * C + c] = kc + s1;
      vals[(i0 + 2) * C + c] = kc + s2;
      vals[(i0 + 3) * C + c] = kc + s3;
    }
  }
  for (let i = n4; i < n; i++) {
    const o = i * d;
    for (let c = 0; c < C; c++) {
      const k = 2 * c * d;
      let s = 0;
      for (let j = 0; j < d; j++) {
        const v = data[o + j]!;
        s += v * (ab[k + j]! * v + ab[k + d + j]!);
      }
      vals[i * C + c] = constant[c]! + s;
    }
  }
  const n2 = new Float64Array(n);
  const n1 = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sq = 0;
    let ab1 = 0;
    for (let j = 0; j < d; j++) {
      const v = data[i * d + j]!;
      sq += v * v;
      ab1 += Math.abs(v);
    }
    n2[i] = sq;
    n1[i] = ab1;
  }
  return { values: vals, n2, n1 };
}

/**
 * The exact loop's labels (argmaxRows of logJointTyped: the first largest log joint), computed faster: the
 * quadratic form in float64 (multiplies and adds only, where the exact loop divides per term: by default in the
 * small WebAssembly module of naive-bayes-wasm.ts, two columns per f64x2 operation; `engine` 'js', or where
 * WebAssembly SIMD is missing, in JS four rows at a time),
 * then, for every row where another class's value could reach the best one's within the rounding bound, the
 * exact loop itself. The bound: both float64 evaluations (the exact loop's d + 2 terms, the form's 2d + 2
 * with coefficients rounded once or twice, K_c summed over 3d terms) are off by at most about (10d + 14)·u·S,
 * u = 2⁻⁵³, S = magnitude_c + Σ_j (|a_cj|·x_j² + |b_cj·x_j|) ≤ magnitude_c + amax_c·‖x‖² + bmax_c·‖x‖₁; the
 * bound used is (16(d + 4)·u + 1e-12)·(magnitude_c + amax_c·‖x‖² + bmax_c·‖x‖₁). A non-finite value or bound
 * (e.g. a huge input) makes the row unsure. `recomputed`: the rows the exact loop settled.
 */
/** Batches of fewer rows take labelsTyped's JS form. */
const WASM_MIN_ROWS = 32;

export function labelsTyped(t: TypedModel, x: Matrix, labels: Int32Array, engine: 'wasm' | 'js' = 'wasm'): { labels: Int32Array; recomputed: number; finite: boolean } {
  const { classes: C, features: d } = t;
  const q = quadraticForm(t);
  const { magnitude, amax, bmax } = q;
  const n = x.rows;
  const data = x.data;
  // (A few rows: JS, whose warm loop beats the module's copies and call.)
  const { values: vals, n2: norm2, n1: norm1 } = (engine === 'wasm' && n >= WASM_MIN_ROWS ? wasmQuadratic(q.ab, q.constant, data, n, d) : undefined) ?? quadraticJs(q, x, C);
  const rel = 16 * (d + 4) * 2 ** -53 + 1e-12;
  const out = new Int32Array(n);
  const unsure: number[] = [];
  let finite = true;
  for (let i = 0; i < n; i++) {
    const n2 = norm2[i]!;
    const n1 = norm1[i]!;
    // (Σ |x| of float32 values, in float64, is finite exactly when every value is.)
    if (!Number.isFinite(n1)) finite = false;
    let best = 0;
    for (let c = 1; c < C; c++) if (vals[i * C + c]! > vals[i * C + best]!) best = c;
    const low = vals[i * C + best]! - rel * (magnitude[best]! + amax[best]! * n2 + bmax[best]! * n1);
    // (NaN or ±Infinity anywhere fails one of these comparisons: unsure.)
    let sure = Number.isFinite(low);
    for (let c = 0; c < C && sure; c++) if (c !== best && !(vals[i * C + c]! + rel * (magnitude[c]! + amax[c]! * n2 + bmax[c]! * n1) < low)) sure = false;
    if (sure) out[i] = labels[best]!;
    else unsure.push(i);
  }
  if (unsure.length > 0) {
    const sub = new Float32Array(unsure.length * d);
    unsure.forEach((r, u) => sub.set(data.subarray(r * d, (r + 1) * d), u * d));
    const exact = argmaxRows(logJointTyped(t, { rows: unsure.length, cols: d, data: sub }), unsure.length, C, labels);
    unsure.forEach((r, u) => (out[r] = exact[u]!));
  }
  return { labels: out, recomputed: unsure.length, finite };
}

export interface Trained {
  model: GaussianNBModel;
  typed: TypedModel;
  /** Original label of each library class index, ascending. */
  classes: Int32Array;
  features: number;
}

/**
 * Log joint probabilities (rows × classes) whose argmax is the exact loop's: the scorer's float32 values, and
 * for every row where some other class's value could, within the bounds, reach the best one's (or where float32
 * overflowed), the exact float64 values of logJointTyped.
 */
export async function settledLogJoint(scorer: GaussianScores, t: TypedModel, x: Matrix): Promise<{ logJoint: Float64Array; recomputed: number }> {
  const C = t.classes;
  const { values, bound } = await scorer.logJoint(x);
  const unsure: number[] = [];
  for (let i = 0; i < x.rows; i++) {
    const o = i * C;
    let best = 0;
    for (let c = 1; c < C; c++) if (values[o + c]! > values[o + best]!) best = c;
    const low = values[o + best]! - bound[o + best]!;
    for (let c = 0; c < C; c++) {
      // (A float32 overflow, e.g. x² of a value over 1.8e19, makes a value or bound infinite or NaN: unsure.)
      if (!(Number.isFinite(values[o + c]!) && Number.isFinite(bound[o + c]!)) || (c !== best && values[o + c]! + bound[o + c]! >= low)) {
        unsure.push(i);
        break;
      }
    }
  }
  if (unsure.length > 0) {
    const d = x.cols;
    const sub = new Float32Array(unsure.length * d);
    unsure.forEach((r, u) => sub.set(x.data.subarray(r * d, (r + 1) * d), u * d));
    const exact = logJointTyped(t, { rows: unsure.length, cols: d, data: sub });
    unsure.forEach((r, u) => values.set(exact.subarray(u * C, (u + 1) * C), r * C));
  }
  return { logJoint: values, recomputed: unsure.length };
}

/**
 * Models with fewer feature × class terms than this take their labels from labelsTyped on either engine: at
 * PCA-50 × 10 digits (500 terms) that is about 4.5 ms per 10,000 rows against onnxruntime's 3.5 ms run plus
 * 1.8 ms to make the model's session, and the first session of a process costs 25–50 ms more (onnxruntime's
 * start-up); at raw pixels × 10 (7,840 terms) onnxruntime takes 41 ms against 136 (rough, busy 2-core machine).
 */
export const NATIVE_MIN_TERMS = 2048;

/**
 * A Gaussian NB whose labels come from onnxruntime (one session per model, made at its first predict, released
 * by dispose): float32 products, then the exact float64 loop for every row the rounding bound cannot settle, so
 * the labels are the plain loop's. Its scores stay the plain loop's exact float64 posteriors: the same numbers
 * on either engine, so calibration and thresholds do not depend on the engine. Below NATIVE_MIN_TERMS the
 * model is the plain-JS one (no session), and its engine says so.
 */
function nativeModelOf(t: Trained, native: NativeEngine, threads: number): Model {
  if (t.features * t.classes.length < NATIVE_MIN_TERMS) return plainModelOf(t, `${ENGINE}; ${t.features * t.classes.length} feature × class terms, below the ${NATIVE_MIN_TERMS} where an onnxruntime session pays`);
  let scorer: Promise<GaussianScores> | undefined;
  const engine = () => `${native.description(threads)}: labels from float32 log joint products, exact float64 near ties; scores exact float64 (fit: js typed arrays; ml-naivebayes 4.0.0 model format)`;
  return defineModel(WHO, {
    classes: t.classes,
    inputSize: t.features,
    state: t,
    async predict(s, x) {
      const { logJoint } = await settledLogJoint(await (scorer ??= native.gaussianScores(s.typed, threads)), s.typed, x);
      return argmaxRows(logJoint, x.rows, s.classes.length, s.classes);
    },
    scores: (s, x) => softmaxRows(logJointTyped(s.typed, x), x.rows, s.classes.length),
    predictWithScores(s, x) {
      const lj = logJointTyped(s.typed, x);
      return { labels: argmaxRows(lj, x.rows, s.classes.length, s.classes), scores: softmaxRows(lj, x.rows, s.classes.length) };
    },
    serialize: (s) => serializeNb(s),
    engine,
    runtime: () => ({ engine: engine(), threads }),
    free: () => void scorer?.then((sc) => sc.dispose()),
  });
}

function serializeNb(s: Trained): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ format: FORMAT, version: 1, classes: Array.from(s.classes), features: s.features, model: s.model }));
}

/**
 * The model of a fitted or loaded Gaussian NB: plain JS, or with `native` (onnxruntime-node) its labels on
 * that engine's `threads` (the same labels; the same scores and bytes).
 */
export function naiveBayesModelOf(t: Trained, native?: NativeEngine, threads = native?.threads ?? 1): Model {
  return native ? nativeModelOf(t, native, threads) : plainModelOf(t, ENGINE);
}

function plainModelOf(t: Trained, engine: string): Model {
  return defineModel(WHO, {
    classes: t.classes,
    inputSize: t.features,
    state: t,
    // The input's finiteness is checked here: predict's from labelsTyped's row norms (no scan of its own; a
    // non-finite value runs checkFinite, which names it), the others' by checkFinite as defineModel would.
    checkFinite: false,
    predict(s, x) {
      const r = labelsTyped(s.typed, x, s.classes);
      if (!r.finite) checkFinite(x, WHO, 'the input to predict');
      return r.labels;
    },
    scores(s, x) {
      checkFinite(x, WHO, 'the input to score');
      return softmaxRows(logJointTyped(s.typed, x), x.rows, s.classes.length);
    },
    // Scores need the exact loop anyway: its argmax is the labels (labelsTyped's, by construction).
    predictWithScores(s, x) {
      checkFinite(x, WHO, 'the input to predict');
      const lj = logJointTyped(s.typed, x);
      return { labels: argmaxRows(lj, x.rows, s.classes.length, s.classes), scores: softmaxRows(lj, x.rows, s.classes.length) };
    },
    serialize: (s) => serializeNb(s),
    engine: () => engine,
  });
}

export const naiveBayesModel: ModelPlugin<NaiveBayesParams> = {
  name: WHO,
  summary: 'Gaussian naive Bayes (log-space scoring, scikit-learn variance smoothing)',
  input: 'vector',
  params: naiveBayesParams,
  scoreKind: 'posterior probabilities',
  libraries: [],
  async load(bytes, _params, ctx) {
    const s = parseSavedJson(bytes, savedSchema, 'naive-bayes', 'a digitbench Gaussian NB model');
    const { means, calculateProbabilities: probs } = s.model;
    const consistent =
      means.length === s.classes.length &&
      means.every((m) => m.length === s.features) &&
      probs.length === s.classes.length &&
      probs.every((p) => p.length === s.features + 1 && typeof p[0] === 'number' && p.slice(1).every((v) => Array.isArray(v)));
    if (!consistent) {
      throw new Error('naive-bayes: the saved model is inconsistent (class or feature counts differ); pass the bytes that serialize() returned.');
    }
    const model = s.model as GaussianNBModel;
    return naiveBayesModelOf({ model, typed: typedModel(model), classes: Int32Array.from(s.classes), features: s.features }, ctx?.native);
  },
};
