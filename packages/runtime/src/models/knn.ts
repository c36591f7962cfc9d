/**
 * k-nearest neighbours' load and predict: the saved format (header JSON + training rows as float32 +
 * labels as int32), the votes and the model, with exact search in plain JS (engine/nearest.ts) for every
 * bundle. The `algorithm` param picks the workbench's fit-time engine (its k-d tree or its tfjs brute
 * force, digitbench src/classifiers/knn.ts); both find the same neighbours as this search, so a loaded
 * model predicts and scores as the fitted one did. The workbench builds the same Model around its own
 * engines through `knnModelOf`.
 *
 * Distances (`metric`): 'l2' Euclidean, 'l3' Minkowski p = 3, 'cosine': Euclidean search on rows scaled
 * to unit L2 norm (the saved rows are unit rows; queries are scaled the same way, float64 norm, float32
 * rows; zero rows stay zero), with distance ‖â − b̂‖² / 2 = 1 − cos. Votes (`weights`): 'uniform' one per
 * neighbour, 'distance' 1 / distance (where a query has neighbours at distance 0, only those vote, 1
 * each), as scikit-learn. `ties` decides among equal top votes.
 */
import * as z from 'zod/mini';
import { createMatrix, type Matrix } from '../engine/matrix.ts';
import { NearestIndex, type Neighbours } from '../engine/nearest.ts';
import { firstIssue, safeParse } from '../schema.ts';
import { COMPACT_PRECISIONS, packedBytes, packValues, unpackValues, type Grouping, type Precision } from './compact.ts';
import { described } from './describe.ts';
import { checkFinite, checkLittleEndian, defineModel, ownBytes, threadsParam, type Model, type ModelPlugin, type ModelRuntime, type NativeEngine } from './plugin.ts';
import { chunkLayout, chunkSearch } from '../engine/chunk-search.ts';
import type { ChunkMinima } from '../engine/ort-minima.ts';

const WHO = 'knn';
const FORMAT = 'digitbench-knn';
/** The engine of a loaded model. */
export const KNN_JS_ENGINE = 'js (exact search, typed arrays)';

/** Up to this many features the workbench's 'auto' uses its k-d tree; above it, its brute force. */
export const KD_TREE_MAX_FEATURES = 5;

export const knnParams = z.strictObject({
  k: described(z._default(z.number().check(z.int(), z.positive()), 3), "Neighbours that vote (scikit-learn's default is 5; its MNIST comparison uses 3)"),
  algorithm: described(
    z._default(z.enum(['auto', 'kd-tree', 'brute']), 'auto'),
    `Exact search engine: the k-d tree, tfjs brute force, or 'auto' (k-d tree up to ${KD_TREE_MAX_FEATURES} features)`,
  ),
  ties: described(
    z._default(z.enum(['nearest', 'smallest-label']), 'nearest'),
    "Tied vote: 'nearest' takes the class of the nearest tied neighbour, 'smallest-label' the smallest label (scikit-learn)",
  ),
  metric: described(
    z._default(z.enum(['l2', 'l3', 'cosine']), 'l2'),
    "Distance: 'l2' Euclidean, 'l3' Minkowski p = 3, 'cosine' (1 − cos; searched as Euclidean on unit-norm rows, zero rows left zero)",
  ),
  weights: described(
    z._default(z.enum(['uniform', 'distance']), 'uniform'),
    "Votes: 'uniform' one per neighbour, 'distance' 1/distance (scikit-learn; neighbours at distance 0, if any, vote alone)",
  ),
  threads: threadsParam('Threads for brute-force search of large query batches (null: up to 2); results do not depend on it'),
});

export type KnnParams = z.output<typeof knnParams>;

/** The workbench's fit-time engine for these params and this many features ('auto' resolved). */
export function knnAlgorithm(params: Pick<KnnParams, 'algorithm'>, cols: number): 'kd-tree' | 'brute' {
  return params.algorithm === 'auto' ? (cols <= KD_TREE_MAX_FEATURES ? 'kd-tree' : 'brute') : params.algorithm;
}

const headerSchema = z.strictObject({
  format: z.literal(FORMAT),
  version: z.literal(1),
  rows: z.number().check(z.int(), z.positive()),
  cols: z.number().check(z.int(), z.positive()),
  /** The params at save time, for inspection; `load` uses the params it is given, and checks their `metric` against these. */
  params: z.record(z.string(), z.unknown()),
});

/**
 * Version 2, the compact format (written only for precision float16 or int8; float32 keeps version 1 byte
 * for byte): the training rows packed at `precision` (compact.ts; int8 ranges per column, i.e. per feature:
 * features such as PCA components differ in spread by orders of magnitude, and a distance sums per-feature
 * differences, so each feature gets its own 256 levels), and the labels as u8 when every label fits.
 * Told apart from version 1 by its `precision` field, so a version-1 header's errors read as before.
 */
