/**
 * PCA's big products on onnxruntime (issue 25; src/features/pca.ts).
 *
 * Fit: one pass over X's rows for a basis Z (d × l) and the mean μ, per block of rows X_b, as the tfjs path:
 *   Y = X_b·Z − μZ                    (the centred rows in the subspace, B × l)
 *   pass:  Yᵀ·X_b − (1ᵀY)ᵀ·μ          (X̃_bᵀ X̃_b Z as l × d)       gram: Yᵀ·Y  (l × l)
 * (Gemm with transA for the transposed products), each block's result summed in float64 by the caller. Z and μ
 * are inputs (they change every iteration), so one session per graph serves the whole fit.
 *
 * Projection: src/engine/ort-pca-project.ts (float64, bit-identical to the runtime's plain-JS projectPca).
 */
import type { Matrix } from '@digitbench/runtime/internal';
import { GraphBuilder, ownedView } from '@digitbench/runtime/internal';
import { f32, ortDescription, ortSession, type OrtSession } from './ort.ts';

/** The ONNX model of one block's pass (`gram`: Yᵀ·Y instead): inputs `x` [B, d], `z` [d, l], `mean` [1, d]; output `out`. */
export function subspacePassGraph(d: number, l: number, gram: boolean): Uint8Array {
  const g = new GraphBuilder(gram ? 'subspace-gram' : 'subspace-pass');
  g.input('x', 'FLOAT', ['B', d]);
  g.input('z', 'FLOAT', [d, l]);
  g.input('mean', 'FLOAT', [1, d]);
  g.node('MatMul', ['mean', 'z'], ['muz']);
  g.node('MatMul', ['x', 'z'], ['xz']);
  g.node('Sub', ['xz', 'muz'], ['y']);
  if (gram) {
    g.node('Gemm', ['y', 'y'], ['out'], { transA: 1 });
    g.output('out', 'FLOAT', [l, l]);
  } else {
    g.initializer('rows', BigInt64Array.of(0n), [1]);
    g.node('Gemm', ['y', 'x'], ['ytx'], { transA: 1 });
    g.node('ReduceSum', ['y', 'rows'], ['ysum'], { keepdims: 1 });
    g.node('Transpose', ['ysum'], ['ysumt'], { perm: [1, 0] });
    g.node('MatMul', ['ysumt', 'mean'], ['shift']);
    g.node('Sub', ['ytx', 'shift'], ['out']);
    g.output('out', 'FLOAT', [l, d]);
  }
  return g.encode(17);
}

export interface SubspacePasses {
  /** X̃ᵀX̃Z (l × d), or with `gram` (X̃Z)ᵀ(X̃Z) (l × l), summed over blocks of `block` rows in float64. */
  run(basis: Float64Array, gram: boolean, mean: Float64Array): Promise<Float64Array>;
  dispose(): void;
  readonly threads: number;
  readonly description: string;
}

/** The passes of one fit over X (sessions made once, at the first pass of each kind). */
export function ortSubspacePasses(x: Matrix, l: number, block: number, threads: number): SubspacePasses {
  const { rows: n, cols: d } = x;
  const sessions: { pass?: Promise<OrtSession>; gram?: Promise<OrtSession> } = {};
  return {
    threads,
    description: ortDescription(threads),
    async run(basis, gram, mean) {
      const kind = gram ? 'gram' : 'pass';
      const session = await (sessions[kind] ??= ortSession(subspacePassGraph(d, l, gram), threads));
      const z = f32(Float32Array.from(basis), [d, l]);
      const mu = f32(Float32Array.from(mean), [1, d]);
      const out = gram ? new Float64Array(l * l) : new Float64Array(l * d);
      const scratch = {};
      for (let s = 0; s < n; s += block) {
        const e = Math.min(n, s + block);
        const part = (await session.run({ x: f32(ownedView(x.data.subarray(s * d, e * d), scratch), [e - s, d]), z, mean: mu })).out!.data as Float32Array;
        for (let i = 0; i < part.length; i++) out[i]! += part[i]!;
      }
      return out;
    },
    dispose() {
      for (const s of [sessions.pass, sessions.gram]) void s?.then((session) => session.release());
    },
  };
}

// The projection (bit-identical to the runtime's projectPca) is ort-pca-project.ts's.
export { ortProjection, type OrtProjection } from './ort-pca-project.ts';
