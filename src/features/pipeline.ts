/**
 * The shared feature pipeline: a list of steps described as data, validated with zod, fitted on
 * the training part only and then applied to every part. Every classifier of an experiment that
 * takes vectors gets the output of the same fitted pipeline.
 */
import type { Matrix } from '@digitbench/runtime/internal';
import { blurStep } from './blur.ts';
import { deskewStep } from './deskew.ts';
import { downsampleStep } from './downsample.ts';
import { dropConstantStep } from './drop-constant.ts';
import { hogStep } from './hog.ts';
import { pcaStep } from './pca.ts';
import { scaleStep } from './scale.ts';
import { standardizeStep } from './standardize.ts';
import type { StepSpec } from '@digitbench/runtime/internal';
import type { CreatedStep, FeatureStep, ImageShape, StepState } from '@digitbench/runtime/internal';

/** Steps worth caching on disk (the others are cheaper to recompute than to read back). */
const EXPENSIVE = new Set(['deskew', 'blur', 'hog', 'pca']);

export { parsePipeline, stepSpecSchema, STEP_NAMES, type StepSpec } from '@digitbench/runtime/internal';

function createStep(spec: StepSpec, image: ImageShape, seed: number): CreatedStep {
  switch (spec.step) {
    case 'scale':
      return scaleStep(image, spec.max);
    case 'standardize':
      return standardizeStep(image);
    case 'drop-constant':
      return dropConstantStep(image);
    case 'deskew':
      return deskewStep(image);
    case 'blur':
      return blurStep(image, spec.sigma);
    case 'downsample':
      return downsampleStep(image, spec.factor);
    case 'hog':
      return hogStep(image, spec);
    case 'pca':
      return pcaStep(image, { components: spec.components, oversamples: spec.oversamples, iterations: spec.iterations, seed, whiten: spec.whiten ?? false });
  }
}

export interface Pipeline {
  specs: StepSpec[];
  steps: FeatureStep[];
  /** Image shape of the output, or undefined when rows are plain vectors. */
  outputImage: ImageShape;
  labels: string[];
  expensive: boolean;
}

/** Binds the specs to steps, checking that image steps come before vector steps. */
export function createPipeline(specs: StepSpec[], inputImage: ImageShape, seed = 0): Pipeline {
  let image = inputImage;
  const steps = specs.map((spec, i) => {
    try {
      const created = createStep(spec, image, seed);
      image = created.image;
      return created.step;
    } catch (e) {
      throw new Error(`pipeline[${i}] (${spec.step}): ${(e as Error).message}`);
    }
  });
  return { specs, steps, outputImage: image, labels: steps.map((s) => s.label), expensive: specs.some((s) => EXPENSIVE.has(s.step)) };
}

export interface Parts {
  train: Matrix;
  [part: string]: Matrix;
}

export interface FittedFeatures {
  parts: Record<string, Matrix>;
  /** Seconds spent fitting and transforming. */
  seconds: number;
}

/**
 * Fits every step on the training rows (each on the previous step's output) and transforms every
 * part. Intermediate matrices are dropped as soon as the next step has consumed them.
 */
export async function fitTransform(pipeline: Pipeline, parts: Parts, y: Int32Array): Promise<FittedFeatures> {
  const t0 = performance.now();
  let current: Record<string, Matrix> = { ...parts };
  for (const step of pipeline.steps) {
    await step.fit(current.train!, y);
    const next: Record<string, Matrix> = {};
    for (const [name, m] of Object.entries(current)) next[name] = await step.transform(m);
    current = next;
  }
  return { parts: current, seconds: (performance.now() - t0) / 1000 };
}

/** Applies the fitted steps to new rows (e.g. raw pixels of images to predict). */
export async function transformRows(pipeline: Pipeline, x: Matrix): Promise<Matrix> {
  let m = x;
  for (const step of pipeline.steps) m = await step.transform(m);
  return m;
}

/** The fitted state of every step, in order (what a bundle stores). */
export function pipelineStates(pipeline: Pipeline): StepState[] {
  return pipeline.steps.map((s) => s.state());
}

/** A fitted pipeline rebuilt from its specs and saved states; transforms exactly as the one that was fitted. */
export function restorePipeline(specs: StepSpec[], inputImage: ImageShape, states: readonly StepState[]): Pipeline {
  if (states.length !== specs.length) throw new Error(`The pipeline has ${specs.length} steps but ${states.length} saved states; the bundle is damaged.`);
  const pipeline = createPipeline(specs, inputImage);
  pipeline.steps.forEach((step, i) => step.setState(states[i]!));
  return pipeline;
}
