/**
 * A training set sorted once per feature, shared by every tree trained on it (and by worker threads:
 * it is plain data, typed arrays that may live on SharedArrayBuffers).
 *
 * Ported from digitbench's former ml-cart patch (prepareTrainingSet); the layout is unchanged.
 * prepareRanks gives the ranks alone (features with at most 256 values), row and feature major, for the
 * histogram split search.
 */

export type IndexArray = Uint16Array | Int32Array;
export type ValueArray = Float32Array | Float64Array;
export type RankArray = Uint8Array | Uint16Array | Int32Array;

export interface PreparedTrainingSet {
  /**
   * Whether start/order/values (the sorted lists) are filled: prepareTrainingSet's sets are; prepareRanks'
   * are not (ranks only, for the histogram split search of forest trees).
   */
  readonly sorted: boolean;
  readonly nSamples: number;
  readonly nFeatures: number;
  /** Largest label + 1 (labels index class counts, as in ml-cart). */
  readonly nClasses: number;
  readonly labels: Uint8Array | Int32Array;
  /** Per feature. */
  readonly minimum: Float64Array;
  /** nFeatures + 1: feature f's list is order/values[start[f] .. start[f + 1]). */
  readonly start: Int32Array;
  /** The rows whose value is above the feature's minimum, ascending by value, ties by row. */
  readonly order: IndexArray;
  readonly values: ValueArray;
  /** Feature f's distinct values, ascending, minimum first: distinct[distinctStart[f] ..]. */
  readonly distinct: ValueArray;
  readonly distinctStart: Int32Array;
  /** nSamples × nFeatures, row major: the index of row i's value among its feature's distinct values (0: at the minimum). */
  readonly dense: RankArray;
  /**
   * The same ranks feature major (nFeatures × nSamples; one feature's column is contiguous), for the
   * histograms of large nodes: prepareRanks fills it; prepareTrainingSet leaves it empty (its trees read
   * the sorted lists, and a histogram search reads `dense`).
   */
  readonly columns: RankArray;
}

/** Anything with rows, cols and row-major data (a digitbench Matrix). */
export interface RowMajor {
  readonly rows: number;
  readonly cols: number;
  readonly data: ArrayLike<number>;
}

/**
 * Sorts every feature once. Values are kept as float32 when every value is exactly a float32, else as
 * float64. Labels must be integers ≥ 0; values must not be NaN.
 */
function checkedLabels(n: number, trainingLabels: ArrayLike<number>): { labels: Uint8Array | Int32Array; nClasses: number } {
  if (trainingLabels.length !== n) throw new RangeError(`Expected one training label per row (${n}), got ${trainingLabels.length}.`);
  if (n === 0) throw new RangeError('The training set has no rows.');
  let nClasses = 0;
  for (let i = 0; i < n; i++) {
    const v = trainingLabels[i]!;
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new RangeError(`Training label ${i} is ${v}; labels must be integers ≥ 0.`);
    if (v + 1 > nClasses) nClasses = v + 1;
  }
  return { labels: nClasses <= 256 ? Uint8Array.from(trainingLabels) : Int32Array.from(trainingLabels), nClasses };
}

