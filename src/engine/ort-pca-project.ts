/**
 * PCA's projection on onnxruntime (issue 25), with float32 output bit-identical to the runtime's plain-JS
 * projectPca (@digitbench/runtime features/pca.ts), so features do not depend on the engine.
 *
 * The JS projection computes, per value, the float64 sum S = Σ_j x_j·cT[j, c] in feature order, then
 * fround(S − μC_c). Here one graph per chunk of rows computes the same sums as a float64 MatMul (Cast x to
 * double, MatMul by cT, d × k double; on onnxruntime's intra-op threads) and, per row, its largest and
 * smallest entry (ReduceMax, ReduceMin: ‖x‖∞, exactly). Both float64 sums are within
 * γ_d·Σ_j |x_j·cT[j, c]| ≤ γ_d·‖x‖∞·‖cT[:, c]‖₁ of the exact one
 * (γ_d = d·u / (1 − d·u), u = 2⁻⁵³: any summation order, FMA or not), so the JS one lies within 2B of ours
 * (B: that bound inflated for the rounding of the bound itself, of ‖x‖ and of the interval's ends). Where
 * fround(fl(S' − 2B − μC)) and fround(fl(S' + 2B − μC)) agree, every sum in between rounds to that float32
 * (rounding is monotone), so the JS value is it; elsewhere (and for non-finite values) the value is
 * recomputed exactly as the JS loop does. On MNIST only a handful of values per million need that.
 *
 * Rows in a SharedArrayBuffer (the workbench's large matrices) are copied chunk by chunk into one reused
 * buffer, since onnxruntime-node refuses shared views.
 */
import { allocFloat32, GraphBuilder, ownedView, projectionWeights, type Matrix, type PcaModel } from '@digitbench/runtime/internal';
import { f32, ortDescription, ortSession, type OrtSession } from './ort.ts';

/** Rows per session.run (the double copy of a chunk inside the graph is rows × d × 8 bytes: 12.8 MB at 2,048 × 784). */
export const PROJECT_CHUNK = 2048;

const U64 = 2 ** -53;
/** The smallest normal float32: the most a subnormal input flushed to zero (were onnxruntime to flush) can lose. */
const F32_MIN_NORMAL = 2 ** -126;

/**
 * The graph: input `x` float32 [N, d]; outputs `s` = double(x)·cT (float64 [N, k]) and each row's largest and
 * smallest entry (`hi`, `lo`: float32 [N]; exact, so ‖x‖∞ = max(|hi|, |lo|) needs no rounding bound).
 */
export function projectionGraph(cT: Float64Array, d: number, k: number): Uint8Array {
  const g = new GraphBuilder('pca-projection-f64');
  g.input('x', 'FLOAT', ['N', d]);
  g.initializer('ct', cT, [d, k]);
  g.node('Cast', ['x'], ['xd'], { to: 11 });
  g.node('MatMul', ['xd', 'ct'], ['s']);
  g.node('ReduceMax', ['x'], ['hi'], { axes: [1], keepdims: 0 });
  g.node('ReduceMin', ['x'], ['lo'], { axes: [1], keepdims: 0 });
  g.output('s', 'DOUBLE', ['N', k]);
  g.output('hi', 'FLOAT', ['N']);
  g.output('lo', 'FLOAT', ['N']);
  return g.encode(17);
}

/** What this process projected on onnxruntime so far: rows, and values recomputed in JS (for tests and checks). */
export const ortProjected = { rows: 0, rechecked: 0 };

export interface OrtProjection {
  /** The projection of `x`, equal bit for bit to projectPca's. */
  project(x: Matrix): Promise<Matrix>;
  /** The same, with how many values the rounding check could not settle (recomputed exactly in JS). */
  run(x: Matrix): Promise<{ matrix: Matrix; rechecked: number }>;
  dispose(): void;
  readonly description: string;
  readonly threads: number;
}

