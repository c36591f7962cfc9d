/**
 * Fast labels for an rbf C-SVC: the kernel matrix and the pairwise decision values as float32 matrix products on
 * the tensor engine, then an exact float64 recomputation (libsvm's summation order) of every row whose vote
 * float32 rounding could have changed. The labels are those of the exact loop (`decisionValues` + vote in svm.ts).
 *
 * Per chunk of rows X (R × d), with the SVs S (l × d, grouped by class): one product
 *   Z = [2γ·X, −γ·‖x‖², 1] · [Sᵀ; 1; −γ·‖s‖²] = −γ·‖x − s‖²,  K = exp(Z),  V = K · W,
 * W (l × (P + k)) holding in column p pair p's coefficients of its two classes' SVs (zeros elsewhere, which add
 * no rounding) and in column P + c, for class c's SVs, their largest |coefficient|, so V[P + i] + V[P + j] ≥
 * A = Σ_t |coef_t|·K_t over pair (i, j)'s terms. No transposed matmul (slow on wasm), no elementwise pass but exp.
 * Rounding bound (float32 unit u = 2⁻²⁴, worst case): Z is a (d + 2)-term dot product with Σ|terms| ≤
 * 2γ(‖x‖² + ‖s‖²), so it is off by at most (d + 3)·u·2γ(‖x‖² + ‖s‖²) (inputs rounded too); exp adds a few u;
 * a sum of n non-zero terms adds (n + 1)·u·A. A decision value is unsure when
 * |dec| ≤ 2 × [(n + 8)·u + 2γ(d + 3)·u·(‖x‖² + max ‖s‖²)] · A + 1e-6·|rho| (n: most SVs of any pair), twice
 * the bound. The bound is loose (on full MNIST PCA-50 the observed float32 error was far below it), yet few rows
 * are recomputed (docs/measurements.md). A row is recomputed exactly unless
 * its vote is settled whatever the unsure pairs do: the winner's sure votes beat every other class's sure votes
 * plus all its unsure pairs (ties resolved as libsvm does: lowest class index).
 *
 * The products are given (`ChunkedRbfProducts`): the workbench's tfjs or onnxruntime products (digitbench
 * src/classifiers/svm-predict.ts), or, in a Node app's loadModel on engine 'ort', onnxruntime's (../engine/ort-svm.ts:
 * the same two MatMuls and Exp as one graph, one session per model). Both are float32 products of any summation
 * order, which the bound above covers, so the labels are the exact loop's on either engine. No engine is imported here.
 */
import type { Matrix } from '../engine/matrix.ts';
import type { RbfProducts as EngineRbfProducts } from '../engine/ort-svm.ts';
import type { SvmModel } from './svm.ts';

const U = 2 ** -24;
/** Rows per product on onnxruntime (bounds the R × l kernel matrix: 1,024 × 20,000 float32 = 82 MB). */
export const ORT_RBF_CHUNK = 1024;

export interface FastLabels {
  /** Index (libsvm order) of each row's class. */
  winners: Int32Array;
  /** Rows whose vote was recomputed exactly. */
  recomputed: number;
}

/**
 * Class indices (libsvm order) of every row. `exact(rows)` computes the exact float64 decision values
 * (rows × pairs) of the given rows; it is called once, for the rows float32 cannot settle.
 */
export async function fastRbfWinners(
  m: SvmModel,
  x: Matrix,
  exact: (rows: Int32Array) => Float64Array,
  opts: { products: ChunkedRbfProducts; decisions?: boolean },
): Promise<FastLabels & { decisions?: Float64Array }> {
  const { d, nrClass: k, rho } = m;
  const P = rho.length;
  const e = d + 2;
  const plan = rbfPlan(m);
  // Relative rounding bound of a decision value, per row: see the header (worst-case float32 bounds, times 2).
  const relBase = 2 * (plan.nPairMax + 8) * U;
  const relPerNorm = 2 * 2 * m.gamma * (e + 1) * U;
  const gamma = m.gamma;
  const ssMax = plan.ssMax;
  const products = opts.products;
  const winners = new Int32Array(x.rows);
  const decisions = opts.decisions ? new Float64Array(x.rows * P) : undefined;
  const unsure: number[] = [];
  const sureVotes = new Int32Array(k);
  const unsureCount = new Int32Array(k);
  const chunk = products.chunk;
  const xa = new Float32Array(chunk * e);
  const xxs = new Float64Array(chunk);
  for (let r0 = 0; r0 < x.rows; r0 += chunk) {
    const R = Math.min(chunk, x.rows - r0);
    for (let b = 0; b < R; b++) {
      let xx = 0;
      for (let j = 0; j < d; j++) {
        const v = x.data[(r0 + b) * d + j]!;
        xa[b * e + j] = 2 * gamma * v;
        xx += v * v;
      }
      xa[b * e + d] = -gamma * xx;
      xa[b * e + d + 1] = 1;
      xxs[b] = xx;
    }
    const v = await products.values(xa, R);
    const stride = P + k;
    for (let b = 0; b < R; b++) {
      const rel = relBase + relPerNorm * (xxs[b]! + ssMax);
      const o = b * stride;
      sureVotes.fill(0);
      unsureCount.fill(0);
      let p = 0;
      for (let i = 0; i < k; i++) {
        for (let j = i + 1; j < k; j++) {
          const dec = v[o + p]! - rho[p]!;
          if (decisions) decisions[(r0 + b) * P + p] = dec;
          // Σ_t |coef_t|·K_t of this pair ≤ class i's bound column + class j's.
          const bound = rel * (v[o + P + i]! + v[o + P + j]!) + 1e-6 * Math.abs(rho[p]!);
          if (Math.abs(dec) <= bound) {
            unsureCount[i]!++;
            unsureCount[j]!++;
          } else if (dec > 0) sureVotes[i]!++;
          else sureVotes[j]!++;
          p++;
        }
      }
      const win = settledWinner(sureVotes, unsureCount, k);
      if (win < 0) unsure.push(r0 + b);
      else winners[r0 + b] = win;
    }
  }
  if (unsure.length > 0) {
    const rows = Int32Array.from(unsure);
    const dec = exact(rows);
    const votes = new Int32Array(k);
    for (let u = 0; u < rows.length; u++) {
      votes.fill(0);
      let q = 0;
      for (let i = 0; i < k; i++) {
        for (let j = i + 1; j < k; j++) {
          if (dec[u * P + q]! > 0) votes[i]!++;
          else votes[j]!++;
          q++;
        }
      }
      let best = 0;
      for (let i = 1; i < k; i++) if (votes[i]! > votes[best]!) best = i;
      winners[rows[u]!] = best;
    }
  }
  return { winners, recomputed: unsure.length, ...(decisions ? { decisions } : {}) };
}