export function prepareTrainingSet(x: RowMajor, trainingLabels: ArrayLike<number>): PreparedTrainingSet {
  const n = x.rows;
  const nf = x.cols;
  const X = x.data;
  const { labels, nClasses } = checkedLabels(n, trainingLabels);

  // Feature-major copy (in blocks of rows, for the cache), with each feature's minimum and how many rows have it.
  let columns: ValueArray = new Float32Array(n * nf);
  let narrow = true;
  const minimum = new Float64Array(nf).fill(Infinity);
  const atMinimum = new Int32Array(nf);
  for (let i0 = 0; i0 < n; i0 += 64) {
    const i1 = Math.min(n, i0 + 64);
    for (let j = 0; j < nf; j++) {
      const off = j * n;
      let min = minimum[j]!;
      let count = atMinimum[j]!;
      for (let i = i0; i < i1; i++) {
        const v = X[i * nf + j]!;
        if (Number.isNaN(v)) throw new RangeError(`Training value [${i}, ${j}] is NaN.`);
        columns[off + i] = v;
        if (narrow && columns[off + i] !== v) {
          narrow = false;
          const wide = new Float64Array(n * nf);
          for (let r = 0; r < n; r++) for (let c = 0; c < nf; c++) wide[c * n + r] = X[r * nf + c]!;
          columns = wide;
        }
        if (v < min) {
          min = v;
          count = 1;
        } else if (v === min) count++;
      }
      minimum[j] = min;
      atMinimum[j] = count;
    }
  }
  const start = new Int32Array(nf + 1);
  for (let j = 0; j < nf; j++) start[j + 1] = start[j]! + n - atMinimum[j]!;
  const total = start[nf]!;
  const order: IndexArray = n < 65535 ? new Uint16Array(total) : new Int32Array(total);
  const values: ValueArray = narrow ? new Float32Array(total) : new Float64Array(total);
  // dense ranks feature-major first (writes stay within one feature's n entries), transposed at the end
  let denseT: RankArray = new Uint8Array(n * nf);
  const distinctStart = new Int32Array(nf + 1);
  const distinctList: number[] = [];

  const idx = [new Int32Array(n), new Int32Array(n)] as const;
  const keys = [new Uint32Array(n), new Uint32Array(n)] as const;
  const hist = new Int32Array(2048);
  const bits = columns instanceof Float32Array ? new Uint32Array(columns.buffer) : null;
  for (let j = 0; j < nf; j++) {
    const off = j * n;
    const min = minimum[j]!;
    let k = 0;
    for (let i = 0; i < n; i++) if (columns[off + i] !== min) idx[0][k++] = i;
    let a = 0;
    if (bits) {
      // stable radix sort (3 passes of 11 bits) of the float32 bits mapped to increasing uint32 keys
      for (let q = 0; q < k; q++) {
        let u = bits[off + idx[0][q]!]!;
        if (u === 0x80000000) u = 0; // -0 sorts with +0, as in the comparator a - b
        keys[0][q] = u & 0x80000000 ? ~u >>> 0 : (u | 0x80000000) >>> 0;
      }
      for (let shift = 0; shift < 32 && k > 0; shift += 11) {
        const srcKeys = keys[a as 0 | 1];
        const srcIdx = idx[a as 0 | 1];
        hist.fill(0);
        for (let q = 0; q < k; q++) hist[(srcKeys[q]! >>> shift) & 2047]!++;
        if (hist[(srcKeys[0]! >>> shift) & 2047] === k) continue; // one digit for all: nothing moves
        for (let d = 0, sum = 0; d < 2048; d++) {
          const c = hist[d]!;
          hist[d] = sum;
          sum += c;
        }
        const dstKeys = keys[(1 - a) as 0 | 1];
        const dstIdx = idx[(1 - a) as 0 | 1];
        for (let q = 0; q < k; q++) {
          const key = srcKeys[q]!;
          const pos = hist[(key >>> shift) & 2047]!++;
          dstKeys[pos] = key;
          dstIdx[pos] = srcIdx[q]!;
        }
        a = 1 - a;
      }
    } else {
      const cols = columns;
      idx[0].subarray(0, k).sort((p, q) => cols[off + p]! - cols[off + q]! || p - q);
    }
    const sorted = idx[a as 0 | 1];
    distinctList.push(min);
    let d = 0;
    for (let q = 0; q < k; q++) {
      const i = sorted[q]!;
      const v = columns[off + i]!;
      order[start[j]! + q] = i;
      values[start[j]! + q] = v;
      if (v !== distinctList[distinctList.length - 1]) {
        distinctList.push(v);
        d++;
        if (d > 255 && denseT instanceof Uint8Array) denseT = Uint16Array.from(denseT);
        if (d > 65535 && denseT instanceof Uint16Array) denseT = Int32Array.from(denseT);
      }
      denseT[off + i] = d;
    }
    distinctStart[j + 1] = distinctList.length;
  }
  const dense: RankArray =
    denseT instanceof Uint8Array ? new Uint8Array(n * nf) : denseT instanceof Uint16Array ? new Uint16Array(n * nf) : new Int32Array(n * nf);
  for (let i0 = 0; i0 < n; i0 += 64) {
    const i1 = Math.min(n, i0 + 64);
    for (let j = 0; j < nf; j++) {
      const off = j * n;
      for (let i = i0; i < i1; i++) dense[i * nf + j] = denseT[off + i]!;
    }
  }
  return {
    sorted: true,
    nSamples: n,
    nFeatures: nf,
    nClasses,
    labels,
    minimum,
    start,
    order,
    values,
    distinct: narrow ? Float32Array.from(distinctList) : Float64Array.from(distinctList),
    distinctStart,
    dense,
    columns: sameKind(dense, 0),
  };
}

