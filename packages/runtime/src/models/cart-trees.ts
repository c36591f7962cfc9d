/**
 * Trained CART trees (the decision tree's and the random forest's) as flat typed arrays: evaluation,
 * votes, and the saved format (a JSON header, then each tree's arrays, little-endian, 8-byte aligned).
 * Fitting is in the workbench (digitbench src/classifiers/cart-trees.ts and cart/).
 */
import { createMatrix, type Matrix } from '../engine/matrix.ts';
import { packedBytes, packValues, parsePrecision, unpackValues, type Grouping, type Precision } from './compact.ts';
import { checkLittleEndian, ownBytes } from './plugin.ts';

/**
 * A tree: nodes in pre-order, so a split node's left child is the next node.
 * feature[i] ≥ 0: x[feature] < threshold[i] goes to i + 1, else to child[i].
 * feature[i] = -1: a leaf predicting class index child[i] (into the model's ascending classes).
 */
export interface FlatTree {
  feature: Int32Array;
  threshold: Float64Array;
  child: Int32Array;
  /** Optional leaf class probabilities, nodes × classes (zero rows at split nodes). */
  proba?: Float32Array;
}

/** The leaf each row of x reaches. */
export function leaves(tree: FlatTree, x: Matrix): Int32Array {
  const { feature, threshold, child } = tree;
  const out = new Int32Array(x.rows);
  const data = x.data;
  for (let r = 0; r < x.rows; r++) {
    const base = r * x.cols;
    let node = 0;
    let f = feature[0]!;
    while (f >= 0) {
      node = data[base + f]! < threshold[node]! ? node + 1 : child[node]!;
      f = feature[node]!;
    }
    out[r] = node;
  }
  return out;
}

/** Adds one vote per row for the class each row's leaf predicts (votes: rows × classes). */
export function addVotes(tree: FlatTree, x: Matrix, votes: Int32Array, nClasses: number): void {
  const reached = leaves(tree, x);
  for (let r = 0; r < x.rows; r++) votes[r * nClasses + tree.child[reached[r]!]!]!++;
}

/** Per-row vote fractions (rows × classes) and the winners (first most voted class index: the smallest label). */
export function tally(votes: Int32Array, rows: number, nClasses: number, nTrees: number): { scores: Matrix; winners: Int32Array } {
  const scores = new Float32Array(rows * nClasses);
  const winners = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 0; c < nClasses; c++) {
      const v = votes[r * nClasses + c]!;
      scores[r * nClasses + c] = v / nTrees;
      if (v > votes[r * nClasses + best]!) best = c;
    }
    winners[r] = best;
  }
  return { scores: createMatrix(rows, nClasses, scores), winners };
}

// ---- saved models: a JSON header, then each tree's arrays (little-endian, 8-byte aligned) ----

