/**
 * MNIST-C glass_blur at its default severity 1 (sigma 0.7, max_delta 1, iterations 2), line by line:
 * 1. x = uint8(gaussian(x/255, sigma, multichannel=True) · 255) (truncated to uint8);
 * 2. twice: for h from H−d down to d+1, for w from W−d down to d+1: with probability ½
 *    (np.random.choice([True, False])), draw dx, dy = randint(−d, d) (d exclusive, so −1 or 0 at d = 1) and
 *    swap pixel (h, w) with (h+dy, w+dx);
 * 3. clip(gaussian(x/255, sigma, multichannel=True), 0, 1) · 255.
 * Note skimage's `gaussian(..., multichannel=True)` on a 2-D image takes the last axis for channels, so its
 * sigma becomes (sigma, 0): the reference blurs down the columns only (axis 0), never across a row. That is
 * reproduced here (scipy's kernel, radius int(4σ + 0.5), mode 'nearest'). The reference's loops are written
 * for 28×28 (range(28 − d, d, −1)); here they run over H and W, which is the same for 28×28 and keeps swaps
 * inside the image for any shape with H, W > 2d.
 */
import type { Rng } from './random.ts';
import { gaussianFilter, storeUint8, toUnit } from './image.ts';

export const GLASS_BLUR = { sigma: 0.7, maxDelta: 1, iterations: 2 } as const;

export function glassBlur(image: Uint8Array | Float32Array, h: number, w: number, rng: Rng): Uint8Array {
  const { sigma, maxDelta: d, iterations } = GLASS_BLUR;
  const first = gaussianFilter(toUnit(image, h, w), h, w, sigma, 0);
  const x = new Uint8Array(h * w);
  for (let i = 0; i < x.length; i++) {
    // np.uint8(float64): truncation toward zero; the input is in [0, 255] so it never wraps.
    const v = first[i]! * 255;
    x[i] = v >= 255 ? 255 : v > 0 ? Math.floor(v) : 0;
  }
  for (let it = 0; it < iterations; it++) {
    for (let r = h - d; r > d; r--) {
      for (let c = w - d; c > d; c--) {
        if (rng.bool()) {
          const dx = rng.randint(-d, d);
          const dy = rng.randint(-d, d);
          const a = r * w + c;
          const b = (r + dy) * w + (c + dx);
          const t = x[a]!;
          x[a] = x[b]!;
          x[b] = t;
        }
      }
    }
  }
  const unit = new Float64Array(h * w);
  for (let i = 0; i < unit.length; i++) unit[i] = x[i]! / 255;
  const second = gaussianFilter(unit, h, w, sigma, 0);
  for (let i = 0; i < second.length; i++) second[i] = Math.min(1, Math.max(0, second[i]!)) * 255;
  return storeUint8(second);
}
