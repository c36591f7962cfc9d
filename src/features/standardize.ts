/** Zero mean, unit variance per feature: the fit learns each feature's mean and standard deviation; the transform is the runtime's. */
import { standardize as runtime, type Matrix } from '@digitbench/runtime/internal';
import { defineStep } from './define.ts';

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

export const standardize = defineStep(runtime, {
  expensive: false,
  fit(x) {
    const { mean, std } = columnStats(x);
    // A constant feature maps to 0.
    return { mean, inv: std.map((v) => (v > 0 ? 1 / v : 0)) };
  },
});
