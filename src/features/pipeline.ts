/**
 * The shared feature pipeline: a list of steps described as data, validated with zod, fitted on
 * the training part only and then applied to every part. Every classifier of an experiment that
 * takes vectors gets the output of the same fitted pipeline. The steps' specs and transforms are the
 * runtime's (@digitbench/runtime); their fitting is here (steps.ts).
 */
import { pipelineShapes, type ImageShape, type Matrix, type StepShape, type StepSpec, type StepState, type StepTransformDefinition } from '@digitbench/runtime/internal';
import type { FitContext, ManyTransform, StepDefinition } from './define.ts';
import { stepOf } from './steps.ts';

export { parsePipeline, restorePipeline, stepSpecSchema, STEP_NAMES, transformRows, type Pipeline, type StepSpec } from '@digitbench/runtime/internal';

/** A step of a pipeline being fitted: its transform exists once it is fitted (at once for a step that learns nothing). */
export interface PipelineStep extends StepShape {
  /** Learns the step's state from the training rows. Never sees validation or test rows. */
  fit(x: Matrix, y: Int32Array): Promise<void>;
  /** Applies the fitted step to any rows; never mutates `x`. */
  transform(x: Matrix): Matrix;
  /** The same for large matrices: the step's transformMany where it has one (PCA on onnxruntime), equal bit for bit. */
  transformMany(x: Matrix): Promise<Matrix>;
  /** Frees what transformMany holds (a session); it then transforms as `transform`. */
  release(): void;
  /** The fitted state (`{}` for a step that learns nothing): what a model bundle stores, and what the leakage tests compare. */
  state(): StepState;
  /** Restores a state from `state()`, checking its fields; the step then transforms as when it was fitted. */
  setState(state: StepState): void;
}

export interface FittingPipeline {
  specs: StepSpec[];
  steps: PipelineStep[];
  /** Image shape of the output, or undefined when rows are plain vectors. */
  outputImage: ImageShape;
  labels: string[];
  /** Some step is worth caching on disk. */
  expensive: boolean;
  /** Some step's fit depends on the tensor engine's backend (PCA): the backend enters the cache key. */
  engineDependent: boolean;
  /** The most threads a step's fit kept busy so far (1 until a step reports more). */
  fitThreads(): number;
}

function pipelineStep(def: StepDefinition, spec: StepSpec, image: ImageShape, shape: StepShape, ctx: FitContext): PipelineStep {
  const restore = def.restore as StepTransformDefinition['restore'];
  let state: StepState | undefined;
  let transform: ((x: Matrix) => Matrix) | undefined;
  let many: ManyTransform | undefined;
  const set = (s: StepState) => {
    transform = restore(spec, image, s);
    many?.release();
    many = def.transformMany?.(spec, s);
    state = s;
  };
  if (!def.fit) set({});
  return {
    ...shape,
    async fit(x, y) {
      if (def.fit) set(await def.fit(x, y, spec, ctx));
    },
    transform(x) {
      if (!transform) throw new Error(`Feature step "${spec.step}" was used before it was fitted.`);
      return transform(x);
    },
    async transformMany(x) {
      if (!transform) throw new Error(`Feature step "${spec.step}" was used before it was fitted.`);
      return many ? many.transform(x) : transform(x);
    },
    release() {
      many?.release();
      many = undefined;
    },
    state: () => state ?? {},
    setState: set,
  };
}

/** Binds the specs to steps, checking that image steps come before vector steps. */
export function createPipeline(specs: StepSpec[], inputImage: ImageShape, seed = 0): FittingPipeline {
  const shapes = pipelineShapes(specs, inputImage);
  const defs = specs.map((spec) => stepOf(spec) as StepDefinition);
  let threads = 1;
  const usedThreads = (n: number) => {
    threads = Math.max(threads, n);
  };
  const steps = specs.map((spec, i) => {
    const image = i === 0 ? inputImage : shapes[i - 1]!.image;
    return pipelineStep(defs[i]!, spec, image, shapes[i]!, { seed, image, usedThreads });
  });
  return {
    specs,
    steps,
    outputImage: shapes.length ? shapes[shapes.length - 1]!.image : inputImage,
    labels: shapes.map((s) => s.label),
    expensive: defs.some((d) => d.expensive),
    engineDependent: defs.some((d) => d.engineDependent),
    fitThreads: () => threads,
  };
}

export interface Parts {
  train: Matrix;
  [part: string]: Matrix;
}

export interface FittedFeatures {
  parts: Record<string, Matrix>;
  /** Seconds spent fitting and transforming. */
  seconds: number;
  /** The most threads a step's fit kept busy. */
  threads: number;
}

/**
 * Fits every step on the training rows (each on the previous step's output) and transforms every
 * part. Intermediate matrices are dropped as soon as the next step has consumed them.
 */
export async function fitTransform(pipeline: FittingPipeline, parts: Parts, y: Int32Array): Promise<FittedFeatures> {
  const t0 = performance.now();
  let current: Record<string, Matrix> = { ...parts };
  for (const step of pipeline.steps) {
    await step.fit(current.train!, y);
    const next: Record<string, Matrix> = {};
    try {
      for (const [name, m] of Object.entries(current)) next[name] = await step.transformMany(m);
    } finally {
      step.release();
    }
    current = next;
  }
  return { parts: current, seconds: (performance.now() - t0) / 1000, threads: pipeline.fitThreads() };
}

/** The fitted state of every step, in order (what a bundle stores). */
export function pipelineStates(pipeline: FittingPipeline): StepState[] {
  return pipeline.steps.map((s) => s.state());
}
