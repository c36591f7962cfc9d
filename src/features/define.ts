/**
 * A feature step's workbench half: its runtime definition (spec schema, shape, transform from a saved
 * state: @digitbench/runtime's features/<step>.ts) plus how it is fitted and whether its output is
 * worth caching. Each src/features/<step>.ts exports one of these; steps.ts lists them.
 */
import type { EngineLibraries } from '../engine/ort.ts';
import type { ImageShape, Matrix, StepState, StepTransformDefinition } from '@digitbench/runtime/internal';

export interface FitContext {
  /** The experiment's seed (PCA's random start). */
  seed: number;
  /** The image shape of the rows the step receives. */
  image: ImageShape;
  /** Tells the pipeline how many threads the fit kept busy (worker threads included), when more than this one. */
  usedThreads?(threads: number): void;
}

/** The spec type a runtime step definition takes. */
export type SpecOf<D> = D extends { shape(spec: infer S, image: ImageShape): unknown } ? S : never;

export interface Fitting<Spec> {
  /** Worth caching on disk (the others are cheaper to recompute than to read back). */
  readonly expensive: boolean;
  /** Its fit runs on the tensor engine, whose float32 arithmetic differs between backends: the backend enters the feature cache key. */
  readonly engineDependent: boolean;
  /**
   * npm packages (name and version, e.g. "ml-matrix 6.15.1") the fit uses: their installed versions enter the
   * feature cache key and the run ids of runs on this step, and the report's environment lists them.
   */
  readonly libraries?: readonly string[];
  /** Packages its fit uses on one engine only (tfjs on wasm, onnxruntime-node on ort): only the run's engine's count. */
  readonly engineLibraries?: EngineLibraries;
  /** Which of them (package names) carry a patch in patches/: the patch enters run ids, the report says "(patched)". */
  readonly patched?: readonly string[];
  /**
   * Learns the state the runtime's restore() takes, from the training rows only (never validation or test
   * rows). Absent: the step learns nothing (state `{}`).
   */
  readonly fit?: (x: Matrix, y: Int32Array, spec: Spec, ctx: FitContext) => StepState | Promise<StepState>;
  /**
   * For the workbench's preparation of large matrices: an asynchronous transform from the fitted state whose
   * output equals restore()'s bit for bit (PCA's projection on onnxruntime), or undefined to use restore()'s.
   */
  readonly transformMany?: (spec: Spec, state: StepState) => ManyTransform | undefined;
}

/** A step's asynchronous transform of large matrices (Fitting.transformMany); `release` frees what it holds. */
export interface ManyTransform {
  transform(x: Matrix): Promise<Matrix>;
  release(): void;
}

/** A runtime step definition with its fitting. */
export type StepDefinition<D extends StepTransformDefinition<string, any> = StepTransformDefinition<string, any>> = D & Fitting<SpecOf<D>>;

export function defineStep<D extends StepTransformDefinition<string, any>>(
  runtime: D,
  fitting: { expensive: boolean; engineDependent?: boolean; libraries?: readonly string[]; engineLibraries?: EngineLibraries; patched?: readonly string[]; fit?: Fitting<SpecOf<D>>['fit']; transformMany?: Fitting<SpecOf<D>>['transformMany'] },
): StepDefinition<D> {
  return {
    ...runtime,
    expensive: fitting.expensive,
    engineDependent: fitting.engineDependent ?? false,
    ...(fitting.libraries?.length ? { libraries: fitting.libraries } : {}),
    ...(fitting.engineLibraries ? { engineLibraries: fitting.engineLibraries } : {}),
    ...(fitting.patched?.length ? { patched: fitting.patched } : {}),
    ...(fitting.fit ? { fit: fitting.fit } : {}),
    ...(fitting.transformMany ? { transformMany: fitting.transformMany } : {}),
  };
}
