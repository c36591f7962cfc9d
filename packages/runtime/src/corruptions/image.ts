/**
 * Shared pixel helpers for the MNIST-C corruptions: float copies of raw pixels, scipy/skimage's Gaussian
 * filter, and the final clip-and-store to uint8. Plain typed-array JavaScript, no Node built-ins.
 */

/** The raw pixels as float64 (0..255, unscaled), checking the shape. */
export function toFloat64(image: Uint8Array | Float32Array, h: number, w: number): Float64Array {
  checkShape(image, h, w);
  return Float64Array.from(image);
}

/** The raw pixels as float64 divided by 255, as the reference's `np.array(x) / 255.`. */
export function toUnit(image: Uint8Array | Float32Array, h: number, w: number): Float64Array {
  checkShape(image, h, w);
  const out = new Float64Array(h * w);
  for (let i = 0; i < out.length; i++) out[i] = image[i]! / 255;
  return out;
}

/** The image as a PIL 'L' image holds it: uint8, values clipped and rounded (for inputs given as floats). */
export function toUint8Pixels(image: Uint8Array | Float32Array, h: number, w: number): Uint8Array {
  checkShape(image, h, w);
  if (image instanceof Uint8Array) return image;
  const out = new Uint8Array(h * w);
  for (let i = 0; i < out.length; i++) out[i] = Math.min(255, Math.max(0, Math.round(image[i]!)));
  return out;
}

export function checkShape(image: ArrayLike<number>, h: number, w: number): void {
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) throw new Error(`An image shape must be positive integers, got ${h}×${w}.`);
  if (image.length !== h * w) throw new Error(`An image of ${h}×${w} needs ${h * w} pixels, got ${image.length}.`);
}

/**
 * Stores 0..255 floats as MNIST-C does: clipped to 0..255, cast to float32 (the reference's
 * `.astype(np.float32)`), then to uint8 by truncation (numpy's `astype(np.uint8)`). The float32 step matters:
 * 0.2 * 255 computed in float64 is 50.99999…, which float32 rounds to 51.
 */
export function storeUint8(values: ArrayLike<number>, scale = 1): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < out.length; i++) {
    const v = Math.fround(values[i]! * scale);
    out[i] = v >= 255 ? 255 : v > 0 ? Math.floor(v) : 0;
  }
  return out;
}

/** scipy.ndimage's 1-D Gaussian kernel: radius int(truncate·σ + 0.5), exp(−x²/2σ²) normalised to sum 1. */
export function gaussianKernel1d(sigma: number, truncate = 4): Float64Array {
  const radius = Math.trunc(truncate * sigma + 0.5);
  const k = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp((-0.5 / (sigma * sigma)) * i * i);
    k[i + radius] = v;
    sum += v;
  }
  for (let i = 0; i < k.length; i++) k[i]! /= sum;
  return k;
}

/**
 * skimage.filters.gaussian / scipy.ndimage.gaussian_filter on an h×w float image, separable, with
 * mode 'nearest' (edge pixels repeated, skimage's default) and truncate 4. sigmaRows blurs along axis 0
 * (down the columns), sigmaCols along axis 1; a sigma of 0 leaves that axis untouched (as scipy).
 * Returns a new array.
 */
export function gaussianFilter(src: ArrayLike<number>, h: number, w: number, sigmaRows: number, sigmaCols: number = sigmaRows, truncate = 4): Float64Array {
  let cur = Float64Array.from(src as ArrayLike<number>);
  if (sigmaRows > 1e-15) {
    const k = gaussianKernel1d(sigmaRows, truncate);
    const r = (k.length - 1) / 2;
    const out = new Float64Array(h * w);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let j = -r; j <= r; j++) {
          const yy = y + j < 0 ? 0 : y + j >= h ? h - 1 : y + j;
          s += k[j + r]! * cur[yy * w + x]!;
        }
        out[y * w + x] = s;
      }
    }
    cur = out;
  }
  if (sigmaCols > 1e-15) {
    const k = gaussianKernel1d(sigmaCols, truncate);
    const r = (k.length - 1) / 2;
    const out = new Float64Array(h * w);
    for (let y = 0; y < h; y++) {
      const base = y * w;
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let j = -r; j <= r; j++) {
          const xx = x + j < 0 ? 0 : x + j >= w ? w - 1 : x + j;
          s += k[j + r]! * cur[base + xx]!;
        }
        out[base + x] = s;
      }
    }
    cur = out;
  }
  return cur;
}
