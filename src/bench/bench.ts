/**
 * `digitbench bench`: times the heavy steps on full MNIST and prints a table of medians.
 * Figures, not assertions: the machines are shared and noisy, so each row is a median of repeats.
 */
import { load } from '../data/datasets.ts';
import { getTf } from '../engine/tf.ts';
import { fitPca, projectPca } from '../features/pca.ts';
import { mapRows } from '../features/step.ts';
import { median, timeRepeated } from './stats.ts';

export interface BenchRow {
  work: string;
  medianSeconds: number;
  runs: number;
  engine: string;
  note?: string;
}

export interface BenchOptions {
  repeats: number;
  only?: string[];
  log?: (line: string) => void;
}

export async function runBench(opts: BenchOptions): Promise<BenchRow[]> {
  const log = opts.log ?? (() => {});
  const rows: BenchRow[] = [];
  const want = (name: string) => !opts.only?.length || opts.only.includes(name);
  const { engine } = await getTf();

  log('loading MNIST …');
  const loadRuns = await timeRepeated(opts.repeats, () => load('mnist'));
  const ds = loadRuns.result;
  if (want('load')) {
    rows.push({ work: 'load MNIST (60k + 10k idx files → Float32)', medianSeconds: median(loadRuns.seconds), runs: opts.repeats, engine: 'node fs' });
  }
  if (want('pca')) {
    const scale = (m: typeof ds.train.images) => mapRows(m, m.cols, (s, d) => { for (let j = 0; j < s.length; j++) d[j] = s[j]! / 255; });
    const xTrain = scale(ds.train.images);
    const xTest = scale(ds.test.images);
    log('PCA fit …');
    const fit = await timeRepeated(opts.repeats, () => fitPca(xTrain, { components: 50, oversamples: 20, iterations: 4, seed: 0 }));
    const ratio = fit.result.explainedVarianceRatio.reduce((a, b) => a + b, 0);
    rows.push({
      work: 'PCA to 50 components, fit on 60k×784',
      medianSeconds: median(fit.seconds),
      runs: opts.repeats,
      engine: engine.description,
      note: `explained variance ${(ratio * 100).toFixed(2)}%`,
    });
    log('PCA project …');
    const proj = await timeRepeated(opts.repeats, () => projectPca(fit.result, xTest));
    rows.push({ work: 'PCA-50 projection of 10k test rows', medianSeconds: median(proj.seconds), runs: opts.repeats, engine: engine.description });
  }
  return rows;
}

export function formatBench(rows: BenchRow[]): string {
  const lines = ['| work | median | runs | engine | note |', '|---|---:|---:|---|---|'];
  for (const r of rows) lines.push(`| ${r.work} | ${r.medianSeconds.toFixed(3)} s | ${r.runs} | ${r.engine} | ${r.note ?? ''} |`);
  return lines.join('\n');
}
