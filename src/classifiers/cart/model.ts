/**
 * ml-cart 2.1.1 is the trees' model format and reference predictor: a tree grown by our split search
 * (grow.ts) is written as exactly the JSON ml-cart's DecisionTreeClassifier#toJSON() gives for the same
 * data and options, and ml-cart's DecisionTreeClassifier.load reads it back (the decision tree's fit, and
 * the tests). Flat typed arrays (../cart-trees.ts, the runtime's models/cart-trees.ts) are compiled from
 * it for evaluation and saving.
 */
import mlCartModule from 'ml-cart';
import { growTree, runningSum, type GrowOptions, type GrownNode, type SplitSearchStats } from './grow.ts';
import type { PreparedTrainingSet } from './prepared.ts';

/** The ml-cart options a classifier tree takes (ours: 'entropy', maxFeatures, seed, splitSearch). */
export interface CartOptions {
  gainFunction: 'gini' | 'entropy';
  splitFunction: 'mean';
  minNumSamples: number;
  maxDepth: number;
  gainThreshold: number;
  maxFeatures?: number;
  seed?: number;
  /** How forest trees search splits (grow.ts GrowOptions.splitSearch); the same tree either way. */
  splitSearch?: 'exact' | 'histogram';
  histogramMinRows?: number;
}

/** ml-cart 2.1.1's DecisionTreeClassifier defaults, in its key order. */
export const ML_CART_DEFAULTS = { gainFunction: 'gini', splitFunction: 'mean', minNumSamples: 3, maxDepth: Infinity, gainThreshold: 0.01 } as const;

/** The parts of an ml-cart TreeNode read here (a loaded tree). */
export interface CartNode {
  splitColumn?: number;
  splitValue?: number;
  left?: CartNode;
  right?: CartNode;
  /** Leaf: class probabilities as a 1 × (max label in the leaf + 1) ml-matrix row vector. */
  distribution?: { columns: number; get(row: number, column: number): number };
}

/** A tree as ml-cart's DecisionTreeClassifier#toJSON() gives it. */
export interface CartModelJSON {
  options: Record<string, unknown>;
  root: Record<string, unknown>;
  name: 'DTClassifier';
}

export interface CartClassifier {
  root: CartNode;
  options: Record<string, unknown>;
  train(x: number[][], y: number[]): void;
  predict(x: number[][]): number[];
  toJSON(): unknown;
}

export interface CartLibrary {
  DecisionTreeClassifier: {
    new (options?: Record<string, unknown>): CartClassifier;
    load(model: unknown): CartClassifier;
  };
}

/** ml-cart itself (unpatched). */
export const mlCart = mlCartModule as unknown as CartLibrary;

/** this.options of an ml-cart DecisionTreeClassifier built with these options. */
export function mlCartOptions(options: Partial<CartOptions>): Record<string, unknown> & { kind: 'classifier' } {
  return { ...Object.assign({}, ML_CART_DEFAULTS, options), kind: 'classifier' as const };
}

function growOptionsOf(o: Record<string, unknown>): GrowOptions {
  if (o.gainFunction !== 'gini' && o.gainFunction !== 'entropy') throw new RangeError(`gainFunction must be "gini" or "entropy", got ${String(o.gainFunction)}.`);
  if (o.splitFunction !== 'mean') throw new RangeError(`splitFunction must be "mean" (ml-cart's only one), got ${String(o.splitFunction)}.`);
  return {
    gainFunction: o.gainFunction,
    minNumSamples: o.minNumSamples as number,
    maxDepth: o.maxDepth as number,
    gainThreshold: o.gainThreshold as number,
    ...(o.maxFeatures !== undefined && o.maxFeatures !== null ? { maxFeatures: o.maxFeatures as number } : {}),
    ...(o.seed !== undefined ? { seed: o.seed as number } : {}),
    ...(o.splitSearch !== undefined ? { splitSearch: o.splitSearch as 'exact' | 'histogram' } : {}),
    ...(o.histogramMinRows !== undefined ? { histogramMinRows: o.histogramMinRows as number } : {}),
  };
}

export interface GrownTree {
  /** The options as ml-cart stores them (its defaults filled in). */
  options: Record<string, unknown> & { kind: 'classifier' };
  root: GrownNode;
}

/**
 * Grows a tree with ml-cart's options (its defaults for those left out).
 * @param sampleCounts row i counts sampleCounts[i] times (ours)
 * @param stats work counters to add to
 */
export function growCartTree(data: PreparedTrainingSet, options: Partial<CartOptions>, sampleCounts?: ArrayLike<number>, stats?: SplitSearchStats): GrownTree {
  const full = mlCartOptions(options);
  return { options: full, root: growTree(data, growOptionsOf(full), sampleCounts, stats) };
}

/** The class probabilities of a leaf as ml-cart computes them: classes 0 .. largest label in the leaf. */
export function leafDistribution(node: GrownNode): number[] {
  const counts = node.counts!;
  let top = -1;
  for (let j = 0; j < counts.length; j++) if (counts[j]! > 0) top = j;
  const out = new Array<number>(top + 1);
  for (let j = 0; j <= top; j++) out[j] = runningSum(node.n, counts[j]!);
  return out;
}

/** The model JSON ml-cart's DecisionTreeClassifier#toJSON() gives (same keys, same order; JSON.stringify equal). */
export function toCartJSON(tree: GrownTree): CartModelJSON {
  const o = tree.options;
  // the fields TreeNode's constructor copies into every node
  const head = () => ({
    kind: o.kind,
    gainFunction: o.gainFunction,
    splitFunction: o.splitFunction,
    minNumSamples: o.minNumSamples,
    maxDepth: o.maxDepth,
    gainThreshold: (o.gainThreshold as number) || 0,
  });
  const write = (node: GrownNode): Record<string, unknown> => {
    const out: Record<string, unknown> = head();
    if (node.searched) {
      out.splitValue = node.splitValue;
      out.splitColumn = node.splitColumn;
      out.gain = node.gain;
      out.numberSamples = node.numberSamples;
    }
    if (node.left && node.right) {
      out.left = write(node.left);
      out.right = write(node.right);
    } else {
      out.distribution = [leafDistribution(node)];
    }
    return out;
  };
  return { options: o, root: write(tree.root), name: 'DTClassifier' };
}

/** The tree loaded by ml-cart (its TreeNodes and predict). */
export function loadInCart(tree: GrownTree): CartClassifier {
  return mlCart.DecisionTreeClassifier.load(toCartJSON(tree));
}
