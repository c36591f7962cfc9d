/**
 * PCA's transform: the projection onto fitted components, in plain typed-array JavaScript (no tensor
 * engine, no threads), so it gives the same numbers in Node and in a web page. The fit (randomized
 * subspace iteration) is the workbench's.
 */
import * as z from 'zod/mini';
import { allocFloat32, type Matrix } from '../engine/matrix.ts';
import { defineStepTransform, stateArray, stateInt, type StepState } from './step.ts';

export const pcaSpec = z.strictObject({
  step: z.literal('pca'),
  components: z.number().check(z.int(), z.positive()),
  /** Extra basis vectors (scikit-learn's n_oversamples default is 10). */
  oversamples: z._default(z.number().check(z.int(), z.nonnegative()), 10),
  /** Power iterations: 4 capture 82.43% of MNIST's variance in 50 components; the exact top 50 hold about 82.46%. */
  iterations: z._default(z.number().check(z.int(), z.nonnegative()), 4),
  /** Divide each component by its standard deviation (scikit-learn's whiten=True): unit variance per output feature. */
  whiten: z.optional(z.boolean()),
});

/** A fitted PCA: what the step's state holds. */
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

/** Rows projected together: each weight is loaded once per block of rows (8: the fastest of 1, 4 and 8; digitbench docs/measurements.md). */
const BLOCK_ROWS = 8;

/**
 * Projects rows onto the components: (X − 1μᵀ) Cᵀ, whitened: each column divided by the square root of
 * its explained variance (a component without variance is left unscaled). Computed as X Cᵀ − μᵀCᵀ in
 * float64, each row's sum over the features in feature order, then rounded once to float32. A zero
 * feature adds nothing, so it is skipped when it is zero in every row of a block of 8 (most MNIST pixels are);
 * a row's result does not depend on the rows beside it.
 */
export function projectPca(model: PcaModel, x: Matrix, whiten = false): Matrix {
  return pcaProjection(model, whiten)(x);
}

/**
 * The projection's weights: cT (d × k, so one feature's k weights are adjacent; whitened, each component scaled
 * by 1/√variance) and the centering term μC = μᵀ·cT, summed in feature order (it scales with the whitening).
 * The workbench's onnxruntime projection (src/engine/ort-pca-project.ts) takes the same arrays.
 */
export function projectionWeights(model: PcaModel, whiten: boolean): { cT: Float64Array; muC: Float64Array } {
  const { k, d } = model;
  const cT = new Float64Array(d * k);
  for (let c = 0; c < k; c++) {
    const v = model.explainedVariance[c]!;
    const f = whiten && v > 0 ? 1 / Math.sqrt(v) : 1;
    for (let j = 0; j < d; j++) cT[j * k + c] = model.components[c * d + j]! * f;
  }
  const muC = new Float64Array(k);
  for (let j = 0; j < d; j++) {
    const m = model.mean[j]!;
    for (let c = 0; c < k; c++) muC[c]! += m * cT[j * k + c]!;
  }
  return { cT, muC };
}

/** projectPca with the weights prepared once, for many calls (a restored step predicting image by image). */
export function pcaProjection(model: PcaModel, whiten = false): (x: Matrix) => Matrix {
  const { k, d } = model;
  const { cT, muC } = projectionWeights(model, whiten);
  return (x) => {
    if (x.cols !== d) {
      throw new Error(`Feature step "pca" was fitted on ${d} features but got rows of ${x.cols}; apply the same steps before it.`);
    }
    return project(x, cT, muC, k);
  };
}

function project(x: Matrix, cT: Float64Array, muC: Float64Array, k: number): Matrix {
  const n = x.rows;
  const d = x.cols;
  const data = x.data;
  const out = allocFloat32(n * k);
  // acc[r * k + c]: row i + r's sum for component c.
  const acc = new Float64Array(BLOCK_ROWS * k);
  let i = 0;
  for (; i + BLOCK_ROWS <= n; i += BLOCK_ROWS) {
    acc.fill(0);
    const o = i * d;
    for (let j = 0; j < d; j++) {
      const v0 = data[o + j]!;
      const v1 = data[o + d + j]!;
      const v2 = data[o + 2 * d + j]!;
      const v3 = data[o + 3 * d + j]!;
      const v4 = data[o + 4 * d + j]!;
      const v5 = data[o + 5 * d + j]!;
      const v6 = data[o + 6 * d + j]!;
      const v7 = data[o + 7 * d + j]!;
      if (v0 === 0 && v1 === 0 && v2 === 0 && v3 === 0 && v4 === 0 && v5 === 0 && v6 === 0 && v7 === 0) continue;
      const b = j * k;
      for (let c = 0; c < k; c++) {
        const w = cT[b + c]!;
        acc[c]! += v0 * w;
        acc[k + c]! += v1 * w;
        acc[2 * k + c]! += v2 * w;
        acc[3 * k + c]! += v3 * w;
        acc[4 * k + c]! += v4 * w;
        acc[5 * k + c]! += v5 * w;
        acc[6 * k + c]! += v6 * w;
        acc[7 * k + c]! += v7 * w;
      }
    }
    const p = i * k;
    for (let r = 0; r < BLOCK_ROWS; r++) for (let c = 0; c < k; c++) out[p + r * k + c] = acc[r * k + c]! - muC[c]!;
  }
  // The last rows one by one: the same sums in the same order.
  for (; i < n; i++) {
    acc.fill(0, 0, k);
    const o = i * d;
    for (let j = 0; j < d; j++) {
      const v = data[o + j]!;
      if (v === 0) continue;
      const b = j * k;
      for (let c = 0; c < k; c++) acc[c]! += v * cT[b + c]!;
    }
    for (let c = 0; c < k; c++) out[i * k + c] = acc[c]! - muC[c]!;
  }
  return { rows: n, cols: k, data: out };
}

/** The saved state of a PCA step, checked field by field against the spec. */
export function pcaModelFromState(s: StepState, components: number): PcaModel {
  const k = stateInt('pca', s, 'k');
  const d = stateInt('pca', s, 'd');
  if (k !== components) throw new Error(`Feature step "pca": the saved state has ${k} components but the step asks for ${components}; the bundle is damaged.`);
  return {
    k,
    d,
    mean: stateArray('pca', s, 'mean', Float64Array, d),
    components: stateArray('pca', s, 'components', Float64Array, k * d),
    explainedVariance: stateArray('pca', s, 'explainedVariance', Float64Array, k),
    explainedVarianceRatio: stateArray('pca', s, 'explainedVarianceRatio', Float64Array, k),
  };
}

/** Principal components (fitted by the workbench); the rows become plain vectors of `components` values. */
export const pca = defineStepTransform({
  name: 'pca',
  spec: pcaSpec,
  shape: (spec) => ({ label: `pca(${spec.components}${spec.whiten ? ',whiten' : ''})`, image: undefined }),
  /** State: the PcaModel's fields (k, d, mean, components, explainedVariance, explainedVarianceRatio). */
  restore(spec, _image, state) {
    const model = pcaModelFromState(state, spec.components);
    return pcaProjection(model, spec.whiten ?? false);
  },
});
