import * as z from 'zod/mini';
import { defineStepTransform, mapRows, requireImage } from './step.ts';

/**
 * The normalised 1-D Gaussian kernel of `sigma`, radius round(truncate·sigma) as scipy.ndimage's
 * gaussian_filter (truncate 4).
 */
export function gaussianKernel(sigma: number, truncate = 4): Float64Array {
  const radius = Math.max(1, Math.round(truncate * sigma));
  const k = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp(-(i * i) / (2 * sigma * sigma));
    k[i + radius] = v;
    sum += v;
  }
  for (let i = 0; i < k.length; i++) k[i]! /= sum;
  return k;
}

/**
 * Gaussian blur of one h×w image, separable (rows, then columns), float64 accumulation, zero outside
 * the image (MNIST digits sit on a zero background; scipy's mode="constant"). `tmp` holds h×w values.
 */
export function blurImage(src: Float32Array, dst: Float32Array, h: number, w: number, kernel: Float64Array, tmp: Float64Array): void {
  const r = (kernel.length - 1) / 2;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      const lo = Math.max(0, x - r);
      const hi = Math.min(w - 1, x + r);
      for (let c = lo; c <= hi; c++) s += kernel[c - x + r]! * src[y * w + c]!;
      tmp[y * w + x] = s;
    }
  }
  for (let y = 0; y < h; y++) {
    const lo = Math.max(0, y - r);
    const hi = Math.min(h - 1, y + r);
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let c = lo; c <= hi; c++) s += kernel[c - y + r]! * tmp[c * w + x]!;
      dst[y * w + x] = s;
    }
  }
}

/** Gaussian blur (the smoothing step of LeCun's best k-NN rows). Stateless; keeps the image shape. */
export const blur = defineStepTransform({
  name: 'blur',
  /** sigma in pixels. */
  spec: z.strictObject({ step: z.literal('blur'), sigma: z._default(z.number().check(z.positive(), z.lte(10)), 1) }),
  shape(spec, image) {
    requireImage('blur', image);
    return { label: `blur(${spec.sigma})`, image };
  },
  restore(spec, image) {
    const [h, w] = requireImage('blur', image);
    const kernel = gaussianKernel(spec.sigma);
    const tmp = new Float64Array(h * w);
    return (x) => mapRows(x, h * w, (src, dst) => blurImage(src, dst, h, w, kernel, tmp));
  },
});
