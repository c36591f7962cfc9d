/**
 * digitbench's CART split search: grows the classification tree ml-cart 2.1.1 grows, fast.
 * (Ported from digitbench's former patch to ml-cart, patches/ml-cart+2.1.1.patch, now removed; the
 * algorithm and its arithmetic are unchanged.)
 *
 * ml-cart's TreeNode.bestSplit is O(features × n²) per node (it re-splits all samples for every
 * candidate threshold), and TreeNode.train copies and transposes X at every node. Here every feature is
 * sorted once (prepareTrainingSet), and thresholds are swept in value order with running class counts.
 * Only the rows above a feature's minimum are listed; the rows at the minimum (most pixels of a digit are
 * 0) form the first group, whose class counts are the node's counts minus the listed rows'.
 * - All features (a decision tree): each node owns a slice of every feature's sorted list, split stably
 *   into the children: O(listed rows) per feature and node, no copies of X.
 * - maxFeatures per split (random forests): only the drawn features are looked at, per node: their value
 *   ranks are read for the node's rows (row-major, from a compact copy of the subtree's rows once it is
 *   small; one feature at a time, so that its listed rows stay in cache for the counting sort and the
 *   sweep that follow), or, in large nodes, a feature's whole presorted list is filtered by node
 *   membership. Constant features are drawn but do not count (as in scikit-learn) and are not drawn
 *   again below. A batch is sized by the parent's share of constant features, which overestimates the
 *   node's, so it often draws more than needed: the features drawn beyond the need are only checked
 *   for constancy (constantInNode, which stops at the first row that differs). (The draws and the tree
 *   are the same either way.)
 * - Histograms (maxFeatures, Gini, every feature with at most 256 distinct values, e.g. raw pixels): nodes
 *   of at least 2048 rows build, in one pass over their rows, each drawn feature's class histogram over
 *   its value ranks with the first and last label of each bin in row order, skipping the rows at the
 *   minimum (bin 0: counts by subtraction from the node's, labels from either end; zeroBin) (feature-major ranks for the
 *   largest nodes where the set has them, else the row-major ones or their compact copy), and sweep the bins (sweepHistogram). Every distinct
 *   value has its own bin, so the candidates, their counts and the tree are the sorted search's; only
 *   the ranks are needed (prepareRanks, no sorted lists). No sibling subtraction: each node draws its
 *   own features. On full MNIST it costs about what the sorted search does (its sweep already skips
 *   the rows at a feature's minimum); the ranks-only set is cheaper to prepare.
 *
 * The tree is the one ml-cart builds: the same candidate thresholds (the midpoint of two neighbours with
 * different labels in a stable sort, or the value itself inside a group of equal values), ordered the same
 * way (feature by feature, ascending values), scored with the same arithmetic (class probabilities are
 * running sums of 1/n, as in ml-cart's toDiscreteDistribution), and the same tie rule (the first candidate
 * with the largest gain wins). The sweep ranks candidates with exact integer counts; only those within
 * rounding distance of the best are re-scored with ml-cart's arithmetic. Tests compare the model JSON
 * with ml-cart's, byte for byte.
 *
 * Ours, not ml-cart's (all optional): gainFunction 'entropy' (information gain in bits); maxFeatures,
 * the number of non-constant features drawn at random at every split, with seed; sampleCounts, row i
 * counted sampleCounts[i] times (a bootstrap sample without copying).
 */
import { sameKind, type IndexArray, type PreparedTrainingSet, type RankArray, type ValueArray } from './prepared.ts';

export interface GrowOptions {
  gainFunction: 'gini' | 'entropy';
  /** Nodes with at most this many rows (counting repeats) become leaves. */
  minNumSamples: number;
  /** Deepest split level (Infinity: no limit). */
  maxDepth: number;
  /** A split must gain more than this. */
  gainThreshold: number;
  /** Non-constant features drawn per split; all when undefined. */
  maxFeatures?: number;
  /** Seed of the features drawn per split (integer). */
  seed?: number;
  /**
   * 'histogram' (the default where it is exact): with maxFeatures, large nodes' drawn features are
   * searched from per-value class histograms (see sweepHistogram); 'exact' keeps the sorted sweep
   * everywhere. Both give the same tree.
   */
  splitSearch?: 'exact' | 'histogram';
  /** Nodes with at least this many rows use the histogram search (default 2048; tests lower it). */
  histogramMinRows?: number;
}

/** Work done by the split search (tests guard its complexity with them). */
export interface SplitSearchStats {
  nodes: number;
  sweptSamples: number;
  gatheredSamples: number;
  partitionedSamples: number;
  exactEvaluations: number;
  exactEvaluationWork: number;
  /** (node, feature) pairs searched from a histogram (sweepHistogram). */
  histogramSearches: number;
  /** (node, feature) pairs drawn beyond the need and only checked for constancy (constantInNode). */
  constancyOnly: number;
}

export function newSplitSearchStats(): SplitSearchStats {
  return { nodes: 0, sweptSamples: 0, gatheredSamples: 0, partitionedSamples: 0, exactEvaluations: 0, exactEvaluationWork: 0, histogramSearches: 0, constancyOnly: 0 };
}

/**
 * A grown node, with the fields ml-cart's TreeNode.train sets. A node whose split was searched has
 * splitValue, splitColumn, gain and numberSamples (undefined, -Infinity and undefined when there was no
 * candidate), even when it stays a leaf. A leaf has its class counts (index: label, up to the largest
 * label of the training set) and n, the rows it holds (counting repeats).
 */
export interface GrownNode {
  searched: boolean;
  splitValue: number | undefined;
  splitColumn: number | undefined;
  gain: number;
  numberSamples: number | undefined;
  left: GrownNode | undefined;
  right: GrownNode | undefined;
  counts: Float64Array | undefined;
  n: number;
}

function newNode(): GrownNode {
  return { searched: false, splitValue: undefined, splitColumn: undefined, gain: 0, numberSamples: undefined, left: undefined, right: undefined, counts: undefined, n: 0 };
}

/** The sum 1/m + 1/m + … (k terms), added one by one as ml-cart's toDiscreteDistribution does. */
export function runningSum(m: number, k: number): number {
  const d = 1 / m;
  let p = 0;
  for (let i = 0; i < k; i++) p += d;
  return p;
}

/** ml-cart's giniImpurity of m labels with these class counts, with its arithmetic. */
function giniFromCounts(counts: ArrayLike<number>, m: number): number {
  if (m === 0) return 0;
  let sum = 0.0;
  for (let j = 0; j < counts.length; j++) {
    if (counts[j] === 0) continue;
    const p = runningSum(m, counts[j]!);
    sum += p * p;
  }
  return 1 - sum;
}

/** ml-cart's giniGain(y, {greater, lesser}) from class counts, with its arithmetic and order. */
function exactGiniGain(parentGini: number, lesserCounts: Float64Array, nLesser: number, counts: Float64Array, n: number, greaterCounts: Float64Array): number {
  for (let j = 0; j < counts.length; j++) greaterCounts[j] = counts[j]! - lesserCounts[j]!;
  const nGreater = n - nLesser;
  let splitsImpurity = 0.0;
  splitsImpurity += (giniFromCounts(greaterCounts, nGreater) * nGreater) / n;
  splitsImpurity += (giniFromCounts(lesserCounts, nLesser) * nLesser) / n;
  return parentGini - splitsImpurity;
}

/** A small seeded generator (mulberry32) for the features drawn at each split. */
function splitRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A node's features: the active ones, and in all-features mode their slices of the tree's lists. */
interface Lists {
  constantRate: number;
  active: Int32Array;
  segStart: Int32Array;
  segEnd: Int32Array;
}

const NO_SEGMENTS = new Int32Array(0);

