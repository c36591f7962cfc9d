/**
 * Exact k-nearest-neighbour search by brute force on the engine (engineChoice(), src/engine/ort.ts): the
 * product and its chunk minima run on onnxruntime-node (ort-minima.ts) or tfjs; everything after them is
 * the same JS, so both engines give the same neighbours.
 *
 * The heavy part is one matrix product per block of queries: with xa = [x, ‖x‖²] and qa = [−2q, 1],
 * qa·xaᵀ = ‖x‖² − 2 q·x, which is the squared distance minus ‖q‖² (the same for every training row).
 * Downloading and sorting all B × n scores in JS would cost more than the product, so the engine also
 * reduces them to the minimum of each chunk of `chunk` consecutive training rows, and only those
 * B × n / chunk minima come back. JS then rescans exactly (float64, in the same order ml-distance-euclidean
 * sums) only the chunks whose minimum could still hold a neighbour. The float32 minima carry rounding
 * error, so a chunk is skipped only when its minimum exceeds the current k-th distance by more than a
 * bound on that error: the result is the exact k nearest, ordered by (distance, training index).
 *
 * Fewer columns for the product: the squared distance over any subset S of the features is a lower
 * bound of the full one, so the product may use only the highest-variance features, as long as they
 * hold most of the variance (PCA output: its first components; raw MNIST: ~300 of 784 pixels hold
 * 90%). The bound then lets a few more chunks through to the exact rescan, which uses every feature.
 * The subset is used only when it is clearly smaller than all the features.
 *
 * Minkowski p = 3 (metric 'l3'): the product gives no L3 distances, but its chunk minima still bound
 * them. Over the product's m features S, Hölder gives ‖v_S‖₃ ≥ ‖v_S‖₂ · m^(−1/6), and ‖v‖₃ ≥ ‖v_S‖₃, so
 * Σ|v|³ ≥ (L2² lower bound)^(3/2) / √m. A chunk is rescanned (exactly, float64 sums of |a − b|³ in
 * column order) unless that bound, less a 1e-9 relative margin for float64 rounding, exceeds the
 * current k-th sum of cubes; a row's sum stops early once it exceeds the k-th (its terms are ≥ 0).
 * The result is the exact k nearest under L3, ordered by (distance, training index), as a plain loop.
 * On PCA output the bound leaves few rows to rescan, so an l3 search costs about as much as an l2 one,
 * far less than a plain loop (figures: docs/measurements.md).
 */
import type { Worker } from 'node:worker_threads';
import type { Matrix } from '@digitbench/runtime/internal';
import { callWorker, defaultThreads, isShared, serialised, startTsWorker } from './threads.ts';
import { getTf, type Tf } from './tf.ts';
import { engineChoice, type EngineName } from './ort.ts';
import { boundFeatures, chunkLayout, KBest, ortChunkMinima, type ChunkMinima } from '@digitbench/runtime/internal';

export interface Neighbours {
  /** Neighbours per query row. */
  k: number;
  /** rows × k training-row indices, nearest first (ties: lower index first). */
  indices: Int32Array;
  /** rows × k distances under the index's metric (Euclidean, or Minkowski p = 3), ascending. */
  distances: Float64Array;
}

/** Distances the brute-force index computes exactly: Euclidean, or Minkowski p = 3. */
export type BruteMetric = 'l2' | 'l3';

/** Euclidean distance between query row `qo` of `q` and training row `xo` of `x` (float64, in column order). */
export function euclideanAt(q: Float32Array, qo: number, x: Float32Array, xo: number, cols: number): number {
  let s = 0;
  for (let j = 0; j < cols; j++) {
    const a = q[qo + j]! - x[xo + j]!;
    s += a * a;
  }
  return Math.sqrt(s);
}

/** Minkowski p = 3 distance of two plain arrays, over `a`'s length (the k-d tree's metric; the same sums as the brute-force rescan). */
export function minkowski3(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) {
    const d = Math.abs(a[j]! - b[j]!);
    s += d * d * d;
  }
  return Math.cbrt(s);
}

