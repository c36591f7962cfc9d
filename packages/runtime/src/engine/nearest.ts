/**
 * Exact k-nearest-neighbour search in plain JS over typed arrays (no tensors, no threads).
 *
 * The result is defined by a plain loop over every training row: the distance of a query row q to a
 * training row x is a float64 sum in column order, s = Σ_j t_j with t_j = (q_j − x_j)² (metric 'l2') or
 * |q_j − x_j|³ ('l3', Minkowski p = 3), then √s or ∛s; neighbours are ordered by (distance, training
 * index). These are the sums of the workbench's engines (digitbench src/engine/distance.ts euclideanAt
 * and minkowski3), so the neighbours, their order and their distances are theirs to the bit. For 'l3' the
 * workbench's brute force ranks by the sum of cubes and its k-d tree by the cube root: they differ only
 * when two different sums share a cube root, and `rank` picks either.
 *
 * Pruning, exact: a row's sum only grows (its terms are ≥ 0), so a row is abandoned once a partial sum
 * exceeds the current k-th sum. The training rows are kept with their columns in decreasing-variance
 * order (permuted once, in place when the index owns the rows), so the partial sums grow fast and most
 * rows are abandoned after a small fraction of their columns (digitbench docs/measurements.md). Partial
 * sums in that order are not the column-order sums, so a row is abandoned only when its partial sum
 * exceeds the k-th sum by a relative margin far above the float64 rounding of either order (1e-9, plus
 * 4 ulp per column), and every row that is not abandoned gets its exact column-order sum, which alone
 * decides. When the variance order is the natural order (PCA output usually is), the
 * rows are not copied and the partial sums are the exact sums.
 */
import { createMatrix, type Matrix } from './matrix.ts';

export interface Neighbours {
  /** Neighbours per query row. */
  k: number;
  /** rows × k training-row indices, nearest first (ties: lower index first). */
  indices: Int32Array;
  /** rows × k distances (Euclidean, or Minkowski p = 3), ascending. */
  distances: Float64Array;
}

/** Distances searched: Euclidean, or Minkowski p = 3. */
export type NearestMetric = 'l2' | 'l3';

export interface NearestOptions {
  /** Distance searched (default 'l2'). */
  metric?: NearestMetric;
  /**
   * 'l3' only: rank by the float64 sum of cubes ('sum', as the workbench's brute force; default) or by
   * its cube root ('distance', as its k-d tree). 'l2' always ranks by the square root, as both do.
   */
  rank?: 'sum' | 'distance';
  /**
   * The index takes `x.data` over and may permute its columns in place (no copy); `trainingRows()`
   * gives them back in column order. Default false: the rows are copied when permuted.
   */
  ownsRows?: boolean;
}

/**
 * Columns in decreasing order of variance over the rows (ties: lower column first), or null when
 * that is the natural order.
 */
export function varianceOrder(x: Matrix): Int32Array | null {
  const { rows, cols, data } = x;
  const sum = new Float64Array(cols);
  const sq = new Float64Array(cols);
  for (let i = 0, o = 0; i < rows; i++, o += cols) {
    for (let j = 0; j < cols; j++) {
      const v = data[o + j]!;
      sum[j]! += v;
      sq[j]! += v * v;
    }
  }
  // A heuristic for pruning only: any order gives exact results.
  const variance = Float64Array.from(sq, (s, j) => Math.max(0, s / rows - (sum[j]! / rows) ** 2));
  const order = Int32Array.from({ length: cols }, (_, j) => j).sort((a, b) => variance[b]! - variance[a]! || a - b);
  return order.every((c, t) => c === t) ? null : order;
}

/** Exact k-nearest search over fixed training rows (see the top of this file). */
export class NearestIndex {
  readonly rows: number;
  readonly cols: number;
  readonly metric: NearestMetric;
  readonly rank: 'sum' | 'distance';
  /** Work done so far: queries answered and rows whose exact column-order sum was computed. */
  readonly stats = { queries: 0, exactRows: 0 };
  /** The rows, columns in `order` (or natural order when `order` is null). */
  private readonly data: Float32Array;
  /** order[t]: the column at position t; position[j]: where column j is. */
  private readonly order: Int32Array | null;
  private readonly position: Int32Array | null;
  /** A partial sum above (k-th sum × slack) cannot belong to a neighbour, whatever the summation order. */
  private readonly slack: number;

