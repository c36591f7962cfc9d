/**
 * MNIST-C motion_blur at its default severity 1: ImageMagick's MotionBlurImage(radius 10, sigma 3,
 * angle uniform(−45°, 45°)) on the 8-bit grey PNG of the digit (via Wand), decoded back to uint8.
 *
 * ImageMagick's kernel, reproduced from MagickCore/effect.c: width = 2·ceil(radius) + 1 = 21 taps,
 * weight_i ∝ exp(−i²/2σ²) for i = 0…width−1 (a one-sided Gaussian), normalised to sum 1; tap i reads the
 * pixel at (x + ceil(i·cos θ − ½), y + ceil(i·sin θ − ½)), so each output pixel averages the pixels
 * along a ray leaving it at angle θ (image y down). Pixels outside the image repeat the nearest edge pixel
 * (ImageMagick's default 'edge' virtual pixels). The sum is rounded as a Q16 build does (to a 16-bit
 * quantum, then to 8 bits on writing the PNG).
 * What may differ: ImageMagick builds with HDRI or another quantum depth round once instead of twice (a
 * difference of at most 1 level on rare ties); the angle is drawn from our Rng, not numpy's stream. Any shape.
 */
import type { Rng } from './random.ts';
import { toUint8Pixels } from './image.ts';

export const MOTION_BLUR = { radius: 10, sigma: 3, maxAngle: 45 } as const;

export interface MotionKernel {
  weights: Float64Array;
  dx: Int32Array;
  dy: Int32Array;
}

/** ImageMagick's motion-blur kernel for a radius, sigma and angle in degrees. */
export function motionKernel(radius: number, sigma: number, angleDegrees: number): MotionKernel {
  const width = radius > 1e-12 ? 2 * Math.ceil(radius) + 1 : 3;
  const weights = new Float64Array(width);
  let normalize = 0;
  for (let i = 0; i < width; i++) {
    weights[i] = Math.exp(-(i * i) / (2 * sigma * sigma)) / (Math.sqrt(2 * Math.PI) * sigma);
    normalize += weights[i]!;
  }
  for (let i = 0; i < width; i++) weights[i]! /= normalize;
  const rad = (Math.PI * angleDegrees) / 180;
  const px = width * Math.sin(rad);
  const py = width * Math.cos(rad);
  const len = Math.hypot(px, py);
  const dx = new Int32Array(width);
  const dy = new Int32Array(width);
  for (let i = 0; i < width; i++) {
    dx[i] = Math.ceil((i * py) / len - 0.5);
    dy[i] = Math.ceil((i * px) / len - 0.5);
  }
  return { weights, dx, dy };
}

/** Applies a motion kernel to uint8 pixels (edge virtual pixels, Q16 rounding, back to 8 bits). */
export function applyMotionKernel(pixels: Uint8Array, h: number, w: number, kernel: MotionKernel): Uint8Array {
  const out = new Uint8Array(h * w);
  const { weights, dx, dy } = kernel;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let i = 0; i < weights.length; i++) {
        let xx = x + dx[i]!;
        let yy = y + dy[i]!;
        xx = xx < 0 ? 0 : xx >= w ? w - 1 : xx;
        yy = yy < 0 ? 0 : yy >= h ? h - 1 : yy;
        s += weights[i]! * pixels[yy * w + xx]! * 257;
      }
      const q = Math.min(65535, Math.max(0, Math.floor(s + 0.5)));
      out[y * w + x] = Math.floor((q + 128) / 257);
    }
  }
  return out;
}

export function motionBlur(image: Uint8Array | Float32Array, h: number, w: number, rng: Rng): Uint8Array {
  const { radius, sigma, maxAngle } = MOTION_BLUR;
  const angle = rng.uniform(-maxAngle, maxAngle);
  return applyMotionKernel(toUint8Pixels(image, h, w), h, w, motionKernel(radius, sigma, angle));
}
