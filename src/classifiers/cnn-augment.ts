/**
 * Training-time augmentation for the cnn plugin: each image gets one random affine map about its centre
 * (a shift, a rotation and a scaling), resampled with bilinear interpolation, zero outside the image.
 * Pure functions on Float32Array images (row-major, one channel); cnn.ts draws a fresh map per image
 * and epoch from createRng(`${seed}:cnn-augment`) and applies it to training batches only.
 */
import type { Rng } from '../engine/rng.ts';

/** Largest draws: shifts of ±shift px (each axis), rotations of ±rotate degrees, scalings of 1 ± scale. */
export interface AugmentSpec {
  shift: number;
  rotate: number;
  scale: number;
}

/** One image's map: output pixel p' = c + scale · R(angle) · (p − c) + (dx, dy), c the image centre. */
export interface Affine {
  /** Pixels right (x) and down (y). */
  dx: number;
  dy: number;
  /** Radians, clockwise on screen (x right, y down). */
  angle: number;
  scale: number;
}

export const IDENTITY: Affine = { dx: 0, dy: 0, angle: 0, scale: 1 };

/** Draws one map: four uniform draws from rng, in the order dx, dy, angle, scale. */
export function drawAffine(spec: AugmentSpec, rng: Rng): Affine {
  const u = () => 2 * rng.next() - 1;
  const dx = spec.shift * u();
  const dy = spec.shift * u();
  const angle = ((spec.rotate * Math.PI) / 180) * u();
  const scale = 1 + spec.scale * u();
  return { dx, dy, angle, scale };
}

/**
 * Writes src (h×w) mapped by t into dst (h×w): each output pixel samples src at the inverse image of
 * its position, bilinearly, with pixels outside src counting as 0. The identity map copies src exactly.
 */
export function affineImage(src: Float32Array, dst: Float32Array, h: number, w: number, t: Affine): void {
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  // Inverse map: p = c + R(−angle) · (p' − c − d) / scale.
  const cos = Math.cos(t.angle) / t.scale;
  const sin = Math.sin(t.angle) / t.scale;
  const at = (r: number, c: number) => (r >= 0 && r < h && c >= 0 && c < w ? src[r * w + c]! : 0);
  for (let oy = 0, o = 0; oy < h; oy++) {
    const ry = oy - cy - t.dy;
    for (let ox = 0; ox < w; ox++, o++) {
      const rx = ox - cx - t.dx;
      const sx = cx + cos * rx + sin * ry;
      const sy = cy - sin * rx + cos * ry;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      if (x0 < -1 || y0 < -1 || x0 >= w || y0 >= h) {
        dst[o] = 0;
        continue;
      }
      const fx = sx - x0;
      const fy = sy - y0;
      let v = (1 - fy) * ((1 - fx) * at(y0, x0));
      if (fx !== 0) v += (1 - fy) * (fx * at(y0, x0 + 1));
      if (fy !== 0) {
        v += fy * ((1 - fx) * at(y0 + 1, x0));
        if (fx !== 0) v += fy * (fx * at(y0 + 1, x0 + 1));
      }
      dst[o] = v;
    }
  }
}

/**
 * Augments n images: image k of the batch is read from src(k) and written to
 * dst[k·h·w …], each with a fresh map from rng (so a batch depends on the rng's state only).
 */
export function augmentBatch(
  src: (k: number) => Float32Array,
  dst: Float32Array,
  n: number,
  [h, w]: readonly [number, number],
  spec: AugmentSpec,
  rng: Rng,
): void {
  const px = h * w;
  for (let k = 0; k < n; k++) affineImage(src(k), dst.subarray(k * px, (k + 1) * px), h, w, drawAffine(spec, rng));
}
