/**
 * A random forest of CART trees, scikit-learn style: bootstrap samples, and sqrt(features) drawn at
 * every split. All of it is ours: the trees are grown by digitbench's split search (cart/grow.ts, with
 * our options maxFeatures per split, seed and sampleCounts) following ml-cart 2.1.1's tree semantics
 * (tests check a forest tree, loaded by ml-cart, gives the same flat arrays; no forest fit calls ml-cart),
 * and the forest loop is this file: each tree draws its `maxSamples` rows with replacement from all rows
 * (a bootstrap sample is row counts: the training set is sorted once and shared by all trees), features
 * are drawn at every split, scores are vote fractions, and trees can be grown in worker threads. With
 * Gini and features drawn per split, a training set whose features have at most 256 distinct values
 * (raw pixels) is prepared as ranks only, and large nodes search splits from histograms (cart/grow.ts):
 * the same trees as the sorted search.
 *
 * Tree t's bootstrap sample and split seed depend only on (seed, t): the same forest for any number of
 * threads. predict takes the class with the most votes (ties: the smallest label).
 *
 * Load, predict and the saved format are in @digitbench/runtime (models/random-forest.ts); this file
 * adds fitting.
 */
import type { Worker } from 'node:worker_threads';
import { forestModel, randomForestModel, type Matrix, type RandomForestParams } from '@digitbench/runtime/internal';
import { cores, startTsWorker } from '../engine/threads.ts';
import { growForestTree, labelClasses, prepare, prepareForHistograms, type FlatTree, type ForestTreeSettings, type PreparedTrainingSet } from './cart-trees.ts';
import { cartOptions } from './decision-tree.ts';
import { checkTrainingData, defineClassifier, type FitOptions, type Model } from './plugin.ts';

const WHO = 'random-forest';

export { randomForestParams, type RandomForestParams } from '@digitbench/runtime/internal';

/** Below this much work (trees × rows × features) worker start-up outweighs the gain. */
const SMALL_JOB = 2e8;

function featuresPerSplit(p: RandomForestParams, nFeatures: number): number {
  const m = p.maxFeatures;
  let k: number;
  if (m === 'sqrt') k = Math.floor(Math.sqrt(nFeatures));
  else if (m === 'log2') k = Math.floor(Math.log2(nFeatures));
  else if (m === 'all') k = nFeatures;
  else if (Number.isInteger(m)) k = m;
  else if (m < 1) k = Math.floor(m * nFeatures);
  else throw new Error(`${WHO}: maxFeatures ${m} is neither a whole number of features nor a fraction below 1; use e.g. 28 or 0.05.`);
  if (k > nFeatures) throw new Error(`${WHO}: maxFeatures is ${k} but the data has ${nFeatures} features; use at most ${nFeatures} or 'all'.`);
  return Math.max(1, k);
}

function drawsPerTree(p: RandomForestParams, nRows: number): number | null {
  if (!p.bootstrap) {
    if (p.maxSamples !== null) throw new Error(`${WHO}: maxSamples needs bootstrap: true (without bootstrap every tree sees every row); drop maxSamples or set bootstrap.`);
    return null;
  }
  const m = p.maxSamples;
  if (m === null) return nRows;
  if (Number.isInteger(m) && m > 1) {
    if (m > nRows) throw new Error(`${WHO}: maxSamples is ${m} but there are ${nRows} training rows; use at most ${nRows} or a fraction.`);
    return m;
  }
  if (m > 1) throw new Error(`${WHO}: maxSamples ${m} is neither a whole number of rows nor a fraction up to 1; use e.g. 5000 or 0.5.`);
  return Math.max(1, Math.round(m * nRows));
}

function threadsFor(p: RandomForestParams, x: Matrix): number {
  if (p.threads !== null) return Math.min(p.threads, p.nEstimators);
  if (p.nEstimators * x.rows * x.cols < SMALL_JOB) return 1;
  return Math.max(1, Math.min(2, cores(), p.nEstimators));
}

async function fitForest(params: RandomForestParams, seed: number, x: Matrix, y: Int32Array, options?: FitOptions): Promise<Model> {
  checkTrainingData(x, y, WHO);
  const classes = labelClasses(y, WHO);
  const settings: ForestTreeSettings = {
    draws: drawsPerTree(params, x.rows),
    seed,
    cartOptions: { ...cartOptions(params), maxFeatures: featuresPerSplit(params, x.cols) },
  };
  const threads = threadsFor(params, x);
  // workers boot (load tsx, compile) while this thread sorts the training set
  const workers = threads > 1 ? Array.from({ length: threads }, () => startTsWorker(new URL('./random-forest-worker.ts', import.meta.url), null)) : [];
  // a worker failing while the set is sorted is reported when the trees are handed out
  const early: Error[] = [];
  workers.forEach((w) => w.on('error', (err) => early.push(err)));
  let prepared: PreparedTrainingSet;
  try {
    // trees that search splits from histograms (Gini, features drawn per split) need only the ranks
    const histograms = settings.cartOptions.gainFunction === 'gini' && settings.cartOptions.maxFeatures! < x.cols;
    prepared = histograms ? prepareForHistograms(x, y, threads > 1) : prepare(x, y);
  } catch (err) {
    workers.forEach((w) => void w.terminate());
    throw err;
  }
  options?.progress?.start(params.nEstimators, 'tree');
  const trees =
    threads > 1
      ? await growInWorkers(workers, early, prepared, settings, classes, params.nEstimators, options)
      : growHere(prepared, settings, classes, params.nEstimators, options);
  return forestModel(params, { trees, classes, nFeatures: x.cols, threads });
}