  constructor(x: Matrix, options: NearestOptions = {}) {
    const { rows, cols } = x;
    this.rows = rows;
    this.cols = cols;
    this.metric = options.metric ?? 'l2';
    this.rank = this.metric === 'l3' ? (options.rank ?? 'sum') : 'distance';
    this.slack = 1 + 1e-9 + 4 * cols * Number.EPSILON;
    const order = varianceOrder(x);
    this.order = order;
    if (!order) {
      this.data = x.data;
      this.position = null;
      return;
    }
    this.position = new Int32Array(cols);
    order.forEach((c, t) => (this.position![c] = t));
    const out = options.ownsRows ? x.data : new Float32Array(x.data.length);
    const row = new Float32Array(cols);
    for (let i = 0, o = 0; i < rows; i++, o += cols) {
      row.set(x.data.subarray(o, o + cols));
      for (let t = 0; t < cols; t++) out[o + t] = row[order[t]!]!;
    }
    this.data = out;
  }

  /** The training rows in column order: the index's own array when it is not permuted, else a new one. */
  trainingRows(): Matrix {
    const { rows, cols, data, position } = this;
    if (!position) return createMatrix(rows, cols, data);
    const out = new Float32Array(data.length);
    for (let o = 0; o < data.length; o += cols) for (let j = 0; j < cols; j++) out[o + j] = data[o + position[j]!]!;
    return createMatrix(rows, cols, out);
  }

  /** The k nearest training rows of every query row, nearest first, with their distances. */
  search(q: Matrix, k: number): Neighbours {
    if (q.cols !== this.cols) throw new Error(`Queries have ${q.cols} features but the index holds ${this.cols}.`);
    if (!Number.isInteger(k) || k < 1 || k > this.rows) throw new Error(`k = ${k} neighbours requested from ${this.rows} training rows.`);
    const { cols, order } = this;
    const indices = new Int32Array(q.rows * k);
    const distances = new Float64Array(q.rows * k);
    const best = new Best(k);
    const qp = new Float64Array(cols);
    const cube = this.metric === 'l3';
    for (let r = 0; r < q.rows; r++) {
      const qo = r * cols;
      for (let t = 0; t < cols; t++) qp[t] = q.data[qo + (order ? order[t]! : t)]!;
      best.reset();
      if (cube) this.scanL3(q.data, qo, qp, best);
      else this.scanL2(q.data, qo, qp, best);
      indices.set(best.index, r * k);
      for (let t = 0; t < k; t++) distances[r * k + t] = cube ? Math.cbrt(best.sum[t]!) : Math.sqrt(best.sum[t]!);
      this.stats.queries++;
    }
    return { k, indices, distances };
  }

  private scanL2(q: Float32Array, qo: number, qp: Float64Array, best: Best): void {
    const { data, rows, cols, slack, position } = this;
    const last = best.k - 1;
    const bestSum = best.sum;
    const c8 = cols - (cols & 7);
    let exact = 0;
    for (let i = 0, xo = 0; i < rows; i++, xo += cols) {
      const cut = bestSum[last]! * slack;
      let s = 0;
      let t = 0;
      for (; t < c8; t += 8) {
        let a = qp[t]! - data[xo + t]!;
        s += a * a;
        a = qp[t + 1]! - data[xo + t + 1]!;
        s += a * a;
        a = qp[t + 2]! - data[xo + t + 2]!;
        s += a * a;
        a = qp[t + 3]! - data[xo + t + 3]!;
        s += a * a;
        a = qp[t + 4]! - data[xo + t + 4]!;
        s += a * a;
        a = qp[t + 5]! - data[xo + t + 5]!;
        s += a * a;
        a = qp[t + 6]! - data[xo + t + 6]!;
        s += a * a;
        a = qp[t + 7]! - data[xo + t + 7]!;
        s += a * a;
        if (s > cut) break;
      }
      if (t < c8) continue;
      if (t + 4 <= cols) {
        let a = qp[t]! - data[xo + t]!;
        s += a * a;
        a = qp[t + 1]! - data[xo + t + 1]!;
        s += a * a;
        a = qp[t + 2]! - data[xo + t + 2]!;
        s += a * a;
        a = qp[t + 3]! - data[xo + t + 3]!;
        s += a * a;
        t += 4;
      }
      for (; t < cols; t++) {
        const a = qp[t]! - data[xo + t]!;
        s += a * a;
      }
      if (s > cut) continue;
      if (position) {
        // The exact sum, in column order.
        s = 0;
        for (let j = 0; j < cols; j++) {
          const a = q[qo + j]! - data[xo + position[j]!]!;
          s += a * a;
        }
        exact++;
      }
      best.insert(Math.sqrt(s), s, i);
    }
    this.stats.exactRows += exact;
  }

