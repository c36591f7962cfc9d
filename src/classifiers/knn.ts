/**
 * k-nearest neighbours, exact, under one of three distances (`metric`):
 * - 'l2' (default): Euclidean.
 * - 'l3': Minkowski p = 3, (Σ |a − b|³)^(1/3). Brute force reuses the tfjs product's L2 chunk minima as
 *   a Hölder lower bound (src/engine/distance.ts) and rescans only the chunks that could hold a
 *   neighbour, in float64: the same neighbours as a plain loop over every training row. On PCA output it
 *   rescans few rows, so it costs about what an l2 search costs and far less than a plain loop; the
 *   bound is loose on raw pixels, where l3 costs nearer a plain loop (docs/measurements.md).
 *   The k-d tree takes it as its metric (its splitting-plane bound holds for any p).
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
 * - 'brute': exact distances as matrix products on the engine, onnxruntime-node or tfjs (src/engine/distance.ts).
 * - 'auto' (default): the k-d tree up to KD_TREE_MAX_FEATURES (5) features, brute force above: the tree
 *   wins by far for 2–4 features, breaks even near 6 and loses from 8 on (docs/measurements.md), because
 *   it holds one point per node and bounds only by the splitting plane, so in more dimensions it visits
 *   most points.
 *
 * Votes (`weights`): 'uniform' (default) counts each of the k neighbours once; 'distance' weights each
 * by 1 / distance, as scikit-learn does, and where a query has neighbours at distance 0 only those vote
 * (weight 1 each). scores() are the votes divided by their sum; `ties` decides among equal top votes.
 *
 * Load, the saved format, votes and the Model are @digitbench/runtime's (models/knn.ts), which predicts
 * every bundle with its own exact plain-JS search (the same neighbours); this file adds fitting and
 * keeps these engines for the workbench's fit and load, so experiment figures do not depend on the split.
 *
 * ml-knn's other defects, handled here rather than patched: its vote gives ties to the farthest of the
 * tied neighbours (this wrapper breaks ties towards the nearest neighbour, or the smallest label as
 * scikit-learn does, see `ties`); its default k is classes + 1 (ours is 3, as in the scikit-learn
 * comparison); `toJSON` stores the whole tree as JSON numbers (we serialize the training set as float32
 * bytes); Float64Array rows throw (we pass number[] rows); NaN queries silently get a label (we reject
 * non-finite values with an error).
 */
import mlKnn from 'ml-knn';
import { minkowski3, ParallelBruteForce, type Neighbours } from '../engine/distance.ts';
import { isShared, SHARE_FROM_ELEMENTS } from '../engine/threads.ts';
import { loadedEngine, TF_LIBRARIES } from '../engine/tf.ts';
import { ORT_LIBRARIES } from '../engine/ort.ts';
import {
  createMatrix,
  knnAlgorithm,
  knnLabels,
  knnModel,
  knnModelOf,
  knnNeighbours,
  readKnnSaved,
  toArrays,
  unitRows,
  type KnnParams,
  type Matrix,
  type Model,
} from '@digitbench/runtime/internal';
import { checkTrainingData, defineClassifier } from './plugin.ts';

export { KD_TREE_MAX_FEATURES, knnParams, unitRows, type KnnParams } from '@digitbench/runtime/internal';

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

export const KD_TREE_ENGINE = 'js k-d tree (ml-knn 3.0.0, patched)';
const WHO = 'knn';

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
  const algorithm = knnAlgorithm(params, x.cols);
  const model: Fitted = { x, ...knnLabels(y), algorithm, metric: params.metric };
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
 * The k nearest training rows of each query row, nearest first (equal distances: lower row first),
 * with distances under the model's metric (cosine: 1 − cos of the unit rows, ‖â − b̂‖² / 2).
 */
export function neighbours(model: Fitted, q: Matrix, k: number): Promise<Neighbours> {
  return knnNeighbours({ search: (q, k) => search(model, q, k) }, model.metric, q, k);
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

/** The runtime's knn Model around this file's engines (the k-d tree or the tfjs brute force). */
function asModel(params: KnnParams, m: Fitted): Model {
  return knnModelOf(params, m, {
    search: (q, k) => search(m, q, k),
    cols: m.x.cols,
    trainingRows: () => m.x,
    engine: () => (m.brute ? m.brute.engine : KD_TREE_ENGINE),
    // The brute force searches large batches on this thread and a worker thread (each its own tfjs engine).
    runtime: () => (m.brute ? { engine: m.brute.engine, threads: m.brute.threads * (loadedEngine()?.threads ?? 1) } : { engine: KD_TREE_ENGINE, threads: 1 }),
    free: () => m.brute?.dispose(),
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

export const knn = defineClassifier<KnnParams>({
  ...knnModel,
  summary: 'k-nearest neighbours, exact, Euclidean, Minkowski p = 3 or cosine, uniform or 1/distance votes (k-d tree for few features, brute force on onnxruntime-node or tfjs otherwise)',
  library: 'ours: exact search (brute force on onnxruntime-node where it loads, else tfjs in the workbench and plain JS in apps; exact float64 rescan; L3 by a Hölder bound), votes, saved format; ml-knn 3.0.0 (patched): k-d tree (≤ 5 features, workbench only)',
  fitLibraries: ['ml-knn 3.0.0'],
  // The brute-force product: tfjs on wasm, onnxruntime-node on ort.
  engineLibraries: { wasm: TF_LIBRARIES, ort: ORT_LIBRARIES },
  patched: ['ml-knn'],
  testParams: { threads: 2 },
  create: (params) => ({
    async fit(x, y) {
      checkTrainingData(x, y, WHO);
      if (params.k > x.rows) throw new Error(`knn: k = ${params.k} is more than the ${x.rows} training rows; lower k or train on more rows.`);
      return asModel(params, await fitIndex(x, y, params));
    },
  }),
  /** As the runtime's load (same bytes, same checks), searching with this file's engines as after fit. */
  async load(bytes, params) {
    const { x, y } = readKnnSaved(bytes, params);
    // As after fit (same threads), so a loaded model searches as the fitted one did.
    return asModel(params, await buildModel(trainingRows(x, params, true), y, params));
  },
});
