/**
 * Fitting shared by the decision-tree and random-forest plugins: training sets sorted once
 * (cart/prepared.ts), trees grown by digitbench's split search (cart/grow.ts) in ml-cart 2.1.1's model
 * format (cart/model.ts); one forest tree grown from its seed, and grown trees flattened into the
 * runtime's flat typed arrays (@digitbench/runtime models/cart-trees.ts: evaluation and the saved format),
 * are in cart/forest-tree.ts (re-exported here), which the forest's worker threads import alone.
 */
import { type Matrix } from '@digitbench/runtime/internal';
import type { CartOptions } from './cart/model.ts';
import { prepareRanks, prepareTrainingSet, type PreparedTrainingSet } from './cart/prepared.ts';

export type { CartOptions, PreparedTrainingSet };
export { flattenCartTree, flattenGrown, growForestTree, type ForestTreeSettings } from './cart/forest-tree.ts';
export { addVotes, leaves, loadTrees, saveTrees, tally, type FlatTree, type SavedHeader } from '@digitbench/runtime/internal';

/** Sorts every feature of x once. */
export function prepare(x: Matrix, y: Int32Array): PreparedTrainingSet {
  return prepareTrainingSet(x, y);
}

/**
 * The training set for trees that search splits from histograms (Gini, features drawn per split): ranks
 * only when every feature has at most 256 distinct values (raw pixels), else sorted as prepare does.
 * `shared`: the ranks are written on SharedArrayBuffers (for worker threads, without a copy).
 */
export function prepareForHistograms(x: Matrix, y: Int32Array, shared = false): PreparedTrainingSet {
  return prepareRanks(x, y, { shared }) ?? prepareTrainingSet(x, y);
}

/** Distinct labels, ascending, after checking they are integers ≥ 0 (ml-cart indexes class counts by label). */
export function labelClasses(y: Int32Array, who: string): Int32Array {
  for (let i = 0; i < y.length; i++) {
    if (y[i]! < 0) throw new Error(`${who}: label ${y[i]} at row ${i} is negative; ml-cart needs labels ≥ 0, so map the labels to 0..k−1 first.`);
  }
  return Int32Array.from(new Set(y)).sort();
}