/** A fitted PCA's projection on onnxruntime (one session, `threads` intra-op threads), whitened as projectPca's `whiten`. */
export async function ortProjection(model: PcaModel, whiten = false, threads = 1): Promise<OrtProjection> {
  const { k, d } = model;
  const { cT, muC } = projectionWeights(model, whiten);
  // Per component: ‖cT[:, c]‖₁ (inflated for its own rounding), and the most inputs flushed to zero could
  // change a sum (were onnxruntime to treat subnormal float32 inputs as zero).
  const cL1 = new Float64Array(k);
  const flushed = new Float64Array(k);
  for (let c = 0; c < k; c++) {
    let s = 0;
    let m = 0;
    for (let j = 0; j < d; j++) {
      const w = Math.abs(cT[j * k + c]!);
      s += w;
      m = Math.max(m, w);
    }
    // Both already doubled, with 1% slack for the rounding of the bound and of S' ± 2B: 2B = γ_d·‖x‖∞·cL1 + flushed + twoU·|S'|.
    cL1[c] = 2.02 * s * (1 + 2 * d * U64);
    flushed[c] = 2.02 * d * F32_MIN_NORMAL * m + 2 * Number.MIN_VALUE;
  }
  const gamma = (d * U64) / (1 - d * U64);
  const twoU = 2.02 * 2 * U64;
  const session: OrtSession = await ortSession(projectionGraph(cT, d, k), threads);
  const scratch: { buf?: Float32Array } = {};

  const run = async (x: Matrix): Promise<{ matrix: Matrix; rechecked: number }> => {
    if (x.cols !== d) throw new Error(`Feature step "pca" was fitted on ${d} features but got rows of ${x.cols}; apply the same steps before it.`);
    const n = x.rows;
    const data = x.data;
    const out = allocFloat32(n * k);
    let rechecked = 0;
    for (let r0 = 0; r0 < n; r0 += PROJECT_CHUNK) {
      const rows = Math.min(PROJECT_CHUNK, n - r0);
      const chunk = ownedView(data.subarray(r0 * d, (r0 + rows) * d), scratch);
      const res = await session.run({ x: f32(chunk, [rows, d]) });
      const s = res.s!.data as Float64Array;
      const hi = res.hi!.data as Float32Array;
      const lo = res.lo!.data as Float32Array;
      for (let r = 0; r < rows; r++) {
        const i = r0 + r;
        // ‖x‖∞ · γ_d: Σ_j |x_j·cT[j, c]| ≤ ‖x‖∞·‖cT[:, c]‖₁ (NaN or ∞ entries make it non-finite: recomputed).
        const g = gamma * Math.max(Math.abs(hi[r]!), Math.abs(lo[r]!));
        for (let c = 0; c < k; c++) {
          const sum = s[r * k + c]!;
          const m = muC[c]!;
          // 2B: B ≥ γ_d·Σ|x_j·cT[j, c]| (each engine's sum is within that of the exact one) plus slack for the rounding of S' ± 2B.
          const b2 = g * cL1[c]! + flushed[c]! + twoU * Math.abs(sum);
          const v = Math.fround(sum - m);
          if (Math.fround(sum - b2 - m) === v && Math.fround(sum + b2 - m) === v) {
            out[i * k + c] = v;
          } else {
            out[i * k + c] = exactValue(data, i, d, cT, k, c, m);
            rechecked++;
          }
        }
      }
    }
    ortProjected.rows += n;
    ortProjected.rechecked += rechecked;
    return { matrix: { rows: n, cols: k, data: out }, rechecked };
  };
  return {
    run,
    project: async (x) => (await run(x)).matrix,
    dispose: () => void session.release(),
    description: ortDescription(threads),
    threads,
  };
}

/** One value as the runtime's JS projection computes it: row i's float64 sum in feature order (zeros add nothing), minus μC_c, rounded once. */
export function exactValue(data: Float32Array, i: number, d: number, cT: Float64Array, k: number, c: number, muC: number): number {
  let acc = 0;
  const o = i * d;
  for (let j = 0; j < d; j++) {
    const v = data[o + j]!;
    if (v === 0) continue;
    acc += v * cT[j * k + c]!;
  }
  return Math.fround(acc - muC);
}