export interface BruteForceOptions {
  /** Training rows per chunk whose minimum score the engine returns (default 16). */
  chunk?: number;
  /** Upper bound on the B × n score block, in float32 values (default 4M = 16 MB). */
  blockValues?: number;
  /** Share of the total variance the product's feature subset must hold (default 0.9; 1 = all features). */
  boundVariance?: number;
  /** Use the subset only when it has at most this fraction of the features (default 0.7). */
  maxBoundFraction?: number;
  /** Distance searched (default 'l2'). */
  metric?: BruteMetric;
  /** The engine of the product (default: engineChoice()). */
  engine?: EngineName;
}

/** The tfjs product and chunk minimum (the wasm engine's form of ort-minima.ts). */
function tfChunkMinima(tf: Tf, xaT: Float32Array, w: number, chunks: number, chunk: number, description: string): ChunkMinima {
  let t: import('@tensorflow/tfjs').Tensor2D | undefined = tf.tensor2d(xaT, [w, chunks * chunk]);
  return {
    async mins(qa, b) {
      if (!t) throw new Error('The brute-force neighbour index was disposed; fit the classifier again.');
      const x = t;
      const minsT = tf.tidy(() => tf.min(tf.reshape(tf.matMul(tf.tensor2d(qa.subarray(0, b * w), [b, w]), x), [b, chunks, chunk]), 2));
      const mins = (await minsT.data()) as Float32Array;
      minsT.dispose();
      return mins;
    },
    dispose() {
      t?.dispose();
      t = undefined;
    },
    description,
  };
}

export class BruteForceIndex {
  private disposed = false;
  private readonly chunks: number;
  /** Work done so far: queries answered and training rows whose exact distance was computed. */
  readonly stats = { queries: 0, rowsScanned: 0 };

  private constructor(
    private readonly kernel: ChunkMinima,
    private readonly x: Float32Array,
    readonly rows: number,
    readonly cols: number,
    /** Features used by the matrix product (all of them, or a high-variance subset giving a lower bound). */
    readonly features: Int32Array,
    private readonly chunk: number,
    private readonly blockValues: number,
    readonly metric: BruteMetric,
    /** Which engine computes the product. */
    readonly engineName: EngineName,
    /** Largest ‖x‖ over the training rows, for the rounding-error bound. */
    private readonly maxNorm: number,
  ) {
    this.chunks = Math.ceil(rows / chunk);
  }

  /** What computes the product and the chunk minima: tfjs-wasm or onnxruntime-node. */
  get engine(): string {
    return this.kernel.description;
  }

  /**
   * Uploads the training rows (kept by reference: do not mutate `x.data` afterwards), to onnxruntime when
   * it is the engine (engineChoice), else to tfjs.
   */
  static async create(x: Matrix, options: BruteForceOptions = {}): Promise<BruteForceIndex> {
    // The runtime's layout (chunk-search.ts): the same transposed, padded [x_S, ‖x_S‖²] its Node k-NN searches.
    const layout = chunkLayout(x, options.chunk ?? 16, boundFeatures(x, options.boundVariance ?? 0.9, options.maxBoundFraction ?? 0.7));
    const { xaT, w, chunks, chunk, features, maxNorm } = layout;
    const engine = options.engine ?? engineChoice().engine;
    let kernel: ChunkMinima;
    if (engine === 'ort') {
      kernel = await ortChunkMinima(xaT, w, chunks, chunk, 1);
    } else {
      const { tf, engine: info } = await getTf();
      kernel = tfChunkMinima(tf, xaT, w, chunks, chunk, info.description);
    }
    // onnxruntime's per-call cost is small, and larger blocks keep its product kernel busy.
    const blockValues = options.blockValues ?? (engine === 'ort' ? 16_000_000 : 4_000_000);
    return new BruteForceIndex(kernel, x.data, x.rows, x.cols, features, chunk, blockValues, options.metric ?? 'l2', engine, maxNorm);
  }

