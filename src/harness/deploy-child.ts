/**
 * The deployment figures of one bundle, measured the way an app would meet it: in a fresh process
 * that reads the bundle file and predicts from raw pixels of the dataset's shape (28×28 for MNIST) through the bundle's own pipeline and
 * model. Modules are imported before the clock starts (as a service does at boot); the dataset is
 * loaded before too, since an app brings its own images.
 *
 * - cold start: read the file + decode and check it + rebuild pipeline and model + first prediction;
 * - latency: `passes` passes of `calls` single-image predictions (different test images per pass),
 *   after 20 warm-up calls: p50 / p95 over all calls, and each pass's p50 (the spread the pick uses);
 * - throughput: images per second predicting `batch` images in one call (median of 3);
 * - agreement: the bundle's labels on every test row against the run's recorded predictions;
 * - per engine (`engines`, where onnxruntime-node is the engine here): the bundle loaded as an app loads it,
 *   @digitbench/runtime's loadModel with engine 'ort' and with 'js' (plain JS; the CNN on tfjs), each with its
 *   own cold start (read + rebuild + first prediction; the engine's modules already imported) and p50 / p95
 *   over ENGINE_CALLS single-image calls after 20 warm-up calls, and whether those calls' labels agree
 *   (equal for k-NN, NB and SVM by construction; the CNN's could differ only on near ties). The figures above stay the workbench plugin's own (on the engine
 *   engineChoice() picks: ort where it loads), which the pick uses.
 *
 * Then, when the request names the experiment's corrupted test images (`robustness`), a separate phase after
 * the timing figures (so it cannot disturb them): model.classify() in batches of 1000 on the clean test
 * images, each corruption's images (read from the shared cache file, corrupted.ts), Fashion-MNIST's test
 * images and uniform-noise images of the bundle's shape, on this thread and (2+ cores) a helper worker
 * thread that loads the bundle too and takes batches from the same list (robustness-pass.ts: the same
 * figures as one thread). A failure there gives `robustnessError` and leaves the deployment figures standing.
 */
import type { DatasetSource } from '../data/sources.ts';
import { availableParallelism } from 'node:os';
import { readBundleFile } from '../bundle/file.ts';
import { BUILTIN_MODELS, loadBundleBytes } from '@digitbench/runtime/internal';
import { loadModel } from '@digitbench/runtime';
import { engineChoice } from '../engine/ort.ts';
import type { ClassifierPlugin } from '../classifiers/plugin.ts';
import { pluginResolver, resolvePlugin } from '../classifiers/registry.ts';
import { listDatasets, loadDataset } from '../data/datasets.ts';
import { makeSplit, testPart, type SplitSpec } from '../data/split.ts';
import { sliceRows, type DigitModel, type Matrix } from '@digitbench/runtime/internal';
import { createRng } from '../engine/rng.ts';
import { loadedEngine } from '../engine/tf.ts';
import { percentile } from '../metrics/intervals.ts';
import { decodeLabels, type Deployment, type Robustness } from '../results/row.ts';
import { corruptionSummary, readCorrupted, type CorruptedSet } from './corrupted.ts';
import { classifySets, type HelperLoad, type ImageSet } from './robustness-pass.ts';
import { defaultThreads } from '../engine/threads.ts';
import { oneLine, PLUGIN_FAULTS } from './isolated.ts';
import { serveOneRequest } from './serve.ts';

export interface DeployRequest {
  bundleFile: string;
  dataset: DatasetSource;
  split: SplitSpec;
  /** The run's predictions of the test rows (encodeLabels). */
  predictions: string;
  passes: number;
  calls: number;
  batch: number;
  /** The run's plugin as its experiment names it (built-in name or file path), and the folder its paths start from. */
  pluginRef: string;
  baseDir: string;
  /** The experiment's corrupted test images (float32 bundles of experiments with `robustness`), and how many noise images to ask. */
  robustness?: { corrupted: CorruptedSet; noiseImages: number };
}

/** The row's `deployment` field (schema in results/row.ts). */
export type DeploymentFigures = Deployment;

/** What the child answers: the deployment figures, and the robustness figures or why they are missing when asked for. */
export type DeployAnswer = DeploymentFigures & { robustness?: Robustness; robustnessError?: string };


const WARMUP = 20;
/** Timed single-image calls per engine in the per-engine figures (few: they add to every bundle's measurement). */
const ENGINE_CALLS = 100;

type Phase = { now: 'setup' | 'rebuild' | 'predict' };

