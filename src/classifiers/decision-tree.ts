/**
 * A CART decision tree, grown by digitbench's split search in ml-cart 2.1.1's model format.
 *
 * What is whose:
 * - split search: ours (src/classifiers/cart/grow.ts, a typed port of what was a patch to ml-cart).
 *   ml-cart's own is O(features × n²) per node and copies X at every node, far too slow for MNIST
 *   (docs/measurements.md); ours sorts each feature once and sweeps thresholds with running class counts,
 *   and builds the tree ml-cart builds: tests compare the model JSON with unpatched ml-cart's, byte for
 *   byte. The 'entropy' gain is ours (ml-cart has only Gini).
 * - ml-cart 2.1.1 (unpatched): at fit time, the grown tree is written as ml-cart's model JSON and read back
 *   by ml-cart's DecisionTreeClassifier.load, whose tree is compiled to flat typed arrays; and the tests'
 *   oracle (the flat arrays predict what ml-cart's predict does).
 * - the flat arrays, their saved format, predict and scores: ours (@digitbench/runtime
 *   models/cart-trees.ts); a bundle load never involves ml-cart.
 *
 * Defaults grow the tree fully, like scikit-learn's DecisionTreeClassifier: ml-cart's own defaults stop
 * at 3 samples per node and at a gain of 0.01. Differences that remain: ml-cart needs a gain above
 * gainThreshold (scikit-learn also splits with zero gain), stops when a node's gain equals its
 * parent's exactly, and inside a group of equal values uses the value itself as threshold. Ties between
 * features go to the lowest column (scikit-learn draws the feature order at random). No randomness: the
 * seed does not matter.
 *
 * Scores are the leaf's class fractions. Load, predict and the saved format are in @digitbench/runtime
 * (models/decision-tree.ts); this file adds fitting.
 */
import { decisionTreeModel, treeModel, type DecisionTreeParams } from '@digitbench/runtime/internal';
import { flattenCartTree, labelClasses, prepare } from './cart-trees.ts';
import { growCartTree, loadInCart } from './cart/model.ts';
import { checkTrainingData, defineClassifier } from './plugin.ts';

export { decisionTreeParams, GAIN, GAIN_THRESHOLD, MAX_DEPTH, minSamples, type DecisionTreeParams } from '@digitbench/runtime/internal';

const WHO = 'decision-tree';

export function cartOptions(p: Pick<DecisionTreeParams, 'gainFunction' | 'minNumSamples' | 'maxDepth' | 'gainThreshold'>) {
  return {
    gainFunction: p.gainFunction,
    minNumSamples: p.minNumSamples,
    maxDepth: p.maxDepth ?? Infinity,
    gainThreshold: p.gainThreshold,
  };
}

export const decisionTree = defineClassifier<DecisionTreeParams>({
  ...decisionTreeModel,
  library: 'ours: split search (typed port), flat-array trees, saved format, predict; ml-cart 2.1.1: the tree format fit reads back, test oracle',
  fitLibraries: ['ml-cart 2.1.1'],
  testParams: {},
  create: (params) => ({
    async fit(x, y, options) {
      checkTrainingData(x, y, WHO);
      const classes = labelClasses(y, WHO);
      options?.progress?.start(1, 'tree');
      // our split search grows the tree in ml-cart's model format; ml-cart loads it, and its tree is
      // compiled to flat arrays for prediction
      const tree = loadInCart(growCartTree(prepare(x, y), cartOptions(params)));
      const fitted = { tree: flattenCartTree(tree.root, classes, true), classes, nFeatures: x.cols };
      options?.progress?.tick({ nodes: fitted.tree.feature.length });
      return treeModel(params, fitted);
    },
  }),
});
