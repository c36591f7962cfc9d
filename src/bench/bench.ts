/**
 * `digitbench bench`: the heavy work on full MNIST (official 60,000 / 10,000 split), timed, with the
 * accuracy and the engine of each row. Figures, not assertions: the machines are shared and noisy, so
 * each row is the median of its repeats. Classifier rows run in a child process each, like experiment
 * runs, so one row's memory does not weigh on the next.
 */
import { markdownTable } from '../report/table.ts';
import { load, loadDataset } from '../data/datasets.ts';
import { makeSplit } from '../data/split.ts';
import { getTf } from '../engine/tf.ts';
import { defaultThreads } from '../engine/threads.ts';
import { fitPca, projectPca } from '../features/pca.ts';
import { parsePipeline, stepSpecSchema } from '../features/pipeline.ts';
import { prepareFeatures } from '../features/prepare.ts';
import { scaleStep } from '../features/scale.ts';
import type { ChildRequest } from '../harness/child.ts';
import { runIsolated } from '../harness/run.ts';
import type { PeerFigures } from './peers.ts';
import { median, timeRepeated } from './stats.ts';

export interface BenchRow {
  key: string;
  work: string;
  medianSeconds: number;
  runs: number;
  engine: string;
  accuracy?: number;
  note?: string;
}

export interface BenchOptions {
  repeats: number;
  /** Repeats for rows that take more than a minute (forest, SVM, CNN epochs). */
  heavyRepeats: number;
  only?: string[];
  log?: (line: string) => void;
}

const PCA50 = parsePipeline([{ step: 'scale' }, { step: 'pca', components: 50 }]);
const RAW = parsePipeline([{ step: 'scale' }]);

interface ClassifierWork {
  key: string;
  work: string;
  plugin: string;
  params: Record<string, unknown>;
  features: typeof RAW;
  heavy: boolean;
  /** Which time the row reports. */
  measure: 'fit' | 'predict' | 'fit+predict' | 'fit-per-epoch';
  epochs?: number;
}

export const CLASSIFIER_WORK: ClassifierWork[] = [
  { key: 'nb', work: 'Gaussian NB on PCA-50, fit + predict', plugin: 'naive-bayes', params: {}, features: PCA50, heavy: false, measure: 'fit+predict' },
  { key: 'tree', work: 'decision tree, raw pixels, fit', plugin: 'decision-tree', params: {}, features: RAW, heavy: false, measure: 'fit' },
  { key: 'forest', work: 'random forest, 100 trees, raw pixels, fit', plugin: 'random-forest', params: { nEstimators: 100 }, features: RAW, heavy: true, measure: 'fit' },
  { key: 'knn', work: 'k-NN k=3 on PCA-50, predict 10k', plugin: 'knn', params: { k: 3 }, features: PCA50, heavy: false, measure: 'predict' },
  { key: 'svm', work: 'SVM RBF C=10 gamma=scale on PCA-50, fit + predict', plugin: 'svm', params: { kernel: 'rbf', C: 10, gamma: 'scale' }, features: PCA50, heavy: true, measure: 'fit+predict' },
  { key: 'lenet', work: 'CNN lenet, 1 epoch', plugin: 'cnn', params: { architecture: 'lenet', epochs: 1 }, features: RAW, heavy: true, measure: 'fit-per-epoch', epochs: 1 },
  { key: 'keras', work: 'CNN keras-mnist, 1 epoch', plugin: 'cnn', params: { architecture: 'keras-mnist', epochs: 1 }, features: RAW, heavy: true, measure: 'fit-per-epoch', epochs: 1 },
];

export const BENCH_KEYS = ['load', 'pca', ...CLASSIFIER_WORK.map((w) => w.key)];