/**
 * The figures, or an error. One that comes from rebuilding the model (the plugin's load()) or from its
 * predictions begins with PLUGIN_FAULTS, so the run is failed rather than its measurement retried.
 */
export async function measureBundle(req: DeployRequest): Promise<DeployAnswer> {
  const phase: Phase = { now: 'setup' };
  try {
    return await measure(req, phase);
  } catch (e) {
    const message = oneLine(e instanceof Error ? e.message : String(e));
    if (phase.now === 'setup') throw e;
    throw new Error(`${PLUGIN_FAULTS[phase.now]}${message}`);
  }
}

async function measure(req: DeployRequest, phase: Phase): Promise<DeployAnswer> {
  const dataset = await loadDataset(req.dataset);
  const split = makeSplit(dataset, req.split);
  const images = testPart(dataset, split).x;
  const expected = decodeLabels(req.predictions);
  if (images.rows === 0) throw new Error('the split has no test rows to measure the bundle on.');

  // The plugin comes from the run's own experiment config (trusted), never from the bundle.
  const plugin = await resolvePlugin(req.pluginRef, req.baseDir);
  const resolver = pluginResolver([plugin]);
  const t0 = performance.now();
  const bytes = await readBundleFile(req.bundleFile);
  phase.now = 'rebuild';
  const model = await loadBundleBytes(bytes, req.bundleFile, resolver);
  phase.now = 'predict';
  try {
    await model.predictLabels(sliceRows(images, 0, 1));
    const coldStartMs = performance.now() - t0;

    for (let i = 0; i < WARMUP; i++) await model.predictLabels(sliceRows(images, i % images.rows, (i % images.rows) + 1));
    const all: number[] = [];
    const passP50Ms: number[] = [];
    for (let p = 0; p < req.passes; p++) {
      const times: number[] = [];
      for (let c = 0; c < req.calls; c++) {
        const r = (p * req.calls + c) % images.rows;
        const one = sliceRows(images, r, r + 1);
        const t = performance.now();
        await model.predictLabels(one);
        times.push(performance.now() - t);
      }
      all.push(...times);
      passP50Ms.push(percentile(times.sort((a, b) => a - b), 50));
    }
    all.sort((a, b) => a - b);

    const batch = sliceRows(images, 0, Math.min(req.batch, images.rows));
    const rates: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      await model.predictLabels(batch);
      rates.push(batch.rows / ((performance.now() - t) / 1000));
    }
    rates.sort((a, b) => a - b);

    let same = 0;
    for (let s = 0; s < images.rows; s += 1000) {
      const labels = await model.predictLabels(sliceRows(images, s, Math.min(images.rows, s + 1000)));
      for (let i = 0; i < labels.length; i++) if (labels[i] === expected[s + i]) same++;
    }
    const tf = loadedEngine();
    const deployment: DeploymentFigures = {
      coldStartMs,
      latencyMsP50: percentile(all, 50),
      latencyMsP95: percentile(all, 95),
      passP50Ms,
      calls: all.length,
      throughputPerSecond: rates[1]!,
      batch: batch.rows,
      threads: tf?.backend === 'tensorflow' ? availableParallelism() : (tf?.threads ?? 1),
      engine: model.engine(),
      agreement: { same, total: images.rows },
    };
    const engines = await perEngine(req.bundleFile, plugin, images);
    if (engines) deployment.engines = engines;
    if (!req.robustness) return deployment;
    try {
      return { ...deployment, robustness: await measureRobustness(model, images, testPart(dataset, split).y, dataset.name, req.robustness, { bundleFile: req.bundleFile, pluginRef: req.pluginRef, baseDir: req.baseDir }) };
    } catch (e) {
      return { ...deployment, robustnessError: `measuring robustness failed: ${oneLine(e instanceof Error ? e.message : String(e))}` };
    }
  } finally {
    model.dispose();
  }
}

type EngineFigures = NonNullable<Deployment['engines']>['js'];

/**
 * The bundle as an app meets it on each engine (runtime loadModel, engine 'ort' then 'js'), where onnxruntime-node
 * is the engine here; undefined otherwise. With on how many of the timed calls' rows (the same rows on both) their labels agree.
 */
