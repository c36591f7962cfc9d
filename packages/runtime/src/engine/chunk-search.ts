/**
 * Exact Euclidean k-nearest search from chunk minima of a float32 product (issue 25; the workbench's
 * BruteForceIndex in digitbench src/engine/distance.ts does the same with its engines): with xa = [x, ‖x‖²]
 * and qa = [−2q, 1], qa·xaᵀ = ‖x‖² − 2q·x is the squared distance less ‖q‖², and the engine returns only each
 * chunk of `chunk` consecutive training rows' minimum (engine/ort-minima.ts on onnxruntime). JS then computes
 * exact float64 distances (column order, as nearest.ts and the workbench sum them) for the chunks holding the k
 * smallest minima, and for every other chunk whose minimum, less a bound on its float32 rounding, could still
 * beat the k-th distance. The result is the exact k nearest ordered by (distance, training index): the plain
 * loop's (NearestIndex's) neighbours and distances, to the bit. No engine is imported here: the minima are given.
 */
import type { Matrix } from './matrix.ts';
import type { Neighbours } from './nearest.ts';
import type { ChunkMinima } from './ort-minima.ts';

/** The k smallest (distance, index) pairs so far, ordered by distance then index. */
class KBest {
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

/** What the engine gets: the transposed, padded [x, ‖x‖²] of the training rows. */
export interface ChunkLayout {
  xaT: Float32Array;
  w: number;
  chunks: number;
  chunk: number;
  maxNorm: number;
}

/** The training rows as the product's constant ([cols + 1, chunks·chunk]; padding scores +3e38, never a minimum). */
export function chunkLayout(x: Matrix, chunk = 16): ChunkLayout {
  const { rows, cols, data } = x;
  const chunks = Math.ceil(rows / chunk);
  const padded = chunks * chunk;
  const xaT = new Float32Array((cols + 1) * padded);
  let maxNorm2 = 0;
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let t = 0; t < cols; t++) {
      const v = data[i * cols + t]!;
      xaT[t * padded + i] = v;
      s += v * v;
    }
    xaT[cols * padded + i] = s;
    if (s > maxNorm2) maxNorm2 = s;
  }
  for (let i = rows; i < padded; i++) xaT[cols * padded + i] = 3e38;
  return { xaT, w: cols + 1, chunks, chunk, maxNorm: Math.sqrt(maxNorm2) };
}

/** The exact k nearest (Euclidean) training rows of every row of `q`, from `minima` over `layout` of `x`. */
export async function chunkSearch(x: Matrix, layout: ChunkLayout, minima: ChunkMinima, q: Matrix, k: number, blockValues = 16_000_000): Promise<Neighbours> {
  const { rows, cols, data } = x;
  const { w, chunks, chunk, maxNorm } = layout;
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
      for (let t = 0; t < cols; t++) qa[r * w + t] = -2 * qd[(start + r) * cols + t]!;
      qa[r * w + cols] = 1;
    }
    const mins = await minima.mins(qa, b);
    for (let r = 0; r < b; r++) {
      const qo = (start + r) * cols;
      const mo = r * chunks;
      let qn2 = 0;
      for (let t = 0; t < cols; t++) qn2 += qd[qo + t]! ** 2;
      // Float32 rounding of ‖x‖² − 2q·x over cols + 1 terms is far below 1e-5 · (‖q‖ + ‖x‖)² (as distance.ts).
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
      let m = 0;
      for (let c = 0; c < chunks; c++) {
        const v = mins[mo + c]!;
        if (m < k || v < mins[mo + order[k - 1]!]!) {
          let p = m < k ? m++ : k - 1;
          while (p > 0 && mins[mo + order[p - 1]!]! > v) {
            order[p] = order[p - 1]!;
            p--;
          }
          order[p] = c;
        }
      }
      for (let t = 0; t < m; t++) scan(order[t]!);
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
