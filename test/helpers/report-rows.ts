/** A fixed, hand-made set of result rows for the report tests (no MNIST needed). */
import { encodeLabels, labelsHash, type ResultRow } from '../../src/results/row.ts';

export const N_TEST = 100;
/** Test labels 0..9 repeated. */
export const testLabels = Int32Array.from({ length: N_TEST }, (_, i) => i % 10);

/** Predictions equal to the labels except at `wrong` rows, where they are label + 1 (mod 10). */
export function predictionsWith(wrong: readonly number[]): Int32Array {
  const p = testLabels.slice();
  for (const i of wrong) p[i] = (p[i]! + 1) % 10;
  return p;
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

const env = {
  node: 'v20.20.2',
  platform: 'linux x64',
  cpu: 'Test CPU @ 2.0GHz',
  cores: 2,
  tfjsBackend: 'wasm',
  threads: 1,
  packages: { 'ml-knn': '3.0.0', 'libsvm-js': '0.2.1', '@tensorflow/tfjs': '4.22.0' },
  gitCommit: '0123456789abcdef0123456789abcdef01234567',
};

const split = { train: 1000, validation: 0, test: N_TEST, seed: 1, fingerprint: 'f00dfeed12345678' };

let n = 0;
function base(classifier: string, params: Record<string, unknown>, extra: Partial<ResultRow> = {}) {
  n++;
  return {
    id: `run-${String(n).padStart(2, '0')}-${classifier}`,
    experiment: 'fixture',
    dataset: 'mnist',
    split,
    features: ['scale'],
    classifier,
    library: 'lib 1.0.0',
    engine: 'js',
    params,
    seed: 1,
    repetition: 0,
    startedAt: `2026-01-02T03:04:${String(n).padStart(2, '0')}.000Z`,
    env,
    ...extra,
  };
}

function ok(classifier: string, params: Record<string, unknown>, wrong: number[], more: Record<string, unknown> = {}, withLabels = false): ResultRow {
  const pred = predictionsWith(wrong);
  const correct = N_TEST - wrong.length;
  return {
    ...base(classifier, params),
    status: 'ok',
    metrics: { accuracy: correct / N_TEST, macroF1: 0.5, correct, total: N_TEST },
    timing: { featureSeconds: 0.01, fitSeconds: 1.5, predictSeconds: 0.2, latencyMsP50: 0.5, latencyMsP95: 0.9 },
    peakRssMb: 250,
    modelBytes: 1_000_000,
    predictions: encodeLabels(pred),
    ...(withLabels ? { testLabels: encodeLabels(testLabels) } : {}),
    testLabelsHash: labelsHash(testLabels),
    ...more,
  } as ResultRow;
}

/** Deployment figures as the harness records them (measured on the run's bundle). */
function deployed(file: string, bundleBytes: number, passP50Ms: number[], p95: number, coldStartMs: number, throughput: number) {
  const sorted = [...passP50Ms].sort((a, b) => a - b);
  return {
    bundle: { file, bytes: bundleBytes },
    deployment: {
      coldStartMs,
      latencyMsP50: sorted[Math.floor(sorted.length / 2)]!,
      latencyMsP95: p95,
      passP50Ms,
      calls: passP50Ms.length * 200,
      throughputPerSecond: throughput,
      batch: 100,
      threads: 1,
      engine: 'js',
      agreement: { same: N_TEST, total: N_TEST },
    },
  };
}

/**
 * svm 97% (latency straddling 1 ms, 1.2 MB bundle) > knn 95/94% (2 seeds; slow, 3.4 MB) > random-forest 90%
 * (fast, 2.1 MB) > naive-bayes 60% (no bundle, no latency, no model size), plus a failed decision tree and
 * a timed-out cnn.
 */
export function fixtureRows(): ResultRow[] {
  n = 0;
  const knnTiming = { featureSeconds: 0.01, fitSeconds: 0.01, predictSeconds: 2.4, latencyMsP50: 2.4, latencyMsP95: 3.1 };
  const knn1 = ok('knn', { k: 3, distance: 'euclidean' }, range(0, 5), { timing: knnTiming, modelBytes: 3_200_000, ...deployed('models/knn-run01.bundle', 3_400_000, [2.5, 2.6, 2.4], 3.4, 180, 9000), engine: 'js (brute force)', library: 'ml-knn 3.0.0 (patched)' }, true);
  const knn2 = { ...ok('knn', { k: 3, distance: 'euclidean' }, range(10, 6), { timing: { ...knnTiming, predictSeconds: 2.6, latencyMsP50: 2.6, latencyMsP95: 3.3 }, modelBytes: 3_200_000, ...deployed('models/knn-run05.bundle', 3_400_000, [2.7, 2.6, 2.8], 3.6, 190, 8800), engine: 'js (brute force)', library: 'ml-knn 3.0.0 (patched)' }), seed: 2, repetition: 1 } as ResultRow;
  const svm = ok('svm', { kernel: 'rbf', cost: 10, gamma: 0.02 }, [0, 1, 50], { timing: { featureSeconds: 0.4, fitSeconds: 3.1, predictSeconds: 0.05, latencyMsP50: 0.4, latencyMsP95: 0.6 }, modelBytes: 900_000, ...deployed('models/svm-run04.bundle', 1_200_000, [0.8, 0.9, 1.1], 1.4, 140, 2500), library: 'libsvm-js 0.2.1', engine: 'libsvm wasm' });
  const rf = ok('random-forest', { nEstimators: 20 }, range(20, 10), { timing: { featureSeconds: 0.01, fitSeconds: 12.5, predictSeconds: 0.02, latencyMsP50: 0.05, latencyMsP95: 0.08 }, modelBytes: 2_000_000, ...deployed('models/random-forest-run07.bundle', 2_100_000, [0.06, 0.05, 0.07], 0.09, 25, 40000), library: 'split search and forest: digitbench (typed); tree model format: ml-cart 2.1.1' });
  const nb = ok('naive-bayes', {}, range(40, 40), { timing: { featureSeconds: 0.01, fitSeconds: 0.02, predictSeconds: 0.001 }, modelBytes: undefined, noBundle: 'the plugin "naive-bayes" has no serialize(), so its models cannot be saved', library: 'ml-naivebayes 4.0.0 (patched)' });
  delete (nb as { modelBytes?: number }).modelBytes;
  const tree: ResultRow = { ...base('decision-tree', { maxDepth: 10 }), status: 'failed', reason: 'ml-cart threw "Cannot read properties of undefined (reading \'length\')" while fitting; see the log.' } as ResultRow;
  const cnn: ResultRow = { ...base('cnn', { epochs: 2, batchSize: 128 }, { engine: 'tfjs-wasm 4.22.0 (SIMD, 1 thread)' }), status: 'timeout', reason: 'No result after 600 s (limit: timeoutSeconds in the config).', elapsedSeconds: 600 } as ResultRow;
  return [knn1, nb, tree, svm, knn2, cnn, rf];
}
