/**
 * PCA by randomized subspace iteration (Halko, Martinsson & Tropp 2011), the method scikit-learn
 * uses for a few components of a large matrix. The big products (n × d by d × l, and their
 * transposes) run on the tensor engine in row blocks, so the training matrix is never copied whole
 * into it; large shared matrices are split by rows over the engine pool's threads (src/engine/pool.ts),
 * which read them in place. The small work (orthonormalising d × l bases, the l × l eigenproblem) runs
 * in float64 on ml-matrix. Centering is implicit: (X − 1μᵀ)Z = XZ − 1(μᵀZ).
 *
 * Why not ml-pca: it computes all d components with a full decomposition and then slices, which
 * takes minutes on 60,000 × 784 (libraries.md); this needs about 2q + 1 passes over X.
 */
import { EigenvalueDecomposition, Matrix as MlMatrix } from 'ml-matrix';
import type { Matrix } from '@digitbench/runtime/internal';
import { createRng } from '../engine/rng.ts';
import { getTf } from '../engine/tf.ts';
import { runInPool, warmEnginePool } from '../engine/pool.ts';
import { defaultThreads, isShared } from '../engine/threads.ts';
import { stateArray, stateInt, type CreatedStep, type ImageShape, type StepState } from '@digitbench/runtime/internal';

export interface PcaOptions {
  components: number;
  /** Extra basis vectors carried along for accuracy (scikit-learn: 10). */
  oversamples: number;
  /** Power iterations (scikit-learn's 'auto' uses 7 for few components). */
  iterations: number;
  seed: number;
  /** Rows per block sent to the tensor engine. */
  blockRows?: number;
  /** Worker threads for the passes over X (default: up to 2; used when X is in shared memory). */
  threads?: number;
  /** Divide each projected component by its standard deviation (scikit-learn's whiten=True). */
  whiten?: boolean;
}

export interface PcaModel {
  mean: Float64Array;
  /** k × d, one unit-length component per row, in decreasing order of variance. */
  components: Float64Array;
  k: number;
  d: number;
  /** Variance along each component (ddof = 1, as scikit-learn). */
  explainedVariance: Float64Array;
  explainedVarianceRatio: Float64Array;
}

const BLOCK = 8192;

/** Modified Gram–Schmidt on the columns of a d × l row-major float64 matrix, in place. */
function orthonormalizeColumns(a: Float64Array, d: number, l: number): void {
  for (let j = 0; j < l; j++) {
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < j; i++) {
        let dot = 0;
        for (let r = 0; r < d; r++) dot += a[r * l + i]! * a[r * l + j]!;
        for (let r = 0; r < d; r++) a[r * l + j]! -= dot * a[r * l + i]!;
      }
    }
    let norm = 0;
    for (let r = 0; r < d; r++) norm += a[r * l + j]! ** 2;
    norm = Math.sqrt(norm);
    if (norm === 0) throw new Error('PCA: the data has fewer independent directions than components requested; lower "components".');
    for (let r = 0; r < d; r++) a[r * l + j]! /= norm;
  }
}

export async function fitPca(x: Matrix, opts: PcaOptions): Promise<PcaModel> {
  const n = x.rows;
  const d = x.cols;
  const k = opts.components;
  if (k > Math.min(n, d)) {
    throw new Error(`Feature step "pca": ${k} components requested but the data has ${n} rows × ${d} features; ask for at most ${Math.min(n, d)}.`);
  }
  const l = Math.min(k + opts.oversamples, Math.min(n, d));
  const block = opts.blockRows ?? BLOCK;

  // The pool's threads (when used) start now, if they have not yet, and load their tensor engine while this thread computes the mean.
  const pass = passRunner(x, d, l, block, opts.threads ?? defaultThreads());
  {
    // Mean and total variance in float64.
    const mean = new Float64Array(d);
    const sq = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      const o = i * d;
      for (let j = 0; j < d; j++) {
        const v = x.data[o + j]!;
        mean[j]! += v;
        sq[j]! += v * v;
      }
    }
    let totalVar = 0;
    for (let j = 0; j < d; j++) {
      mean[j]! /= n;
      totalVar += (sq[j]! - n * mean[j]! * mean[j]!) / (n - 1);
    }

    // Random start: a d × l Gaussian matrix, seeded.
    const rng = createRng(`pca:${opts.seed}`);
    const z = new Float64Array(d * l);
    for (let i = 0; i < z.length; i += 2) {
      const u = Math.max(rng.next(), 1e-12);
      const v = rng.next();
      const rad = Math.sqrt(-2 * Math.log(u));
      z[i] = rad * Math.cos(2 * Math.PI * v);
      if (i + 1 < z.length) z[i + 1] = rad * Math.sin(2 * Math.PI * v);
    }
    orthonormalizeColumns(z, d, l);

    for (let it = 0; it < opts.iterations; it++) {
      const t = await pass.run(z, false, mean); // l × d
      for (let a = 0; a < l; a++) for (let j = 0; j < d; j++) z[j * l + a] = t[a * d + j]!;
      orthonormalizeColumns(z, d, l);
    }
    // Rayleigh–Ritz: eigen-decompose the projected covariance in the subspace.
    const g = await pass.run(z, true, mean);
    const gm = new MlMatrix(l, l);
    for (let a = 0; a < l; a++) for (let b = 0; b < l; b++) gm.set(a, b, (g[a * l + b]! + g[b * l + a]!) / 2);
    const evd = new EigenvalueDecomposition(gm, { assumeSymmetric: true });
    const values = evd.realEigenvalues;
    const vectors = evd.eigenvectorMatrix;
    const order = values.map((v, i) => [v, i] as const).sort((p, q) => q[0] - p[0]).map((p) => p[1]);
    const components = new Float64Array(k * d);
    const explainedVariance = new Float64Array(k);
    for (let c = 0; c < k; c++) {
      const col = order[c]!;
      explainedVariance[c] = Math.max(0, values[col]!) / (n - 1);
      let maxAbs = 0;
      let sign = 1;
      for (let j = 0; j < d; j++) {
        let s = 0;
        for (let a = 0; a < l; a++) s += z[j * l + a]! * vectors.get(a, col);
        components[c * d + j] = s;
        if (Math.abs(s) > maxAbs) {
          maxAbs = Math.abs(s);
          sign = Math.sign(s);
        }
      }
      // Deterministic sign: the largest entry of each component is positive.
      if (sign < 0) for (let j = 0; j < d; j++) components[c * d + j]! *= -1;
    }
    const explainedVarianceRatio = explainedVariance.map((v) => (totalVar > 0 ? v / totalVar : 0));
    return { mean, components, k, d, explainedVariance, explainedVarianceRatio };
  }
}

