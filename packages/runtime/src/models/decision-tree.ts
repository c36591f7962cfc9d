/**
 * The decision tree's load and predict: a CART tree as flat typed arrays (cart-trees.ts), in plain JS.
 * The tree is grown in the workbench (digitbench src/classifiers/decision-tree.ts).
 */
import * as z from 'zod/mini';
import { createMatrix } from '../engine/matrix.ts';
import { leaves, loadTrees, saveTrees, type FlatTree } from './cart-trees.ts';
import { COMPACT_PRECISIONS } from './compact.ts';
import { described } from './describe.ts';
import { defineModel, type Model, type ModelPlugin } from './plugin.ts';

const WHO = 'decision-tree';

/** Parameters shared with the random forest's trees. */
export const GAIN = described(
  z._default(z.enum(['gini', 'entropy']), 'gini'),
  "Impurity: Gini (ml-cart's and scikit-learn's default) or entropy (information gain in bits, ours: ml-cart has only Gini)",
);
export const MAX_DEPTH = described(
  z._default(z.nullable(z.number().check(z.int(), z.positive())), null),
  "Deepest split level; null grows until the leaves are pure (scikit-learn's max_depth=None)",
);
export function minSamples(description: string) {
  return described(z._default(z.number().check(z.int(), z.positive()), 1), description);
}
export const GAIN_THRESHOLD = described(
  z._default(z.number().check(z.gte(0)), 0),
  "A split must gain more than this (ml-cart's default 0.01 stops early; 0 grows fully)",
);

export const decisionTreeParams = z.strictObject({
  gainFunction: GAIN,
  maxDepth: MAX_DEPTH,
  minNumSamples: minSamples("Nodes with at most this many rows become leaves; 1 = scikit-learn's min_samples_split=2 (ml-cart's default is 3)"),
  gainThreshold: GAIN_THRESHOLD,
});

export type DecisionTreeParams = z.output<typeof decisionTreeParams>;

export interface FittedTree {
  tree: FlatTree;
  classes: Int32Array;
  nFeatures: number;
}

/** The model of a fitted or loaded tree: predict, scores (the leaf's class fractions) and serialize. */
export function treeModel(params: DecisionTreeParams, f: FittedTree): Model {
  return defineModel(WHO, {
    classes: f.classes,
    inputSize: f.nFeatures,
    state: f,
    predict: (s, x) => Int32Array.from(leaves(s.tree, x), (node) => s.classes[s.tree.child[node]!]!),
    /** The class fractions of the leaf each row reaches (columns: labels ascending). */
    scores(s, x) {
      const C = s.classes.length;
      const reached = leaves(s.tree, x);
      const out = new Float32Array(x.rows * C);
      for (let r = 0; r < x.rows; r++) out.set(s.tree.proba!.subarray(reached[r]! * C, (reached[r]! + 1) * C), r * C);
      return createMatrix(x.rows, C, out);
    },
    serialize: (s, o) => saveTrees({ kind: WHO, nFeatures: s.nFeatures, classes: Array.from(s.classes), params }, [s.tree], WHO, o.precision),
    engine: () => 'js',
  });
}

export const decisionTreeModel: ModelPlugin<DecisionTreeParams> = {
  name: WHO,
  summary: 'CART decision tree (Gini or entropy), grown fully by default',
  input: 'vector',
  params: decisionTreeParams,
  scoreKind: 'class fractions of the leaf reached',
  libraries: [],
  precisions: COMPACT_PRECISIONS,
  async load(bytes, params) {
    const { header, trees } = loadTrees(bytes, WHO, WHO);
    const tree = trees[0];
    if (trees.length !== 1 || !tree?.proba) throw new Error(`${WHO}: the saved model holds ${trees.length} trees without leaf fractions; pass the bytes that serialize() returned.`);
    return treeModel(params, { tree, classes: Int32Array.from(header.classes), nFeatures: header.nFeatures });
  },
};
