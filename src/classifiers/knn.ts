/**
 * k-nearest neighbours, exact, under one of three distances (`metric`):
 * - 'l2' (default): Euclidean.
 * - 'l3': Minkowski p = 3, (Σ |a − b|³)^(1/3). Brute force reuses the tfjs product's L2 chunk minima as
 *   a Hölder lower bound (src/engine/distance.ts) and rescans only the chunks that could hold a
 *   neighbour, in float64: the same neighbours as a plain loop over every training row. Measured on this
 *   2-core machine (tfjs-wasm, one thread), 10,000 queries × 60,000 rows of PCA-50 MNIST, k = 3: 7.3 s
 *   (704 of 60,000 rows rescanned per query; Euclidean: 6.4 s; a plain float64 loop over all rows:
 *   7.2 ms per query, ~72 s). The bound is loose on raw pixels (2,000 rows: 1,429 rescanned per query,
 *   against 532 on PCA-50), where l3 costs nearer a plain loop. The k-d tree takes it as its metric (its
 *   splitting-plane bound holds for any p).
 * - 'cosine': L2 search on rows scaled to unit L2 norm, which ranks as cosine distance does
 *   (‖a − b‖² = 2 − 2 cos). The model keeps the unit training rows (they are what is saved); queries are
 *   scaled the same way (float64 norm, float32 rows). The distances it uses (for `weights`) are
 *   ‖â − b̂‖² / 2 = 1 − cos of the unit rows. A zero row has no direction and is left zero: it is then at
 *   distance 0.5 (‖â‖² / 2, up to float32 rounding) from every non-zero row and 0 from another zero row.
 *
 * Two exact search engines:
 * - 'kd-tree': ml-knn 3.0.0's k-d tree, patched (patches/ml-knn+3.0.0.patch). Unpatched, its
 *   pruning bound was always 0, so every query visited every training point; it also split on the
 *   label column it appends to each point. Used only as a neighbour index: it is given row indices as
 *   "labels", and this wrapper votes.
 * - 'brute': exact distances as matrix products on the tensor engine (src/engine/distance.ts).
 * - 'auto' (default): the k-d tree up to KD_TREE_MAX_FEATURES (5) features, brute force above. Measured
 *   (Euclidean) on 60,000 training rows (PCA prefixes), 2,000 queries: the tree wins at 2–4 features (0.14 s vs
 *   1.0 s at 2), breaks even at 6, and loses from 8 (5.9 s vs 1.2 s) and 12 (21 s vs 1.6 s): this tree
 *   holds one point per node and bounds only by the splitting plane, so in more dimensions it visits
 *   most points (40,000 of 60,000 per query on PCA-50).
 *
 * Votes (`weights`): 'uniform' (default) counts each of the k neighbours once; 'distance' weights each
 * by 1 / distance, as scikit-learn does, and where a query has neighbours at distance 0 only those vote
 * (weight 1 each). scores() are the votes divided by their sum; `ties` decides among equal top votes.
 *
 * ml-knn's other defects, handled here rather than patched: its vote gives ties to the farthest of the
 * tied neighbours (this wrapper breaks ties towards the nearest neighbour, or the smallest label as
 * scikit-learn does, see `ties`); its default k is classes + 1 (ours is 3, as in the scikit-learn
 * comparison); `toJSON` stores the whole tree as JSON numbers (we serialize the training set as float32
 * bytes); Float64Array rows throw (we pass number[] rows); NaN queries silently get a label (we reject
 * non-finite values with an error).
 */
import mlKnn from 'ml-knn';
import { z } from 'zod';
import { minkowski3, ParallelBruteForce, type Neighbours } from '../engine/distance.ts';
import { isShared, SHARE_FROM_ELEMENTS } from '../engine/threads.ts';
import { createMatrix, toArrays, type Matrix } from '@digitbench/runtime/internal';
import { checkFinite, checkTrainingData, defineClassifier, defineModel, ownBytes, threadsParam, type Model } from './plugin.ts';

type KdPoint = number[];
interface KdTree {
  /** [point (features then the appended "label"), Euclidean distance] pairs, in heap order. */
  nearest(point: number[], maxNodes: number): Array<[KdPoint, number]>;
}
interface KnnInstance {
  kdTree: KdTree;
}
type KnnClass = new (dataset: number[][], labels: number[], options: { k: number; distance?: (a: number[], b: number[]) => number }) => KnnInstance;

const KNN = mlKnn as unknown as KnnClass;

