/**
 * One run, in its own process: load the split, read the features the parent prepared, fit,
 * predict, time single-row latency, serialize, and report measurements to the parent over IPC.
 * Or one candidate setting's selection: fit and score it on each fold of the split's training rows
 * (the test rows are not loaded into the features at all).
 * A crash, hang or out-of-memory here cannot take the other runs down.
 */
import type { DatasetSource } from '../data/sources.ts';
import { rm } from 'node:fs/promises';
import { loadDataset, releaseDataset, type Dataset } from '../data/datasets.ts';
import { makeSplit, selectionFolds, subsampleFold, testPart, type SelectionSpec, type Split, type SplitSpec } from '../data/split.ts';
import { createMatrix, sliceRows, takeLabels, takeRows } from '@digitbench/runtime/internal';
import { sha256 } from '../engine/hash.ts';
import { loadedEngine } from '../engine/tf.ts';
import { restorePipeline, transformRows, type StepSpec } from '../features/pipeline.ts';
import { prepareFeatures } from '../features/prepare.ts';
import { resolvePlugin } from '../classifiers/registry.ts';
import { writeBundle } from '../bundle/file.ts';
import type { BundleInput, Precision } from '@digitbench/runtime/internal';
import { DIGITBENCH_VERSION } from './env.ts';
import { serveOneRequest } from './serve.ts';
import { parseParams, type ClassifierContext, type ClassifierPlugin, type ModelRuntime } from '../classifiers/plugin.ts';
import type { Matrix, Model } from '@digitbench/runtime/internal';
import { correctCount } from '../metrics/accuracy.ts';
import { confusionMatrix } from '../metrics/confusion.ts';
import { perClass } from '../metrics/per-class.ts';
import { percentile } from '../metrics/intervals.ts';
import { checkModelClasses, checkPredictedLabels, encodeLabels, labelsHash, type Fold } from '../results/row.ts';
import { oneLine } from './isolated.ts';
import { fitTrust, fitTrustOnValidation, type TrustOutcome } from './trust.ts';
import type { Trust } from '@digitbench/runtime/internal';
import type { TrustFigures } from '../results/row.ts';

export interface ChildRequest {
  dataset: DatasetSource;
  split: SplitSpec;
  features: StepSpec[];
  pluginRef: string;
  baseDir: string;
  params: Record<string, unknown>;
  seed: number;
  latencySamples: number;
  /** The "unsure" answer's target accuracy (experiment key reject); calibration and threshold are fitted on the validation rows. */
  reject?: { targetAccuracy: number };
  /**
   * Where to write the model bundle (absolute), and what its header records about the run; `refitFile`:
   * also fit the setting again on the training plus test rows and write that model there (refit: "all").
   */
  bundle?: {
    file: string;
    runId: string;
    experiment: string;
    classifier: string;
    refitFile?: string;
    /** Compact bundles to write beside it (bundle.precision): each precision and its file (absolute). */
    compact?: { precision: Precision; file: string }[];
  };
}

/** Score one candidate setting on every selection fold of the split's training rows. */
export interface SelectRequest {
  kind: 'select';
  dataset: DatasetSource;
  split: SplitSpec;
  selection: SelectionSpec;
  features: StepSpec[];
  pluginRef: string;
  baseDir: string;
  params: Record<string, unknown>;
  seed: number;
  /**
   * Successive halving's rung and what it gives each fold: rows (each fold's training and validation
   * parts cut to ⌊value/n · |part|⌋ by split.ts subsampleFold, n = the rows the folds divide), or epochs
   * (params.epochs = value, a fresh fit). The rung itself only names the row.
   */
  rung?: number;
  resource?: { kind: 'rows' | 'epochs'; value: number };
}

export interface SelectMeasurements {
  folds: Fold[];
}

/** Raw images whose transform is timed per fold, for the pipeline's per-image cost. */
const TRANSFORM_SAMPLE = 500;

