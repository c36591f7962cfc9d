/**
 * PCA by randomized subspace iteration (Halko, Martinsson & Tropp 2011), the method scikit-learn
 * uses for a few components of a large matrix. The big products (n × d by d × l, and their
 * transposes) run on the tensor engine in row blocks, so the training matrix is never copied whole
 * into it; large shared matrices are split by rows over the engine pool's threads (src/engine/pool.ts),
 * which read them in place. The small work (orthonormalising d × l bases, the l × l eigenproblem) runs
 * in float64 on ml-matrix. Centering is implicit: (X − 1μᵀ)Z = XZ − 1(μᵀZ).
 * Where engineChoice() picks onnxruntime (issue 25), the passes run instead as ONNX graphs on its intra-op
 * threads (src/engine/ort-pca.ts: the same block products, summed in float64 here); the rest is unchanged.
 *
 * The transform (the projection onto the fitted components) is the runtime's plain-JS projectPca
 * (@digitbench/runtime features/pca.ts), here as in a bundle, so features are engine-independent; only
 * this fit depends on the tensor engine's backend. Where engineChoice() picks onnxruntime, the workbench's
 * preparation projects matrices of ORT_PROJECT_MIN_ROWS rows or more on it (src/engine/ort-pca-project.ts:
 * a float64 MatMul whose float32 output is projectPca's bit for bit), through the step's transformMany.
 *
 * Why not ml-pca: it computes all d components with a full decomposition and then slices, far slower
 * on 60,000 × 784 (docs/measurements.md); this needs about 2q + 1 passes over X.
 */
import { EigenvalueDecomposition, Matrix as MlMatrix } from 'ml-matrix';
import { pca as runtime, pcaModelFromState, pcaProjection, type Matrix, type PcaModel } from '@digitbench/runtime/internal';
import { defineStep } from './define.ts';
import { createRng } from '../engine/rng.ts';
import { getTf, loadedEngine, TF_LIBRARIES } from '../engine/tf.ts';
import { runInPool, warmEnginePool } from '../engine/pool.ts';
import { defaultThreads, isShared } from '../engine/threads.ts';
import { engineChoice, ORT_LIBRARIES, ortDescription, type EngineName } from '../engine/ort.ts';
import { ortSubspacePasses } from '../engine/ort-pca.ts';
import { ortProjection, type OrtProjection } from '../engine/ort-pca-project.ts';

export { projectPca, type PcaModel } from '@digitbench/runtime/internal';