/**
 * One pass over rows [start, end) of X: for the basis Z (d × l, row-major float64), returns
 * X̃ᵀX̃Z as l × d (or, with `gram`, (X̃Z)ᵀ(X̃Z) as l × l), summed over row blocks in float64.
 * Used by the main thread and by the worker threads alike.
 */
export async function passOverRows(
  data: Float32Array,
  d: number,
  start: number,
  end: number,
  basis: Float64Array,
  l: number,
  mean: Float64Array,
  gram: boolean,
  block: number,
): Promise<Float64Array> {
  const { tf } = await getTf();
  const out = gram ? new Float64Array(l * l) : new Float64Array(l * d);
  const meanT = tf.tensor2d(Float32Array.from(mean), [1, d]);
  const zT = tf.tensor2d(Float32Array.from(basis), [d, l]);
  const muZ = tf.matMul(meanT, zT);
  try {
    for (let s = start; s < end; s += block) {
      const e = Math.min(end, s + block);
      const part = tf.tidy(() => {
        const xb = tf.tensor2d(data.subarray(s * d, e * d), [e - s, d]);
        const y = tf.sub(tf.matMul(xb, zT), muZ); // centred X̃_b Z
        const yT = tf.transpose(y);
        // X̃_bᵀ Y_b = X_bᵀ Y_b − μ (1ᵀ Y_b); computed as (Y_bᵀ X_b)ᵀ, which is fast on every backend.
        return gram ? tf.matMul(yT, y) : tf.sub(tf.matMul(yT, xb), tf.matMul(tf.sum(y, 0).reshape([l, 1]), meanT));
      });
      const vals = await part.data();
      part.dispose();
      for (let i = 0; i < vals.length; i++) out[i]! += vals[i]!;
    }
  } finally {
    meanT.dispose();
    zT.dispose();
    muZ.dispose();
  }
  return out;
}

/** passOverRows as an engine-pool task (pool.ts): the rows arrive as a shared array, read in place. */
export function passTask(a: { data: Float32Array; d: number; start: number; end: number; basis: Float64Array; l: number; mean: Float64Array; gram: boolean; block: number }): Promise<Float64Array> {
  return passOverRows(a.data, a.d, a.start, a.end, a.basis, a.l, a.mean, a.gram, a.block);
}

interface PassRunner {
  run(basis: Float64Array, gram: boolean, mean: Float64Array): Promise<Float64Array>;
}

/** Runs passes in this thread, or split by rows over the engine pool's threads when X is shared memory. */
function passRunner(x: Matrix, d: number, l: number, block: number, threads: number): PassRunner {
  const n = x.rows;
  if (threads < 2 || n < 4 * block || !isShared(x.data)) {
    return { run: (basis, gram, mean) => passOverRows(x.data, d, 0, n, basis, l, mean, gram, block) };
  }
  warmEnginePool(threads);
  const per = Math.ceil(n / threads);
  return {
    async run(basis, gram, mean) {
      const parts = await Promise.all(
        Array.from({ length: threads }, (_, t) =>
          runInPool<Float64Array>(t, PCA_MODULE, 'passTask', { data: x.data, d, start: t * per, end: Math.min(n, (t + 1) * per), basis, l, mean, gram, block }),
        ),
      );
      const out = parts[0]!;
      for (const p of parts.slice(1)) for (let i = 0; i < out.length; i++) out[i]! += p[i]!;
      return out;
    },
  };
}

