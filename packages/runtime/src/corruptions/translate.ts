/**
 * MNIST-C `translate` (severity 3): the inverse map translates by (±3, ±3) pixels (x then y sign, each
 * drawn ½/½, `np.random.choice([-1, 1], 2)`), so the digit moves by (∓3, ∓3); skimage's `transform.warp`
 * (constant 0 outside; an integer shift, so bilinear reads one pixel) on x / 255, then × 255, float32,
 * uint8.
 * Other shapes: the shift is 3 pixels per 28 of the side (round(3 w / 28) across, round(3 h / 28) down).
 */
import { affineMatrix, warpAffine } from './affine.ts';
import { storeUint8, toUnit } from './image.ts';
import type { Rng } from './random.ts';

/** MNIST-C's shift in pixels for a 28-pixel side at its default severity (3 of `[1, 2, 3, 4, 5]`). */
export const TRANSLATE = 3;

export function translate(image: Uint8Array | Float32Array, h: number, w: number, rng: Rng): Uint8Array {
  const x = toUnit(image, h, w);
  const bx = rng.choice([-1, 1]);
  const by = rng.choice([-1, 1]);
  const dx = Math.round((TRANSLATE * w) / 28) * bx;
  const dy = Math.round((TRANSLATE * h) / 28) * by;
  return storeUint8(warpAffine(x, h, w, affineMatrix({ translation: [dx, dy] })), 255);
}