  /** The k nearest training rows of every query row (exact). */
  async query(q: Matrix, k: number): Promise<Neighbours> {
    if (this.disposed) throw new Error('The brute-force neighbour index was disposed; fit the classifier again.');
    if (q.cols !== this.cols) throw new Error(`Queries have ${q.cols} features but the index holds ${this.cols}.`);
    if (k < 1 || k > this.rows) throw new Error(`k = ${k} neighbours requested from ${this.rows} training rows.`);
    const { cols, chunk, chunks, features } = this;
    const m = features.length;
    const w = m + 1;
    const padded = chunks * chunk;
    const indices = new Int32Array(q.rows * k);
    const distances = new Float64Array(q.rows * k);
    const block = Math.max(1, Math.min(q.rows, Math.floor(this.blockValues / padded)));
    const qa = new Float32Array(block * w);
    const best = new KBest(k);
    const order = new Int32Array(chunks);
    const scanned = new Uint8Array(chunks);
    for (let start = 0; start < q.rows; start += block) {
      const b = Math.min(block, q.rows - start);
      for (let r = 0; r < b; r++) {
        for (let t = 0; t < m; t++) qa[r * w + t] = -2 * q.data[(start + r) * cols + features[t]!]!;
        qa[r * w + m] = 1;
      }
      const mins = await this.kernel.mins(qa, b);
      for (let r = 0; r < b; r++) {
        const qi = start + r;
        this.searchOne(q.data, qi * cols, mins, r * chunks, k, best, order, scanned);
        indices.set(best.i, qi * k);
        if (this.metric === 'l3') for (let t = 0; t < k; t++) distances[qi * k + t] = Math.cbrt(best.d[t]!);
        else distances.set(best.d, qi * k);
      }
    }
    return { k, indices, distances };
  }

  private searchOne(
    q: Float32Array,
    qo: number,
    mins: Float32Array,
    mo: number,
    k: number,
    best: KBest,
    order: Int32Array,
    scanned: Uint8Array,
  ): void {
    const { x, cols, chunk, chunks, rows, features } = this;
    // ‖q‖² over the product's features: chunk minimum + qn2 is a lower bound of the squared distance.
    let qn2 = 0;
    for (let t = 0; t < features.length; t++) qn2 += q[qo + features[t]!]! ** 2;
    // Float32 rounding of ‖x‖² − 2q·x over m + 1 terms is far below 1e-5 · (‖q‖ + ‖x‖)².
    const tol = 1e-5 * (Math.sqrt(qn2) + this.maxNorm) ** 2 + 1e-30;
    best.reset();
    scanned.fill(0);
    this.stats.queries++;
    const l3 = this.metric === 'l3';
    // L3: `best` holds sums of cubes; a row's sum is abandoned once past the k-th (terms are ≥ 0).
    const scanCubes = (c: number, end: number) => {
      for (let i = c * chunk; i < end; i++) {
        const worst = best.worst;
        const xo = i * cols;
        let s = 0;
        let j = 0;
        for (; j < cols; j++) {
          const a = Math.abs(q[qo + j]! - x[xo + j]!);
          s += a * a * a;
          if (s > worst) break;
        }
        if (j === cols) best.insert(s, i);
      }
    };
    const scan = (c: number) => {
      scanned[c] = 1;
      const end = Math.min(rows, (c + 1) * chunk);
      this.stats.rowsScanned += end - c * chunk;
      if (l3) scanCubes(c, end);
      else for (let i = c * chunk; i < end; i++) best.insert(euclideanAt(q, qo, x, i * cols, cols), i);
    };
    // 1. The chunks holding the k smallest minima: at least k real rows, so a finite k-th distance.
    let m = 0;
    for (let c = 0; c < chunks; c++) {
      const v = mins[mo + c]!;
      if (m < k) {
        let p = m++;
        while (p > 0 && mins[mo + order[p - 1]!]! > v) { order[p] = order[p - 1]!; p--; }
        order[p] = c;
      } else if (v < mins[mo + order[k - 1]!]!) {
        let p = k - 1;
        while (p > 0 && mins[mo + order[p - 1]!]! > v) { order[p] = order[p - 1]!; p--; }
        order[p] = c;
      }
    }
    for (let t = 0; t < m; t++) scan(order[t]!);
    if (l3) {
      // 2. (L3) Every other chunk whose Hölder bound on Σ|v|³ could beat the k-th sum of cubes.
      const holder = (1 - 1e-9) / Math.sqrt(features.length);
      for (let c = 0; c < chunks; c++) {
        if (scanned[c]) continue;
        const lb2 = mins[mo + c]! - tol + qn2;
        if (lb2 <= 0 || lb2 * Math.sqrt(lb2) * holder <= best.worst) scan(c);
      }
      return;
    }
    // 2. Every other chunk whose lower bound could beat the k-th distance (squared, minus ‖q‖²).
    for (let c = 0; c < chunks; c++) {
      if (scanned[c]) continue;
      const worst = best.worst;
      if (mins[mo + c]! - tol <= worst * worst - qn2) scan(c);
    }
  }