export interface ChildMeasurements {
  engine: string;
  tfjsBackend: string | null;
  /** The most threads a part of the run kept busy (threadsUsed's largest). */
  threads: number;
  /** Threads each part kept busy: the feature pipeline's fit (when it ran on threads), the fit (Model.runtime().fitThreads) and predict (its threads). */
  threadsUsed: { features?: number; fit: number; predict: number };
  metrics: { accuracy: number; macroF1: number; correct: number; total: number };
  timing: { featureSeconds: number; fitSeconds: number; predictSeconds: number; fitCpuSeconds?: number; predictCpuSeconds?: number; latencyMsP50?: number; latencyMsP95?: number };
  peakRssMb: number;
  modelBytes?: number;
  /** The bundle written (absolute path, bytes), or why there is none. */
  bundle?: { file: string; bytes: number };
  noBundle?: string;
  /** The refitted bundle (refit: "all"): fitted on `trainRows` rows (training plus test), untested. */
  refit?: { file: string; bytes: number; trainRows: number };
  /** The compact bundles written (or why not), each with its own predictions of the test rows (encodeLabels). */
  compact?: CompactWritten[];
  /** Calibration and threshold (fitted on validation rows, measured on test rows), or why there are none. */
  trust?: TrustFigures;
  noTrust?: string;
  predictions: string;
  testLabels: string;
  testLabelsHash: string;
}

/** A compact bundle as the run's process wrote and measured it. */
export type CompactWritten =
  | { precision: Precision; file: string; bytes: number; modelBytes: number; correct: number; total: number; same: number; predictions: string }
  | { precision: Precision; error: string };

export type ChildMessage =
  | { type: 'progress'; phase: string; total?: number; unit?: string; info?: Record<string, string | number> }
  | { type: 'result'; result: ChildMeasurements }
  | { type: 'error'; message: string };



/**
 * The run's features. The raw dataset is released afterwards, so that while the classifier fits, the
 * process holds the feature matrix and whatever the classifier builds, not also the raw pixels.
 */
async function features(req: ChildRequest) {
  const dataset = await loadDataset(req.dataset);
  const split = makeSplit(dataset, req.split);
  const about = { name: dataset.name, contentHash: dataset.contentHash, imageShape: dataset.imageShape, classNames: dataset.classes, split };
  try {
    return { about, ...(await prepareFeatures(dataset, split, req.features, { seed: split.seed })) };
  } finally {
    releaseDataset(req.dataset);
  }
}

const quietLog = { info: () => {}, warn: (m: string) => process.stderr.write(`${m}\n`) };

function checkImageInput(plugin: { name: string; input: string }, f: { image: unknown; labels: string[] }): void {
  if (plugin.input === 'image' && !f.image) {
    throw new Error(`Classifier "${plugin.name}" takes images, but its features end as plain vectors (${f.labels.join(', ')}); give it image steps only.`);
  }
}

export async function runSelect(req: SelectRequest, progress: (m: ChildMessage) => void): Promise<SelectMeasurements> {
  const plugin = await resolvePlugin(req.pluginRef, req.baseDir);
  const resource = req.resource;
  const params = parseParams(plugin, resource?.kind === 'epochs' ? { ...req.params, epochs: resource.value } : req.params);
  const dataset = await loadDataset(req.dataset);
  const split = makeSplit(dataset, req.split);
  const folds = selectionFolds(dataset, split, req.selection).map((f) =>
    resource?.kind === 'rows' ? subsampleFold(dataset, f, resource.value, f.train.length + f.validation.length, req.selection.seed) : f,
  );
  progress({ type: 'progress', phase: 'fit', total: folds.length, unit: 'folds' });
  const out: Fold[] = [];
  for (const fold of folds) {
    const f = await prepareFeatures(dataset, fold, req.features, { seed: split.seed });
    checkImageInput(plugin, f);
    const raw = takeRows(dataset.train.images, fold.validation.subarray(0, TRANSFORM_SAMPLE));
    const pipeline = restorePipeline(f.specs, dataset.imageShape, f.states);
    let t = performance.now();
    await transformRows(pipeline, raw);
    const transformMsPerImage = (performance.now() - t) / raw.rows;
    const estimator = plugin.create(params, { seed: req.seed, log: quietLog, imageShape: f.image });
    t = performance.now();
    // No validation rows for early stopping here: the fold's held-out rows are what the candidate is scored on.
    const model = await estimator.fit(f.train.x, f.train.y, {});
    const fitSeconds = (performance.now() - t) / 1000;
    try {
      const val = f.validation!;
      t = performance.now();
      const pred = await model.predict(val.x);
      const predictSeconds = (performance.now() - t) / 1000;
      checkPredictedLabels(pred, model.classes);
      out.push({ train: f.train.y.length, validation: val.y.length, accuracy: correctCount(val.y, pred) / pred.length, fitSeconds, predictSeconds, featureSeconds: f.seconds, transformMsPerImage });
    } finally {
      model.dispose();
    }
    progress({ type: 'progress', phase: 'tick', info: { fold: out.length, accuracy: out[out.length - 1]!.accuracy.toFixed(4) } });
  }
  return { folds: out };
}