const PCA_MODULE = new URL(import.meta.url);

/** Projects rows [start, end) of x into `out` (rows × k, row-major): (X − 1μᵀ) Cᵀ, on the tensor engine. */
export async function projectRows(a: { x: Float32Array; d: number; k: number; start: number; end: number; cT: Float32Array; mean: Float32Array; out: Float32Array; blockRows: number }): Promise<void> {
  const { tf } = await getTf();
  const cTensor = tf.tensor2d(a.cT, [a.d, a.k]);
  const muC = tf.tidy(() => tf.matMul(tf.tensor2d(a.mean, [1, a.d]), cTensor));
  try {
    for (let start = a.start; start < a.end; start += a.blockRows) {
      const end = Math.min(a.end, start + a.blockRows);
      const y = tf.tidy(() => tf.sub(tf.matMul(tf.tensor2d(a.x.subarray(start * a.d, end * a.d), [end - start, a.d]), cTensor), muC));
      a.out.set(await y.data(), start * a.k);
      y.dispose();
    }
  } finally {
    cTensor.dispose();
    muC.dispose();
  }
}

/** Below this many rows a projection stays in the calling thread (single images, small batches). */
const PROJECT_PARALLEL_ROWS = 2000;

/**
 * Projects rows onto the components: (X − 1μᵀ) Cᵀ (whitened: each column divided by the square root of
 * its explained variance), in row blocks on the tensor engine; large shared
 * inputs are split over the engine pool's threads, each writing its rows of a shared output.
 */
export async function projectPca(model: PcaModel, x: Matrix, blockRows = BLOCK, threads = defaultThreads(), whiten = false): Promise<Matrix> {
  if (x.cols !== model.d) {
    throw new Error(`Feature step "pca" was fitted on ${model.d} features but got rows of ${x.cols}; apply the same steps before it.`);
  }
  const { k, d } = model;
  const cT = new Float32Array(d * k);
  for (let c = 0; c < k; c++) {
    // Whitening scales the component itself, so the centering term (computed from cT) scales with it.
    // A component without variance projects every row to ~0 and is left unscaled.
    const v = model.explainedVariance[c]!;
    const f = whiten && v > 0 ? 1 / Math.sqrt(v) : 1;
    for (let j = 0; j < d; j++) cT[j * k + c] = model.components[c * d + j]! * f;
  }
  const mean = Float32Array.from(model.mean);
  const parallel = threads > 1 && x.rows >= PROJECT_PARALLEL_ROWS && isShared(x.data);
  const out = parallel ? new Float32Array(new SharedArrayBuffer(x.rows * k * 4)) : new Float32Array(x.rows * k);
  if (!parallel) {
    await projectRows({ x: x.data, d, k, start: 0, end: x.rows, cT, mean, out, blockRows });
  } else {
    const per = Math.ceil(x.rows / threads);
    await Promise.all(
      Array.from({ length: threads }, (_, t) =>
        runInPool<void>(t, PCA_MODULE, 'projectRows', { x: x.data, d, k, start: t * per, end: Math.min(x.rows, (t + 1) * per), cT, mean, out, blockRows }),
      ),
    );
  }
  return { rows: x.rows, cols: k, data: out };
}

export function pcaStep(_image: ImageShape, opts: PcaOptions): CreatedStep {
  let model: PcaModel | undefined;
  return {
    step: {
      label: `pca(${opts.components}${opts.whiten ? ',whiten' : ''})`,
      async fit(x) {
        model = await fitPca(x, opts);
      },
      transform(x) {
        if (!model) throw new Error('Feature step "pca" was used before it was fitted.');
        return projectPca(model, x, BLOCK, defaultThreads(), opts.whiten ?? false);
      },
      state(): StepState {
        if (!model) return {};
        const { mean, components, explainedVariance, explainedVarianceRatio, k, d } = model;
        return { mean, components, explainedVariance, explainedVarianceRatio, k, d };
      },
      setState(s) {
        const k = stateInt('pca', s, 'k');
        const d = stateInt('pca', s, 'd');
        if (k !== opts.components) throw new Error(`Feature step "pca": the saved state has ${k} components but the step asks for ${opts.components}; the bundle is damaged.`);
        model = {
          k,
          d,
          mean: stateArray('pca', s, 'mean', Float64Array, d),
          components: stateArray('pca', s, 'components', Float64Array, k * d),
          explainedVariance: stateArray('pca', s, 'explainedVariance', Float64Array, k),
          explainedVarianceRatio: stateArray('pca', s, 'explainedVarianceRatio', Float64Array, k),
        };
      },
    },
    image: undefined,
  };
}