/** Rows per subtree copy of the ranks: ~3.2 MB and ~400 kB for 784 features (last level cache, L2). */
const LOCAL_BLOCK_ROWS = [Infinity, 4096, 512] as const;

/** Most features per batch (findBestSplit draws at most this many at once). */
const BATCH = 96;
/** Batch buffers, kept between trees (one tree at a time per thread). */
const batchPool = { packed: new Int32Array(0), rank: new Int32Array(0) };
/** Bins per feature of the histogram search: one per distinct value of a uint8-ranked feature. */
const BINS = 256;
/**
 * Nodes with at least this many rows search their drawn features from histograms (where exact). Below it
 * the sorted search costs less (it sweeps the listed rows, not every bin); measured on full MNIST, 2048 and
 * 4096 cost about the same, 256 a little more.
 */
const HISTOGRAM_MIN_ROWS = 2048;

/**
 * Histogram buffers, kept between trees: per batch feature b and value rank d, class counts
 * hist[(b·BINS + d)·K + c], and the labels of the bin's first and last rows in row order (-1: empty).
 * Bins are cleared after use, so a node costs what its rows and non-empty bins cost.
 */
const histPool = { K: 0, hist: new Int32Array(0), first: new Int32Array(0), last: new Int32Array(0), nonEmpty: new Int32Array(BINS), listed: new Int32Array(0) };

function histBuffers(K: number): typeof histPool {
  if (histPool.K !== K) {
    histPool.K = K;
    histPool.hist = new Int32Array(BATCH * BINS * K);
    histPool.first = new Int32Array(BATCH * BINS).fill(-1);
    histPool.last = new Int32Array(BATCH * BINS).fill(-1);
    histPool.listed = new Int32Array(BATCH * K);
  }
  return histPool;
}

interface Split {
  maxGain: number;
  maxColumn: number | undefined;
  maxValue: number | undefined;
  numberSamples: number | undefined;
  nLesser: number;
  lesserCounts?: Float64Array;
  constants?: number[] | null;
}

const NO_SPLIT: Split = { maxGain: -Infinity, maxColumn: undefined, maxValue: undefined, numberSamples: undefined, nLesser: 0 };

class Ctx {
  readonly N: number;
  readonly F: number;
  readonly K: number;
  readonly M: number;
  readonly data: PreparedTrainingSet;
  readonly labels: Uint8Array | Int32Array;
  readonly dense: RankArray;
  /** Sampled mode reads ranks from `block`, row local[p] for the node row rows[p]: the whole set, or a compact copy of the current subtree's rows. */
  block: RankArray;
  readonly local: Int32Array | null;
  readonly tmpLocal: Int32Array | null;
  blockLevel = 0;
  readonly blocks: Array<RankArray | undefined>;
  readonly minimum: Float64Array;
  /** Each row's label and weight in one number (one memory read in the sweep): weight << shift | label. */
  readonly packed: Int32Array;
  readonly shift: number;
  readonly mask: number;
  readonly listedCounts: Float64Array;
  readonly intCounts: Int32Array;
  /** nodeCounts' current block and how much of it is handed out (this tree's nodes keep their views). */
  countsBlock = new Float64Array(0);
  countsUsed = 0;
  /** Per node row (nodeRows): its offset in the block and its packed label/weight value. */
  readonly nodeBase: Int32Array;
  readonly nodePacked: Int32Array;
  readonly rows: IndexArray;
  readonly goLeft: Uint8Array;
  readonly sampled: boolean;
  readonly maxFeatures: number;
  readonly random: () => number;
  readonly entropy: boolean;
  readonly xlog: Float64Array;
  readonly L: Float64Array;
  readonly scratch: Float64Array;
  /** This tree's copy of every list (all-features mode). */
  order: IndexArray;
  values: ValueArray;
  readonly tmp: IndexArray;
  readonly tmpValues: ValueArray;
  readonly bufRank: Int32Array;
  readonly bufOrder: IndexArray;
  readonly bufValues: ValueArray;
  readonly sortRank: Int32Array;
  readonly gatherOrder: IndexArray;
  readonly bufPacked: Int32Array;
  readonly batchFeatures = new Int32Array(BATCH);
  /** Whether large nodes use the histogram search (exact here: every feature has ≤ 256 distinct values, Gini). */
  readonly histogram: boolean;
  constantRate = 0;
  readonly sortKeys: Float64Array;
  bucket = new Int32Array(0);
  readonly pool: Int32Array;
  readonly known: Uint8Array;
  /** Per depth: the buffer of the active lists of that depth's nodes (sampled mode). */
  readonly activeArena: Array<Int32Array | undefined> = [];
  readonly mark: Int32Array | null;
  markedNode = -1;
  nodeCounter = 0;
  // per node
  total: Float64Array = new Float64Array(0);
  n = 0;
  sumT2 = 0;
  sumTlog = 0;
  parentImpurity = 0;
  tol = 0;
  best = -Infinity;
  readonly seqStride: number;
  // candidates that may still be the best (count-based gain within tol of the best so far)
  candSeq: number[] = [];
  candFeature: number[] = [];
  candValue: number[] = [];
  candLesser: number[] = [];
  candGain: number[] = [];
  candCounts: Float64Array;
  candLength = 0;
  pruneAt = 64;