  dispose(): void {
    this.disposed = true;
    this.kernel.dispose();
  }
}

/** Below this many query rows a second thread costs more than it saves. */
const PARALLEL_MIN_QUERIES = 2000;
/** Query rows per work item when two threads share a batch: small enough to balance a noisy machine. */
const SHARE_BLOCK = 500;

/**
 * Brute-force search over two cores: the main thread and a worker thread (with its own index and
 * tfjs instance, over the same shared training rows) take blocks of a large query batch from one
 * queue until it is empty, so a thread slowed by other work takes fewer. Small batches (single-row
 * latency) stay on the main thread. The worker starts when the index is built (fit), so a predict
 * call pays no start-up. Results are identical to one index: each query row is searched the same way
 * wherever it runs.
 */
export class ParallelBruteForce {
  private worker: Worker | undefined;
  /** One request at a time to the worker, even when predict and scores overlap. */
  private readonly ask = serialised((w: Worker, msg: { q: Float32Array; rows: number; k: number }) =>
    callWorker<{ indices: Int32Array; distances: Float64Array }>(w, msg, 'knn search'),
  );

  private constructor(
    readonly main: BruteForceIndex,
    private readonly x: Matrix,
    readonly threads: number,
  ) {
    if (threads > 1) this.startWorker();
  }

  static async create(x: Matrix, threads = defaultThreads(), metric: BruteMetric = 'l2'): Promise<ParallelBruteForce> {
    // One worker plus this thread: at most two ways.
    return new ParallelBruteForce(await BruteForceIndex.create(x, { metric }), x, isShared(x.data) ? Math.min(threads, 2) : 1);
  }

  private startWorker(): Worker {
    this.worker ??= startTsWorker(new URL('./distance-worker.ts', import.meta.url), { data: this.x.data, rows: this.x.rows, cols: this.x.cols, metric: this.main.metric, engine: this.main.engineName });
    return this.worker;
  }

  get engine(): string {
    return this.threads > 1 ? `${this.main.engine} ×${this.threads} threads (large batches)` : this.main.engine;
  }

  async query(q: Matrix, k: number): Promise<Neighbours> {
    if (this.threads < 2 || q.rows < PARALLEL_MIN_QUERIES) return this.main.query(q, k);
    const w = this.startWorker();
    const indices = new Int32Array(q.rows * k);
    const distances = new Float64Array(q.rows * k);
    let next = 0;
    const take = () => {
      const start = next;
      next = Math.min(q.rows, next + SHARE_BLOCK);
      return { start, rows: next - start };
    };
    const place = (start: number, nb: { indices: Int32Array; distances: Float64Array }) => {
      indices.set(nb.indices, start * k);
      distances.set(nb.distances, start * k);
    };
    const theirs = async () => {
      for (let b = take(); b.rows > 0; b = take()) {
        place(b.start, await this.ask(w, { q: q.data.slice(b.start * q.cols, (b.start + b.rows) * q.cols), rows: b.rows, k }));
      }
    };
    const ours = async () => {
      for (let b = take(); b.rows > 0; b = take()) {
        place(b.start, await this.main.query({ rows: b.rows, cols: q.cols, data: q.data.subarray(b.start * q.cols, (b.start + b.rows) * q.cols) }, k));
        // On wasm, tensor data() resolves as a microtask: without a macrotask turn here the worker's
        // answers (messages) would wait until this thread had taken every block.
        await new Promise((r) => setImmediate(r));
      }
    };
    await Promise.all([
      theirs().catch((e: unknown) => {
        // A failed worker is not reused: the next large batch starts a new one.
        if (this.worker === w) this.worker = undefined;
        void w.terminate();
        throw e;
      }),
      ours(),
    ]);
    return { k, indices, distances };
  }

  dispose(): void {
    this.main.dispose();
    void this.worker?.terminate();
    this.worker = undefined;
  }
}