  private scanL3(q: Float32Array, qo: number, qp: Float64Array, best: Best): void {
    const { data, rows, cols, slack, position } = this;
    const byRoot = this.rank === 'distance';
    const last = best.k - 1;
    const bestSum = best.sum;
    const c4 = cols - (cols & 3);
    let exact = 0;
    for (let i = 0, xo = 0; i < rows; i++, xo += cols) {
      const cut = bestSum[last]! * slack;
      let s = 0;
      let t = 0;
      for (; t < c4; t += 4) {
        let a = Math.abs(qp[t]! - data[xo + t]!);
        s += a * a * a;
        a = Math.abs(qp[t + 1]! - data[xo + t + 1]!);
        s += a * a * a;
        a = Math.abs(qp[t + 2]! - data[xo + t + 2]!);
        s += a * a * a;
        a = Math.abs(qp[t + 3]! - data[xo + t + 3]!);
        s += a * a * a;
        if (s > cut) break;
      }
      if (t < c4) continue;
      for (; t < cols; t++) {
        const a = Math.abs(qp[t]! - data[xo + t]!);
        s += a * a * a;
      }
      if (s > cut) continue;
      if (position) {
        s = 0;
        for (let j = 0; j < cols; j++) {
          const a = Math.abs(q[qo + j]! - data[xo + position[j]!]!);
          s += a * a * a;
        }
        exact++;
      }
      best.insert(byRoot ? Math.cbrt(s) : s, s, i);
    }
    this.stats.exactRows += exact;
  }
}

/** The k best so far, ordered by (key, index), with each one's sum. */
class Best {
  readonly key: Float64Array;
  readonly sum: Float64Array;
  readonly index: Int32Array;
  constructor(readonly k: number) {
    this.key = new Float64Array(k);
    this.sum = new Float64Array(k);
    this.index = new Int32Array(k);
  }
  reset(): void {
    this.key.fill(Infinity);
    this.sum.fill(Infinity);
    this.index.fill(-1);
  }
  insert(key: number, sum: number, index: number): void {
    const { key: d, sum: s, index: ix } = this;
    let p = this.k - 1;
    if (key > d[p]! || (key === d[p]! && ix[p]! !== -1 && index >= ix[p]!)) return;
    while (p > 0 && (d[p - 1]! > key || (d[p - 1]! === key && ix[p - 1]! > index))) {
      d[p] = d[p - 1]!;
      s[p] = s[p - 1]!;
      ix[p] = ix[p - 1]!;
      p--;
    }
    d[p] = key;
    s[p] = sum;
    ix[p] = index;
  }
}

/**
 * The definition, as a plain loop over every row (no pruning): the k nearest training rows of each
 * query row under `metric`, ranked as NearestIndex ranks. For tests and as the reference.
 */
export function nearestByLoop(x: Matrix, q: Matrix, k: number, options: Pick<NearestOptions, 'metric' | 'rank'> = {}): Neighbours {
  const cube = options.metric === 'l3';
  const byRoot = !cube || (options.rank ?? 'sum') === 'distance';
  const { cols } = x;
  const indices = new Int32Array(q.rows * k);
  const distances = new Float64Array(q.rows * k);
  const best = new Best(k);
  for (let r = 0; r < q.rows; r++) {
    best.reset();
    for (let i = 0; i < x.rows; i++) {
      let s = 0;
      for (let j = 0; j < cols; j++) {
        const a = Math.abs(q.data[r * cols + j]! - x.data[i * cols + j]!);
        s += cube ? a * a * a : a * a;
      }
      best.insert(byRoot ? (cube ? Math.cbrt(s) : Math.sqrt(s)) : s, s, i);
    }
    indices.set(best.index, r * k);
    for (let t = 0; t < k; t++) distances[r * k + t] = cube ? Math.cbrt(best.sum[t]!) : Math.sqrt(best.sum[t]!);
  }
  return { k, indices, distances };
}
