/**
 * Exact Euclidean k-nearest search from chunk minima of a float32 product (issue 25; the workbench's
 * BruteForceIndex in digitbench src/engine/distance.ts does the same with its engines): with xa = [x, ‖x‖²]
 * and qa = [−2q, 1] over the product's features (all, or the highest-variance ones: boundFeatures),
 * qa·xaᵀ = ‖x‖² − 2q·x is the squared distance less ‖q‖² (over those features), and the engine returns only each
 * chunk of `chunk` consecutive training rows' minimum (engine/ort-minima.ts on onnxruntime). JS then computes
 * exact float64 distances (column order, as nearest.ts and the workbench sum them) for the chunks holding the k
 * smallest minima, and for every other chunk whose minimum, less a bound on its float32 rounding, could still
 * beat the k-th distance. The result is the exact k nearest ordered by (distance, training index): the plain
 * loop's (NearestIndex's) neighbours and distances, to the bit. No engine is imported here: the minima are given.
 */
import type { Matrix } from './matrix.ts';
import type { Neighbours } from './nearest.ts';
import type { ChunkMinima } from './ort-minima.ts';

/** The k smallest (distance, index) pairs so far, ordered by distance then index (the workbench's brute-force index uses it too). */
export class KBest {
  readonly d: Float64Array;
  readonly i: Int32Array;
  constructor(readonly k: number) {
    this.d = new Float64Array(k).fill(Infinity);
    this.i = new Int32Array(k).fill(-1);
  }
  reset(): void {
    this.d.fill(Infinity);
    this.i.fill(-1);
  }
  get worst(): number {
    return this.d[this.k - 1]!;
  }
  insert(dist: number, index: number): void {
    const { d, i: ix } = this;
    let p = this.k - 1;
    if (dist > d[p]! || (dist === d[p]! && ix[p]! !== -1 && index >= ix[p]!)) return;
    while (p > 0 && (d[p - 1]! > dist || (d[p - 1]! === dist && ix[p - 1]! > index))) {
      d[p] = d[p - 1]!;
      ix[p] = ix[p - 1]!;
      p--;
    }
    d[p] = dist;
    ix[p] = index;
  }
}

/** What the engine gets: the transposed, padded [x_S, ‖x_S‖²] of the training rows over the product's features S. */
export interface ChunkLayout {
  xaT: Float32Array;
  w: number;
  chunks: number;
  chunk: number;
  /** Largest ‖x_S‖ over the training rows, for the rounding bound. */
  maxNorm: number;
  /** S: the product's features (every feature, or the highest-variance ones holding 90% of the variance). */
  features: Int32Array;
}

/**
 * The highest-variance features holding `share` of the total variance, in decreasing variance order, or every
 * feature when that subset is not below `maxFraction` of them (the workbench's boundFeatures): the squared
 * distance over a subset is a lower bound of the full one, so the product may use fewer columns (raw MNIST:
 * ~300 of 784 pixels) and the exact rescan, over every feature, decides.
 */
export function boundFeatures(x: Matrix, share = 0.9, maxFraction = 0.7): Int32Array {
  const { rows, cols, data } = x;
  const all = Int32Array.from({ length: cols }, (_, j) => j);
  if (share >= 1 || rows < 2) return all;
  const mean = new Float64Array(cols);
  const variance = new Float64Array(cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) mean[j]! += data[i * cols + j]!;
  for (let j = 0; j < cols; j++) mean[j]! /= rows;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const a = data[i * cols + j]! - mean[j]!;
      variance[j]! += a * a;
    }
  }
  const total = variance.reduce((a, b) => a + b, 0);
  if (!(total > 0)) return all;
  const order = Array.from(all).sort((a, b) => variance[b]! - variance[a]! || a - b);
  let m = 0;
  for (let cum = 0; m < cols && cum < share * total; m++) cum += variance[order[m]!]!;
  return m <= maxFraction * cols ? Int32Array.from(order.slice(0, m)) : all;
}