/** Up to this many features 'auto' uses the k-d tree; above it, brute force (measured, see the top of this file). */
export const KD_TREE_MAX_FEATURES = 5;
export const KD_TREE_ENGINE = 'js k-d tree (ml-knn 3.0.0, patched)';
const FORMAT = 'digitbench-knn';
const WHO = 'knn';

export const knnParams = z
  .object({
    k: z.number().int().positive().default(3).describe("Neighbours that vote (scikit-learn's default is 5; its MNIST comparison uses 3)"),
    algorithm: z
      .enum(['auto', 'kd-tree', 'brute'])
      .default('auto')
      .describe(`Exact search engine: the k-d tree, tfjs brute force, or 'auto' (k-d tree up to ${KD_TREE_MAX_FEATURES} features)`),
    ties: z
      .enum(['nearest', 'smallest-label'])
      .default('nearest')
      .describe("Tied vote: 'nearest' takes the class of the nearest tied neighbour, 'smallest-label' the smallest label (scikit-learn)"),
    metric: z
      .enum(['l2', 'l3', 'cosine'])
      .default('l2')
      .describe("Distance: 'l2' Euclidean, 'l3' Minkowski p = 3, 'cosine' (1 − cos; searched as Euclidean on unit-norm rows, zero rows left zero)"),
    weights: z
      .enum(['uniform', 'distance'])
      .default('uniform')
      .describe("Votes: 'uniform' one per neighbour, 'distance' 1/distance (scikit-learn; neighbours at distance 0, if any, vote alone)"),
    threads: threadsParam('Threads for brute-force search of large query batches (null: up to 2); results do not depend on it'),
  })
  .strict();

export type KnnParams = z.infer<typeof knnParams>;

const headerSchema = z
  .object({
    format: z.literal(FORMAT),
    version: z.literal(1),
    rows: z.number().int().positive(),
    cols: z.number().int().positive(),
    /** The params at save time, for inspection; `load` uses the params it is given, and checks their `metric` against these. */
    params: z.record(z.string(), z.unknown()),
  })
  .strict();


/** A fitted model's state: the neighbour index and what it votes with. */
export interface Fitted {
  /** Training rows (a private copy) and their labels. */
  x: Matrix;
  y: Int32Array;
  /** Distinct labels, ascending, and each training row's index into it. */
  classes: Int32Array;
  classOf: Int32Array;
  algorithm: 'kd-tree' | 'brute';
  metric: KnnParams['metric'];
  kd?: KnnInstance;
  brute?: ParallelBruteForce;
}

/** Fit's work (exported for tests, with `neighbours`): the model's own copy of the rows, indexed. */
export async function fitIndex(x: Matrix, y: Int32Array, params: KnnParams): Promise<Fitted> {
  // A private copy: the model is the training set, and the caller may reuse its buffers.
  const rows = trainingRows(x, params, false);
  // Cosine: the model keeps the unit rows (scaled in place: `rows` is that private copy).
  if (params.metric === 'cosine') unitRows(rows, rows.data);
  return buildModel(rows, y.slice(), params);
}

async function buildModel(x: Matrix, y: Int32Array, params: KnnParams): Promise<Fitted> {
  const classes = Int32Array.from(new Set(y)).sort();
  const index = new Map<number, number>();
  classes.forEach((c, i) => index.set(c, i));
  const classOf = Int32Array.from(y, (v) => index.get(v)!);
  const algorithm = params.algorithm === 'auto' ? (x.cols <= KD_TREE_MAX_FEATURES ? 'kd-tree' : 'brute') : params.algorithm;
  const model: Fitted = { x, y, classes, classOf, algorithm, metric: params.metric };
  if (algorithm === 'kd-tree') {
    // Row indices stand in for labels: the tree then returns which rows are nearest, and we vote.
    const rowIds = Array.from({ length: x.rows }, (_, i) => i);
    model.kd = new KNN(toArrays(x), rowIds, params.metric === 'l3' ? { k: params.k, distance: minkowski3 } : { k: params.k });
  } else {
    model.brute = await ParallelBruteForce.create(x, params.threads ?? undefined, params.metric === 'l3' ? 'l3' : 'l2');
  }
  return model;
}

/**
 * Rows scaled to unit L2 norm (norm in float64), into a new matrix; zero rows stay zero. Cosine
 * distance ranks as Euclidean distance between such rows.
 */
export function unitRows(m: Matrix, into: Float32Array = new Float32Array(m.data.length)): Matrix {
  const { rows, cols, data } = m;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let s = 0;
    for (let j = 0; j < cols; j++) s += data[o + j]! * data[o + j]!;
    const norm = Math.sqrt(s);
    for (let j = 0; j < cols; j++) into[o + j] = norm > 0 ? data[o + j]! / norm : 0;
  }
  return createMatrix(rows, cols, into);
}

