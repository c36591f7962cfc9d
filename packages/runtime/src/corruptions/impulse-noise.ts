/**
 * MNIST-C impulse_noise at its default severity 4 (c = 0.17): skimage's `random_noise(x/255, mode='s&p',
 * amount=c)` with salt_vs_pepper 0.5. As skimage (0.14 and later) does it: each pixel is flipped with
 * probability c, and a flipped pixel becomes salt (1) or pepper (0) with probability ½ each; then the
 * result is clipped and scaled to 0..255. (skimage 0.13 and earlier instead set exactly ceil(c·size/2)
 * random coordinates to each, with repeats; the per-pixel rule is the one documented today.) Any shape.
 */
import type { Rng } from './random.ts';
import { storeUint8, toUnit } from './image.ts';

export const IMPULSE_NOISE_AMOUNT = 0.17;

export function impulseNoise(image: Uint8Array | Float32Array, h: number, w: number, rng: Rng): Uint8Array {
  const x = toUnit(image, h, w);
  const p = IMPULSE_NOISE_AMOUNT;
  for (let i = 0; i < x.length; i++) {
    const flipped = rng.next() < p;
    const salted = rng.next() < 0.5;
    if (flipped) x[i] = salted ? 1 : 0;
    x[i] = Math.min(1, Math.max(0, x[i]!)) * 255;
  }
  return storeUint8(x);
}