/** The training rows as the product's constant ([|S| + 1, chunks·chunk]; padding scores +3e38, never a minimum). */
export function chunkLayout(x: Matrix, chunk = 16, features: Int32Array = boundFeatures(x)): ChunkLayout {
  const { rows, cols, data } = x;
  const chunks = Math.ceil(rows / chunk);
  const padded = chunks * chunk;
  const m = features.length;
  const xaT = new Float32Array((m + 1) * padded);
  let maxNorm2 = 0;
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let t = 0; t < m; t++) {
      const v = data[i * cols + features[t]!]!;
      xaT[t * padded + i] = v;
      s += v * v;
    }
    xaT[m * padded + i] = s;
    if (s > maxNorm2) maxNorm2 = s;
  }
  for (let i = rows; i < padded; i++) xaT[m * padded + i] = 3e38;
  return { xaT, w: m + 1, chunks, chunk, maxNorm: Math.sqrt(maxNorm2), features };
}

/** The exact k nearest (Euclidean) training rows of every row of `q`, from `minima` over `layout` of `x`. */
export async function chunkSearch(x: Matrix, layout: ChunkLayout, minima: ChunkMinima, q: Matrix, k: number, blockValues = 16_000_000): Promise<Neighbours> {
  const { rows, cols, data } = x;
  const { w, chunks, chunk, maxNorm, features } = layout;
  const m = features.length;
  if (q.cols !== cols) throw new Error(`Queries have ${q.cols} features but the index holds ${cols}.`);
  if (k < 1 || k > rows) throw new Error(`k = ${k} neighbours requested from ${rows} training rows.`);
  const indices = new Int32Array(q.rows * k);
  const distances = new Float64Array(q.rows * k);
  const block = Math.max(1, Math.min(q.rows, Math.floor(blockValues / (chunks * chunk))));
  const qa = new Float32Array(block * w);
  const best = new KBest(k);
  const order = new Int32Array(chunks);
  const scanned = new Uint8Array(chunks);
  const qd = q.data;
  for (let start = 0; start < q.rows; start += block) {
    const b = Math.min(block, q.rows - start);
    for (let r = 0; r < b; r++) {
      for (let t = 0; t < m; t++) qa[r * w + t] = -2 * qd[(start + r) * cols + features[t]!]!;
      qa[r * w + m] = 1;
    }
    const mins = await minima.mins(qa, b);
    for (let r = 0; r < b; r++) {
      const qo = (start + r) * cols;
      const mo = r * chunks;
      // ‖q_S‖²: chunk minimum + ‖q_S‖² is a lower bound of the squared distance over S, hence over every feature.
      let qn2 = 0;
      for (let t = 0; t < m; t++) qn2 += qd[qo + features[t]!]! ** 2;
      // Float32 rounding of ‖x_S‖² − 2q_S·x_S over |S| + 1 terms is far below 1e-5 · (‖q_S‖ + ‖x_S‖)² (as distance.ts).
      const tol = 1e-5 * (Math.sqrt(qn2) + maxNorm) ** 2 + 1e-30;
      best.reset();
      scanned.fill(0);
      const scan = (c: number) => {
        scanned[c] = 1;
        const end = Math.min(rows, (c + 1) * chunk);
        for (let i = c * chunk; i < end; i++) {
          const xo = i * cols;
          let s = 0;
          for (let j = 0; j < cols; j++) {
            const a = qd[qo + j]! - data[xo + j]!;
            s += a * a;
          }
          best.insert(Math.sqrt(s), i);
        }
      };
      // 1. The chunks holding the k smallest minima: at least k real rows, so a finite k-th distance.
      let held = 0;
      for (let c = 0; c < chunks; c++) {
        const v = mins[mo + c]!;
        if (held < k || v < mins[mo + order[k - 1]!]!) {
          let p = held < k ? held++ : k - 1;
          while (p > 0 && mins[mo + order[p - 1]!]! > v) {
            order[p] = order[p - 1]!;
            p--;
          }
          order[p] = c;
        }
      }
      for (let t = 0; t < held; t++) scan(order[t]!);
      // 2. Every other chunk whose lower bound could beat the k-th distance (squared, less ‖q‖²).
      for (let c = 0; c < chunks; c++) {
        if (scanned[c]) continue;
        const worst = best.worst;
        if (mins[mo + c]! - tol <= worst * worst - qn2) scan(c);
      }
      indices.set(best.i, (start + r) * k);
      distances.set(best.d, (start + r) * k);
    }
  }
  return { k, indices, distances };
}
