/**
 * A fitted feature pipeline rebuilt from its specs and saved states (what a bundle stores), and applied
 * to new rows: the built-in steps' transforms in plain JavaScript. Fitting is the workbench's.
 */
import type { Matrix } from '../engine/matrix.ts';
import type { StepSpec } from './spec.ts';
import type { ImageShape, StepShape, StepState } from './step.ts';
import { stepTransform } from './steps.ts';

export interface RestoredStep extends StepShape {
  transform(x: Matrix): Matrix;
}

export interface Pipeline {
  specs: StepSpec[];
  /** The saved state of each step, in order. */
  states: StepState[];
  steps: RestoredStep[];
  /** Image shape of the output, or undefined when rows are plain vectors. */
  outputImage: ImageShape;
  /** Step labels for reports, e.g. ["scale", "pca(50)"]. */
  labels: string[];
}

/**
 * The label and output image shape of each step of a pipeline on input of `inputImage`, in order. A spec
 * that does not fit the shape (an image step after a vector step, a downsample factor that does not divide
 * the sides, HOG cells larger than the images) throws "pipeline[i] (step): reason".
 */
export function pipelineShapes(specs: readonly StepSpec[], inputImage: ImageShape): StepShape[] {
  let image = inputImage;
  return specs.map((spec, i) => {
    try {
      const shape = definition(spec).shape(spec, image);
      image = shape.image;
      return shape;
    } catch (e) {
      throw new Error(`pipeline[${i}] (${spec.step}): ${(e as Error).message}`);
    }
  });
}

/** A fitted pipeline rebuilt from its specs and saved states; transforms exactly as the one that was fitted. */
export function restorePipeline(specs: StepSpec[], inputImage: ImageShape, states: StepState[]): Pipeline {
  if (states.length !== specs.length) throw new Error(`The pipeline has ${specs.length} steps but ${states.length} saved states; the bundle is damaged.`);
  const shapes = pipelineShapes(specs, inputImage);
  const steps = specs.map((spec, i) => {
    const input = i === 0 ? inputImage : shapes[i - 1]!.image;
    return { ...shapes[i]!, transform: definition(spec).restore(spec, input, states[i]!) };
  });
  return { specs, states, steps, outputImage: shapes.length ? shapes[shapes.length - 1]!.image : inputImage, labels: shapes.map((s) => s.label) };
}

/** Applies the steps in order to rows (e.g. raw pixels of images to predict); never mutates `x`. */
export function transformRows(pipeline: { readonly steps: readonly { transform(x: Matrix): Matrix }[] }, x: Matrix): Matrix {
  let m = x;
  for (const step of pipeline.steps) m = step.transform(m);
  return m;
}

function definition(spec: StepSpec) {
  const def = stepTransform(spec.step);
  if (!def) throw new Error(`unknown step "${String(spec.step)}"`);
  return def;
}