async function perEngine(file: string, plugin: ClassifierPlugin, images: Matrix): Promise<Deployment['engines']> {
  if (engineChoice().engine !== 'ort') return undefined;
  // A plugin that is not built in is passed, as an app passes its own; built-ins are the runtime's own.
  const plugins = BUILTIN_MODELS.includes(plugin.name) ? [] : [plugin];
  const out: Partial<Record<'ort' | 'js', EngineFigures>> = {};
  const labels: Partial<Record<'ort' | 'js', Int32Array>> = {};
  for (const engine of ['ort', 'js'] as const) {
    const t0 = performance.now();
    const model = await loadModel(file, { engine, plugins });
    try {
      await model.predictLabels(sliceRows(images, 0, 1));
      const coldStartMs = performance.now() - t0;
      for (let i = 0; i < WARMUP; i++) await model.predictLabels(sliceRows(images, i % images.rows, (i % images.rows) + 1));
      const times: number[] = [];
      const got = new Int32Array(ENGINE_CALLS);
      for (let c = 0; c < ENGINE_CALLS; c++) {
        const r = c % images.rows;
        const one = sliceRows(images, r, r + 1);
        const t = performance.now();
        got[c] = (await model.predictLabels(one))[0]!;
        times.push(performance.now() - t);
      }
      times.sort((a, b) => a - b);
      out[engine] = { coldStartMs, latencyMsP50: percentile(times, 50), latencyMsP95: percentile(times, 95), calls: times.length, engine: model.engine() };
      labels[engine] = got;
    } finally {
      model.dispose();
    }
  }
  let same = 0;
  labels.ort!.forEach((l, i) => (same += l === labels.js![i] ? 1 : 0));
  return { ort: out.ort!, js: out.js!, labelsAgree: { same, total: ENGINE_CALLS } };
}

/**
 * The uniform-noise images of the robustness phase: each pixel an integer uniform in 0..255, drawn in
 * image-major order from createRng(`${seed}:noise`) (engine/rng.ts).
 */
export function noiseImages(count: number, h: number, w: number, seed: number): Uint8Array {
  const rng = createRng(`${seed}:noise`);
  const out = new Uint8Array(count * h * w);
  for (let i = 0; i < out.length; i++) out[i] = rng.int(256);
  return out;
}

async function measureRobustness(model: DigitModel, images: Matrix, truth: Int32Array, datasetName: string, req: NonNullable<DeployRequest['robustness']>, helper: HelperLoad): Promise<Robustness> {
  const t0 = performance.now();
  const set = req.corrupted;
  const [h, w] = model.imageShape;
  if (set.imageShape[0] !== h || set.imageShape[1] !== w || set.rows !== images.rows) {
    throw new Error(`the corrupted images are ${set.rows} of ${set.imageShape.join('×')}, the bundle's test rows ${images.rows} of ${h}×${w}`);
  }
  const threads = defaultThreads(2);
  const all = await readCorrupted(set, { shared: threads > 1 });
  const n = h * w;
  const sets: ImageSet[] = [{ pixels: images.data, rows: images.rows, cols: n, truth }];
  for (const c of set.corruptions.keys()) sets.push({ pixels: all.subarray(c * set.rows * n, (c + 1) * set.rows * n), rows: set.rows, cols: n, truth });

  let skipped: Robustness['ood']['fashion'] | undefined;
  let fashionSet: number | undefined;
  if (datasetName === 'fashion-mnist') skipped = { skipped: 'the experiment\'s own dataset is Fashion-MNIST' };
  else if (h !== 28 || w !== 28) skipped = { skipped: `the bundle takes ${h}×${w} images; Fashion-MNIST's are 28×28` };
  else if (!listDatasets().find((d) => d.name === 'fashion-mnist')?.available) skipped = { skipped: 'Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)' };
  else {
    const fm = (await loadDataset('fashion-mnist')).test.images;
    fashionSet = sets.push({ pixels: fm.data, rows: fm.rows, cols: fm.cols }) - 1;
  }
  const noiseSet = sets.push({ pixels: noiseImages(req.noiseImages, h, w, set.seed), rows: req.noiseImages, cols: n }) - 1;
  // Every set in batches on this thread and a helper thread with its own copy of the model (robustness-pass.ts): the sequential pass's figures.
  const { counts } = await classifySets(model, sets, { helper, threads });
  const fashion = fashionSet === undefined ? skipped! : { refused: counts[fashionSet]!.total - counts[fashionSet]!.answered, total: counts[fashionSet]!.total };
  const noise = counts[noiseSet]!;
  return {
    ...corruptionSummary(counts[0]!, set.corruptions.map((name, c) => ({ name, ...counts[1 + c]! }))),
    ood: { fashion, noise: { refused: noise.total - noise.answered, total: noise.total } },
    seconds: (performance.now() - t0) / 1000,
  };
}

// Entry point when forked by the harness.
serveOneRequest(measureBundle);
