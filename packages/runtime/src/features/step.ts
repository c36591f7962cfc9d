/**
 * A feature step's runtime half: its spec schema and its transform, rebuilt from the spec, the input
 * image shape and the fitted state a bundle stores. Fitting (learning that state) is the workbench's.
 */
import type * as z from 'zod/mini';
import type { Matrix } from '../engine/matrix.ts';
import { allocFloat32 } from '../engine/matrix.ts';

/** Height × width while rows are still images; undefined once a step made them plain vectors. */
export type ImageShape = readonly [number, number] | undefined;

/** What a step makes of its input: its label for reports (e.g. "pca(50)") and the image shape of its output. */
export interface StepShape {
  label: string;
  image: ImageShape;
}

/** A step's spec schema: a strict zod/mini object whose `step` field is the step's name. */
export type StepSpecSchema<Name extends string = string> = z.ZodMiniObject<{ step: z.ZodMiniLiteral<Name> } & z.core.$ZodLooseShape, z.core.$strict>;

/** One feature step's runtime definition. The pipeline's spec union and the step names are built from the list of these (steps.ts). */
export interface StepTransformDefinition<Name extends string = string, Schema extends StepSpecSchema<Name> = StepSpecSchema<Name>> {
  readonly name: Name;
  /** The spec as data: fields, defaults and their messages. */
  readonly spec: Schema;
  /** The label and output image shape for a spec on input of `image`; throws a one-line reason when they do not fit. */
  shape(spec: z.output<Schema>, image: ImageShape): StepShape;
  /**
   * The fitted step's transform, from its saved state (`{}` for a step that learns nothing), checked field
   * by field. Called only after shape() accepted the spec and image. The transform never mutates its input.
   */
  restore(spec: z.output<Schema>, image: ImageShape, state: StepState): (x: Matrix) => Matrix;
}

/** Identity, for inference: a step file exports `defineStepTransform({...})`. */
export function defineStepTransform<Name extends string, Schema extends StepSpecSchema<Name>>(def: StepTransformDefinition<Name, Schema>): StepTransformDefinition<Name, Schema> {
  return def;
}

export type StateArray = Float64Array | Float32Array | Int32Array;
export type StepState = Record<string, number | StateArray>;

/** A typed array field of a saved state, checked for type and length; the error names the step and field. */
export function stateArray<T extends StateArray>(
  step: string,
  state: StepState,
  key: string,
  type: new (n: number) => T,
  length?: number,
): T {
  const v = state[key];
  if (!(v instanceof type) || (length !== undefined && v.length !== length)) {
    const want = `${type.name}${length !== undefined ? ` of ${length} values` : ''}`;
    throw new Error(`Feature step "${step}": the saved state's "${key}" is not a ${want}; the bundle is damaged or was written by another version.`);
  }
  return v;
}

/** A whole-number field of a saved state. */
export function stateInt(step: string, state: StepState, key: string): number {
  const v = state[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new Error(`Feature step "${step}": the saved state's "${key}" is not a whole number; the bundle is damaged or was written by another version.`);
  }
  return v;
}

export function requireImage(step: string, image: ImageShape): readonly [number, number] {
  if (!image) {
    throw new Error(`Feature step "${step}" needs images, but an earlier step turned the rows into plain vectors; move "${step}" before it.`);
  }
  return image;
}

/** Applies `f` to each row of `x` (width x.cols) producing rows of width `outCols`. */
export function mapRows(x: Matrix, outCols: number, f: (src: Float32Array, dst: Float32Array) => void): Matrix {
  const out = allocFloat32(x.rows * outCols); // shared when large (where the platform has it): the workbench's worker threads read it in place
  for (let i = 0; i < x.rows; i++) {
    f(x.data.subarray(i * x.cols, (i + 1) * x.cols), out.subarray(i * outCols, (i + 1) * outCols));
  }
  return { rows: x.rows, cols: outCols, data: out };
}
