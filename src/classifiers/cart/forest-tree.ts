/**
 * One forest tree grown from its seed, and grown trees flattened into the runtime's flat typed arrays
 * (@digitbench/runtime models/cart-trees.ts). The forest's worker threads import this module only: it
 * loads the split search and seedrandom, not the runtime (its types only).
 */
import type { FlatTree } from '@digitbench/runtime/internal';
import { createRng } from '../../engine/rng.ts';
import { leafDistribution, growCartTree, type CartNode, type CartOptions } from './model.ts';
import type { GrownNode } from './grow.ts';
import type { PreparedTrainingSet } from './prepared.ts';

/** The parts of a tree node flattening reads (ml-cart's TreeNode and our GrownNode both have them). */
interface SplitNode<N> {
  splitColumn?: number;
  splitValue?: number;
  left?: N;
  right?: N;
}

/**
 * Flattens a tree in pre-order. A leaf predicts what ml-cart's predict returns: the first most
 * probable label of its distribution (Matrix#maxRowIndex), mapped to its index in `classes`.
 */
function flatten<N extends SplitNode<N>>(root: N, distribution: (leaf: N) => ArrayLike<number>, classes: Int32Array, withProba: boolean): FlatTree {
  const classIndex = new Map<number, number>();
  classes.forEach((c, i) => classIndex.set(c, i));
  const feature: number[] = [];
  const threshold: number[] = [];
  const child: number[] = [];
  const proba: number[] = [];
  const C = classes.length;
  // explicit stack: [node, index of the parent whose right child this is (or -1)]
  const stack: Array<[N, number]> = [[root, -1]];
  while (stack.length > 0) {
    const [node, parent] = stack.pop()!;
    const i = feature.length;
    if (parent >= 0) child[parent] = i;
    if (node.left && node.right) {
      feature.push(node.splitColumn!);
      threshold.push(node.splitValue!);
      child.push(-1);
      if (withProba) for (let c = 0; c < C; c++) proba.push(0);
      stack.push([node.right, i], [node.left, -1]);
    } else {
      const d = distribution(node);
      let best = 0;
      for (let j = 1; j < d.length; j++) if (d[j]! > d[best]!) best = j;
      const index = classIndex.get(best);
      if (index === undefined) throw new Error(`cart: a leaf predicts label ${best}, which is not a training label; this is a bug.`);
      feature.push(-1);
      threshold.push(0);
      child.push(index);
      if (withProba) {
        for (let c = 0; c < C; c++) {
          const label = classes[c]!;
          proba.push(label < d.length ? d[label]! : 0);
        }
      }
    }
  }
  return {
    feature: Int32Array.from(feature),
    threshold: Float64Array.from(threshold),
    child: Int32Array.from(child),
    ...(withProba ? { proba: Float32Array.from(proba) } : {}),
  };
}

/** Flattens a tree loaded by ml-cart (its leaves hold a 1 × labels ml-matrix row). */
export function flattenCartTree(root: CartNode, classes: Int32Array, withProba: boolean): FlatTree {
  return flatten(root, (leaf) => Array.from({ length: leaf.distribution!.columns }, (_, j) => leaf.distribution!.get(0, j)), classes, withProba);
}

/**
 * Flattens a grown tree without going through ml-cart's TreeNodes (the forest's trees): the same arrays
 * as flattenCartTree(loadInCart(tree).root) (tests compare them).
 */
export function flattenGrown(root: GrownNode, classes: Int32Array, withProba: boolean): FlatTree {
  return flatten(root, leafDistribution, classes, withProba);
}

export interface ForestTreeSettings {
  /** Rows drawn with replacement per tree (bootstrap), or null: every row once. */
  draws: number | null;
  /** ctx.seed of the run; tree t's randomness depends only on (seed, t). */
  seed: number;
  cartOptions: Partial<CartOptions>;
}

/**
 * Grows forest tree number t: a bootstrap sample (row counts, no copy of the data) and a split seed,
 * both from (seed, t) only, so a forest is the same whatever the number of threads building it.
 */
export function growForestTree(prepared: PreparedTrainingSet, t: number, settings: ForestTreeSettings, classes: Int32Array): FlatTree {
  const rng = createRng(`${settings.seed}/tree/${t}`);
  let counts: Int32Array | undefined;
  if (settings.draws !== null) {
    const n = prepared.nSamples;
    counts = new Int32Array(n);
    for (let i = 0; i < settings.draws; i++) counts[rng.int(n)]!++;
  }
  const tree = growCartTree(prepared, { ...settings.cartOptions, seed: rng.int(2 ** 31) }, counts);
  return flattenGrown(tree.root, classes, false);
}