export interface SavedHeader {
  format: 'digitbench-cart';
  /** 1: the exact format; 2: the compact one (precision float16 or int8, see saveCompactTrees). */
  version: 1 | 2;
  kind: string;
  nFeatures: number;
  classes: number[];
  /** Node count of each tree. */
  nodes: number[];
  withProba: boolean;
  params: Record<string, unknown>;
  /** Version 2: the thresholds' and leaf fractions' precision. */
  precision?: Precision;
  /** Version 2: features as i16 and children as u16 (every index fits), else both i32. */
  narrow?: boolean;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

function treeBytes(nodes: number, nClasses: number, withProba: boolean): number {
  return align8(nodes * 16 + (withProba ? nodes * nClasses * 4 : 0));
}

type HeaderInput = Omit<SavedHeader, 'format' | 'version' | 'nodes' | 'withProba' | 'precision' | 'narrow'>;

/** Version 1 (float64 thresholds, i32 indices, float32 leaf fractions at every node) or, below float32, version 2. */
export function saveTrees(header: HeaderInput, trees: FlatTree[], who: string, precision: Precision = 'float32'): Uint8Array {
  checkLittleEndian(who);
  if (precision !== 'float32') return saveCompactTrees(header, trees, who, precision);
  const withProba = trees.every((t) => t.proba !== undefined);
  const full: SavedHeader = { format: 'digitbench-cart', version: 1, ...header, nodes: trees.map((t) => t.feature.length), withProba };
  const head = new TextEncoder().encode(JSON.stringify(full));
  const C = header.classes.length;
  const start = align8(4 + head.length);
  let size = start;
  for (const t of trees) size += treeBytes(t.feature.length, C, withProba);
  const out = new Uint8Array(size);
  new DataView(out.buffer).setUint32(0, head.length, true);
  out.set(head, 4);
  let at = start;
  for (const t of trees) {
    const n = t.feature.length;
    out.set(new Uint8Array(t.threshold.buffer, t.threshold.byteOffset, n * 8), at);
    out.set(new Uint8Array(t.feature.buffer, t.feature.byteOffset, n * 4), at + n * 8);
    out.set(new Uint8Array(t.child.buffer, t.child.byteOffset, n * 4), at + n * 12);
    if (withProba) out.set(new Uint8Array(t.proba!.buffer, t.proba!.byteOffset, n * C * 4), at + n * 16);
    at += treeBytes(n, C, withProba);
  }
  return out;
}

/**
 * Version 2, the compact format. After the header (at 8-byte offsets):
 *   each tree's structure: features (i16 when `narrow`, else i32; −1 at leaves), then children (u16 or i32);
 *   the thresholds of every split node, trees in order, nodes in order, packed at `precision` and rounded
 *     down (THRESHOLD_ROUNDING), int8 ranges per feature (a threshold is compared with its feature's
 *     values, so it gets that feature's range; only features some split uses have one);
 *   with leaf fractions, those of every leaf (classes values each) packed at `precision` (int8 ranges per
 *     class; fully grown trees' 0 and 1 are the ends of the range, so stored exactly).
 * Leaf thresholds and the zero fractions of split nodes are not stored. A threshold is either a midpoint
 * between two training values or (ml-cart's rule inside a group of equal values) a training value itself;
 * rounded down, the second kind keeps its rows on the right. On scaled pixels (k / 255), float16's error
 * (< 2⁻¹⁰ relative, under 1e-3) is less than half a pixel step (1 / 510), so a threshold between two pixel
 * values stays between them; one that lies within a float16 step above a value (full MNIST's tree has such
 * thresholds, a float32 step above 49 / 255) moves that value to the right: the float16 tree and forest of
 * reports/mnist-full give the float32 labels on 9,999 of 10,000 test rows. int8's error (up to one level,
 * about 1 / 255 of the feature's threshold range) can also move a midpoint past a pixel value.
 */
function saveCompactTrees(header: HeaderInput, trees: FlatTree[], who: string, precision: Precision): Uint8Array {
  const C = header.classes.length;
  const withProba = trees.every((t) => t.proba !== undefined);
  const narrow = header.nFeatures <= 0x7fff && C <= 0xffff && trees.every((t) => t.feature.length <= 0xffff);
  const full: SavedHeader = { format: 'digitbench-cart', version: 2, ...header, nodes: trees.map((t) => t.feature.length), withProba, precision, narrow };
  const head = new TextEncoder().encode(JSON.stringify(full));
  const thresholds: number[] = [];
  const thresholdFeature: number[] = [];
  const fractions: number[] = [];
  for (const t of trees) {
    for (let i = 0; i < t.feature.length; i++) {
      const f = t.feature[i]!;
      if (f >= 0) {
        thresholds.push(t.threshold[i]!);
        thresholdFeature.push(f);
      } else if (withProba) for (let c = 0; c < C; c++) fractions.push(t.proba![i * C + c]!);
    }
  }
  const packedThresholds = packValues(thresholds, precision, byUsedFeature(thresholdFeature), `${who}: the split thresholds`, THRESHOLD_ROUNDING);
  const packedFractions = withProba ? packValues(fractions, precision, { by: 'column', cols: C }, `${who}: the leaf fractions`) : new Uint8Array(0);
  const start = align8(4 + head.length);
  let size = start;
  for (const t of trees) size += structureBytes(t.feature.length, narrow);
  const thresholdsAt = size;
  const fractionsAt = withProba ? align8(thresholdsAt + packedThresholds.length) : thresholdsAt + packedThresholds.length;
  const out = new Uint8Array(fractionsAt + packedFractions.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, head.length, true);
  out.set(head, 4);
  let at = start;
  for (const t of trees) {
    const n = t.feature.length;
    const w = narrow ? 2 : 4;
    for (let i = 0; i < n; i++) {
      if (narrow) {
        view.setInt16(at + i * 2, t.feature[i]!, true);
        view.setUint16(at + n * 2 + i * 2, t.child[i]!, true);
      } else {
        view.setInt32(at + i * 4, t.feature[i]!, true);
        view.setInt32(at + n * 4 + i * 4, t.child[i]!, true);
      }
    }
    at += align8(n * w * 2);
  }
  out.set(packedThresholds, thresholdsAt);
  out.set(packedFractions, fractionsAt);
  return out;
}

/**
 * The int8 groups of the thresholds: one per feature that some split uses (ascending feature order), so a
 * small tree over many features stores no empty ranges. The reader finds the same list in the structure.
 */
function byUsedFeature(featureOfSplit: ArrayLike<number>): Grouping {
  const used = Int32Array.from(new Set(Array.from(featureOfSplit))).sort();
  const rank = new Map<number, number>();
  used.forEach((f, i) => rank.set(f, i));
  return { by: 'index', group: Int32Array.from(featureOfSplit, (f) => rank.get(f)!), count: used.length };
}

/** Thresholds are rounded down (compact.ts `Rounding`): rows at or above a threshold keep going right. */
const THRESHOLD_ROUNDING = 'down';

function structureBytes(nodes: number, narrow: boolean): number {
  return align8(nodes * (narrow ? 4 : 8));
}

function loadCompactTrees(bytes: Uint8Array, header: SavedHeader, headLength: number, bad: (why: string) => Error): FlatTree[] {
  const precision = parsePrecision(header.precision);
  if (!precision || precision === 'float32') throw bad(`precision ${String(header.precision)}`);
  if (typeof header.narrow !== 'boolean') throw bad('no narrow flag');
  const C = Array.isArray(header.classes) ? header.classes.length : 0;
  const nFeatures = header.nFeatures;
  if (!Number.isInteger(nFeatures) || nFeatures < 1 || C < 1) throw bad('no features or classes');
  if (!Array.isArray(header.nodes) || header.nodes.some((n) => !Number.isInteger(n) || n < 1)) throw bad('node counts');
  const narrow = header.narrow;
  let at = align8(4 + headLength);
  let structure = at;
  for (const n of header.nodes) structure += structureBytes(n, narrow);
  if (structure > bytes.length) throw bad(`expected more than ${structure} bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const trees: FlatTree[] = [];
  let splits = 0;
  let leafCount = 0;
  for (const n of header.nodes) {
    const feature = new Int32Array(n);
    const child = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      feature[i] = narrow ? view.getInt16(at + i * 2, true) : view.getInt32(at + i * 4, true);
      child[i] = narrow ? view.getUint16(at + n * 2 + i * 2, true) : view.getInt32(at + n * 4 + i * 4, true);
      if (feature[i]! >= 0) splits++;
      else leafCount++;
    }
    trees.push({ feature, child, threshold: new Float64Array(n) });
    at += structureBytes(n, narrow);
  }
  const featureOfSplit = new Int32Array(splits);
  let f = 0;
  for (const t of trees) for (const v of t.feature) if (v >= 0) featureOfSplit[f++] = v;
  const byFeature = byUsedFeature(featureOfSplit);
  const thresholdsBytes = packedBytes(splits, precision, byFeature);
  const fractionsAt = align8(structure + thresholdsBytes);
  const byClass: Grouping = { by: 'column', cols: C };
  const end = header.withProba ? fractionsAt + packedBytes(leafCount * C, precision, byClass) : structure + thresholdsBytes;
  if (bytes.length !== end) throw bad(`expected ${end} bytes, got ${bytes.length}`);
  if (header.withProba) for (const t of trees) t.proba = new Float32Array(t.feature.length * C);
  const thresholds = new Float64Array(splits);
  try {
    unpackValues(ownBytes(bytes, structure, structure + thresholdsBytes), splits, precision, byFeature, thresholds);
  } catch (e) {
    throw bad(`thresholds: ${(e as Error).message}`);
  }
  const fractions = new Float32Array(header.withProba ? leafCount * C : 0);
  if (header.withProba) {
    try {
      unpackValues(ownBytes(bytes, fractionsAt, end), leafCount * C, precision, byClass, fractions);
    } catch (e) {
      throw bad(`leaf fractions: ${(e as Error).message}`);
    }
  }
  let s = 0;
  let l = 0;
  for (const t of trees) {
    for (let i = 0; i < t.feature.length; i++) {
      if (t.feature[i]! >= 0) t.threshold[i] = thresholds[s++]!;
      else if (t.proba) t.proba.set(fractions.subarray(l * C, ++l * C), i * C);
    }
  }
  return trees;
}

export function loadTrees(bytes: Uint8Array, kind: string, who: string): { header: SavedHeader; trees: FlatTree[] } {
  checkLittleEndian(who);
  const bad = (why: string) => new Error(`${who}: the saved model is not a digitbench ${kind} model (${why}); pass the bytes that serialize() returned.`);
  if (bytes.length < 4) throw bad('too short');
  const headLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getUint32(0, true);
  if (4 + headLength > bytes.length) throw bad('header length past the end');
  let header: SavedHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + headLength))) as SavedHeader;
  } catch {
    throw bad('header is not JSON');
  }
  // Version 2 headers name their precision; without it a version-2 header is refused as before.
  const compact = header?.format === 'digitbench-cart' && header.version === 2 && header.precision !== undefined;
  if (!compact && (header?.format !== 'digitbench-cart' || header.version !== 1)) throw bad(`format ${String(header?.format)} version ${String(header?.version)}`);
  if (header.kind !== kind) throw bad(`it is a ${String(header.kind)} model`);
  const C = header.classes.length;
  let trees: FlatTree[] = [];
  if (compact) trees = loadCompactTrees(bytes, header, headLength, bad);
  else {
    let size = align8(4 + headLength);
    for (const n of header.nodes) size += treeBytes(n, C, header.withProba);
    if (size !== bytes.length) throw bad(`expected ${size} bytes, got ${bytes.length}`);
    // one aligned copy: the caller's buffer may be reused
    const body = ownBytes(bytes, align8(4 + headLength));
    let at = 0;
    for (const n of header.nodes) {
      trees.push({
        threshold: new Float64Array(body.buffer, at, n),
        feature: new Int32Array(body.buffer, at + n * 8, n),
        child: new Int32Array(body.buffer, at + n * 12, n),
        ...(header.withProba ? { proba: new Float32Array(body.buffer, at + n * 16, n * C) } : {}),
      });
      at += treeBytes(n, C, header.withProba);
    }
  }
  trees.forEach((t, k) => {
    const n = t.feature.length;
    for (let i = 0; i < n; i++) {
      const f = t.feature[i]!;
      const c = t.child[i]!;
      // pre-order: a split's children come after it; a leaf names a class
      const ok = f >= 0 ? f < header.nFeatures && i + 1 < n && c > i + 1 && c < n : f === -1 && c >= 0 && c < C;
      if (!ok) throw bad(`tree ${k}, node ${i} is inconsistent`);
    }
  });
  return { header, trees };
}
