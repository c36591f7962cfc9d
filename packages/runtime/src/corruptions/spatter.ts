/**
 * MNIST-C spatter at its default severity 4 (c = (0.65, 0.3, 1, 0.65, 1.5, 1)), line by line:
 *   x = float32(x) / 255
 *   liquid = normal(loc 0.65, scale 0.3, x.shape)                 (float64)
 *   liquid = gaussian(liquid, sigma 1)      (skimage: both axes, mode 'nearest', truncate 4)
 *   liquid[liquid < 0.65] = 0
 *   m = where(liquid > 0.65, 1, 0)
 *   m = gaussian(float32(m), sigma 1.5);  m[m < 0.8] = 0           (float32, as skimage keeps it)
 *   color = 63/255 · m;  x = x · (1 − m)     ("mud spatter": MNIST-C has no liquid branch)
 *   out = clip(x + color, 0, 1) · 255                              (float32 arithmetic, as numpy)
 * The float32 steps are reproduced with Math.fround. The normal draws come from our Rng (numpy's
 * distribution, another stream). Any shape.
 */
import type { Rng } from './random.ts';
import { gaussianFilter, storeUint8, checkShape } from './image.ts';

export const SPATTER = { loc: 0.65, scale: 0.3, sigma: 1, threshold: 0.65, maskSigma: 1.5, maskFloor: 0.8, mud: 63 / 255 } as const;

/** The spatter mask m (float32 values, 0 or in [0.8, 1]) for a field of liquid draws; exported for tests. */
export function spatterMask(liquid: Float64Array, h: number, w: number): Float32Array {
  const { sigma, threshold, maskSigma, maskFloor } = SPATTER;
  const blurred = gaussianFilter(liquid, h, w, sigma);
  const binary = new Float64Array(h * w);
  for (let i = 0; i < binary.length; i++) {
    const v = blurred[i]! < threshold ? 0 : blurred[i]!;
    binary[i] = v > threshold ? 1 : 0;
  }
  const m = Float32Array.from(gaussianFilter(binary, h, w, maskSigma));
  for (let i = 0; i < m.length; i++) if (m[i]! < maskFloor) m[i] = 0;
  return m;
}

export function spatter(image: Uint8Array | Float32Array, h: number, w: number, rng: Rng): Uint8Array {
  checkShape(image, h, w);
  const liquid = new Float64Array(h * w);
  for (let i = 0; i < liquid.length; i++) liquid[i] = rng.normal(SPATTER.loc, SPATTER.scale);
  const m = spatterMask(liquid, h, w);
  const mud = Math.fround(SPATTER.mud);
  const out = new Float32Array(h * w);
  for (let i = 0; i < out.length; i++) {
    const x = Math.fround(Math.fround(image[i]!) / 255);
    const kept = Math.fround(x * Math.fround(1 - m[i]!));
    const v = Math.fround(kept + Math.fround(mud * m[i]!));
    out[i] = Math.fround(Math.min(1, Math.max(0, v)) * 255);
  }
  return storeUint8(out);
}