/** CPU time of the whole process (every thread, worker threads included) since `start`, in seconds. */
function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1e6;
}

export async function runOne(req: ChildRequest, progress: (m: ChildMessage) => void): Promise<ChildMeasurements> {
  const plugin = await resolvePlugin(req.pluginRef, req.baseDir);
  const params = parseParams(plugin, req.params);
  progress({ type: 'progress', phase: 'features' });
  const f = await features(req);
  checkImageInput(plugin, f);
  const estimator = plugin.create(params, { seed: req.seed, log: quietLog, imageShape: f.image });
  progress({ type: 'progress', phase: 'fit' });
  let cpu = process.cpuUsage();
  let t = performance.now();
  let disposed = false;
  const model = await estimator.fit(f.train.x, f.train.y, {
    ...(f.validation ? { validation: f.validation } : {}),
    progress: {
      start: (total, unit) => progress({ type: 'progress', phase: 'fit', total, unit }),
      tick: (info) => progress({ type: 'progress', phase: 'tick', info }),
    },
  });
  try {
    const fitSeconds = (performance.now() - t) / 1000;
    const fitCpuSeconds = cpuSecondsSince(cpu);
    progress({ type: 'progress', phase: 'predict' });
    cpu = process.cpuUsage();
    t = performance.now();
    const pred = await model.predict(f.test.x);
    const predictSeconds = (performance.now() - t) / 1000;
    const predictCpuSeconds = cpuSecondsSince(cpu);
    // A label outside the trained classes is a broken plugin, not a low accuracy.
    checkModelClasses(model.classes, f.train.y);
    checkPredictedLabels(pred, model.classes);
    // Model-only latency (features already computed); the deployment figures come from the bundle.
    const lat: number[] = [];
    const n = Math.min(req.latencySamples, f.test.x.rows);
    for (let i = 0; i < n + 5 && n > 0; i++) {
      const r = i % f.test.x.rows;
      const t0 = performance.now();
      await model.predict(sliceRows(f.test.x, r, r + 1));
      if (i >= 5) lat.push(performance.now() - t0); // the first few warm caches up
    }
    lat.sort((a, b) => a - b);
    progress({ type: 'progress', phase: 'calibrate' });
    let trusted: TrustOutcome;
    try {
      trusted = await fitTrust(model, f.validation, { ...f.test, predicted: pred }, req.reject?.targetAccuracy ?? 0.995);
    } catch (e) {
      trusted = { noTrust: `calibration failed: ${oneLine((e as Error).message)}` };
    }
    const trust = 'trust' in trusted ? trusted.trust : undefined;
    const bytes = model.serialize ? await model.serialize() : undefined;
    // The compact bytes too, while the fitted model is live (it is disposed before the round trip).
    const compactBytes = bytes && plugin.load && req.bundle?.compact?.length ? await serializeCompact(model, plugin, req.bundle.compact) : [];
    const engine = model.engine();
    // Read while the model is live (it may be disposed before the bundle's round trip).
    const runtime = model.runtime?.() ?? { engine, threads: 1 };
    const cm = confusionMatrix(f.test.y, pred);
    const correct = correctCount(f.test.y, pred);
    const accuracy = correct / pred.length;
    let bundle: ChildMeasurements['bundle'];
    let noBundle: string | undefined;
    if (!bytes) noBundle = `the plugin "${plugin.name}" has no serialize(), so its models cannot be saved`;
    else if (!plugin.load) noBundle = `the plugin "${plugin.name}" has no load(), so a saved model could not be rebuilt`;
    else if (req.bundle) {
      progress({ type: 'progress', phase: 'bundle' });
      const runInfo = { id: req.bundle.runId, experiment: req.bundle.experiment, classifier: req.bundle.classifier, seed: req.seed };
      try {
        const size = await writeBundle(req.bundle.file, bundleInput(f, plugin, params, model.classes, engine, bytes, { ...runInfo, testAccuracy: accuracy, testRows: pred.length }, trust));
        bundle = { file: req.bundle.file, bytes: size };
      } catch (e) {
        // The run's measurements stand; only the bundle is missing, and the row says why.
        noBundle = `writing the bundle failed: ${(e as Error).message.split('\n')[0]}`;
      }
    }
    // The run's own peak (fit, predict, bundle), taken before the bundle's model is rebuilt below.
    const peakRssMb = process.resourceUsage().maxRSS / 1024;
    if (bundle) {
      // The fitted model is done with (its predictions and bytes are kept): freed first, so that the
      // rebuilt one does not double the memory (and only once: a plugin's dispose need not be idempotent).
      disposed = true;
      model.dispose();
      try {
        await checkRebuild(plugin, bytes!, params, { seed: req.seed, log: quietLog, ...(f.image ? { imageShape: f.image } : {}) }, f.test.x, pred);
      } catch (e) {
        await rm(bundle.file, { force: true });
        throw e;
      }
    }
    let compact: CompactWritten[] | undefined;
    if (bundle && compactBytes.length) {
      progress({ type: 'progress', phase: 'compact' });
      compact = await writeCompact(compactBytes, { plugin, params, f, classes: model.classes, engine, predictions: pred, trust, run: { id: req.bundle!.runId, experiment: req.bundle!.experiment, classifier: req.bundle!.classifier, seed: req.seed } });
    }
    let refit: ChildMeasurements['refit'];
    if (bundle && req.bundle?.refitFile) {
      progress({ type: 'progress', phase: 'refit' });
      refit = await refitAll(req, plugin, params, req.bundle.refitFile, { id: req.bundle.runId, experiment: req.bundle.experiment, classifier: req.bundle.classifier, seed: req.seed, testAccuracy: accuracy, testRows: pred.length });
    }
    const tf = loadedEngine();
    return {
      engine,
      tfjsBackend: tf?.backend ?? null,
      ...threadsOf(runtime, f.threads),
      metrics: { accuracy, macroF1: perClass(cm).macroF1, correct, total: pred.length },
      timing: {
        featureSeconds: f.seconds,
        fitSeconds,
        predictSeconds,
        fitCpuSeconds,
        predictCpuSeconds,
        ...(lat.length ? { latencyMsP50: percentile(lat, 50), latencyMsP95: percentile(lat, 95) } : {}),
      },
      peakRssMb,
      ...(bytes ? { modelBytes: bytes.byteLength } : {}),
      ...(bundle ? { bundle } : {}),
      ...(noBundle ? { noBundle } : {}),
      ...(refit ? { refit } : {}),
      ...(compact ? { compact } : {}),
      ...('trust' in trusted ? { trust: trusted.figures } : { noTrust: trusted.noTrust }),
      predictions: encodeLabels(pred),
      testLabels: encodeLabels(f.test.y),
      testLabelsHash: labelsHash(f.test.y),
    };
  } finally {
    if (!disposed) model.dispose();
  }
}

