/**
 * `digitbench bench`: the heavy work on full MNIST (official 60,000 / 10,000 split), timed, with the
 * accuracy, the engine and the threads of each row. Figures, not assertions: the machines are shared
 * and noisy, so each row is the median of its repeats. Classifier rows run in a child process each,
 * like experiment runs, so one row's memory does not weigh on the next.
 *
 * Besides wall time, each row records the CPU time of its process over the same interval (every
 * thread): CPU ÷ wall is how many cores the work actually kept busy, whatever it was configured with.
 * Rows that are mostly multiply-adds also give their work in GFLOP, so GFLOP/s can be set against the
 * machine's ceiling, measured in the same run (ceiling.ts).
 */
import { load, loadDataset } from '../data/datasets.ts';
import { makeSplit } from '../data/split.ts';
import { getTf } from '../engine/tf.ts';
import { defaultThreads } from '../engine/threads.ts';
import { fitPca, JS_PROJECTION, pcaProjector } from '../features/pca.ts';
import { createPipeline, parsePipeline, transformRows } from '../features/pipeline.ts';
import { prepareFeatures } from '../features/prepare.ts';
import type { ChildRequest } from '../harness/child.ts';
import { runIsolated } from '../harness/run.ts';
import { measureCeiling, measureOrtCeiling, type Ceiling } from './ceiling.ts';
import { median } from './stats.ts';
import { classifierWork, PCA50, pcaFitGflop, PIXELS, TEST_ROWS, TRAIN_ROWS } from './work.ts';

export interface BenchRow {
  key: string;
  work: string;
  medianSeconds: number;
  runs: number;
  engine: string;
  /** Threads our side was given (worker threads, or the engine's). */
  threads: number;
  /** Median CPU seconds of the process over the timed work, all threads. */
  cpuSeconds?: number;
  accuracy?: number;
  /** Required digitbench ÷ peer ratio, when the row has a peer. */
  target?: number;
  gflop?: number;
  gflopNote?: string;
  note?: string;
}

export interface BenchOptions {
  repeats: number;
  /** Repeats for rows that take more than a minute (forest, SVM, CNN epochs). */
  heavyRepeats: number;
  only?: string[];
  threads?: number;
  log?: (line: string) => void;
}

export const BENCH_KEYS = ['ceiling', 'load', 'pca', 'pca-project', ...classifierWork(2).map((w) => w.key)];

function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Runs of rows whose work takes milliseconds (the projection, NB): at least this many, for a steady median. */
const SHORT_ROW_REPEATS = 11;

/** Runs `f` `times` times; wall and process CPU seconds of each run, and the last result. */
async function timeRuns<T>(times: number, f: () => Promise<T>): Promise<{ wall: number[]; cpu: number[]; result: T }> {
  const wall: number[] = [];
  const cpu: number[] = [];
  let result: T | undefined;
  for (let i = 0; i < times; i++) {
    const c = cpuNow();
    const t = performance.now();
    result = await f();
    wall.push((performance.now() - t) / 1000);
    cpu.push(cpuNow() - c);
  }
  return { wall, cpu, result: result as T };
}