function growHere(prepared: PreparedTrainingSet, settings: ForestTreeSettings, classes: Int32Array, n: number, options?: FitOptions): FlatTree[] {
  const trees: FlatTree[] = [];
  for (let t = 0; t < n; t++) {
    trees.push(growForestTree(prepared, t, settings, classes));
    options?.progress?.tick({ nodes: trees[t]!.feature.length });
  }
  return trees;
}

/**
 * A typed array's copy on a SharedArrayBuffer (the workers read the sorted training set without copies);
 * one already there (the ranks of prepareForHistograms(..., true)) as it is.
 */
function shared(value: unknown): unknown {
  if (!ArrayBuffer.isView(value) || value instanceof DataView || value.buffer instanceof SharedArrayBuffer) return value;
  const a = value as unknown as { constructor: new (b: SharedArrayBuffer) => { set(v: unknown): void }; byteLength: number };
  const copy = new a.constructor(new SharedArrayBuffer(a.byteLength));
  copy.set(value);
  return copy;
}

/** Grows the trees in started workers: each gets the shared training set, then asks for trees until none are left. */
function growInWorkers(
  workers: Worker[],
  early: Error[],
  prepared: PreparedTrainingSet,
  settings: ForestTreeSettings,
  classes: Int32Array,
  n: number,
  options?: FitOptions,
): Promise<FlatTree[]> {
  const sharedSet = Object.fromEntries(Object.entries(prepared).map(([k, v]) => [k, shared(v)])) as unknown as PreparedTrainingSet;
  const trees = new Array<FlatTree>(n);
  return new Promise((resolve, reject) => {
    let next = 0;
    let done = 0;
    let failed = false;
    const stop = () => workers.forEach((w) => void w.terminate());
    const busy = new Set<Worker>();
    const give = (w: Worker) => {
      if (next < n) {
        busy.add(w);
        w.postMessage({ tree: next++ });
      } else w.postMessage({ tree: -1 });
    };
    if (early.length > 0) {
      failed = true;
      stop();
      reject(new Error(`${WHO}: a worker thread failed to run (${early[0]!.message}); set threads: 1 to grow the trees in this thread.`));
      return;
    }
    for (const w of workers) {
      w.postMessage({ init: { prepared: sharedSet, settings, classes } });
      w.on('message', (msg: { ready?: true; tree?: number; flat?: FlatTree; error?: string }) => {
        if (failed) return;
        if (msg.error !== undefined) {
          failed = true;
          stop();
          reject(new Error(`${WHO}: a worker thread failed while growing trees: ${msg.error}`));
          return;
        }
        if (msg.flat !== undefined && msg.tree !== undefined) {
          busy.delete(w);
          trees[msg.tree] = msg.flat;
          done++;
          options?.progress?.tick({ nodes: msg.flat.feature.length });
          if (done === n) {
            stop();
            resolve(trees);
            return;
          }
        }
        give(w);
      });
      w.on('error', (err) => {
        if (failed) return;
        failed = true;
        stop();
        reject(new Error(`${WHO}: a worker thread failed to run (${err.message}); set threads: 1 to grow the trees in this thread.`));
      });
      w.on('exit', (code) => {
        if (failed || !busy.has(w)) return;
        failed = true;
        stop();
        reject(new Error(`${WHO}: a worker thread exited (code ${code}) while growing a tree; set threads: 1 to grow the trees in this thread.`));
      });
    }
  });
}

export const randomForest = defineClassifier<RandomForestParams>({
  ...randomForestModel,
  library: 'ours: forest, split search (typed port; per-node histograms in large nodes), flat-array trees, saved format, predict; ml-cart 2.1.1: tree semantics, test oracle',
  // seedrandom draws each tree's bootstrap sample and split features.
  fitLibraries: ['ml-cart 2.1.1', 'seedrandom 3.0.5'],
  testParams: { nEstimators: 10, threads: 2 },
  create: (params, ctx) => ({ fit: (x, y, options) => fitForest(params, ctx.seed, x, y, options) }),
});