/**
 * The threads the run really kept busy, as the parts report them: the feature pipeline's fit (e.g. PCA on the
 * engine pool; as when it was computed, for cached features), the model's fit and its predict.
 */
function threadsOf(runtime: ModelRuntime, featureThreads: number): Pick<ChildMeasurements, 'threads' | 'threadsUsed'> {
  const used = { ...(featureThreads > 1 ? { features: featureThreads } : {}), fit: Math.max(1, runtime.fitThreads ?? 1), predict: Math.max(1, runtime.threads) };
  return { threads: Math.max(used.features ?? 1, used.fit, used.predict), threadsUsed: used };
}

type RunInfo = BundleInput['run'];

/** serialize({ precision }) for each compact bundle asked for; a precision the plugin has no format for, or a failure, is that bundle's error. */
async function serializeCompact(model: Model, plugin: ClassifierPlugin, wanted: { precision: Precision; file: string }[]): Promise<({ precision: Precision; file: string } & ({ bytes: Uint8Array } | { error: string }))[]> {
  const out: ({ precision: Precision; file: string } & ({ bytes: Uint8Array } | { error: string }))[] = [];
  for (const w of wanted) {
    if (!plugin.precisions?.includes(w.precision)) {
      out.push({ ...w, error: `the plugin "${plugin.name}" has no ${w.precision} format` });
      continue;
    }
    try {
      out.push({ ...w, bytes: await model.serialize!({ precision: w.precision }) });
    } catch (e) {
      out.push({ ...w, error: `serialize({ precision: '${w.precision}' }) failed: ${oneLine((e as Error).message)}` });
    }
  }
  return out;
}

