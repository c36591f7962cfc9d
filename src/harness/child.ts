/**
 * One run, in its own process: load the split, read the features the parent prepared, fit,
 * predict, time single-row latency, serialize, and report measurements to the parent over IPC.
 * A crash, hang or out-of-memory here cannot take the other runs down.
 */
import { availableParallelism } from 'node:os';
import { loadDataset, releaseDataset } from '../data/datasets.ts';
import { makeSplit, type SplitSpec } from '../data/split.ts';
import { sliceRows } from '../engine/matrix.ts';
import { loadedEngine } from '../engine/tf.ts';
import type { StepSpec } from '../features/pipeline.ts';
import { prepareFeatures } from '../features/prepare.ts';
import { isPluginPath, resolvePlugin } from '../classifiers/registry.ts';
import { writeBundle } from '../bundle/file.ts';
import { resolve } from 'node:path';
import { DIGITBENCH_VERSION } from './env.ts';
import { serveOneRequest } from './serve.ts';
import { parseParams } from '../classifiers/plugin.ts';
import { correctCount } from '../metrics/accuracy.ts';
import { confusionMatrix } from '../metrics/confusion.ts';
import { perClass } from '../metrics/per-class.ts';
import { percentile } from '../metrics/intervals.ts';
import { encodeLabels, labelsHash } from '../results/row.ts';

export interface ChildRequest {
  dataset: string;
  split: SplitSpec;
  features: StepSpec[];
  pluginRef: string;
  baseDir: string;
  params: Record<string, unknown>;
  seed: number;
  latencySamples: number;
  /** Where to write the model bundle (absolute), and what its header records about the run. */
  bundle?: { file: string; runId: string; experiment: string; classifier: string };
}

export interface ChildMeasurements {
  engine: string;
  tfjsBackend: string | null;
  threads: number;
  metrics: { accuracy: number; macroF1: number; correct: number; total: number };
  timing: { featureSeconds: number; fitSeconds: number; predictSeconds: number; latencyMsP50?: number; latencyMsP95?: number };
  peakRssMb: number;
  modelBytes?: number;
  /** The bundle written (absolute path, bytes), or why there is none. */
  bundle?: { file: string; bytes: number };
  noBundle?: string;
  predictions: string;
  testLabels: string;
  testLabelsHash: string;
}

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
  const about = { name: req.dataset, contentHash: dataset.contentHash, imageShape: dataset.imageShape, classNames: dataset.classes, split };
  try {
    return { about, ...(await prepareFeatures(dataset, split, req.features, { seed: split.seed })) };
  } finally {
    releaseDataset(req.dataset);
  }
}

export async function runOne(req: ChildRequest, progress: (m: ChildMessage) => void): Promise<ChildMeasurements> {
  const plugin = await resolvePlugin(req.pluginRef, req.baseDir);
  const params = parseParams(plugin, req.params);
  progress({ type: 'progress', phase: 'features' });
  const f = await features(req);
  if (plugin.input === 'image' && !f.image) {
    throw new Error(`Classifier "${plugin.name}" takes images, but its features end as plain vectors (${f.labels.join(', ')}); give it image steps only.`);
  }
  const estimator = plugin.create(params, { seed: req.seed, log: { info: () => {}, warn: (m) => process.stderr.write(`${m}\n`) }, imageShape: f.image });
  progress({ type: 'progress', phase: 'fit' });
  let t = performance.now();
  const model = await estimator.fit(f.train.x, f.train.y, {
    ...(f.validation ? { validation: f.validation } : {}),
    progress: {
      start: (total, unit) => progress({ type: 'progress', phase: 'fit', total, unit }),
      tick: (info) => progress({ type: 'progress', phase: 'tick', info }),
    },
  });
  try {
    const fitSeconds = (performance.now() - t) / 1000;
    progress({ type: 'progress', phase: 'predict' });
    t = performance.now();
    const pred = await model.predict(f.test.x);
    const predictSeconds = (performance.now() - t) / 1000;
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
    const bytes = model.serialize ? await model.serialize() : undefined;
    const cm = confusionMatrix(f.test.y, pred);
    const correct = correctCount(f.test.y, pred);
    const accuracy = correct / pred.length;
    let bundle: ChildMeasurements['bundle'];
    let noBundle: string | undefined;
    if (!bytes) noBundle = `the plugin "${plugin.name}" has no serialize(), so its models cannot be saved`;
    else if (!plugin.load) noBundle = `the plugin "${plugin.name}" has no load(), so a saved model could not be rebuilt`;
    else if (req.bundle) {
      progress({ type: 'progress', phase: 'bundle' });
      const { about } = f;
      try {
        const size = await writeBundle(req.bundle.file, {
          digitbench: DIGITBENCH_VERSION,
          createdAt: new Date().toISOString(),
          dataset: { name: about.name, contentHash: about.contentHash, imageShape: about.imageShape, classNames: about.classNames },
          classes: Array.from(model.classes),
          pipeline: f.specs.map((spec, i) => ({ spec, state: f.states[i]! })),
          plugin: {
            name: plugin.name,
            ref: isPluginPath(req.pluginRef) ? resolve(req.baseDir, req.pluginRef) : req.pluginRef,
            library: plugin.library,
            params: params as Record<string, unknown>,
            ...(plugin.scoreKind ? { scoreKind: plugin.scoreKind } : {}),
            engine: model.engine(),
          },
          modelBytes: bytes,
          split: { fingerprint: about.split.fingerprint, train: about.split.train.length, validation: about.split.validation.length, test: about.split.test.length, seed: about.split.seed },
          run: { id: req.bundle.runId, experiment: req.bundle.experiment, classifier: req.bundle.classifier, seed: req.seed, testAccuracy: accuracy, testRows: pred.length },
        });
        bundle = { file: req.bundle.file, bytes: size };
      } catch (e) {
        // The run's measurements stand; only the bundle is missing, and the row says why.
        noBundle = `writing the bundle failed: ${(e as Error).message.split('\n')[0]}`;
      }
    }
    const tf = loadedEngine();
    return {
      engine: model.engine(),
      tfjsBackend: tf?.backend ?? null,
      threads: tf?.backend === 'tensorflow' ? availableParallelism() : (tf?.threads ?? 1),
      metrics: { accuracy, macroF1: perClass(cm).macroF1, correct, total: pred.length },
      timing: {
        featureSeconds: f.seconds,
        fitSeconds,
        predictSeconds,
        ...(lat.length ? { latencyMsP50: percentile(lat, 50), latencyMsP95: percentile(lat, 95) } : {}),
      },
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      ...(bytes ? { modelBytes: bytes.byteLength } : {}),
      ...(bundle ? { bundle } : {}),
      ...(noBundle ? { noBundle } : {}),
      predictions: encodeLabels(pred),
      testLabels: encodeLabels(f.test.y),
      testLabelsHash: labelsHash(f.test.y),
    };
  } finally {
    model.dispose();
  }
}

// Entry point when forked by the harness.
serveOneRequest(runOne);