/** A new zero-filled typed array of the same kind as `like`. */
export function sameKind<T extends IndexArray | ValueArray | RankArray>(like: T, length: number): T {
  const C = like.constructor as new (n: number) => T;
  return new C(length);
}

/** Most distinct values per feature for prepareRanks (its ranks are bytes). */
const RANK_BINS = 256;

/**
 * The ranks of prepareTrainingSet without its sorted lists (sorted: false; start, order and values
 * empty): minimum, distinct, distinctStart, dense and columns are the same. Much cheaper (no sort: each
 * feature's distinct values are collected in one pass over the rows). Returns null when a feature has more
 * than 256 distinct values (then use prepareTrainingSet). For forest trees grown with the histogram split
 * search (grow.ts), which reads nothing else. A float32 input (pixels) is hashed by its bits. `shared`:
 * dense and columns are allocated on SharedArrayBuffers (the forest's worker threads read them uncopied).
 */
export function prepareRanks(x: RowMajor, trainingLabels: ArrayLike<number>, { shared = false }: { shared?: boolean } = {}): PreparedTrainingSet | null {
  const n = x.rows;
  const nf = x.cols;
  const X = x.data;
  const { labels, nClasses } = checkedLabels(n, trainingLabels);
  // per feature: its distinct values in order of appearance (an open-addressing table of 512 slots), and
  // each value's appearance id in `ids` (row major; mapped to ranks in place below, it becomes `dense`)
  const SLOTS = 2 * RANK_BINS;
  const slotId = new Int16Array(nf * SLOTS).fill(-1);
  const seen = new Float64Array(nf * RANK_BINS);
  const nSeen = new Int32Array(nf);
  const lastId = new Int32Array(nf);
  const ids = new Uint8Array(shared ? new SharedArrayBuffer(n * nf) : new ArrayBuffer(n * nf));
  if (X instanceof Float32Array) {
    // float32 input (pixels): values hashed and compared by their bits (-0 as +0), no float64 round trip
    const U = new Uint32Array(X.buffer, X.byteOffset, X.length);
    const slotKey = new Uint32Array(nf * SLOTS);
    const lastKey = new Uint32Array(nf).fill(0xffffffff); // a NaN's bits: never a cached key
    for (let i = 0; i < n; i++) {
      const row = i * nf;
      for (let j = 0; j < nf; j++) {
        let u = U[row + j]!;
        if (u === lastKey[j]) {
          ids[row + j] = lastId[j]!;
          continue;
        }
        if ((u & 0x7fffffff) >>> 0 > 0x7f800000) throw new RangeError(`Training value [${i}, ${j}] is NaN.`);
        if (u === 0x80000000) u = 0;
        let slot = (Math.imul(u, 0x9e3779b1) >>> 23) & (SLOTS - 1);
        const base = j * SLOTS;
        let id: number;
        for (;;) {
          id = slotId[base + slot]!;
          if (id < 0) {
            id = nSeen[j]!;
            if (id === RANK_BINS) return null;
            nSeen[j] = id + 1;
            slotId[base + slot] = id;
            slotKey[base + slot] = u;
            seen[j * RANK_BINS + id] = X[row + j]!;
            break;
          }
          if (slotKey[base + slot] === u) break;
          slot = (slot + 1) & (SLOTS - 1);
        }
        ids[row + j] = id;
        lastKey[j] = u;
        lastId[j] = id;
      }
    }
  } else {
    const slotValue = new Float64Array(nf * SLOTS);
    const lastValue = new Float64Array(nf).fill(NaN);
    const word = new Float64Array(1);
    const bits = new Int32Array(word.buffer);
    for (let i = 0; i < n; i++) {
      const row = i * nf;
      for (let j = 0; j < nf; j++) {
        const v = X[row + j]!;
        if (v === lastValue[j]) {
          ids[row + j] = lastId[j]!;
          continue;
        }
        if (Number.isNaN(v)) throw new RangeError(`Training value [${i}, ${j}] is NaN.`);
        word[0] = v + 0; // -0 as +0
        let slot = (Math.imul(bits[0]! ^ bits[1]!, 0x9e3779b1) >>> 23) & (SLOTS - 1);
        const base = j * SLOTS;
        let id: number;
        for (;;) {
          id = slotId[base + slot]!;
          if (id < 0) {
            id = nSeen[j]!;
            if (id === RANK_BINS) return null;
            nSeen[j] = id + 1;
            slotId[base + slot] = id;
            slotValue[base + slot] = v;
            seen[j * RANK_BINS + id] = v;
            break;
          }
          if (slotValue[base + slot] === v) break;
          slot = (slot + 1) & (SLOTS - 1);
        }
        ids[row + j] = id;
        lastValue[j] = v;
        lastId[j] = id;
      }
    }
  }
  // rank of each appearance id: the distinct values sorted, minimum first
  const rankOf = new Uint8Array(nf * RANK_BINS);
  const minimum = new Float64Array(nf);
  const distinctStart = new Int32Array(nf + 1);
  const distinctList: number[] = [];
  let narrow = true;
  for (let j = 0; j < nf; j++) {
    const m = nSeen[j]!;
    const order = Array.from({ length: m }, (_, k) => k).sort((a, b) => seen[j * RANK_BINS + a]! - seen[j * RANK_BINS + b]!);
    for (let r = 0; r < m; r++) {
      const v = seen[j * RANK_BINS + order[r]!]!;
      rankOf[j * RANK_BINS + order[r]!] = r;
      distinctList.push(v);
      if (narrow && Math.fround(v) !== v) narrow = false;
    }
    minimum[j] = seen[j * RANK_BINS + order[0]!]!;
    distinctStart[j + 1] = distinctList.length;
  }
  // appearance ids to ranks in place (row major: dense), then feature major in tiles of 64 × 64
  const dense = ids;
  for (let i = 0; i < n; i++) {
    const row = i * nf;
    for (let j = 0, table = 0; j < nf; j++, table += RANK_BINS) dense[row + j] = rankOf[table + dense[row + j]!]!;
  }
  const columns = new Uint8Array(shared ? new SharedArrayBuffer(n * nf) : new ArrayBuffer(n * nf));
  for (let i0 = 0; i0 < n; i0 += 64) {
    const i1 = Math.min(n, i0 + 64);
    for (let j0 = 0; j0 < nf; j0 += 64) {
      const j1 = Math.min(nf, j0 + 64);
      for (let j = j0; j < j1; j++) {
        const off = j * n;
        for (let i = i0; i < i1; i++) columns[off + i] = dense[i * nf + j]!;
      }
    }
  }
  return {
    sorted: false,
    nSamples: n,
    nFeatures: nf,
    nClasses,
    labels,
    minimum,
    start: new Int32Array(nf + 1),
    order: n < 65535 ? new Uint16Array(0) : new Int32Array(0),
    values: narrow ? new Float32Array(0) : new Float64Array(0),
    distinct: narrow ? Float32Array.from(distinctList) : Float64Array.from(distinctList),
    distinctStart,
    dense,
    columns,
  };
}
