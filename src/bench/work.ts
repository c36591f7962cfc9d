/**
 * What `digitbench bench` times: each row's work, the thread count our side is given, the target
 * ratio to the peer (issue 25: every row ≤ 1.0×, on the engine engineChoice() picks) and, for rows that
 * are mostly multiply-adds, the work in GFLOP.
 */
import { parsePipeline } from '../features/pipeline.ts';

export const PCA50 = parsePipeline([{ step: 'scale' }, { step: 'pca', components: 50 }]);
export const RAW = parsePipeline([{ step: 'scale' }]);

export const TRAIN_ROWS = 60000;
export const TEST_ROWS = 10000;
export const PIXELS = 784;

export interface ClassifierWork {
  key: string;
  work: string;
  plugin: string;
  params: Record<string, unknown>;
  features: typeof RAW;
  heavy: boolean;
  /** Milliseconds of work per run: timed more often than the others (SHORT_ROW_REPEATS in bench.ts) for a steady median. */
  short?: boolean;
  /** Which time the row reports. */
  measure: 'fit' | 'predict' | 'fit+predict' | 'fit-per-epoch';
  epochs?: number;
  /** Required ratio to the peer (digitbench ÷ peer). */
  target: number;
  /** Floating-point operations of the timed work, in GFLOP (multiply-add = 2), when it is mostly products. */
  gflop?: number;
  /** How `gflop` was counted. */
  gflopNote?: string;
}

/** Forward multiply-adds of one image through a CNN's conv and dense layers (pooling, ReLU, softmax not counted). */
export function cnnForwardFlop(arch: 'lenet' | 'keras-mnist'): number {
  const conv = (outH: number, outW: number, cOut: number, k: number, cIn: number) => 2 * outH * outW * cOut * k * k * cIn;
  const dense = (i: number, o: number) => 2 * i * o;
  if (arch === 'lenet') return conv(28, 28, 6, 5, 1) + conv(10, 10, 16, 5, 6) + dense(400, 120) + dense(120, 84) + dense(84, 10);
  return conv(26, 26, 32, 3, 1) + conv(24, 24, 64, 3, 32) + dense(9216, 128) + dense(128, 10);
}

/** One training epoch: forward + input gradient + weight gradient, about 3× the forward work per image. */
export function cnnEpochGflop(arch: 'lenet' | 'keras-mnist', rows = TRAIN_ROWS): number {
  return (3 * cnnForwardFlop(arch) * rows) / 1e9;
}

/** Randomized subspace iteration as src/features/pca.ts runs it: 2q + 1 products n×d by d×l, plus the l×l Gram. */
export function pcaFitGflop(n: number, d: number, k: number, oversamples: number, iterations: number): number {
  const l = k + oversamples;
  return ((2 * iterations + 1) * 2 * n * d * l + 2 * n * l * l) / 1e9;
}

export const THREADS_KEY = 'threads';

export function classifierWork(threads: number): ClassifierWork[] {
  return [
    { key: 'nb', work: 'Gaussian NB on PCA-50, fit + predict', plugin: 'naive-bayes', params: {}, features: PCA50, heavy: false, short: true, measure: 'fit+predict', target: 1 },
    { key: 'tree', work: 'decision tree, raw pixels, fit', plugin: 'decision-tree', params: {}, features: RAW, heavy: false, measure: 'fit', target: 1 },
    { key: 'forest', work: 'random forest, 100 trees, raw pixels, fit', plugin: 'random-forest', params: { nEstimators: 100, threads }, features: RAW, heavy: true, measure: 'fit', target: 1 },
    {
      key: 'knn',
      work: 'k-NN k=3 on PCA-50, predict 10k',
      plugin: 'knn',
      params: { k: 3, threads },
      features: PCA50,
      heavy: false,
      measure: 'predict',
      target: 1,
      gflop: (2 * TEST_ROWS * TRAIN_ROWS * 51) / 1e9,
      gflopNote: 'the dense product of exact brute force, 10k × 60k × (50 + 1)',
    },
    { key: 'svm', work: 'SVM RBF C=10 gamma=scale on PCA-50, fit + predict', plugin: 'svm', params: { kernel: 'rbf', C: 10, gamma: 'scale', threads }, features: PCA50, heavy: true, measure: 'fit+predict', target: 1 },
    {
      key: 'lenet',
      work: 'CNN lenet, 1 epoch',
      plugin: 'cnn',
      params: { architecture: 'lenet', epochs: 1, threads },
      features: RAW,
      heavy: true,
      measure: 'fit-per-epoch',
      epochs: 1,
      target: 1,
      gflop: cnnEpochGflop('lenet'),
      gflopNote: '3 × the forward conv and dense multiply-adds × 60k images',
    },
    {
      key: 'keras',
      work: 'CNN keras-mnist, 1 epoch',
      plugin: 'cnn',
      params: { architecture: 'keras-mnist', epochs: 1, threads },
      features: RAW,
      heavy: true,
      measure: 'fit-per-epoch',
      epochs: 1,
      target: 1,
      gflop: cnnEpochGflop('keras-mnist'),
      gflopNote: '3 × the forward conv and dense multiply-adds × 60k images',
    },
  ];
}