export interface RbfPlan {
  /** [Sᵀ; 1; −γ·ss] ((d + 2) × l). */
  st: Float32Array;
  /** W (l × (P + k)). */
  w: Float32Array;
  ssMax: number;
  nPairMax: number;
}

const plans = new WeakMap<SvmModel, RbfPlan>();

/** The model's constant matrices (made once per model). */
export function rbfPlan(m: SvmModel): RbfPlan {
  const known = plans.get(m);
  if (known) return known;
  const { l, d, nrClass: k, coef, rho, start, nSV, gamma } = m;
  const P = rho.length;
  const e = d + 2;
  // [Sᵀ; 1; −γ·ss] ((d + 2) × l): with rows [2γ·x, −γ·‖x‖², 1] one product gives −γ·‖x − s‖² (no transposed matmul).
  const st = new Float32Array(e * l);
  let ssMax = 0;
  for (let i = 0; i < l; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) {
      const v = m.sv[i * d + j]!;
      st[j * l + i] = v;
      s += v * v;
    }
    st[d * l + i] = 1;
    st[(d + 1) * l + i] = -gamma * s;
    ssMax = Math.max(ssMax, s);
  }
  // W (l × (P + k)): column p holds pair p's coefficients of its two classes' SVs (zeros elsewhere: they add
  // nothing, not even rounding); column P + c holds max over columns |coef| of class c's SVs.
  const w = new Float32Array(l * (P + k));
  let nPairMax = 0;
  let q = 0;
  for (let i = 0; i < k; i++) {
    for (let j = i + 1; j < k; j++) {
      nPairMax = Math.max(nPairMax, nSV[i]! + nSV[j]!);
      for (let t = start[i]!; t < start[i]! + nSV[i]!; t++) w[t * (P + k) + q] = coef[(j - 1) * l + t]!;
      for (let t = start[j]!; t < start[j]! + nSV[j]!; t++) w[t * (P + k) + q] = coef[i * l + t]!;
      q++;
    }
  }
  for (let c = 0; c < k; c++) {
    for (let t = start[c]!; t < start[c]! + nSV[c]!; t++) {
      let most = 0;
      for (let col = 0; col < k - 1; col++) most = Math.max(most, Math.abs(coef[col * l + t]!));
      w[t * (P + k) + P + c] = most;
    }
  }
  const plan = { st, w, ssMax, nPairMax };
  plans.set(m, plan);
  return plan;
}


/** The kernel products V = exp(xa·st)·W of one model on an engine, in chunks of `chunk` rows. */
export interface ChunkedRbfProducts extends EngineRbfProducts {
  readonly chunk: number;
}

/**
 * The class that wins libsvm's vote (most votes, lowest index on ties) however the unsure pairs fall, or −1.
 * Class c ends with between sure[c] and sure[c] + unsure[c] votes.
 */
export function settledWinner(sure: Int32Array, unsure: Int32Array, k: number): number {
  // The only candidate: the winner when every unsure pair goes against its classes (the lowest class with most sure votes).
  let w = 0;
  for (let c = 1; c < k; c++) if (sure[c]! > sure[w]!) w = c;
  for (let c = 0; c < k; c++) {
    if (c === w) continue;
    const most = sure[c]! + unsure[c]!;
    if (most > sure[w]! || (most === sure[w]! && c < w)) return -1;
  }
  return w;
}