/**
 * The k nearest training rows of each query row, nearest first (equal distances: lower row first),
 * with distances under the model's metric (cosine: 1 − cos of the unit rows, ‖â − b̂‖² / 2).
 */
export async function neighbours(model: Fitted, q: Matrix, k: number): Promise<Neighbours> {
  if (model.metric !== 'cosine') return search(model, q, k);
  const nb = await search(model, unitRows(q), k);
  for (let i = 0; i < nb.distances.length; i++) nb.distances[i] = (nb.distances[i]! * nb.distances[i]!) / 2;
  return nb;
}

async function search(model: Fitted, q: Matrix, k: number): Promise<Neighbours> {
  if (model.brute) return model.brute.query(q, k);
  const kd = model.kd!.kdTree;
  const indices = new Int32Array(q.rows * k);
  const distances = new Float64Array(q.rows * k);
  const last = model.x.cols;
  const point = new Array<number>(q.cols);
  for (let r = 0; r < q.rows; r++) {
    for (let j = 0; j < q.cols; j++) point[j] = q.data[r * q.cols + j]!;
    const found = kd.nearest(point, k).map(([p, d]) => [d, p[last]!] as const);
    found.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    for (let t = 0; t < k; t++) {
      distances[r * k + t] = found[t]![0];
      indices[r * k + t] = found[t]![1];
    }
  }
  return { k, indices, distances };
}

/**
 * Votes per class (rows × classes) and the winner of each row under the tie rule. 'uniform': one per
 * neighbour; 'distance': 1 / distance, or, in a row with neighbours at distance 0, 1 for each of those
 * and 0 for the others (scikit-learn). Sums run over the neighbours nearest first.
 */
function vote(model: Fitted, nb: Neighbours, params: Pick<KnnParams, 'ties' | 'weights'>): { votes: Float64Array; winners: Int32Array } {
  const c = model.classes.length;
  const k = nb.k;
  const rows = nb.indices.length / k;
  const votes = new Float64Array(rows * c);
  const winners = new Int32Array(rows);
  const weighted = params.weights === 'distance';
  for (let r = 0; r < rows; r++) {
    const o = r * c;
    // Distances ascend: a row has an exact match iff its nearest neighbour is at distance 0.
    const exact = weighted && nb.distances[r * k] === 0;
    let top = 0;
    for (let t = 0; t < k; t++) {
      const d = nb.distances[r * k + t]!;
      const w = !weighted ? 1 : exact ? (d === 0 ? 1 : 0) : 1 / d;
      const v = (votes[o + model.classOf[nb.indices[r * k + t]!]!]! += w);
      if (v > top) top = v;
    }
    let win = -1;
    if (params.ties === 'nearest') {
      for (let t = 0; t < k && win < 0; t++) {
        const cls = model.classOf[nb.indices[r * k + t]!]!;
        if (votes[o + cls] === top) win = cls;
      }
    } else {
      for (let cls = 0; cls < c && win < 0; cls++) if (votes[o + cls] === top) win = cls;
    }
    winners[r] = model.classes[win]!;
  }
  return { votes, winners };
}

function asModel(params: KnnParams, m: Fitted): Model {
  return defineModel(WHO, {
    classes: m.classes,
    inputSize: m.x.cols,
    state: m,
    predict: async (s, x) => vote(s, await neighbours(s, x, params.k), params).winners,
    /**
     * Each class's share of the votes (columns: labels ascending): with 'uniform' weights the fraction of
     * the k neighbours, with 'distance' the 1/distance-weighted votes over their sum. Its first argmax is
     * the 'smallest-label' rule.
     */
    async scores(s, x) {
      const { votes } = vote(s, await neighbours(s, x, params.k), params);
      const c = s.classes.length;
      const out = new Float32Array(votes.length);
      for (let r = 0; r < x.rows; r++) {
        let sum = params.k;
        if (params.weights === 'distance') {
          sum = 0;
          for (let j = 0; j < c; j++) sum += votes[r * c + j]!;
        }
        for (let j = 0; j < c; j++) out[r * c + j] = votes[r * c + j]! / sum;
      }
      return createMatrix(x.rows, c, out);
    },
    /** Header (JSON) + training rows as float32 (unit rows for 'cosine') + labels as int32, little-endian. */
    serialize(s) {
      checkLittleEndian();
      const header = new TextEncoder().encode(JSON.stringify({ format: FORMAT, version: 1, rows: s.x.rows, cols: s.x.cols, params }));
      const start = align4(4 + header.length);
      const xBytes = s.x.data.length * 4;
      const out = new Uint8Array(start + xBytes + s.y.length * 4);
      new DataView(out.buffer).setUint32(0, header.length, true);
      out.set(header, 4);
      out.set(new Uint8Array(s.x.data.buffer, s.x.data.byteOffset, xBytes), start);
      out.set(new Uint8Array(s.y.buffer, s.y.byteOffset, s.y.length * 4), start + xBytes);
      return out;
    },
    engine: (s) => (s.brute ? s.brute.engine : KD_TREE_ENGINE),
    free: (s) => s.brute?.dispose(),
  });
}

