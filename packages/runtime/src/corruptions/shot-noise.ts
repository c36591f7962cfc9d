/**
 * MNIST-C shot_noise at its default severity 5 (c = 3): each pixel x/255 is replaced by
 * Poisson(c·x/255)/c, clipped to [0, 1] and scaled back to 0..255, as the reference
 * (`np.clip(np.random.poisson(x * c) / float(c), 0, 1) * 255`). Any shape.
 */
import type { Rng } from './random.ts';
import { storeUint8, toUnit } from './image.ts';

export const SHOT_NOISE_C = 3;

export function shotNoise(image: Uint8Array | Float32Array, h: number, w: number, rng: Rng): Uint8Array {
  const x = toUnit(image, h, w);
  const c = SHOT_NOISE_C;
  for (let i = 0; i < x.length; i++) x[i] = Math.min(1, Math.max(0, rng.poisson(x[i]! * c) / c)) * 255;
  return storeUint8(x);
}
