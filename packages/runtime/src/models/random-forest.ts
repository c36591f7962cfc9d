/**
 * The random forest's load and predict: CART trees as flat typed arrays (cart-trees.ts), majority vote
 * (ties: the smallest label), in plain JS. The forest is grown in the workbench (digitbench
 * src/classifiers/random-forest.ts).
 */
import * as z from 'zod/mini';
import type { Matrix } from '../engine/matrix.ts';
import { addVotes, loadTrees, saveTrees, tally, type FlatTree } from './cart-trees.ts';
import { GAIN, GAIN_THRESHOLD, MAX_DEPTH, minSamples } from './decision-tree.ts';
import { COMPACT_PRECISIONS } from './compact.ts';
import { described } from './describe.ts';
import { defineModel, threadsParam, type Model, type ModelPlugin } from './plugin.ts';

const WHO = 'random-forest';

export const randomForestParams = z.strictObject({
  nEstimators: described(z._default(z.number().check(z.int(), z.positive(), z.lte(100000)), 100), "Trees (scikit-learn's default: 100)"),
  maxFeatures: described(
    z._default(z.union([z.enum(['sqrt', 'log2', 'all']), z.number().check(z.positive())]), 'sqrt'),
    "Features drawn at each split: 'sqrt' (scikit-learn's default), 'log2', 'all', a count ≥ 1 or a fraction in (0, 1)",
  ),
  bootstrap: described(z._default(z.boolean(), true), 'Each tree learns from a bootstrap sample (rows drawn with replacement); false: every tree sees every row'),
  maxSamples: described(
    z._default(z.nullable(z.number().check(z.positive())), null),
    'Rows drawn per bootstrap sample: null = as many as the training set, a count ≥ 1, or a fraction in (0, 1]',
  ),
  gainFunction: GAIN,
  maxDepth: MAX_DEPTH,
  minNumSamples: minSamples("Nodes with at most this many rows (counting bootstrap repeats) become leaves; 1 = scikit-learn's min_samples_split=2"),
  gainThreshold: GAIN_THRESHOLD,
  threads: threadsParam('Worker threads growing trees; null: up to 2, and none for small jobs; results do not depend on it'),
});

export type RandomForestParams = z.output<typeof randomForestParams>;

export interface FittedForest {
  trees: FlatTree[];
  classes: Int32Array;
  nFeatures: number;
  /** Worker threads that grew the trees (1 for a loaded forest). */
  threads: number;
}

/** The model of a fitted or loaded forest: predict, scores (vote fractions) and serialize. */
export function forestModel(params: RandomForestParams, f: FittedForest): Model {
  const vote = (s: FittedForest, x: Matrix) => {
    const C = s.classes.length;
    const votes = new Int32Array(x.rows * C);
    for (const tree of s.trees) addVotes(tree, x, votes, C);
    return tally(votes, x.rows, C, s.trees.length);
  };
  return defineModel(WHO, {
    classes: f.classes,
    inputSize: f.nFeatures,
    state: f,
    predict: (s, x) => Int32Array.from(vote(s, x).winners, (c) => s.classes[c]!),
    /** The fraction of trees voting for each class (columns: labels ascending); rows sum to 1. */
    scores: (s, x) => vote(s, x).scores,
    serialize: (s, o) => saveTrees({ kind: WHO, nFeatures: s.nFeatures, classes: Array.from(s.classes), params }, s.trees, WHO, o.precision),
    engine: (s) => (s.threads > 1 ? `js, ${s.threads} worker threads (fit)` : 'js'),
    runtime: (s) => ({ engine: 'js', threads: 1, ...(s.threads > 1 ? { fitThreads: s.threads } : {}) }),
  });
}

export const randomForestModel: ModelPlugin<RandomForestParams> = {
  name: WHO,
  summary: 'Random forest of CART trees (bootstrap, sqrt(features) per split, as scikit-learn)',
  input: 'vector',
  params: randomForestParams,
  scoreKind: 'fractions of trees voting for each class',
  libraries: [],
  precisions: COMPACT_PRECISIONS,
  async load(bytes, params) {
    const { header, trees } = loadTrees(bytes, WHO, WHO);
    if (trees.length === 0) throw new Error(`${WHO}: the saved model has no trees; pass the bytes that serialize() returned.`);
    return forestModel(params, { trees, classes: Int32Array.from(header.classes), nFeatures: header.nFeatures, threads: 1 });
  },
};