const compactHeaderSchema = z.strictObject({
  format: z.literal(FORMAT),
  version: z.literal(2),
  rows: z.number().check(z.int(), z.positive()),
  cols: z.number().check(z.int(), z.positive()),
  params: z.record(z.string(), z.unknown()),
  precision: z.enum(['float16', 'int8']),
  labels: z.enum(['u8', 'i32']),
});

function align4(n: number): number {
  return (n + 3) & ~3;
}

const byColumn = (cols: number): Grouping => ({ by: 'column', cols });

/**
 * Header (JSON) + training rows as float32 (unit rows for 'cosine') + labels as int32, little-endian
 * (version 1); with precision float16 or int8, version 2 (compactHeaderSchema).
 */
export function serializeKnn(x: Matrix, y: Int32Array, params: KnnParams, precision: Precision = 'float32'): Uint8Array {
  checkLittleEndian(WHO);
  if (precision !== 'float32') return serializeCompact(x, y, params, precision);
  const header = new TextEncoder().encode(JSON.stringify({ format: FORMAT, version: 1, rows: x.rows, cols: x.cols, params }));
  const start = align4(4 + header.length);
  const xBytes = x.data.length * 4;
  const out = new Uint8Array(start + xBytes + y.length * 4);
  new DataView(out.buffer).setUint32(0, header.length, true);
  out.set(header, 4);
  out.set(new Uint8Array(x.data.buffer, x.data.byteOffset, xBytes), start);
  out.set(new Uint8Array(y.buffer, y.byteOffset, y.length * 4), start + xBytes);
  return out;
}

/** Reads serializeKnn's bytes into private copies: the training rows, their labels and the saved params. */
export function parseKnnSaved(bytes: Uint8Array): { x: Matrix; y: Int32Array; params: Record<string, unknown>; precision?: Precision } {
  const bad = (why: string) => new Error(`knn: the saved model is not a digitbench knn model (${why}); pass the bytes that serialize() returned.`);
  checkLittleEndian(WHO);
  if (bytes.length < 4) throw bad('too short');
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getUint32(0, true);
  if (4 + headerLength > bytes.length) throw bad('header length past the end');
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + headerLength)));
  } catch {
    throw bad('header is not JSON');
  }
  if (raw !== null && typeof raw === 'object' && 'precision' in raw) return parseCompact(bytes, headerLength, raw, bad);
  const r = safeParse(headerSchema, raw);
  if (!r.success) throw bad(firstIssue(r.error, 'header'));
  const { rows, cols } = r.data;
  const start = align4(4 + headerLength);
  if (bytes.length !== start + rows * cols * 4 + rows * 4) throw bad(`expected ${start + rows * cols * 4 + rows * 4} bytes, got ${bytes.length}`);
  // Copies (also aligns): the caller's buffer may be reused.
  const body = ownBytes(bytes, start);
  const x = new Float32Array(body.buffer, 0, rows * cols);
  const y = new Int32Array(body.buffer, rows * cols * 4, rows);
  return { x: createMatrix(rows, cols, x), y, params: r.data.params };
}

function serializeCompact(x: Matrix, y: Int32Array, params: KnnParams, precision: Precision): Uint8Array {
  const labels = y.every((v) => v >= 0 && v <= 255) ? 'u8' : 'i32';
  const header = new TextEncoder().encode(JSON.stringify({ format: FORMAT, version: 2, rows: x.rows, cols: x.cols, params, precision, labels }));
  const start = align4(4 + header.length);
  const packed = packValues(x.data, precision, byColumn(x.cols), `${WHO}: the training rows`);
  const labelsAt = align4(start + packed.length);
  const out = new Uint8Array(labelsAt + y.length * (labels === 'u8' ? 1 : 4));
  new DataView(out.buffer).setUint32(0, header.length, true);
  out.set(header, 4);
  out.set(packed, start);
  if (labels === 'u8') out.set(y, labelsAt);
  else out.set(new Uint8Array(y.buffer, y.byteOffset, y.length * 4), labelsAt);
  return out;
}

function parseCompact(bytes: Uint8Array, headerLength: number, raw: unknown, bad: (why: string) => Error): { x: Matrix; y: Int32Array; params: Record<string, unknown>; precision: Precision } {
  const r = safeParse(compactHeaderSchema, raw);
  if (!r.success) throw bad(firstIssue(r.error, 'header'));
  const { rows, cols, precision, labels } = r.data;
  const start = align4(4 + headerLength);
  const labelsAt = align4(start + packedBytes(rows * cols, precision, byColumn(cols)));
  const end = labelsAt + rows * (labels === 'u8' ? 1 : 4);
  if (bytes.length !== end) throw bad(`expected ${end} bytes, got ${bytes.length}`);
  const x = new Float32Array(rows * cols);
  try {
    unpackValues(bytes.subarray(start, labelsAt), rows * cols, precision, byColumn(cols), x);
  } catch (e) {
    throw bad(`training rows: ${(e as Error).message}`);
  }
  const y = labels === 'u8' ? Int32Array.from(bytes.subarray(labelsAt, end)) : new Int32Array(ownBytes(bytes, labelsAt, end).buffer);
  return { x: createMatrix(rows, cols, x), y, params: r.data.params, precision };
}