export async function runBench(opts: BenchOptions): Promise<{ rows: BenchRow[]; ceiling?: Ceiling; ortCeiling?: Ceiling | { error: string } }> {
  const log = opts.log ?? (() => {});
  const rows: BenchRow[] = [];
  const want = (key: string) => !opts.only?.length || opts.only.includes(key);
  const threads = opts.threads ?? defaultThreads();
  const { engine } = await getTf();

  let ceiling: Ceiling | undefined;
  let ortCeiling: Ceiling | { error: string } | undefined;
  if (want('ceiling')) {
    log('ceiling: 2048² float32 products …');
    ceiling = await measureCeiling(2048, Math.max(3, opts.repeats), threads);
    log('ceiling: the same on onnxruntime-node …');
    ortCeiling = await measureOrtCeiling(2048, Math.max(3, opts.repeats), threads);
  }
  if (want('load')) {
    log('load …');
    const runs = await timeRuns(opts.repeats, () => load('mnist'));
    rows.push({ key: 'load', work: 'load MNIST (60k + 10k idx files → Float32)', medianSeconds: median(runs.wall), cpuSeconds: median(runs.cpu), runs: opts.repeats, engine: 'node fs', threads: 1 });
  }
  const ds = await loadDataset('mnist');
  if (want('pca') || want('pca-project')) {
    // The pipeline's own scale step (pixels / 255), as experiments run it.
    const scaler = createPipeline(parsePipeline([{ step: 'scale' }]), ds.imageShape);
    const scale = (m: typeof ds.train.images) => transformRows(scaler, m);
    const xTrain = scale(ds.train.images);
    const xTest = scale(ds.test.images);
    log('PCA fit …');
    // The pipeline's defaults, so the row times what experiments run.
    const spec = parsePipeline([{ step: 'pca', components: 50 }])[0] as { components: number; oversamples: number; iterations: number };
    const fit = await timeRuns(opts.repeats, () => fitPca(xTrain, { ...spec, seed: 0, threads }));
    const ratio = fit.result.explainedVarianceRatio.reduce((a, b) => a + b, 0);
    if (want('pca')) {
      rows.push({
        key: 'pca',
        work: 'PCA to 50 components, fit on 60k×784',
        medianSeconds: median(fit.wall),
        cpuSeconds: median(fit.cpu),
        runs: opts.repeats,
        engine: fit.result.engine,
        threads: fit.result.threads,
        target: 1,
        gflop: pcaFitGflop(TRAIN_ROWS, PIXELS, spec.components, spec.oversamples, spec.iterations),
        gflopNote: `randomized subspace iteration, ${spec.iterations} power iterations, ${spec.components} + ${spec.oversamples} vectors`,
        note: `explained variance ${(ratio * 100).toFixed(2)}%`,
      });
    }
    if (want('pca-project')) {
      // The workbench's projection (the PCA step's transformMany in an experiment's preparation): on
      // onnxruntime where it is the engine, equal bit for bit to the runtime's plain-JS one. Its session is
      // made once per fitted PCA, at the first matrix; that call is not timed (its time is in the note).
      const projector = pcaProjector(fit.result, false, { threads });
      const first = performance.now();
      await projector.project(xTest);
      const firstSeconds = (performance.now() - first) / 1000;
      // A few hundredths of a second per run: more runs than the others, so one scheduler hiccup does not decide the median.
      const projRuns = Math.max(opts.repeats, SHORT_ROW_REPEATS);
      const proj = await timeRuns(projRuns, () => projector.project(xTest));
      projector.release();
      const onOrt = projector.description(xTest.rows) !== JS_PROJECTION;
      rows.push({
        key: 'pca-project',
        work: 'PCA-50 projection of 10k test rows',
        medianSeconds: median(proj.wall),
        cpuSeconds: median(proj.cpu),
        runs: projRuns,
        engine: projector.description(xTest.rows),
        threads: projector.threads(xTest.rows),
        target: 1,
        gflop: (2 * TEST_ROWS * PIXELS * spec.components) / 1e9,
        gflopNote: '10k × 784 × 50',
        ...(onOrt ? { note: `output equal to the plain-JS projection's; first call with the session ${firstSeconds.toFixed(3)} s` } : {}),
      });
    }
  }

  const split = makeSplit(ds, { seed: 1 });
  const work = classifierWork(threads).filter((w) => want(w.key));
  if (work.some((w) => w.features === PCA50)) await prepareFeatures(ds, split, PCA50, { seed: 1 }); // cached for the child runs
  for (const w of work) {
    const wall: number[] = [];
    const cpu: number[] = [];
    let accuracy: number | undefined;
    let eng = '';
    let failure: string | undefined;
    const n = w.heavy ? opts.heavyRepeats : w.short ? Math.max(opts.repeats, SHORT_ROW_REPEATS) : opts.repeats;
    for (let i = 0; i < n && !failure; i++) {
      log(`${w.work} (${i + 1}/${n}) …`);
      const req: ChildRequest = { dataset: 'mnist', split: { seed: 1 }, features: w.features, pluginRef: w.plugin, baseDir: process.cwd(), params: w.params, seed: 1, latencySamples: 0 };
      const o = await runIsolated(req, { timeoutSeconds: 3600, memoryLimitMb: 12000 });
      if (o.status !== 'ok') {
        failure = o.reason;
        break;
      }
      const t = o.result.timing;
      const per = w.epochs ?? 1;
      const pick = (fit: number, predict: number) => (w.measure === 'fit' ? fit : w.measure === 'predict' ? predict : w.measure === 'fit+predict' ? fit + predict : fit / per);
      wall.push(pick(t.fitSeconds, t.predictSeconds));
      cpu.push(pick(t.fitCpuSeconds ?? NaN, t.predictCpuSeconds ?? NaN));
      accuracy = o.result.metrics.accuracy;
      eng = o.result.engine;
    }
    const declared = typeof w.params.threads === 'number' ? w.params.threads : 1;
    const base = { key: w.key, work: w.work, engine: eng || '?', threads: declared, target: w.target, ...(w.gflop ? { gflop: w.gflop, gflopNote: w.gflopNote } : {}) };
    rows.push(
      failure
        ? { ...base, medianSeconds: NaN, runs: 0, note: `failed: ${failure}` }
        : { ...base, medianSeconds: median(wall), cpuSeconds: median(cpu), runs: wall.length, ...(accuracy !== undefined ? { accuracy } : {}) },
    );
  }
  return { rows, ...(ceiling ? { ceiling } : {}), ...(ortCeiling ? { ortCeiling } : {}) };
}