/**
 * Each compact model rebuilt by the plugin's load() from its bytes and run on every test row (its accuracy,
 * and agreement with the float32 model's labels), then written as a bundle whose header carries its own
 * test accuracy. One that cannot be rebuilt or run is not written; its error is recorded.
 */
async function writeCompact(
  compact: Awaited<ReturnType<typeof serializeCompact>>,
  c: { plugin: ClassifierPlugin; params: unknown; f: Awaited<ReturnType<typeof features>>; classes: Int32Array; engine: string; predictions: Int32Array; trust: Trust | undefined; run: Omit<RunInfo, 'testAccuracy' | 'testRows'> },
): Promise<CompactWritten[]> {
  const out: CompactWritten[] = [];
  const { f } = c;
  for (const item of compact) {
    if ('error' in item) {
      out.push({ precision: item.precision, error: item.error });
      continue;
    }
    let labels: Int32Array;
    try {
      const rebuilt = await c.plugin.load!(item.bytes, c.params, { seed: c.run.seed, log: quietLog, ...(f.image ? { imageShape: f.image } : {}) });
      try {
        labels = await rebuilt.predict(f.test.x);
        checkPredictedLabels(labels, c.classes);
      } finally {
        rebuilt.dispose();
      }
    } catch (e) {
      out.push({ precision: item.precision, error: `the ${item.precision} model could not be rebuilt or run: ${oneLine((e as Error).message)}` });
      continue;
    }
    const correct = correctCount(f.test.y, labels);
    let same = 0;
    for (let i = 0; i < labels.length; i++) if (labels[i] === c.predictions[i]) same++;
    try {
      const size = await writeBundle(item.file, bundleInput(f, c.plugin, c.params, c.classes, c.engine, item.bytes, { ...c.run, testAccuracy: labels.length ? correct / labels.length : 0, testRows: labels.length }, c.trust));
      out.push({ precision: item.precision, file: item.file, bytes: size, modelBytes: item.bytes.byteLength, correct, total: labels.length, same, predictions: encodeLabels(labels) });
    } catch (e) {
      out.push({ precision: item.precision, error: `writing the ${item.precision} bundle failed: ${oneLine((e as Error).message)}` });
    }
  }
  return out;
}

/** What a bundle holds: the dataset, the fitted pipeline, the plugin with its params and model bytes, the split and the run. */
function bundleInput(
  f: Awaited<ReturnType<typeof features>>,
  plugin: ClassifierPlugin,
  params: unknown,
  classes: Int32Array,
  engine: string,
  modelBytes: Uint8Array,
  run: RunInfo,
  trust?: Trust,
): BundleInput {
  const { about } = f;
  return {
    digitbench: DIGITBENCH_VERSION,
    createdAt: new Date().toISOString(),
    dataset: { name: about.name, contentHash: about.contentHash, imageShape: about.imageShape, classNames: about.classNames },
    classes: Array.from(classes),
    pipeline: f.specs.map((spec, i) => ({ spec, state: f.states[i]! })),
    plugin: {
      name: plugin.name,
      library: plugin.library,
      params: params as Record<string, unknown>,
      ...(plugin.scoreKind ? { scoreKind: plugin.scoreKind } : {}),
      engine,
    },
    modelBytes,
    ...(trust ? { trust } : {}),
    split: { fingerprint: about.split.fingerprint, train: about.split.train.length, validation: about.split.validation.length, test: about.split.test.length, seed: about.split.seed },
    run,
  };
}

/**
 * refit: "all": the tested setting fitted again, with the same seed, on the run's training plus test
 * rows (validation rows stay the validation part, for early stopping), and written as a second bundle
 * whose header says it is refitted and untested and carries the tested run's figures. Its round trip is
 * checked like the tested bundle's, on its own first training rows.
 */