/**
 * What every knn load does first: parseKnnSaved, then the checks (finite rows, the saved metric equal
 * to the given one, k ≤ rows). The rows and labels are private copies.
 */
export function readKnnSaved(bytes: Uint8Array, params: Pick<KnnParams, 'k' | 'metric'>): { x: Matrix; y: Int32Array } {
  const { x, y, params: saved } = parseKnnSaved(bytes);
  checkFinite(x, WHO, 'the saved training data');
  // The saved rows are unit rows for 'cosine': searching them under another metric would be wrong.
  // (Models saved before `metric` existed are Euclidean.)
  const savedMetric = saved.metric ?? 'l2';
  if (savedMetric !== params.metric) {
    throw new Error(`knn: the model was saved with metric '${String(savedMetric)}' but load got metric '${params.metric}'; load it with metric '${String(savedMetric)}'.`);
  }
  if (params.k > x.rows) throw new Error(`knn: k = ${params.k} is more than the ${x.rows} saved training rows; lower k.`);
  return { x, y };
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

/** The labels a knn model votes with. */
export interface KnnLabels {
  /** Training labels, one per training row. */
  y: Int32Array;
  /** Distinct labels, ascending, and each training row's index into it. */
  classes: Int32Array;
  classOf: Int32Array;
}

export function knnLabels(y: Int32Array): KnnLabels {
  const classes = Int32Array.from(new Set(y)).sort();
  const index = new Map<number, number>();
  classes.forEach((c, i) => index.set(c, i));
  return { y, classes, classOf: Int32Array.from(y, (v) => index.get(v)!) };
}

/** A neighbour search a knn model is built around: the runtime's (nearestSearch) or the workbench's engines. */
export interface KnnSearch {
  /**
   * The k nearest training rows of each query row, nearest first (equal distances: lower row first),
   * Euclidean or Minkowski p = 3 (for 'cosine': Euclidean, between unit rows).
   */
  search(q: Matrix, k: number): Neighbours | Promise<Neighbours>;
  /** Features per row. */
  cols: number;
  /** The training rows as saved (unit rows for 'cosine'), in column order. */
  trainingRows(): Matrix;
  engine(): string;
  runtime?(): ModelRuntime;
  /** Frees tensors or threads the search holds. */
  free?(): void;
}

/**
 * The k nearest training rows of each query row with distances under the model's metric: for 'cosine'
 * the queries are scaled to unit rows and the Euclidean distances d become 1 − cos = d² / 2.
 */
export async function knnNeighbours(index: Pick<KnnSearch, 'search'>, metric: KnnParams['metric'], q: Matrix, k: number): Promise<Neighbours> {
  if (metric !== 'cosine') return index.search(q, k);
  const nb = await index.search(unitRows(q), k);
  for (let i = 0; i < nb.distances.length; i++) nb.distances[i] = (nb.distances[i]! * nb.distances[i]!) / 2;
  return nb;
}

/**
 * Votes per class (rows × classes) and the winner of each row under the tie rule. 'uniform': one per
 * neighbour; 'distance': 1 / distance, or, in a row with neighbours at distance 0, 1 for each of those
 * and 0 for the others (scikit-learn). Sums run over the neighbours nearest first.
 */
export function knnVote(labels: Pick<KnnLabels, 'classes' | 'classOf'>, nb: Neighbours, params: Pick<KnnParams, 'ties' | 'weights'>): { votes: Float64Array; winners: Int32Array } {
  const c = labels.classes.length;
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
      const v = (votes[o + labels.classOf[nb.indices[r * k + t]!]!]! += w);
      if (v > top) top = v;
    }
    let win = -1;
    if (params.ties === 'nearest') {
      for (let t = 0; t < k && win < 0; t++) {
        const cls = labels.classOf[nb.indices[r * k + t]!]!;
        if (votes[o + cls] === top) win = cls;
      }
    } else {
      for (let cls = 0; cls < c && win < 0; cls++) if (votes[o + cls] === top) win = cls;
    }
    winners[r] = labels.classes[win]!;
  }
  return { votes, winners };
}

