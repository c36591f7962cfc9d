/**
 * Trained CART trees (the decision tree's and the random forest's) as flat typed arrays: evaluation,
 * votes, and the saved format (a JSON header, then each tree's arrays, little-endian, 8-byte aligned).
 * Fitting is in the workbench (digitbench src/classifiers/cart-trees.ts and cart/).
 */
import { createMatrix, type Matrix } from '../engine/matrix.ts';
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
  version: 1;
  kind: string;
  nFeatures: number;
  classes: number[];
  /** Node count of each tree. */
  nodes: number[];
  withProba: boolean;
  params: Record<string, unknown>;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

function treeBytes(nodes: number, nClasses: number, withProba: boolean): number {
  return align8(nodes * 16 + (withProba ? nodes * nClasses * 4 : 0));
}

export function saveTrees(header: Omit<SavedHeader, 'format' | 'version' | 'nodes' | 'withProba'>, trees: FlatTree[], who: string): Uint8Array {
  checkLittleEndian(who);
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
  if (header.format !== 'digitbench-cart' || header.version !== 1) throw bad(`format ${String(header.format)} version ${String(header.version)}`);
  if (header.kind !== kind) throw bad(`it is a ${String(header.kind)} model`);
  const C = header.classes.length;
  let size = align8(4 + headLength);
  for (const n of header.nodes) size += treeBytes(n, C, header.withProba);
  if (size !== bytes.length) throw bad(`expected ${size} bytes, got ${bytes.length}`);
  // one aligned copy: the caller's buffer may be reused
  const body = ownBytes(bytes, align8(4 + headLength));
  const trees: FlatTree[] = [];
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
