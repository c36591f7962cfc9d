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
 * - agreement: the bundle's labels on every test row against the run's recorded predictions.
 */
import type { DatasetSource } from '../data/sources.ts';
import { availableParallelism } from 'node:os';
import { readBundleFile } from '../bundle/file.ts';
import { loadBundleBytes } from '@digitbench/runtime/internal';
import { pluginResolver, resolvePlugin } from '../classifiers/registry.ts';
import { loadDataset } from '../data/datasets.ts';
import { makeSplit, testPart, type SplitSpec } from '../data/split.ts';
import { sliceRows } from '@digitbench/runtime/internal';
import { loadedEngine } from '../engine/tf.ts';
import { percentile } from '../metrics/intervals.ts';
import { decodeLabels, type Deployment } from '../results/row.ts';
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
}

/** The row's `deployment` field (schema in results/row.ts). */
export type DeploymentFigures = Deployment;

const WARMUP = 20;

type Phase = { now: 'setup' | 'rebuild' | 'predict' };

/**
 * The figures, or an error. One that comes from rebuilding the model (the plugin's load()) or from its
 * predictions begins with PLUGIN_FAULTS, so the run is failed rather than its measurement retried.
 */
export async function measureBundle(req: DeployRequest): Promise<DeploymentFigures> {
  const phase: Phase = { now: 'setup' };
  try {
    return await measure(req, phase);
  } catch (e) {
    const message = oneLine(e instanceof Error ? e.message : String(e));
    if (phase.now === 'setup') throw e;
    throw new Error(`${PLUGIN_FAULTS[phase.now]}${message}`);
  }
}

async function measure(req: DeployRequest, phase: Phase): Promise<DeploymentFigures> {
  const dataset = await loadDataset(req.dataset);
  const split = makeSplit(dataset, req.split);
  const images = testPart(dataset, split).x;
  const expected = decodeLabels(req.predictions);
  if (images.rows === 0) throw new Error('the split has no test rows to measure the bundle on.');

  // The plugin comes from the run's own experiment config (trusted), never from the bundle.
  const resolver = pluginResolver([await resolvePlugin(req.pluginRef, req.baseDir)]);
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
    return {
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
  } finally {
    model.dispose();
  }
}

// Entry point when forked by the harness.
serveOneRequest(measureBundle);
