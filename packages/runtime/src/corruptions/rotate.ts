/**
 * MNIST-C `rotate` (severity 2): a rotation by ±0.4 rad (sign drawn ½/½) about the image centre, through
 * skimage's `transform.warp` with the AffineTransform as the inverse map (bilinear, constant 0 outside), on
 * x / 255, then clipped, × 255, float32, uint8.
 * The centre is ((w − 1) / 2, (h − 1) / 2): the reference's 13.5 for 28 × 28.
 */
import { centredAffine, warpAffine } from './affine.ts';
import { storeUint8, toUnit } from './image.ts';
import type { Rng } from './random.ts';

/** MNIST-C's rotation angle in radians at its default severity (2 of `[0.2, 0.4, 0.6, 0.8, 1]`). */
export const ROTATION = 0.4;

export function rotate(image: Uint8Array | Float32Array, h: number, w: number, rng: Rng): Uint8Array {
  const x = toUnit(image, h, w);
  const c = ROTATION * rng.choice([-1, 1]);
  return storeUint8(warpAffine(x, h, w, centredAffine({ rotation: c }, h, w)), 255);
}
