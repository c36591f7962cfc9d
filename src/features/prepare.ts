/** Dataset + split + pipeline → the feature matrices every vector classifier of a run receives. */
import type { Dataset } from '../data/datasets.ts';
import { applySplit, type Split } from '../data/split.ts';
import type { Matrix } from '@digitbench/runtime/internal';
import { getTf } from '../engine/tf.ts';
import { engineChoice } from '../engine/ort.ts';
import { featureCacheKey, readCachedFeatures, writeCachedFeatures } from './cache.ts';
import { createPipeline, fitTransform, pipelineStates, type StepSpec } from './pipeline.ts';
import type { ImageShape, StepState } from '@digitbench/runtime/internal';

export interface PreparedFeatures {
  train: { x: Matrix; y: Int32Array };
  validation?: { x: Matrix; y: Int32Array };
  test: { x: Matrix; y: Int32Array };
  /** Image shape of the rows, when they are still images. */
  image: ImageShape;
  /** Step labels, e.g. ["scale", "pca(50)"]. */
  labels: string[];
  /** The steps as specified and the fitted state of each: what a model bundle stores. */
  specs: StepSpec[];
  states: StepState[];
  /** Seconds it took to fit and apply the pipeline (when read from the cache: when it was computed). */
  seconds: number;
  /** The most threads a step's fit kept busy (e.g. PCA's passes on the engine pool), likewise. */
  threads: number;
  cacheKey?: string;
  fromCache: boolean;
}

export async function prepareFeatures(
  dataset: Dataset,
  split: Split,
  specs: StepSpec[],
  opts: { seed?: number; cache?: boolean } = {},
): Promise<PreparedFeatures> {
  const seed = opts.seed ?? split.seed;
  const pipeline = createPipeline(specs, dataset.imageShape, seed);
  const data = applySplit(dataset, split);
  // A selection fold has no test rows: its (empty) test part is not transformed.
  const noTest = split.test.length === 0;
  const withParts = (parts: Record<string, Matrix>) => ({
    train: { x: parts.train!, y: data.train.y },
    ...(data.validation ? { validation: { x: parts.validation!, y: data.validation.y } } : {}),
    test: { x: noTest ? { rows: 0, cols: parts.train!.cols, data: new Float32Array(0) } : parts.test!, y: data.test.y },
  });
  const useCache = (opts.cache ?? true) && pipeline.expensive;
  // A step fitted on the tensor engine (PCA) gives output that differs between backends' float32 arithmetic
  // (onnxruntime's, where engineChoice() picks it, or tfjs's backend).
  const backend = pipeline.engineDependent ? (engineChoice().engine === 'ort' ? 'ort' : (await getTf()).engine.backend) : undefined;
  const key = useCache
    ? featureCacheKey({ datasetHash: dataset.contentHash, splitFingerprint: split.fingerprint, steps: specs, seed, ...(backend ? { backend } : {}) })
    : undefined;
  if (key) {
    const hit = await readCachedFeatures(key);
    if (hit) return { ...withParts(hit.parts), image: pipeline.outputImage, labels: pipeline.labels, specs, states: hit.states, seconds: hit.seconds, threads: hit.threads, cacheKey: key, fromCache: true };
  }
  const parts: Record<string, Matrix> = { train: data.train.x };
  if (!noTest) parts.test = data.test.x;
  if (data.validation) parts.validation = data.validation.x;
  const fitted = await fitTransform(pipeline, parts as { train: Matrix }, data.train.y);
  const states = pipelineStates(pipeline);
  if (key) await writeCachedFeatures(key, fitted.parts, fitted.seconds, states, fitted.threads);
  return { ...withParts(fitted.parts), image: pipeline.outputImage, labels: pipeline.labels, specs, states, seconds: fitted.seconds, threads: fitted.threads, cacheKey: key, fromCache: false };
}