  constructor(
    data: PreparedTrainingSet,
    weights: Int32Array,
    M: number,
    total: number,
    readonly options: GrowOptions,
    readonly stats: SplitSearchStats,
  ) {
    const N = data.nSamples;
    const F = data.nFeatures;
    const K = data.nClasses;
    this.N = N;
    this.F = F;
    this.K = K;
    this.M = M;
    this.data = data;
    this.labels = data.labels;
    this.dense = data.dense;
    this.block = data.dense;
    this.blocks = [data.dense];
    this.minimum = data.minimum;

    let maxFeatures = F;
    if (options.maxFeatures !== undefined && options.maxFeatures !== null) {
      if (!Number.isInteger(options.maxFeatures) || options.maxFeatures < 1) throw new RangeError(`maxFeatures must be an integer ≥ 1, got ${options.maxFeatures}.`);
      maxFeatures = options.maxFeatures;
    }
    const seed = options.seed === undefined ? 0 : options.seed;
    if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}.`);
    this.maxFeatures = maxFeatures;
    this.sampled = maxFeatures < F;
    this.random = splitRandom(seed);
    this.histogram = this.sampled && options.splitSearch !== 'exact' && data.dense instanceof Uint8Array && options.gainFunction === 'gini';
    if (!data.sorted && !this.histogram) {
      throw new RangeError(
        'cart: this training set holds ranks only (prepareRanks), for the histogram split search; prepare it with prepareTrainingSet for an exact search, entropy or all features per split.',
      );
    }

    const rows = sameKind(data.order, M);
    for (let i = 0, w = 0; i < N; i++) if (weights[i]! > 0) rows[w++] = i;
    this.rows = rows;
    let shift = 1;
    while (1 << shift < K) shift++;
    const packed = new Int32Array(N);
    const limit = 2 ** (31 - shift);
    for (let i = 0; i < N; i++) {
      if (weights[i]! >= limit) throw new RangeError(`sampleCounts[${i}] is ${weights[i]}; counts must be below ${limit}.`);
      packed[i] = (weights[i]! << shift) | data.labels[i]!;
    }
    this.packed = packed;
    this.shift = shift;
    this.mask = (1 << shift) - 1;

    this.entropy = options.gainFunction === 'entropy';
    this.xlog = new Float64Array(this.entropy ? total + 1 : 0);
    if (this.entropy) for (let i = 1; i <= total; i++) this.xlog[i] = i * Math.log2(i);

    this.local = this.sampled ? Int32Array.from(rows) : null;
    this.tmpLocal = this.sampled ? new Int32Array(M) : null;
    this.listedCounts = new Float64Array(K);
    this.intCounts = new Int32Array(K);
    this.nodeBase = new Int32Array(M + 1);
    this.nodePacked = new Int32Array(M + 1);
    this.goLeft = new Uint8Array(N);
    this.L = new Float64Array(K);
    this.scratch = new Float64Array(K);
    this.order = sameKind(data.order, 0);
    this.values = sameKind(data.values, 0);
    this.tmp = sameKind(data.order, M);
    this.tmpValues = sameKind(data.values, M);
    this.bufRank = new Int32Array(M + 1);
    this.bufOrder = sameKind(data.order, M + 1);
    this.bufValues = sameKind(data.values, M + 1);
    this.sortRank = new Int32Array(M + 1);
    this.gatherOrder = sameKind(data.order, M + 1);
    this.bufPacked = new Int32Array(M + 1);
    this.sortKeys = new Float64Array(M + 1);
    this.pool = new Int32Array(F);
    this.known = new Uint8Array(F);
    this.mark = this.sampled ? new Int32Array(N) : null;
    this.seqStride = M + 2;
    this.candCounts = new Float64Array(64 * K);
  }
}

/**
 * Grows a classification tree from a prepared training set.
 * @param sampleCounts row i counts sampleCounts[i] times (e.g. a bootstrap sample); every row once when undefined
 * @param stats work counters to add to
 */
export function growTree(data: PreparedTrainingSet, options: GrowOptions, sampleCounts?: ArrayLike<number>, stats: SplitSearchStats = newSplitSearchStats()): GrownNode {
  const N = data.nSamples;
  const F = data.nFeatures;
  const K = data.nClasses;
  const weights = new Int32Array(N);
  let M = 0;
  let total = 0;
  if (sampleCounts === undefined || sampleCounts === null) {
    weights.fill(1);
    M = N;
    total = N;
  } else {
    if (sampleCounts.length !== N) throw new RangeError(`sampleCounts has ${sampleCounts.length} entries; the training set has ${N} rows.`);
    for (let i = 0; i < N; i++) {
      const c = sampleCounts[i]!;
      if (!Number.isInteger(c) || c < 0) throw new RangeError(`sampleCounts[${i}] is ${c}; counts must be integers ≥ 0.`);
      weights[i] = c;
      if (c > 0) M++;
      total += c;
    }
    if (M === 0) throw new RangeError('sampleCounts selects no rows; at least one count must be > 0.');
  }
  const ctx = new Ctx(data, weights, M, total, options, stats);
  const counts = new Float64Array(K);
  for (let i = 0; i < N; i++) counts[data.labels[i]!]! += weights[i]!;

  const active: number[] = [];
  const segStart: number[] = [];
  const segEnd: number[] = [];
  if (ctx.sampled) {
    for (let f = 0; f < F; f++) active.push(f);
  } else {
    // this tree's copy of every list, without the rows it does not use
    let size = 0;
    for (let f = 0; f < F; f++) {
      for (let j = data.start[f]!; j < data.start[f + 1]!; j++) if (weights[data.order[j]!]! > 0) size++;
    }
    ctx.order = sameKind(data.order, size);
    ctx.values = sameKind(data.values, size);
    let w = 0;
    for (let f = 0; f < F; f++) {
      const from = w;
      for (let j = data.start[f]!; j < data.start[f + 1]!; j++) {
        const s = data.order[j]!;
        if (weights[s] === 0) continue;
        ctx.order[w] = s;
        ctx.values[w++] = data.values[j]!;
      }
      if (w > from && (w - from < M || ctx.values[from] !== ctx.values[w - 1])) {
        active.push(f);
        segStart.push(from);
        segEnd.push(w);
      }
    }
  }
  const lists: Lists = { constantRate: 0, active: Int32Array.from(active), segStart: Int32Array.from(segStart), segEnd: Int32Array.from(segEnd) };
  const root = newNode();
  growNode(ctx, root, 0, M, lists, counts, total, 0, null);
  return root;
}

function growNode(ctx: Ctx, node: GrownNode, rs: number, re: number, lists: Lists, counts: Float64Array, n: number, depth: number, parentGain: number | null): void {
  if (n <= ctx.options.minNumSamples) {
    makeLeaf(node, counts, n);
    return;
  }
  const level = ctx.blockLevel;
  const next = LOCAL_BLOCK_ROWS[level + 1];
  if (ctx.sampled && next !== undefined && re - rs <= next) {
    localize(ctx, rs, re, level + 1);
    growSplit(ctx, node, rs, re, lists, counts, n, depth, parentGain);
    ctx.blockLevel = level;
    ctx.block = ctx.blocks[level]!;
  } else {
    growSplit(ctx, node, rs, re, lists, counts, n, depth, parentGain);
  }
}

/** Copies the ranks of rows[rs..re) into the block of this level; local[p] becomes p - rs. */
function localize(ctx: Ctx, rs: number, re: number, level: number): void {
  const F = ctx.F;
  const local = ctx.local!;
  let to = ctx.blocks[level];
  if (to === undefined) {
    to = sameKind(ctx.dense, LOCAL_BLOCK_ROWS[level]! * F);
    ctx.blocks[level] = to;
  }
  const from = ctx.block;
  for (let p = rs; p < re; p++) {
    const src = local[p]! * F;
    to.set(from.subarray(src, src + F), (p - rs) * F);
    local[p] = p - rs;
  }
  ctx.block = to;
  ctx.blockLevel = level;
}

function growSplit(ctx: Ctx, node: GrownNode, rs: number, re: number, lists: Lists, counts: Float64Array, n: number, depth: number, parentGain: number | null): void {
  if (parentGain === undefined) parentGain = 0.0;

  const split = findBestSplit(ctx, rs, re, lists, counts, n);
  node.searched = true;
  node.splitValue = split.maxValue;
  node.splitColumn = split.maxColumn;
  node.gain = split.maxGain;
  node.numberSamples = split.numberSamples;

  const nLesser = split.nLesser;
  const o = ctx.options;
  if (depth < o.maxDepth && node.gain > (o.gainThreshold || 0) && node.gain !== parentGain && nLesser > 0 && n - nLesser > 0) {
    node.left = newNode();
    node.right = newNode();
    const parts = partition(ctx, split.maxColumn!, split.maxValue!, rs, re, lists, split.constants ?? null, depth + 1);
    const lesserCounts = split.lesserCounts!;
    const greaterCounts = nodeCounts(ctx);
    for (let j = 0; j < ctx.K; j++) greaterCounts[j] = counts[j]! - lesserCounts[j]!;
    growNode(ctx, node.left, rs, parts.mid, parts.left, lesserCounts, nLesser, depth + 1, node.gain);
    growNode(ctx, node.right, parts.mid, re, parts.right, greaterCounts, n - nLesser, depth + 1, node.gain);
  } else {
    makeLeaf(node, counts, n);
  }
}

/** Per-tree storage of the nodes' class counts, K at a time (views of large blocks: no small typed array each). */
function nodeCounts(ctx: Ctx): Float64Array {
  const K = ctx.K;
  if (ctx.countsUsed + K > ctx.countsBlock.length) {
    ctx.countsBlock = new Float64Array(4096 * K);
    ctx.countsUsed = 0;
  }
  const out = ctx.countsBlock.subarray(ctx.countsUsed, ctx.countsUsed + K);
  ctx.countsUsed += K;
  return out;
}

function copyCounts(ctx: Ctx, from: Float64Array, at: number): Float64Array {
  const out = nodeCounts(ctx);
  for (let j = 0; j < ctx.K; j++) out[j] = from[at + j]!;
  return out;
}

function makeLeaf(node: GrownNode, counts: Float64Array, n: number): void {
  node.counts = counts;
  node.n = n;
}

function findBestSplit(ctx: Ctx, rs: number, re: number, lists: Lists, counts: Float64Array, n: number): Split {
  const K = ctx.K;
  let present = 0;
  let sumT2 = 0;
  let sumTlog = 0;
  for (let j = 0; j < K; j++) {
    const c = counts[j]!;
    if (c > 0) present++;
    sumT2 += c * c;
    if (ctx.entropy) sumTlog += ctx.xlog[c]!;
  }
  // a pure node: no two neighbours differ in label, so there is no candidate
  if (present < 2) return NO_SPLIT;
  ctx.stats.nodes++;
  ctx.total = counts;
  ctx.n = n;
  ctx.sumT2 = sumT2;
  ctx.sumTlog = sumTlog;
  ctx.parentImpurity = ctx.entropy ? (ctx.xlog[n]! - sumTlog) / n : 0;
  // Candidates whose count-based gain is this close to the best may still win under ml-cart's
  // arithmetic (its running sums drift from the exact value by about n·2^-53 at most).
  ctx.tol = ctx.entropy ? 0 : 1e-12 + 2e-15 * n;
  ctx.best = -Infinity;
  ctx.candLength = 0;
  ctx.pruneAt = 64;

  const { active } = lists;
  let swept: ArrayLike<number> = active;
  let constants: number[] | null = null;
  if (!ctx.sampled) {
    for (let k = 0; k < active.length; k++) {
      sweepFeature(ctx, active[k]!, ctx.order, ctx.values, lists.segStart[k]!, lists.segEnd[k]!, rs, re, null, 0, true);
    }
  } else {
    // Draw features until maxFeatures non-constant ones are found; constant ones are remembered for
    // the children and do not count.
    // rows of large nodes are marked so that whole sorted lists can be filtered by membership
    ctx.markedNode = -1;
    if ((re - rs) * 64 > ctx.M && ctx.data.sorted) {
      ctx.markedNode = ++ctx.nodeCounter;
      const mark = ctx.mark!;
      for (let p = rs; p < re; p++) mark[ctx.rows[p]!] = ctx.markedNode;
    }
    const pool = ctx.pool;
    pool.set(active);
    const poolLength = active.length;
    const drawn: number[] = [];
    constants = [];
    let examined = 0;
    let rowsReady = false;
    const useHistogram = ctx.histogram && re - rs >= (ctx.options.histogramMinRows ?? HISTOGRAM_MIN_ROWS);
    let i = 0;
    while (i < poolLength && drawn.length < ctx.maxFeatures) {
      // Draw a batch; a small node's rows are read once for the whole batch (row-major ranks):
      // enough features for `need` non-constant ones, judging by the share found constant in the parent
      const need = ctx.maxFeatures - drawn.length;
      const rate = Math.min(lists.constantRate, 0.9);
      const size = Math.min(poolLength - i, Math.round(need / (1 - rate)), BATCH);
      if (useHistogram) {
        const batch = ctx.batchFeatures;
        for (let b = 0; b < size; b++, i++) {
          const j = i + Math.floor(ctx.random() * (poolLength - i));
          const f = pool[j]!;
          pool[j] = pool[i]!;
          pool[i] = f;
          batch[b] = f;
        }
        if (ctx.blockLevel === 0 && ctx.data.columns.length > 0) histogramColumns(ctx, size, rs, re);
        else histogramBatch(ctx, size, rs, re);
        for (let b = 0; b < size; b++) {
          const f = batch[b]!;
          examined++;
          // a feature drawn beyond what was needed is only cleared
          const sweep = drawn.length < ctx.maxFeatures;
          if (!sweepHistogram(ctx, f, b, sweep)) constants.push(f);
          else if (sweep) drawn.push(f);
        }
        continue;
      }
      const batch: number[] = [];
      const slot: number[] = [];
      const gathered: number[] = [];
      for (let b = 0; b < size; b++, i++) {
        const j = i + Math.floor(ctx.random() * (poolLength - i));
        const f = pool[j]!;
        pool[j] = pool[i]!;
        pool[i] = f;
        batch.push(f);
      }
      for (let b = 0; b < size; b++) {
        const f = batch[b]!;
        // large nodes: a feature's whole sorted list may be cheaper to filter than the rows to gather
        if (scanIsCheaper(ctx, f, re - rs)) slot.push(-1);
        else {
          slot.push(gathered.length);
          gathered.push(f);
        }
      }
      if (gathered.length > 0 && !rowsReady) {
        // (finishGather's arguments read batchPool's buffers before gatherOne fills them: sized here)
        if (batchPool.rank.length < re - rs) {
          batchPool.packed = new Int32Array(ctx.M + 1);
          batchPool.rank = new Int32Array(ctx.M + 1);
        }
        nodeRows(ctx, rs, re);
        rowsReady = true;
      }
      const nRows = re - rs;
      for (let b = 0; b < size; b++) {
        const f = batch[b]!;
        const g = slot[b]!;
        // a feature drawn beyond what was needed (the batch is sized by the parent's share of constant
        // features, which overestimates the node's) only tells whether it is constant: not gathered
        const k =
          g < 0
            ? scanSorted(ctx, f, re - rs)
            : drawn.length === ctx.maxFeatures
              ? constantInNode(ctx, f, nRows)
                ? -1
                : 0
              : finishGather(ctx, f, batchPool.packed, batchPool.rank, 0, gatherOne(ctx, f, nRows), nRows, ctx.bufPacked, true);
        // listed class counts: summed by finishGather's sort or scanSorted (only for swept features)
        const countsFrom = ctx.listedCounts;
        examined++;
        if (k < 0) {
          constants.push(f);
          continue;
        }
        if (drawn.length === ctx.maxFeatures) continue; // drawn in the batch, beyond what was needed
        drawn.push(f);
        sweepFeature(ctx, f, ctx.bufPacked, ctx.bufValues, 0, k, rs, re, countsFrom, 0, false);
      }
    }
    swept = drawn;
    ctx.constantRate = examined > 0 ? constants.length / examined : 0;
  }
  // A candidate with an empty lesser side has gain ~0; it matters only when nothing scores above it.
  if (ctx.best <= ctx.tol) considerEmptyLesser(ctx, rs, re, swept);

  if (ctx.candLength === 0) return NO_SPLIT;
  const floor = ctx.best - ctx.tol;
  const kept: number[] = [];
  for (let i = 0; i < ctx.candLength; i++) if (ctx.candGain[i]! >= floor) kept.push(i);
  kept.sort((a, b) => ctx.candSeq[a]! - ctx.candSeq[b]!);
  const parentGini = ctx.entropy ? 0 : giniFromCounts(counts, n);
  let bestGain = -Infinity;
  let bi = -1;
  for (const i of kept) {
    let gain = ctx.candGain[i]!;
    if (!ctx.entropy) {
      gain = exactGiniGain(parentGini, ctx.candCounts.subarray(i * K, (i + 1) * K), ctx.candLesser[i]!, counts, n, ctx.scratch);
      ctx.stats.exactEvaluations++;
      ctx.stats.exactEvaluationWork += n + K;
    }
    if (gain > bestGain) {
      bestGain = gain;
      bi = i;
    }
  }
  return {
    maxGain: bestGain,
    maxColumn: ctx.candFeature[bi],
    maxValue: ctx.candValue[bi],
    numberSamples: n,
    nLesser: ctx.candLesser[bi]!,
    lesserCounts: copyCounts(ctx, ctx.candCounts, bi * K),
    constants,
  };
}

/** Whether filtering f's whole sorted list by node membership is cheaper than gathering the node's rows. */
function scanIsCheaper(ctx: Ctx, f: number, nRows: number): boolean {
  if (ctx.markedNode < 0) return false;
  const listed = ctx.data.start[f + 1]! - ctx.data.start[f]!;
  const expected = (nRows * listed) / ctx.N;
  return listed < 2 * nRows + 0.5 * expected * Math.log2(expected + 2);
}

/**
 * Filters f's whole sorted list by node membership (marked rows) into ctx.bufPacked/bufValues (class
 * counts into ctx.listedCounts); returns how many rows are listed, or -1 when f is constant in the node.
 */
function scanSorted(ctx: Ctx, f: number, nRows: number): number {
  const { bufPacked, bufValues, data } = ctx;
  const order = data.order;
  const values = data.values;
  const base = data.start[f]!;
  const listed = data.start[f + 1]! - base;
  const mark = ctx.mark!;
  const { markedNode, packed, shift, mask } = ctx;
  const counts = ctx.listedCounts;
  counts.fill(0);
  let k = 0;
  for (let j = base; j < base + listed; j++) {
    // branch-free: always write, advance when the row is in the node
    const s = order[j]!;
    const x = packed[s]!;
    bufPacked[k] = x;
    bufValues[k] = values[j]!;
    const inNode = mark[s] === markedNode ? 1 : 0;
    k += inNode;
    counts[x & mask]! += inNode * (x >>> shift);
  }
  ctx.stats.gatheredSamples += listed;
  if (k === 0 || (k === nRows && bufValues[0] === bufValues[k - 1])) return -1;
  return k;
}

/** Fills ctx.bufOrder/bufValues[0..k) with the node's listed rows for feature f in value order and
 * returns k, or -1 when f is constant in the node. */
function gatherSorted(ctx: Ctx, f: number, rs: number, re: number): number {
  const { rows, bufRank } = ctx;
  const nRows = re - rs;
  ctx.stats.gatheredSamples += nRows;
  const bufOrder = ctx.gatherOrder;
  const dense = ctx.dense;
  const F = ctx.F;
  let k = 0;
  for (let p = rs; p < re; p++) {
    // always write, advance when the row is above the minimum
    const s = rows[p]!;
    const d = dense[s * F + f]!;
    bufOrder[k] = s;
    bufRank[k] = d;
    k += d === 0 ? 0 : 1;
  }
  return finishGather(ctx, f, bufOrder, bufRank, 0, k, nRows, ctx.bufOrder, false);
}

/**
 * Given the node's listed rows for feature f (bufOrder: rows ascending, bufRank: their dense ranks),
 * returns -1 if f is constant in the node, else sorts them (by rank, into `out`, values into
 * ctx.bufValues) and returns k. bufOrder may hold row ids or, with `packed`, packed label/weight values,
 * whose class counts it then sums into ctx.listedCounts.
 */
function finishGather(ctx: Ctx, f: number, bufOrder: IndexArray, bufRank: Int32Array, at: number, k: number, nRows: number, out: IndexArray, packed: boolean): number {
  if (gatheredConstant(bufRank, at, k, nRows)) return -1;
  const data = ctx.data;
  sortByRank(ctx, bufOrder, bufRank, at, k, data.distinctStart[f]!, data.distinctStart[f + 1]! - data.distinctStart[f]!, out, packed);
  return k;
}

/** Whether a feature is constant in a node of nRows rows whose k listed rows have ranks bufRank[at..at + k). */
function gatheredConstant(bufRank: Int32Array, at: number, k: number, nRows: number): boolean {
  if (k === 0) return true;
  if (k < nRows) return false;
  const first = bufRank[at]!;
  for (let q = at + 1; q < at + k; q++) if (bufRank[q] !== first) return false;
  return true;
}

/**
 * Sorts (bufOrder, bufRank)[at..at + k) by rank, keeping the (ascending row) order of equal ranks, into
 * `out` and the ranks' values (distinct[dBase + rank]) into ctx.bufValues; with `packed` (bufOrder holds
 * packed label/weight values) also sums their class counts into ctx.listedCounts.
 */
function sortByRank(ctx: Ctx, bufOrder: IndexArray, bufRank: Int32Array, at: number, k: number, dBase: number, nDistinct: number, out: IndexArray, packed: boolean): void {
  const sortRank = ctx.sortRank;
  const sortOrder = out;
  const values = ctx.bufValues;
  const distinct = ctx.data.distinct;
  if (packed) {
    // integer counts (cheaper to add to than the float64 ones)
    const { listedCounts, shift, mask, intCounts, K } = ctx;
    intCounts.fill(0);
    for (let q = at; q < at + k; q++) {
      const x = bufOrder[q]!;
      intCounts[x & mask]! += x >>> shift;
    }
    for (let c = 0; c < K; c++) listedCounts[c] = intCounts[c]!;
  }
  if (k <= 32) {
    for (let i = 0; i < k; i++) {
      const d = bufRank[at + i]!;
      const s = bufOrder[at + i]!;
      let j = i - 1;
      while (j >= 0 && sortRank[j]! > d) {
        sortRank[j + 1] = sortRank[j]!;
        sortOrder[j + 1] = sortOrder[j]!;
        j--;
      }
      sortRank[j + 1] = d;
      sortOrder[j + 1] = s;
    }
    for (let q = 0; q < k; q++) values[q] = distinct[dBase + sortRank[q]!]!;
    return;
  }
  if (nDistinct <= 4 * k || nDistinct <= BINS) {
    // counting sort (always for uint8 ranks: clearing 257 buckets costs less than sorting keys)
    if (ctx.bucket.length < nDistinct + 1) ctx.bucket = new Int32Array(nDistinct + 1);
    const bucket = ctx.bucket;
    bucket.fill(0, 0, nDistinct + 1);
    for (let q = at; q < at + k; q++) bucket[bufRank[q]! + 1]!++;
    for (let d = 1; d <= nDistinct; d++) bucket[d]! += bucket[d - 1]!;
    for (let q = at; q < at + k; q++) {
      const r = bufRank[q]!;
      const pos = bucket[r]!++;
      values[pos] = distinct[dBase + r]!;
      sortOrder[pos] = bufOrder[q]!;
    }
  } else {
    const keys = ctx.sortKeys;
    for (let q = 0; q < k; q++) keys[q] = bufRank[at + q]! * 2097152 + q;
    const view = keys.subarray(0, k);
    view.sort();
    for (let q = 0; q < k; q++) {
      const i = at + (view[q]! % 2097152);
      values[q] = distinct[dBase + bufRank[i]!]!;
      sortOrder[q] = bufOrder[i]!;
    }
  }
}

/** Each node row's offset in the block and packed label/weight value, for gatherOne and constantInNode. */
function nodeRows(ctx: Ctx, rs: number, re: number): void {
  const { rows, F, nodeBase, nodePacked, packed } = ctx;
  const local = ctx.local!;
  for (let p = rs, q = 0; p < re; p++, q++) {
    nodeBase[q] = local[p]! * F;
    nodePacked[q] = packed[rows[p]!]!;
  }
}

/**
 * Feature f's listed rows of the node (rank above 0, row order): their packed label/weight values and
 * ranks into batchPool.packed/rank[0..k); returns k. One feature at a time, so that its buffers stay in
 * cache for the sort and the sweep that follow.
 */
function gatherOne(ctx: Ctx, f: number, nRows: number): number {
  const { block, nodeBase, nodePacked } = ctx;
  const order = batchPool.packed;
  const rank = batchPool.rank;
  let k = 0;
  for (let q = 0; q < nRows; q++) {
    const d = block[nodeBase[q]! + f]!;
    if (d !== 0) {
      order[k] = nodePacked[q]!;
      rank[k++] = d;
    }
  }
  ctx.stats.gatheredSamples += nRows;
  return k;
}

/** Whether feature f has one rank in the whole node (stops at the first row that differs). */
function constantInNode(ctx: Ctx, f: number, nRows: number): boolean {
  const { block, nodeBase } = ctx;
  ctx.stats.constancyOnly++;
  const first = block[nodeBase[0]! + f]!;
  for (let q = 1; q < nRows; q++) if (block[nodeBase[q]! + f] !== first) return false;
  return true;
}

/**
 * One pass over the node's rows for the batch features ctx.batchFeatures[0..size): each feature's class
 * histogram over its value ranks (weights counted), with each bin's first and last label in row order.
 */
function histogramBatch(ctx: Ctx, size: number, rs: number, re: number): void {
  const { rows, block, F, packed, shift, mask, K } = ctx;
  const local = ctx.local!;
  const features = ctx.batchFeatures;
  const { hist, first, last, listed } = histBuffers(K);
  for (let p = rs; p < re; p++) {
    const base = local[p]! * F;
    const x = packed[rows[p]!]!;
    const c = x & mask;
    const w = x >>> shift;
    for (let b = 0, bin = 0; b < size; b++, bin += BINS) {
      const d = block[base + features[b]!]!;
      if (d === 0) continue;
      const at = bin + d;
      hist[at * K + c]! += w;
      listed[b * K + c]! += w;
      if (last[at]! < 0) first[at] = c;
      last[at] = c;
    }
  }
  for (let b = 0; b < size; b++) {
    const f = features[b]!;
    zeroBin(ctx, b, rs, re, (p) => block[local[p]! * F + f]!);
  }
  ctx.stats.gatheredSamples += (re - rs) * size;
}

/**
 * Bin 0 (the rows at the feature's minimum, most pixels of a digit) of batch slot b, which the histogram
 * passes skip: its class counts are the node's minus the listed rows' (listed, cleared here), and its
 * first and last labels in row order those of the first and last rows whose rank is 0 (found from
 * either end of the node; when bin 0 has rows they are usually the first ones looked at).
 */
function zeroBin(ctx: Ctx, b: number, rs: number, re: number, rank: (p: number) => number): void {
  const { K, total, rows, labels } = ctx;
  const { hist, first, last, listed } = histPool;
  const at = b * BINS;
  let any = false;
  for (let c = 0; c < K; c++) {
    const w = total[c]! - listed[b * K + c]!;
    listed[b * K + c] = 0;
    hist[at * K + c] = w;
    if (w > 0) any = true;
  }
  if (!any) return;
  let p = rs;
  while (rank(p) !== 0) p++;
  first[at] = labels[rows[p]!]!;
  p = re - 1;
  while (rank(p) !== 0) p--;
  last[at] = labels[rows[p]!]!;
}

/**
 * histogramBatch for nodes too large for a compact copy of their rows: feature by feature, from the
 * feature-major ranks (each feature's column read in row order), where the set has them (prepareRanks).
 */
function histogramColumns(ctx: Ctx, size: number, rs: number, re: number): void {
  const { rows, N, shift, mask, K } = ctx;
  const columns = ctx.data.columns;
  const features = ctx.batchFeatures;
  const { hist, first, last, listed } = histBuffers(K);
  const nodePacked = ctx.bufPacked;
  const packed = ctx.packed;
  for (let p = rs; p < re; p++) nodePacked[p - rs] = packed[rows[p]!]!;
  for (let b = 0; b < size; b++) {
    const col = features[b]! * N;
    const bin0 = b * BINS;
    const lb = b * K;
    for (let p = rs; p < re; p++) {
      const d = columns[col + rows[p]!]!;
      if (d === 0) continue;
      const x = nodePacked[p - rs]!;
      const c = x & mask;
      const at = bin0 + d;
      hist[at * K + c]! += x >>> shift;
      listed[lb + c]! += x >>> shift;
      if (last[at]! < 0) first[at] = c;
      last[at] = c;
    }
    zeroBin(ctx, b, rs, re, (p) => columns[col + rows[p]!]!);
  }
  ctx.stats.gatheredSamples += (re - rs) * size;
}

/**
 * The candidates sweepFeature finds for feature f, from its histogram (batch slot b): returns false if f
 * is constant in the node. The bins are the node's groups of equal values, ascending; every distinct
 * value has its own bin, so the candidates and their class counts are sweepFeature's: between groups P
 * and G, the midpoint when P's last row and G's first row (in row order) differ in label; else, when G
 * holds two labels, G's value (splitting at G's start). Candidate order within the feature is the
 * groups' (sequence numbers by group; at most one candidate per group start). Clears the bins it used.
 * With sweep false, it only tells whether f is constant.
 */
function sweepHistogram(ctx: Ctx, f: number, b: number, sweep: boolean): boolean {
  const { K, total, L } = ctx;
  const { hist, first, last, nonEmpty } = histPool;
  const data = ctx.data;
  const dBase = data.distinctStart[f]!;
  const nBins = data.distinctStart[f + 1]! - dBase;
  const bin0 = b * BINS;
  let m = 0;
  for (let d = 0; d < nBins; d++) if (last[bin0 + d]! >= 0) nonEmpty[m++] = d;
  const varies = m > 1;
  if (varies && sweep) {
    ctx.stats.sweptSamples += m;
    ctx.stats.histogramSearches++;
    const distinct = data.distinct;
    const seqBase = f * ctx.seqStride;
    L.fill(0);
    let nLesser = 0;
    let sumL2 = 0;
    let sumG2 = ctx.sumT2;
    let lesserBeforePrev = 0;
    let prevAt = bin0 + nonEmpty[0]!;
    let prevValue = distinct[dBase + nonEmpty[0]!]!;
    for (let i = 0; ; i++) {
      // add group i (at prevAt) to the lesser side
      const h = prevAt * K;
      lesserBeforePrev = nLesser;
      for (let c = 0; c < K; c++) {
        const w = hist[h + c]!;
        if (w === 0) continue;
        const l = L[c]!;
        const g = total[c]! - l;
        sumL2 += w * (2 * l + w);
        sumG2 -= w * (2 * g - w);
        L[c] = l + w;
        nLesser += w;
      }
      if (i + 1 === m) break;
      const at = bin0 + nonEmpty[i + 1]!;
      const value = distinct[dBase + nonEmpty[i + 1]!]!;
      const seq = seqBase + i + 1;
      let scored = false;
      if (first[at] !== last[prevAt]) {
        const t = (prevValue + value) / 2;
        if (t > prevValue) {
          consider(ctx, seq, f, t, nLesser, L, sumL2, sumG2, 0, 0);
          scored = true;
        } else if (lesserBeforePrev > 0) {
          // the midpoint rounded down to the previous value: x < t splits at the previous group's start
          const sc = ctx.scratch;
          for (let c = 0; c < K; c++) sc[c] = L[c]! - hist[h + c]!;
          considerCounts(ctx, seq, f, t, lesserBeforePrev, sc);
        }
      }
      if (!scored) {
        let labels = 0;
        for (let c = 0, g = at * K; c < K; c++) if (hist[g + c]! > 0) labels++;
        if (labels > 1) consider(ctx, seq, f, value, nLesser, L, sumL2, sumG2, 0, 0);
      }
      prevAt = at;
      prevValue = value;
    }
  }
  for (let i = 0; i < m; i++) {
    const at = bin0 + nonEmpty[i]!;
    hist.fill(0, at * K, at * K + K);
    first[at] = -1;
    last[at] = -1;
  }
  return varies;
}

/** The label of the last row (in row order) of the node that sits at feature f's minimum. */
function lastMinimumLabel(ctx: Ctx, f: number, rs: number, re: number): number {
  const { rows, local, block, F, labels } = ctx;
  if (local) {
    // sampled mode: the ranks of the subtree's compact copy (in cache) rather than the whole set's
    for (let p = re - 1; p >= rs; p--) if (block[local[p]! * F + f] === 0) return labels[rows[p]!]!;
    return -1;
  }
  for (let p = re - 1; p >= rs; p--) {
    const s = rows[p]!;
    if (ctx.dense[s * F + f] === 0) return labels[s]!;
  }
  return -1;
}

/**
 * The candidates of ml-cart's TreeNode.featureSplit for feature f, in its order: the node's rows sorted
 * by x[f] (ties in row order, as Array#sort is stable) are the rows at the minimum (not listed), then
 * ord/vals[from..to). A candidate is the midpoint of two neighbours with different labels; inside a group
 * of equal values that midpoint is the value itself, which splits at the start of the group. Candidates
 * that split at an already scored position score the same and, coming later, cannot win, so each
 * position is scored once. Candidates with an empty lesser side are left to considerEmptyLesser.
 * `indirect`: ord holds row ids (else packed label/weight values).
 */
function sweepFeature(
  ctx: Ctx,
  f: number,
  ord: IndexArray,
  vals: ValueArray,
  from: number,
  to: number,
  rs: number,
  re: number,
  listedCounts: Float64Array | null,
  countsAt: number,
  indirect: boolean,
): void {
  const { packed, shift, mask, L, total, entropy, xlog, K } = ctx;
  ctx.stats.sweptSamples += to - from;
  const seqBase = f * ctx.seqStride - from + 1;
  // class counts of the rows at the minimum: the node's counts minus the listed rows'
  let listedWeight = 0;
  if (listedCounts) {
    for (let j = 0; j < K; j++) {
      L[j] = listedCounts[countsAt + j]!;
      listedWeight += L[j]!;
    }
  } else {
    L.fill(0);
    for (let q = from; q < to; q++) {
      const x = indirect ? packed[ord[q]!]! : ord[q]!;
      const w = x >>> shift;
      L[x & mask]! += w;
      listedWeight += w;
    }
  }
  let nLesser = ctx.n - listedWeight;
  let sumL2 = 0;
  let sumG2 = 0;
  let sumLlog = 0;
  let sumGlog = 0;
  for (let j = 0; j < K; j++) {
    const l = total[j]! - L[j]!;
    const g = L[j]!;
    L[j] = l;
    sumL2 += l * l;
    sumG2 += g * g;
    if (entropy) {
      sumLlog += xlog[l]!;
      sumGlog += xlog[g]!;
    }
  }

  let q = from;
  let prevValue: number;
  let prevLabel: number;
  let groupStart: number; // position of the current group's first listed row (-1: the rows at the minimum)
  let groupStartLesser = 0;
  let groupLabel = -1;
  let groupMixed = true; // the first group's inner candidates have an empty lesser side
  let scoredGroupStart = true;
  if (nLesser > 0) {
    prevValue = ctx.minimum[f]!;
    prevLabel = -1; // looked up when needed
    groupStart = -1;
  } else {
    prevValue = vals[q]!;
    prevLabel = -2;
    groupStart = q;
  }
  for (; q < to; q++) {
    const x = indirect ? packed[ord[q]!]! : ord[q]!;
    const v = vals[q]!;
    const c = x & mask;
    if (v !== prevValue) {
      scoredGroupStart = false;
      if (prevLabel === -1) prevLabel = lastMinimumLabel(ctx, f, rs, re);
      if (c !== prevLabel && prevLabel !== -2) {
        const t = (prevValue + v) / 2;
        if (t > prevValue) {
          consider(ctx, seqBase + q, f, t, nLesser, L, sumL2, sumG2, sumLlog, sumGlog);
          scoredGroupStart = true;
        } else if (groupStart >= 0 && groupStartLesser > 0) {
          // the midpoint rounded down to prevValue: x < t splits at the start of the previous group
          const sc = ctx.scratch;
          sc.set(L);
          let lesser = nLesser;
          for (let r = groupStart; r < q; r++) {
            const y = indirect ? packed[ord[r]!]! : ord[r]!;
            sc[y & mask]! -= y >>> shift;
            lesser -= y >>> shift;
          }
          considerCounts(ctx, seqBase + q, f, t, lesser, sc);
        }
      }
      groupStart = q;
      groupStartLesser = nLesser;
      groupLabel = c;
      groupMixed = nLesser === 0;
    } else if (!groupMixed && c !== groupLabel) {
      // first label change inside a group of equal values: threshold v, split at the group start
      groupMixed = true;
      if (!scoredGroupStart) {
        const sc = ctx.scratch;
        sc.set(L);
        sc[groupLabel]! -= nLesser - groupStartLesser;
        considerCounts(ctx, seqBase + q, f, v, groupStartLesser, sc);
      }
    }
    // move the row to the lesser side
    const w = x >>> shift;
    const l = L[c]!;
    const g = total[c]! - l;
    sumL2 += w * (2 * l + w);
    sumG2 -= w * (2 * g - w);
    if (entropy) {
      sumLlog += xlog[l + w]! - xlog[l]!;
      sumGlog += xlog[g - w]! - xlog[g]!;
    }
    L[c] = l + w;
    nLesser += w;
    prevValue = v;
    prevLabel = c;
  }
}

/**
 * Scores the first (in feature order) candidate with an empty lesser side, if any: a feature whose
 * first group of equal values in the node has two labels (every constant feature, in a mixed node), or
 * whose first midpoint rounds down onto the first value.
 */
function considerEmptyLesser(ctx: Ctx, rs: number, re: number, swept: ArrayLike<number>): void {
  const features = ctx.sampled ? Int32Array.from(swept).sort() : null;
  const count = ctx.sampled ? swept.length : ctx.F;
  const { dense, F, labels, rows } = ctx;
  for (let i = 0; i < count; i++) {
    const f = features ? features[i]! : i;
    const k = gatherSorted(ctx, f, rs, re);
    const nMinimum = k < 0 ? 0 : re - rs - k;
    // the node's rows in value order: rows at the minimum (in row order), then the listed rows
    const first: number[] = [];
    let firstValue: number;
    if (k < 0) {
      // constant in the node (all at the minimum, or all listed with one value)
      const s = rows[rs]!;
      firstValue = ctx.data.distinct[ctx.data.distinctStart[f]! + dense[s * F + f]!]!;
      for (let p = rs; p < re; p++) first.push(labels[rows[p]!]!);
    } else if (nMinimum > 0) {
      firstValue = ctx.minimum[f]!;
      for (let p = rs; p < re; p++) if (dense[rows[p]! * F + f] === 0) first.push(labels[rows[p]!]!);
    } else {
      firstValue = ctx.bufValues[0]!;
      for (let q = 0; q < k && ctx.bufValues[q] === firstValue; q++) first.push(labels[ctx.bufOrder[q]!]!);
    }
    let found = first.some((c) => c !== first[0]);
    const next = nMinimum > 0 ? 0 : first.length;
    if (!found && k > next) {
      const t = (firstValue + ctx.bufValues[next]!) / 2;
      found = t === firstValue && labels[ctx.bufOrder[next]!] !== first[first.length - 1];
    }
    if (found) {
      ctx.scratch.fill(0);
      considerCounts(ctx, f * ctx.seqStride, f, firstValue, 0, ctx.scratch);
      return;
    }
  }
}

/**
 * One candidate: x[f] < value puts nLesser rows (class counts lesserCounts, Σ count² sumL2, Σ count·log2
 * count sumLlog) on the lesser side; seq orders candidates as ml-cart's search visits them.
 */
function consider(ctx: Ctx, seq: number, f: number, value: number, nLesser: number, lesserCounts: Float64Array, sumL2: number, sumG2: number, sumLlog: number, sumGlog: number): void {
  const n = ctx.n;
  const nGreater = n - nLesser;
  let gain: number;
  if (ctx.entropy) {
    const lesser = nLesser > 0 ? ctx.xlog[nLesser]! - sumLlog : 0;
    gain = ctx.parentImpurity - (lesser + ctx.xlog[nGreater]! - sumGlog) / n;
  } else {
    const q = (nLesser > 0 ? sumL2 / nLesser : 0) + sumG2 / nGreater;
    gain = q / n - ctx.sumT2 / (n * n);
  }
  if (gain < ctx.best - ctx.tol) return;
  if (gain > ctx.best) ctx.best = gain;
  const i = ctx.candLength++;
  ctx.candSeq[i] = seq;
  ctx.candFeature[i] = f;
  ctx.candValue[i] = value;
  ctx.candLesser[i] = nLesser;
  ctx.candGain[i] = gain;
  const K = ctx.K;
  if (ctx.candCounts.length < (i + 1) * K) {
    const grown = new Float64Array(2 * (i + 1) * K);
    grown.set(ctx.candCounts);
    ctx.candCounts = grown;
  }
  for (let j = 0; j < K; j++) ctx.candCounts[i * K + j] = lesserCounts[j]!;
  if (ctx.candLength > ctx.pruneAt) {
    const floor = ctx.best - ctx.tol;
    let w = 0;
    for (let r = 0; r < ctx.candLength; r++) {
      if (ctx.candGain[r]! < floor) continue;
      ctx.candSeq[w] = ctx.candSeq[r]!;
      ctx.candFeature[w] = ctx.candFeature[r]!;
      ctx.candValue[w] = ctx.candValue[r]!;
      ctx.candLesser[w] = ctx.candLesser[r]!;
      ctx.candGain[w] = ctx.candGain[r]!;
      ctx.candCounts.copyWithin(w * K, r * K, (r + 1) * K);
      w++;
    }
    ctx.candLength = w;
    ctx.pruneAt = 2 * w + 64;
  }
}

/** A candidate whose class counts were rebuilt (rare paths): the sums are recomputed. */
function considerCounts(ctx: Ctx, seq: number, f: number, value: number, nLesser: number, lesserCounts: Float64Array): void {
  let sumL2 = 0;
  let sumG2 = 0;
  let sumLlog = 0;
  let sumGlog = 0;
  for (let j = 0; j < ctx.K; j++) {
    const l = lesserCounts[j]!;
    const g = ctx.total[j]! - l;
    sumL2 += l * l;
    sumG2 += g * g;
    if (ctx.entropy) {
      sumLlog += ctx.xlog[l]!;
      sumGlog += ctx.xlog[g]!;
    }
  }
  consider(ctx, seq, f, value, nLesser, lesserCounts, sumL2, sumG2, sumLlog, sumGlog);
}

/**
 * Sends the node's rows with x[f] < value to the left child, keeping row order, and (all-features mode)
 * splits every list's slice the same way, dropping features that become constant in a child.
 */
function partition(ctx: Ctx, f: number, value: number, rs: number, re: number, lists: Lists, constants: number[] | null, childDepth: number): { mid: number; left: Lists; right: Lists } {
  const { rows, goLeft, tmp, data } = ctx;
  let w = rs;
  let r = 0;
  if (ctx.sampled) {
    // ranks ascend with values: x < value for the ranks below `below` (rank 0, the minimum, always:
    // value > minimum for any split with a non-empty lesser side), so no value is looked up per row
    const { F, block, tmpLocal } = ctx;
    const local = ctx.local!;
    const distinct = data.distinct;
    const dBase = data.distinctStart[f]!;
    const nDistinct = data.distinctStart[f + 1]! - dBase;
    let below = 1;
    while (below < nDistinct && distinct[dBase + below]! < value) below++;
    for (let p = rs; p < re; p++) {
      const s = rows[p]!;
      const at = local[p]!;
      if (block[at * F + f]! < below) {
        local[w] = at;
        rows[w++] = s;
      } else {
        tmpLocal![r] = at;
        tmp[r++] = s;
      }
    }
    for (let q = 0; q < r; q++) local[w + q] = tmpLocal![q]!;
  } else {
    // rows at the minimum go left: value > minimum for any split with a non-empty lesser side
    for (let p = rs; p < re; p++) goLeft[rows[p]!] = 1;
    const k = lists.active.indexOf(f);
    for (let q = lists.segStart[k]!; q < lists.segEnd[k]!; q++) if (!(ctx.values[q]! < value)) goLeft[ctx.order[q]!] = 0;
    for (let p = rs; p < re; p++) {
      const s = rows[p]!;
      if (goLeft[s] === 1) rows[w++] = s;
      else tmp[r++] = s;
    }
  }
  for (let q = 0; q < r; q++) rows[w + q] = tmp[q]!;
  const mid = w;
  ctx.stats.partitionedSamples += re - rs;

  if (ctx.sampled) {
    let active = lists.active;
    if (constants && constants.length > 0) {
      const known = ctx.known;
      for (const g of constants) known[g] = 1;
      // the children's list lives in this depth's buffer until both subtrees are grown (deeper nodes use deeper buffers)
      let arena = ctx.activeArena[childDepth];
      if (arena === undefined) {
        arena = new Int32Array(ctx.F);
        ctx.activeArena[childDepth] = arena;
      }
      const kept = arena.subarray(0, active.length - constants.length);
      for (let i = 0, w2 = 0; i < active.length; i++) if (known[active[i]!] === 0) kept[w2++] = active[i]!;
      for (const g of constants) known[g] = 0;
      active = kept;
    }
    const child: Lists = { active, constantRate: ctx.constantRate, segStart: NO_SEGMENTS, segEnd: NO_SEGMENTS };
    return { mid, left: child, right: child };
  }

  const { order, values, tmpValues } = ctx;
  const nLeft = mid - rs;
  const nRight = re - mid;
  const left = { active: [] as number[], segStart: [] as number[], segEnd: [] as number[] };
  const right = { active: [] as number[], segStart: [] as number[], segEnd: [] as number[] };
  for (let k = 0; k < lists.active.length; k++) {
    const g = lists.active[k]!;
    const from = lists.segStart[k]!;
    const to = lists.segEnd[k]!;
    let lw = from;
    let rc = 0;
    for (let q = from; q < to; q++) {
      const s = order[q]!;
      const v = values[q]!;
      if (goLeft[s] === 1) {
        order[lw] = s;
        values[lw++] = v;
      } else {
        tmp[rc] = s;
        tmpValues[rc++] = v;
      }
    }
    for (let q = 0; q < rc; q++) {
      order[lw + q] = tmp[q]!;
      values[lw + q] = tmpValues[q]!;
    }
    ctx.stats.partitionedSamples += to - from;
    // a child's feature is constant when all its rows are at the minimum, or all listed with one value
    const nl = lw - from;
    if (nl > 0 && (nl < nLeft || values[from] !== values[lw - 1])) {
      left.active.push(g);
      left.segStart.push(from);
      left.segEnd.push(lw);
    }
    if (rc > 0 && (rc < nRight || values[lw] !== values[to - 1])) {
      right.active.push(g);
      right.segStart.push(lw);
      right.segEnd.push(to);
    }
  }
  const toLists = (l: { active: number[]; segStart: number[]; segEnd: number[] }): Lists => ({
    constantRate: 0,
    active: Int32Array.from(l.active),
    segStart: Int32Array.from(l.segStart),
    segEnd: Int32Array.from(l.segEnd),
  });
  return { mid, left: toLists(left), right: toLists(right) };
}