export interface PcaOptions {
  components: number;
  /** Extra basis vectors carried along for accuracy (scikit-learn: 10). */
  oversamples: number;
  /** Power iterations (scikit-learn's 'auto' uses 7 for few components). */
  iterations: number;
  seed: number;
  /** Rows per block sent to the tensor engine. */
  blockRows?: number;
  /** Worker threads for the passes over X (default: up to 2; used when X is in shared memory); on ort, its intra-op threads. */
  threads?: number;
  /** The engine of the passes over X (default: engineChoice()'s). */
  engine?: EngineName;
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

/** The fitted PCA, the threads its passes over X kept busy (1: this thread alone), and the engine that ran them. */
export async function fitPca(x: Matrix, opts: PcaOptions): Promise<PcaModel & { threads: number; engine: string }> {
  const n = x.rows;
  const d = x.cols;
  const k = opts.components;
  if (k > Math.min(n, d)) {
    throw new Error(`Feature step "pca": ${k} components requested but the data has ${n} rows × ${d} features; ask for at most ${Math.min(n, d)}.`);
  }
  const l = Math.min(k + opts.oversamples, Math.min(n, d));
  const block = opts.blockRows ?? BLOCK;

  // The pool's threads (when used) start now, if they have not yet, and load their tensor engine while this thread computes the mean.
  const pass = (opts.engine ?? engineChoice().engine) === 'ort' ? ortSubspacePasses(x, l, block, opts.threads ?? defaultThreads()) : passRunner(x, d, l, block, opts.threads ?? defaultThreads());
  try {
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
    return { mean, components, k, d, explainedVariance, explainedVarianceRatio, threads: pass.threads, engine: pass.description };
  } finally {
    pass.dispose();
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
  /** Threads a pass keeps busy. */
  threads: number;
  /** The engine, e.g. "tfjs-wasm" or "onnxruntime-node 1.31.1 (2 threads)". */
  description: string;
  dispose(): void;
}

/** Runs passes in this thread, or split by rows over the engine pool's threads when X is shared memory. */
function passRunner(x: Matrix, d: number, l: number, block: number, threads: number): PassRunner {
  const n = x.rows;
  if (threads < 2 || n < 4 * block || !isShared(x.data)) {
    return {
      run: (basis, gram, mean) => passOverRows(x.data, d, 0, n, basis, l, mean, gram, block),
      threads: 1,
      get description() {
        return tfDescription(1);
      },
      dispose() {},
    };
  }
  warmEnginePool(threads);
  const per = Math.ceil(n / threads);
  return {
    threads,
    get description() {
      return tfDescription(threads);
    },
    dispose() {},
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

/** The tensor engine's description (it is loaded by the first pass), in `threads` worker threads when more than this one. */
function tfDescription(threads: number): string {
  return `${loadedEngine()?.description ?? 'tfjs'}${threads > 1 ? ` in ${threads} worker threads` : ''}`;
}

/** Rows from which the projection runs on onnxruntime (below, its session and copies cost more than they save). */
export const ORT_PROJECT_MIN_ROWS = 2048;

export interface PcaProjector {
  /** The projection of `x`, bit for bit projectPca's on either engine. */
  project(x: Matrix): Promise<Matrix>;
  /** Frees the onnxruntime session, if one was made. */
  release(): void;
  /** The engine a matrix of `rows` rows is projected on, e.g. "onnxruntime-node 1.31.1 (2 threads): …". */
  description(rows: number): string;
  /** Threads that projection keeps busy. */
  threads(rows: number): number;
}

/**
 * A fitted PCA's projection for the workbench's large matrices: on onnxruntime (one session, made at the
 * first matrix of ORT_PROJECT_MIN_ROWS rows or more, on `threads` intra-op threads) where `engine` is ort,
 * else, and for smaller matrices, the runtime's plain-JS projection. The output is the same either way.
 */
export function pcaProjector(model: PcaModel, whiten: boolean, opts: { engine?: EngineName; threads?: number } = {}): PcaProjector {
  const js = pcaProjection(model, whiten);
  const onOrt = (opts.engine ?? engineChoice().engine) === 'ort';
  const threads = opts.threads ?? defaultThreads();
  let session: Promise<OrtProjection> | undefined;
  const useOrt = (rows: number) => onOrt && rows >= ORT_PROJECT_MIN_ROWS;
  return {
    async project(x) {
      if (!useOrt(x.rows)) return js(x);
      return (await (session ??= ortProjection(model, whiten, threads))).project(x);
    },
    release() {
      void session?.then((p) => p.dispose());
      session = undefined;
    },
    description: (rows) => (useOrt(rows) ? `${ortDescription(threads)}: float64 MatMul, exact float32 rounding checks` : JS_PROJECTION),
    threads: (rows) => (useOrt(rows) ? threads : 1),
  };
}

/** The engine of the runtime's projection (bundles', and the workbench's on wasm and for small matrices). */
export const JS_PROJECTION = 'plain JS (float64 sums; @digitbench/runtime, as bundles predict)';

/** PCA: the fit finds the components (randomized, seeded by the experiment's seed); the transform is the runtime's projection. */
export const pca = defineStep(runtime, {
  expensive: true,
  engineDependent: true,
  libraries: ['ml-matrix 6.15.1', 'seedrandom 3.0.5'],
  // The passes over X (and the projection of large matrices): tfjs on wasm, onnxruntime-node on ort.
  engineLibraries: { wasm: TF_LIBRARIES, ort: ORT_LIBRARIES },
  async fit(x, _y, spec, { seed, usedThreads }) {
    const { mean, components, explainedVariance, explainedVarianceRatio, k, d, threads } = await fitPca(x, { components: spec.components, oversamples: spec.oversamples, iterations: spec.iterations, seed });
    usedThreads?.(threads);
    return { mean, components, explainedVariance, explainedVarianceRatio, k, d };
  },
  // On onnxruntime, large matrices are projected there (the same float32 values as the runtime's transform).
  transformMany(spec, state) {
    if (engineChoice().engine !== 'ort') return undefined;
    const projector = pcaProjector(pcaModelFromState(state, spec.components), spec.whiten ?? false, { engine: 'ort' });
    return { transform: (x) => projector.project(x), release: () => projector.release() };
  },
});
