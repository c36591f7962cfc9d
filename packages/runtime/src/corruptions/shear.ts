/**
 * MNIST-C `shear` (severity 2): a shear of ±0.4 rad (sign drawn ½/½, `np.random.choice([-1, 1])`) about the
 * image centre, through skimage's `transform.warp` with the AffineTransform as the inverse map (bilinear,
 * constant 0 outside), on x / 255, then clipped, × 255, float32, uint8.
 * The centre is ((w − 1) / 2, (h − 1) / 2): the reference's 13.5 for 28 × 28; other shapes keep the same
 * angle about their own centre.
 */
import { centredAffine, warpAffine } from './affine.ts';
import { storeUint8, toUnit } from './image.ts';
import type { Rng } from './random.ts';

/** MNIST-C's shear at its default severity (2 of `[0.2, 0.4, 0.6, 0.8, 1]`). */
export const SHEAR = 0.4;

export function shear(image: Uint8Array | Float32Array, h: number, w: number, rng: Rng): Uint8Array {
  const x = toUnit(image, h, w);
  const c = SHEAR * rng.choice([-1, 1]);
  return storeUint8(warpAffine(x, h, w, centredAffine({ shear: c }, h, w)), 255);
}
