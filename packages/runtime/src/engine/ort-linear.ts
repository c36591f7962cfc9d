/**
 * Gaussian naive Bayes' scoring on onnxruntime (issue 25; the workbench's src/classifiers/naive-bayes.ts and this package's models/naive-bayes.ts). The log joint
 * probability of row x and class c,
 *   L[c] = log prior_c + Σ_j log C1_cj + Σ_j (x_j − m_cj)² / c2_cj      (c2 = −2σ², the saved model's terms)
 * is a quadratic form: with a = 1/c2 and b = −2m·a,
 *   L[c] = K_c + Σ_j (a_cj·x_j² + b_cj·x_j),   K_c = log prior_c + Σ_j (log C1_cj + a_cj·m_cj²)  (float64, here).
 * One graph per fitted model computes the x-dependent part in float32 as one MatMul of [x², x, |x|] (N × 3d)
 * against a 3d × 2C matrix whose first C columns hold [a; b; 0] and last C columns [|a|; 0; |b|]: the second
 * half is A[c] = Σ_j (|a_cj|·x_j² + |b_cj·x_j|), the sum of the absolute terms, which bounds the rounding
 * (zeros add nothing, not even rounding). Float32 unit u = 2⁻²⁴: a dot product of n terms is off by at most
 * n·u·A (any order, with or without FMA), x² and the rounded coefficients add 3·u·A; the bound used is twice
 * (2d + 4)·u·A plus 1e-12 of the magnitudes for the float64 side. The caller rechecks, in float64, every row
 * whose argmax that bound cannot settle, so the labels are the exact loop's.
 */
import type { Matrix } from './matrix.ts';
import { quadraticForm, type TypedModel } from '../models/naive-bayes.ts';
import { GraphBuilder } from './onnx.ts';
import { f32, ortDescription, ortSession } from './ort.ts';

const U = 2 ** -24;
/** Rows per session.run (bounds the N × 3d float32 features: 4,096 × 2,352 = 38.5 MB on raw pixels). */
const CHUNK = 4096;

export interface GaussianScores {
  /**
   * Rows × classes: the log joint probabilities (float32 products plus float64 constants) and, per value,
   * a bound on how far it can be from the exact float64 loop's (logJointTyped).
   */
  logJoint(x: Matrix): Promise<{ values: Float64Array; bound: Float64Array }>;
  dispose(): void;
  readonly description: string;
  readonly threads: number;
}

/** The 3d × 2C coefficient matrix, the float64 constants K_c and the magnitudes of the float64 side (from quadraticForm). */
export function gaussianCoefficients(t: TypedModel): { coef: Float32Array; constant: Float64Array; magnitude: Float64Array } {
  const { classes: C, features: d } = t;
  const { ab, constant, magnitude } = quadraticForm(t);
  const coef = new Float32Array(3 * d * 2 * C);
  for (let c = 0; c < C; c++) {
    for (let j = 0; j < d; j++) {
      const a = ab[2 * c * d + j]!;
      const b = ab[2 * c * d + d + j]!;
      coef[j * 2 * C + c] = a;
      coef[j * 2 * C + C + c] = Math.abs(a);
      coef[(d + j) * 2 * C + c] = b;
      coef[(2 * d + j) * 2 * C + C + c] = Math.abs(b);
    }
  }
  return { coef, constant, magnitude };
}

/** The ONNX model: input `x` [N, d], output `parts` [N, 2C] (the x-dependent sums, then their absolute sums). */
export function gaussianScoresGraph(coef: Float32Array, d: number, classes: number): Uint8Array {
  const g = new GraphBuilder('gaussian-log-joint');
  g.input('x', 'FLOAT', ['N', d]);
  g.initializer('coef', coef, [3 * d, 2 * classes]);
  g.node('Mul', ['x', 'x'], ['x2']);
  g.node('Abs', ['x'], ['ax']);
  g.node('Concat', ['x2', 'x', 'ax'], ['f'], { axis: 1 });
  g.node('MatMul', ['f', 'coef'], ['parts']);
  g.output('parts', 'FLOAT', ['N', 2 * classes]);
  return g.encode(17);
}

/** A session scoring one fitted model (created once per model; dispose releases it). */
export async function ortGaussianScores(t: TypedModel, threads = 1): Promise<GaussianScores> {
  const { classes: C, features: d } = t;
  const { coef, constant, magnitude } = gaussianCoefficients(t);
  const session = await ortSession(gaussianScoresGraph(coef, d, C), threads);
  const rel = 2 * (2 * d + 4) * U;
  return {
    async logJoint(x) {
      if (x.cols !== d) throw new Error(`Gaussian scores on onnxruntime: rows have ${x.cols} values, the model ${d} features.`);
      const values = new Float64Array(x.rows * C);
      const bound = new Float64Array(x.rows * C);
      const scratch = {};
      for (let r0 = 0; r0 < x.rows; r0 += CHUNK) {
        const rows = Math.min(CHUNK, x.rows - r0);
        const out = (await session.run({ x: f32(x.data.subarray(r0 * d, (r0 + rows) * d), [rows, d], scratch) })).parts!.data as Float32Array;
        for (let i = 0; i < rows; i++) {
          for (let c = 0; c < C; c++) {
            const abs = out[i * 2 * C + C + c]!;
            values[(r0 + i) * C + c] = constant[c]! + out[i * 2 * C + c]!;
            bound[(r0 + i) * C + c] = rel * abs + 1e-12 * (magnitude[c]! + abs);
          }
        }
      }
      return { values, bound };
    },
    dispose: () => void session.release(),
    description: ortDescription(threads),
    threads,
  };
}
