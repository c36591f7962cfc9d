/**
 * Fits a run's expensive feature pipeline (PCA, HOG …) into the feature cache, in its own process:
 * a queue worker uses it so that its own event loop stays free to keep the job's lock while the
 * pipeline fits (a blocked loop would let the job look stalled and run twice).
 */
import type { DatasetSource } from '../data/sources.ts';
import { loadDataset } from '../data/datasets.ts';
import { makeSplit, type SplitSpec } from '../data/split.ts';
import type { StepSpec } from '../features/pipeline.ts';
import { prepareFeatures } from '../features/prepare.ts';
import { serveOneRequest } from './serve.ts';

export interface PrepareRequest {
  dataset: DatasetSource;
  split: SplitSpec;
  features: StepSpec[];
}

serveOneRequest<PrepareRequest, { seconds: number }>(async (req) => {
  const dataset = await loadDataset(req.dataset);
  const split = makeSplit(dataset, req.split);
  const f = await prepareFeatures(dataset, split, req.features, { seed: split.seed });
  return { seconds: f.seconds };
});