/** Each class's share of the votes (rows × classes): of the k neighbours, or of the 1/distance votes' sum. */
export function knnScores(votes: Float64Array, rows: number, classes: number, params: Pick<KnnParams, 'k' | 'weights'>): Matrix {
  const out = new Float32Array(votes.length);
  for (let r = 0; r < rows; r++) {
    let sum = params.k;
    if (params.weights === 'distance') {
      sum = 0;
      for (let j = 0; j < classes; j++) sum += votes[r * classes + j]!;
    }
    for (let j = 0; j < classes; j++) out[r * classes + j] = votes[r * classes + j]! / sum;
  }
  return createMatrix(rows, classes, out);
}

interface KnnState {
  labels: KnnLabels;
  index: KnnSearch;
}

/** The Model of a fitted or loaded knn: predict, scores (vote fractions) and serialize, around any search. */
export function knnModelOf(params: KnnParams, labels: KnnLabels, index: KnnSearch): Model {
  const neighboursOf = (s: KnnState, x: Matrix) => knnNeighbours(s.index, params.metric, x, params.k);
  return defineModel<KnnState>(WHO, {
    classes: labels.classes,
    inputSize: index.cols,
    state: { labels, index },
    predict: async (s, x) => knnVote(s.labels, await neighboursOf(s, x), params).winners,
    /**
     * Each class's share of the votes (columns: labels ascending): with 'uniform' weights the fraction of
     * the k neighbours, with 'distance' the 1/distance-weighted votes over their sum. Its first argmax is
     * the 'smallest-label' rule.
     */
    async scores(s, x) {
      const { votes } = knnVote(s.labels, await neighboursOf(s, x), params);
      return knnScores(votes, x.rows, s.labels.classes.length, params);
    },
    /** One search for both. */
    async predictWithScores(s, x) {
      const { winners, votes } = knnVote(s.labels, await neighboursOf(s, x), params);
      return { labels: winners, scores: knnScores(votes, x.rows, s.labels.classes.length, params) };
    },
    serialize: (s, o) => serializeKnn(s.index.trainingRows(), s.labels.y, params, o.precision),
    engine: (s) => s.index.engine(),
    ...(index.runtime ? { runtime: (s: KnnState) => s.index.runtime!() } : {}),
    free: (s) => s.index.free?.(),
  });
}

/**
 * The runtime's search over training rows it now owns (their columns may be permuted in place):
 * exact, in plain JS. For 'l3' it ranks as the workbench engine these params pick at fit time would
 * (brute force: by the sum of cubes; k-d tree: by the distance), so even sums that share a cube root
 * order alike.
 */
export function nearestSearch(x: Matrix, params: Pick<KnnParams, 'metric' | 'algorithm'>): KnnSearch {
  const cols = x.cols;
  const index = new NearestIndex(x, {
    metric: params.metric === 'l3' ? 'l3' : 'l2',
    rank: knnAlgorithm(params, cols) === 'kd-tree' ? 'distance' : 'sum',
    ownsRows: true,
  });
  return {
    search: (q, k) => index.search(q, k),
    cols,
    trainingRows: () => index.trainingRows(),
    engine: () => KNN_JS_ENGINE,
  };
}

/**
 * The search on onnxruntime (Euclidean, so 'l2' and 'cosine'; 'l3' stays in plain JS): the float32 product's
 * chunk minima (one session per model, made at its first search, released by free), then the exact float64
 * rescan of every chunk that could hold a neighbour (../engine/chunk-search.ts): nearestSearch's neighbours
 * and distances, to the bit.
 */
export function nativeSearch(x: Matrix, native: NativeEngine): KnnSearch {
  const threads = native.threads;
  const layout = chunkLayout(x);
  let minima: Promise<ChunkMinima> | undefined;
  const engine = () => `${native.description(threads)} float32 chunk minima, exact float64 rescan`;
  return {
    search: async (q, k) => chunkSearch(x, layout, await (minima ??= native.chunkMinima(layout.xaT, layout.w, layout.chunks, layout.chunk, threads)), q, k),
    cols: x.cols,
    trainingRows: () => x,
    engine,
    runtime: () => ({ engine: engine(), threads }),
    free: () => {
      void minima?.then((m) => m.dispose());
      minima = undefined;
    },
  };
}

export const knnModel: ModelPlugin<KnnParams> = {
  name: WHO,
  summary: 'k-nearest neighbours, exact, Euclidean, Minkowski p = 3 or cosine, uniform or 1/distance votes',
  input: 'vector',
  params: knnParams,
  scoreKind: 'vote fractions of the k neighbours (1/distance-weighted with weights: distance)',
  libraries: [],
  precisions: COMPACT_PRECISIONS,
  async load(bytes, params, ctx) {
    const { x, y } = readKnnSaved(bytes, params);
    return knnModelOf(params, knnLabels(y), ctx?.native && params.metric !== 'l3' ? nativeSearch(x, ctx.native) : nearestSearch(x, params));
  },
};
