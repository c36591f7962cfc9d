/**
 * A feature step's workbench half: its runtime definition (spec schema, shape, transform from a saved
 * state: @digitbench/runtime's features/<step>.ts) plus how it is fitted and whether its output is
 * worth caching. Each src/features/<step>.ts exports one of these; steps.ts lists them.
 */
import type { ImageShape, Matrix, StepState, StepTransformDefinition } from '@digitbench/runtime/internal';

export interface FitContext {
  /** The experiment's seed (PCA's random start). */
  seed: number;
  /** The image shape of the rows the step receives. */
  image: ImageShape;
}

/** The spec type a runtime step definition takes. */
export type SpecOf<D> = D extends { shape(spec: infer S, image: ImageShape): unknown } ? S : never;

export interface Fitting<Spec> {
  /** Worth caching on disk (the others are cheaper to recompute than to read back). */
  readonly expensive: boolean;
  /** Its fit runs on the tensor engine, whose float32 arithmetic differs between backends: the backend enters the feature cache key. */
  readonly engineDependent: boolean;
  /**
   * Learns the state the runtime's restore() takes, from the training rows only (never validation or test
   * rows). Absent: the step learns nothing (state `{}`).
   */
  readonly fit?: (x: Matrix, y: Int32Array, spec: Spec, ctx: FitContext) => StepState | Promise<StepState>;
}

/** A runtime step definition with its fitting. */
export type StepDefinition<D extends StepTransformDefinition<string, any> = StepTransformDefinition<string, any>> = D & Fitting<SpecOf<D>>;

export function defineStep<D extends StepTransformDefinition<string, any>>(
  runtime: D,
  fitting: { expensive: boolean; engineDependent?: boolean; fit?: Fitting<SpecOf<D>>['fit'] },
): StepDefinition<D> {
  return { ...runtime, expensive: fitting.expensive, engineDependent: fitting.engineDependent ?? false, ...(fitting.fit ? { fit: fitting.fit } : {}) };
}
