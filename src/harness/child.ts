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
import { resolvePlugin } from '../classifiers/registry.ts';
import { parseParams } from '../classifiers/plugin.ts';
import { correctCount } from '../metrics/accuracy.ts';
import { confusionMatrix } from '../metrics/confusion.ts';
import { perClass } from '../metrics/per-class.ts';
import { encodeLabels, labelsHash } from './result.ts';

export interface ChildRequest {
  dataset: string;
  split: SplitSpec;
  features: StepSpec[];
  pluginRef: string;
  baseDir: string;
  params: Record<string, unknown>;
  seed: number;
  latencySamples: number;
}

export interface ChildMeasurements {
  engine: string;
  tfjsBackend: string | null;
  threads: number;
  metrics: { accuracy: number; macroF1: number; correct: number; total: number };
  timing: { featureSeconds: number; fitSeconds: number; predictSeconds: number; latencyMsP50?: number; latencyMsP95?: number };
  peakRssMb: number;
  modelBytes?: number;
  predictions: string;
  testLabels: string;
  testLabelsHash: string;
}

export type ChildMessage =
  | { type: 'progress'; phase: string; total?: number; unit?: string; info?: Record<string, string | number> }
  | { type: 'result'; result: ChildMeasurements }
  | { type: 'error'; message: string };

function send(m: ChildMessage): Promise<void> {
  return new Promise((res) => (process.send ? process.send(m, () => res()) : res()));
}

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/**
 * The run's features. The raw dataset is released afterwards, so that while the classifier fits, the
 * process holds the feature matrix and whatever the classifier builds, not also the raw pixels.
 */
async function features(req: ChildRequest) {
  const dataset = await loadDataset(req.dataset);
  const split = makeSplit(dataset, req.split);
  try {
    return await prepareFeatures(dataset, split, req.features, { seed: split.seed });
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
  const clf = plugin.create(params, { seed: req.seed, log: { info: () => {}, warn: (m) => process.stderr.write(`${m}\n`) }, imageShape: f.image });
  try {
    progress({ type: 'progress', phase: 'fit' });
    let t = performance.now();
    await clf.fit(f.train.x, f.train.y, {
      ...(f.validation ? { validation: f.validation } : {}),
      progress: {
        start: (total, unit) => progress({ type: 'progress', phase: 'fit', total, unit }),
        tick: (info) => progress({ type: 'progress', phase: 'tick', info }),
      },
    });
    const fitSeconds = (performance.now() - t) / 1000;
    progress({ type: 'progress', phase: 'predict' });
    t = performance.now();
    const pred = await clf.predict(f.test.x);
    const predictSeconds = (performance.now() - t) / 1000;
    const lat: number[] = [];
    const n = Math.min(req.latencySamples, f.test.x.rows);
    for (let i = 0; i < n + 5 && n > 0; i++) {
      const r = i % f.test.x.rows;
      const t0 = performance.now();
      await clf.predict(sliceRows(f.test.x, r, r + 1));
      if (i >= 5) lat.push(performance.now() - t0); // the first few warm caches up
    }
    lat.sort((a, b) => a - b);
    const bytes = clf.serialize ? await clf.serialize() : undefined;
    const cm = confusionMatrix(f.test.y, pred);
    const correct = correctCount(f.test.y, pred);
    const tf = loadedEngine();
    return {
      engine: clf.engine(),
      tfjsBackend: tf?.backend ?? null,
      threads: tf?.backend === 'tensorflow' ? availableParallelism() : (tf?.threads ?? 1),
      metrics: { accuracy: correct / pred.length, macroF1: perClass(cm).macroF1, correct, total: pred.length },
      timing: {
        featureSeconds: f.seconds,
        fitSeconds,
        predictSeconds,
        ...(lat.length ? { latencyMsP50: percentile(lat, 50), latencyMsP95: percentile(lat, 95) } : {}),
      },
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      ...(bytes ? { modelBytes: bytes.byteLength } : {}),
      predictions: encodeLabels(pred),
      testLabels: encodeLabels(f.test.y),
      testLabelsHash: labelsHash(f.test.y),
    };
  } finally {
    clf.dispose();
  }
}

// Entry point when forked by the harness.
if (process.send && process.env.DIGITBENCH_CHILD === '1') {
  // If the harness dies (killed, Ctrl-C), do not live on as an orphan.
  process.on('disconnect', () => process.exit(1));
  process.once('message', (req: ChildRequest) => {
    runOne(req, (m) => void send(m))
      .then((result) => send({ type: 'result', result }))
      .catch((e: unknown) => send({ type: 'error', message: e instanceof Error ? e.message : String(e) }))
      .finally(() => process.exit(0));
  });
}
