/** A feature step: fitted on the training part only, then applied to any part. */
import type { Matrix } from '../engine/matrix.ts';
import { allocFloat32 } from '../engine/matrix.ts';

/** Height × width while rows are still images; undefined once a step made them plain vectors. */
export type ImageShape = readonly [number, number] | undefined;

/** A step bound to its parameters, and the image shape of its output. */
export interface CreatedStep {
  step: FeatureStep;
  image: ImageShape;
}

export interface FeatureStep {
  /** Short description for reports, e.g. "pca(50)". */
  readonly label: string;
  /** Learns statistics from the training rows. Never sees validation or test rows. */
  fit(x: Matrix, y: Int32Array): void | Promise<void>;
  /** Applies the step to any rows; never mutates `x`. */
  transform(x: Matrix): Matrix | Promise<Matrix>;
  /**
   * The fitted state (empty for stateless steps): what a model bundle stores, and what the leakage
   * tests compare. Numbers and typed arrays only.
   */
  state(): StepState;
  /** Restores a state from `state()`, checking its fields; the step then transforms as when it was fitted. */
  setState(state: StepState): void;
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

/** setState of a step that learns nothing. */
export function noState(): void {}

export function requireImage(step: string, image: ImageShape): readonly [number, number] {
  if (!image) {
    throw new Error(`Feature step "${step}" needs images, but an earlier step turned the rows into plain vectors; move "${step}" before it.`);
  }
  return image;
}

/** Applies `f` to each row of `x` (width x.cols) producing rows of width `outCols`. */
export function mapRows(x: Matrix, outCols: number, f: (src: Float32Array, dst: Float32Array) => void): Matrix {
  const out = allocFloat32(x.rows * outCols); // shared when large: PCA's worker threads read it in place
  for (let i = 0; i < x.rows; i++) {
    f(x.data.subarray(i * x.cols, (i + 1) * x.cols), out.subarray(i * outCols, (i + 1) * outCols));
  }
  return { rows: x.rows, cols: outCols, data: out };
}