export async function runBench(opts: BenchOptions): Promise<BenchRow[]> {
  const log = opts.log ?? (() => {});
  const rows: BenchRow[] = [];
  const want = (key: string) => !opts.only?.length || opts.only.includes(key);
  const { engine } = await getTf();

  if (want('load')) {
    log('load …');
    const runs = await timeRepeated(opts.repeats, () => load('mnist'));
    rows.push({ key: 'load', work: 'load MNIST (60k + 10k idx files → Float32)', medianSeconds: median(runs.seconds), runs: opts.repeats, engine: 'node fs' });
  }
  const ds = await loadDataset('mnist');
  if (want('pca')) {
    // The pipeline's own scale step (pixels / 255), as experiments run it.
    const { step: scaler } = scaleStep(ds.imageShape);
    const scale = (m: typeof ds.train.images) => scaler.transform(m) as typeof m;
    const xTrain = scale(ds.train.images);
    const xTest = scale(ds.test.images);
    log('PCA fit …');
    // The pipeline's defaults, so the row times what experiments run.
    const spec = stepSpecSchema.parse({ step: 'pca', components: 50 }) as { components: number; oversamples: number; iterations: number };
    const fit = await timeRepeated(opts.repeats, () => fitPca(xTrain, { ...spec, seed: 0 }));
    const ratio = fit.result.explainedVarianceRatio.reduce((a, b) => a + b, 0);
    rows.push({ key: 'pca', work: 'PCA to 50 components, fit on 60k×784', medianSeconds: median(fit.seconds), runs: opts.repeats, engine: `${engine.description} ×${defaultThreads()} worker threads`, note: `explained variance ${(ratio * 100).toFixed(2)}%` });
    const proj = await timeRepeated(opts.repeats, () => projectPca(fit.result, xTest));
    rows.push({ key: 'pca-project', work: 'PCA-50 projection of 10k test rows', medianSeconds: median(proj.seconds), runs: opts.repeats, engine: engine.description });
  }

  const split = makeSplit(ds, { seed: 1 });
  const work = CLASSIFIER_WORK.filter((w) => want(w.key));
  if (work.some((w) => w.features === PCA50)) await prepareFeatures(ds, split, PCA50, { seed: 1 }); // cached for the child runs
  for (const w of work) {
    const times: number[] = [];
    let accuracy: number | undefined;
    let eng = '';
    let failure: string | undefined;
    const n = w.heavy ? opts.heavyRepeats : opts.repeats;
    for (let i = 0; i < n && !failure; i++) {
      log(`${w.work} (${i + 1}/${n}) …`);
      const req: ChildRequest = { dataset: 'mnist', split: { seed: 1 }, features: w.features, pluginRef: w.plugin, baseDir: process.cwd(), params: w.params, seed: 1, latencySamples: 0 };
      const o = await runIsolated(req, { timeoutSeconds: 3600, memoryLimitMb: 12000 });
      if (o.status !== 'ok') {
        failure = o.reason;
        break;
      }
      const t = o.result.timing;
      times.push(w.measure === 'fit' ? t.fitSeconds : w.measure === 'predict' ? t.predictSeconds : w.measure === 'fit+predict' ? t.fitSeconds + t.predictSeconds : t.fitSeconds / (w.epochs ?? 1));
      accuracy = o.result.metrics.accuracy;
      eng = o.result.engine;
    }
    rows.push(
      failure
        ? { key: w.key, work: w.work, medianSeconds: NaN, runs: 0, engine: eng || '?', note: `failed: ${failure}` }
        : { key: w.key, work: w.work, medianSeconds: median(times), runs: times.length, engine: eng, ...(accuracy !== undefined ? { accuracy } : {}) },
    );
  }
  return rows;
}

export function formatBench(rows: BenchRow[], peers?: PeerFigures): string {
  const head = ['work', 'median', 'runs', 'accuracy', 'engine', 'note'];
  if (peers) head.push('peer', 'peer time', 'peer acc.', 'ratio');
  const body: string[][] = [];
  for (const r of rows) {
    const cells = [r.work, Number.isFinite(r.medianSeconds) ? `${r.medianSeconds.toFixed(3)} s` : '—', String(r.runs), r.accuracy !== undefined ? `${(r.accuracy * 100).toFixed(2)}%` : '', r.engine, r.note ?? ''];
    if (peers) {
      const p = peers[r.key];
      cells.push(p?.engine ?? '', p ? `${p.seconds.toFixed(3)} s` : '', p?.accuracy !== undefined ? `${(p.accuracy * 100).toFixed(2)}%` : '', p && Number.isFinite(r.medianSeconds) ? `${(r.medianSeconds / p.seconds).toFixed(2)}×` : '');
    }
    body.push(cells);
  }
  // compactRule: the `|---|---:|` rule bench has always printed.
  return markdownTable(head, body, head.map((h) => (['median', 'runs', 'accuracy', 'peer time', 'peer acc.', 'ratio'].includes(h) ? 'r' : 'l')), { compactRule: true });
}
