/**
 * An rbf SVM's float32 kernel products on onnxruntime (issue 25; the workbench's src/classifiers/svm-predict.ts): per chunk of
 * rows `xa` = [2γ·x, −γ·‖x‖², 1] (R × (d + 2)), the graph computes
 *   V = MatMul(Exp(MatMul(xa, st)), w)
 * with st = [Sᵀ; 1; −γ·‖s‖²] ((d + 2) × l) and w (l × (P + k): the pairs' coefficients and the bound columns)
 * as initializers, the same products the tfjs path runs. The caller turns V into votes and rechecks, in
 * exact float64, every row whose vote float32 rounding could change, so the labels do not depend on the engine.
 */
import { GraphBuilder } from './onnx.ts';
import { f32, ortDescription, ortSession } from './ort.ts';

/** The kernel products of one fitted model: V (R × cols) for R rows of `xa`. */
export interface RbfProducts {
  values(xa: Float32Array, rows: number): Promise<Float32Array>;
  dispose(): void;
  /** The engine, for a model's engine column (e.g. "onnxruntime-node 1.31.1 (2 threads)"). */
  readonly description: string;
  readonly threads: number;
}

/** The ONNX model: input `xa` [R, e], output `v` [R, cols]. */
export function rbfProductsGraph(st: Float32Array, e: number, l: number, w: Float32Array, cols: number): Uint8Array {
  const g = new GraphBuilder('rbf-kernel-pair-sums');
  g.input('xa', 'FLOAT', ['R', e]);
  g.initializer('st', st, [e, l]);
  g.initializer('w', w, [l, cols]);
  g.node('MatMul', ['xa', 'st'], ['z']);
  g.node('Exp', ['z'], ['kernel']);
  g.node('MatMul', ['kernel', 'w'], ['v']);
  g.output('v', 'FLOAT', ['R', cols]);
  return g.encode(17);
}

/** A session on the products of one model (created once per fitted model; dispose releases it). */
export async function ortRbfProducts(st: Float32Array, e: number, l: number, w: Float32Array, cols: number, threads = 1): Promise<RbfProducts> {
  const session = await ortSession(rbfProductsGraph(st, e, l, w, cols), threads);
  return {
    async values(xa, rows) {
      const out = await session.run({ xa: f32(xa.subarray(0, rows * e), [rows, e]) });
      return out.v!.data as Float32Array;
    },
    dispose: () => void session.release(),
    description: ortDescription(threads),
    threads,
  };
}
