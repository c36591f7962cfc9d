import type { Matrix } from '@digitbench/runtime/internal';
import { mapRows, stateArray, type CreatedStep, type FeatureStep, type ImageShape } from '@digitbench/runtime/internal';

/** Per-feature column means and standard deviations (float64 accumulation). */
export function columnStats(x: Matrix): { mean: Float64Array; std: Float64Array } {
  const mean = new Float64Array(x.cols);
  const sq = new Float64Array(x.cols);
  for (let i = 0; i < x.rows; i++) {
    const o = i * x.cols;
    for (let j = 0; j < x.cols; j++) mean[j]! += x.data[o + j]!;
  }
  for (let j = 0; j < x.cols; j++) mean[j]! /= Math.max(1, x.rows);
  for (let i = 0; i < x.rows; i++) {
    const o = i * x.cols;
    for (let j = 0; j < x.cols; j++) {
      const d = x.data[o + j]! - mean[j]!;
      sq[j]! += d * d;
    }
  }
  const std = sq.map((s) => Math.sqrt(s / Math.max(1, x.rows)));
  return { mean, std };
}

/** Zero mean, unit variance per feature, from training statistics. Constant features map to 0. */
export function standardizeStep(image: ImageShape): CreatedStep {
  let mean: Float64Array = new Float64Array(0);
  let inv: Float64Array = new Float64Array(0);
  const step: FeatureStep = {
    label: 'standardize',
    fit(x) {
      const s = columnStats(x);
      mean = s.mean;
      inv = s.std.map((v) => (v > 0 ? 1 / v : 0));
    },
    transform: (x) => mapRows(x, x.cols, (src, dst) => {
      for (let j = 0; j < src.length; j++) dst[j] = (src[j]! - mean[j]!) * inv[j]!;
    }),
    state: () => ({ mean, inv }),
    setState(s) {
      mean = stateArray('standardize', s, 'mean', Float64Array);
      inv = stateArray('standardize', s, 'inv', Float64Array, mean.length);
    },
  };
  return { step, image };
}
