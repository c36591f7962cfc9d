/**
 * MNIST-C `scale` (severity 3): the inverse map scales by 1 / 0.7 about the image centre, so the digit
 * shrinks to 70 % of its size; skimage's `transform.warp` (bilinear, constant 0 outside) on x / 255, then
 * clipped, × 255, float32, uint8. Not random (the rng is not used).
 * The centre is ((w − 1) / 2, (h − 1) / 2): the reference's 13.5 for 28 × 28.
 */
import { centredAffine, warpAffine } from './affine.ts';
import { storeUint8, toUnit } from './image.ts';
import type { Rng } from './random.ts';

/** MNIST-C's inverse-map scale at its default severity (3 of `1 / [.9, .8, .7, .6, .5]`). */
export const SCALE = 1 / 0.7;

export function scale(image: Uint8Array | Float32Array, h: number, w: number, _rng?: Rng): Uint8Array {
  const x = toUnit(image, h, w);
  return storeUint8(warpAffine(x, h, w, centredAffine({ scale: [SCALE, SCALE] }, h, w)), 255);
}
