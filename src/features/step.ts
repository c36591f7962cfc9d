/** A feature step: fitted on the training part only, then applied to any part. */
import type { Matrix } from '../engine/matrix.ts';
import { allocFloat32 } from '../engine/threads.ts';

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
  /** The fitted statistics (empty for stateless steps): used to prove there is no leakage. */
  state(): Record<string, ArrayLike<number> | number>;
}

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