/**
 * The training rows the model keeps: in shared memory when large or when threads are asked for, so the
 * second search thread reads them in place. `owned` rows (freshly parsed from saved bytes) are kept as
 * they are when they need no sharing; others are copied, since the caller may reuse its buffers.
 */
function trainingRows(x: Matrix, params: KnnParams, owned: boolean): Matrix {
  const shared = (params.threads ?? 1) > 1 || x.data.length >= SHARE_FROM_ELEMENTS;
  if (owned && (!shared || isShared(x.data))) return x;
  const copy = shared ? new Float32Array(new SharedArrayBuffer(x.data.length * 4)) : new Float32Array(x.data.length);
  copy.set(x.data);
  return createMatrix(x.rows, x.cols, copy);
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

function checkLittleEndian(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new Error('knn: saved models are little-endian and this machine is big-endian; save and load on a little-endian machine.');
  }
}

function parseSaved(bytes: Uint8Array): { x: Matrix; y: Int32Array; params: Record<string, unknown> } {
  const bad = (why: string) => new Error(`knn: the saved model is not a digitbench knn model (${why}); pass the bytes that serialize() returned.`);
  checkLittleEndian();
  if (bytes.length < 4) throw bad('too short');
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getUint32(0, true);
  if (4 + headerLength > bytes.length) throw bad('header length past the end');
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + headerLength)));
  } catch {
    throw bad('header is not JSON');
  }
  const r = headerSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw bad(`${issue.path.join('.') || 'header'}: ${issue.message}`);
  }
  const { rows, cols } = r.data;
  const start = align4(4 + headerLength);
  if (bytes.length !== start + rows * cols * 4 + rows * 4) throw bad(`expected ${start + rows * cols * 4 + rows * 4} bytes, got ${bytes.length}`);
  // Copies (also aligns): the caller's buffer may be reused.
  const body = ownBytes(bytes, start);
  const x = new Float32Array(body.buffer, 0, rows * cols);
  const y = new Int32Array(body.buffer, rows * cols * 4, rows);
  return { x: createMatrix(rows, cols, x), y, params: r.data.params };
}

export const knn = defineClassifier<KnnParams>({
  name: WHO,
  summary: 'k-nearest neighbours, exact, Euclidean, Minkowski p = 3 or cosine, uniform or 1/distance votes (k-d tree for few features, brute force on tfjs otherwise)',
  input: 'vector',
  library: 'ours: brute-force search on tfjs (L2 product, exact float64 rescan; L3 by a Hölder bound), votes; ml-knn 3.0.0 (patched): k-d tree (≤ 5 features)',
  params: knnParams,
  scoreKind: 'vote fractions of the k neighbours (1/distance-weighted with weights: distance)',
  testParams: { threads: 2 },
  create: (params) => ({
    async fit(x, y) {
      checkTrainingData(x, y, WHO);
      if (params.k > x.rows) throw new Error(`knn: k = ${params.k} is more than the ${x.rows} training rows; lower k or train on more rows.`);
      return asModel(params, await fitIndex(x, y, params));
    },
  }),
  async load(bytes, params) {
    const { x, y, params: saved } = parseSaved(bytes);
    checkFinite(x, 'knn', 'the saved training data');
    // The saved rows are unit rows for 'cosine': searching them under another metric would be wrong.
    // (Models saved before `metric` existed are Euclidean.)
    const savedMetric = saved.metric ?? 'l2';
    if (savedMetric !== params.metric) {
      throw new Error(`knn: the model was saved with metric '${String(savedMetric)}' but load got metric '${params.metric}'; load it with metric '${String(savedMetric)}'.`);
    }
    if (params.k > x.rows) throw new Error(`knn: k = ${params.k} is more than the ${x.rows} saved training rows; lower k.`);
    // As after fit (same threads), so a loaded model searches as the fitted one did.
    return asModel(params, await buildModel(trainingRows(x, params, true), y, params));
  },
});
