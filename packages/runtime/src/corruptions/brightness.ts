/**
 * MNIST-C brightness at its default severity 5 (c = 0.5). The reference converts the grey image to RGB,
 * then to HSV (skimage.color), adds c to V clipped to [0, 1], converts back and to grey
 * (0.2125 R + 0.7154 G + 0.0721 B). For a grey pixel R = G = B = v: H = 0, S = 0 and V = v, and with
 * S = 0 hsv2rgb gives R = G = B = V, so the whole chain reduces to grey' = min(1, v/255 + c) (times the
 * coefficients' sum, 1 in float64 up to rounding, kept here by summing the three products as skimage does).
 * Deterministic: the rng is unused. Any shape.
 */
import type { Rng } from './random.ts';
import { storeUint8, toUnit } from './image.ts';

export const BRIGHTNESS_C = 0.5;

export function brightness(image: Uint8Array | Float32Array, h: number, w: number, _rng?: Rng): Uint8Array {
  const x = toUnit(image, h, w);
  for (let i = 0; i < x.length; i++) {
    const v = Math.min(1, Math.max(0, x[i]! + BRIGHTNESS_C));
    const grey = v * 0.2125 + v * 0.7154 + v * 0.0721;
    x[i] = Math.min(1, Math.max(0, grey)) * 255;
  }
  return storeUint8(x);
}