async function refitAll(req: ChildRequest, plugin: ClassifierPlugin, params: unknown, file: string, tested: RunInfo): Promise<NonNullable<ChildMeasurements['refit']>> {
  const dataset = await loadDataset(req.dataset);
  const split = makeSplit(dataset, req.split);
  const test = testPart(dataset, split);
  const train = takeRows(dataset.train.images, split.train);
  const validation = takeRows(dataset.train.images, split.validation);
  const n = train.rows + test.x.rows;
  const images = createMatrix(n + validation.rows, dataset.train.images.cols);
  images.data.set(train.data, 0);
  images.data.set(test.x.data, train.data.length);
  images.data.set(validation.data, train.data.length + test.x.data.length);
  const labels = Int32Array.from([...takeLabels(dataset.train.labels, split.train), ...test.y, ...takeLabels(dataset.train.labels, split.validation)]);
  const all: Dataset = { ...dataset, train: { images, labels }, test: { images: createMatrix(0, images.cols), labels: new Int32Array(0) }, contentHash: sha256(dataset.contentHash, 'refit', split.fingerprint) };
  delete all.groups;
  releaseDataset(req.dataset);
  const range = (from: number, to: number) => Int32Array.from({ length: to - from }, (_, i) => from + i);
  const refitSplit: Split = { train: range(0, n), validation: range(n, n + validation.rows), test: new Int32Array(0), seed: split.seed, fingerprint: split.fingerprint };
  const prepared = await prepareFeatures(all, refitSplit, req.features, { seed: split.seed, cache: false });
  const f = { about: { name: dataset.name, contentHash: dataset.contentHash, imageShape: dataset.imageShape, classNames: dataset.classes, split }, ...prepared };
  const estimator = plugin.create(params, { seed: req.seed, log: quietLog, imageShape: f.image });
  const model = await estimator.fit(f.train.x, f.train.y, f.validation ? { validation: f.validation } : {});
  try {
    const bytes = await model.serialize!();
    // Its own calibration and threshold, on the same validation rows (it is another fit).
    const trust = model.scores && f.validation?.y.length ? (await fitTrustOnValidation(model, f.validation, req.reject?.targetAccuracy ?? 0.995)).trust : undefined;
    const size = await writeBundle(file, bundleInput(f, plugin, params, model.classes, model.engine(), bytes, { ...tested, refit: { trainRows: n, tested: false } }, trust));
    const sample = sliceRows(f.train.x, 0, Math.min(REBUILD_ROWS, f.train.x.rows));
    const expected = await model.predict(sample);
    try {
      await checkRebuild(plugin, bytes, params, { seed: req.seed, log: quietLog, ...(f.image ? { imageShape: f.image } : {}) }, sample, expected);
    } catch (e) {
      await rm(file, { force: true });
      throw e;
    }
    return { file, bytes: size, trainRows: n };
  } finally {
    model.dispose();
  }
}

/** Test rows the rebuilt model predicts in checkRebuild. */
const REBUILD_ROWS = 64;

/**
 * The bundle's round trip, in the process that fitted the model, once the bundle is written: the
 * plugin's load() rebuilds the model from the serialize() bytes, and the rebuilt model must predict the
 * fitted model's labels on the first test rows. A failure fails the run with the plugin's own message and
 * removes the bundle (one nobody can rebuild would otherwise only fail its measurement, in another process).
 */
async function checkRebuild<P>(plugin: ClassifierPlugin<P>, bytes: Uint8Array, params: P, ctx: ClassifierContext, x: Matrix, expected: Int32Array): Promise<void> {
  let rebuilt;
  try {
    rebuilt = await plugin.load!(bytes, params, ctx);
  } catch (e) {
    throw new Error(`the bundle could not be rebuilt by the plugin's load(): ${oneLine((e as Error).message)}`);
  }
  try {
    const n = Math.min(REBUILD_ROWS, x.rows);
    let got: Int32Array;
    try {
      got = await rebuilt.predict(sliceRows(x, 0, n));
    } catch (e) {
      throw new Error(`the model rebuilt by the plugin's load() could not predict: ${oneLine((e as Error).message)}`);
    }
    if (got.length !== n) throw new Error(`the model rebuilt by the plugin's load() returned ${got.length} labels for ${n} rows; a plugin's predict must return one label per row`);
    for (let i = 0; i < n; i++) {
      if (got[i] !== expected[i]) {
        throw new Error(
          `the model rebuilt by the plugin's load() predicts ${got[i]} for test row ${i}, where the fitted model predicted ${expected[i]}; load() must rebuild the model serialize() saved`,
        );
      }
    }
  } finally {
    rebuilt.dispose();
  }
}

// Entry point when forked by the harness.
serveOneRequest<ChildRequest | SelectRequest, ChildMeasurements | SelectMeasurements>((req, progress) => ('kind' in req && req.kind === 'select' ? runSelect(req, progress) : runOne(req as ChildRequest, progress)));
