/**
 * Affine resampling for the MNIST-C shear, scale, rotate and translate corruptions:
 *
 * - `affineMatrix`: skimage's `AffineTransform(scale, rotation, shear, translation).params` in the formula of
 *   the scikit-image releases MNIST-C was made with (before 0.19):
 *   `[[sx cos r, -sy sin(r + shear), tx], [sx sin r, sy cos(r + shear), ty]]` (0.19+ changed what shear means).
 * - `warpAffine`: `skimage.transform.warp(image, inverse_map=aff)` on a 2-D float image with its defaults:
 *   order 1 (skimage's `bilinear_interpolation`: floor/ceil corners, a corner outside the image reads cval),
 *   `mode='constant'`, `cval=0`, output shape = input shape, `clip=True` (a no-op for bilinear on [0, 1]).
 *   Output pixel (row r, col c) samples the input at (x, y) = M · (c, r, 1): the matrix maps output
 *   coordinates to input coordinates (it is the inverse map).
 */

/** A 2-D affine map as the first two rows of its 3 × 3 matrix: x' = a0 x + a1 y + a2, y' = b0 x + b1 y + b2. */
export type Affine = readonly [a0: number, a1: number, a2: number, b0: number, b1: number, b2: number];

/**
 * skimage's `AffineTransform(scale=(sx, sy), rotation, shear, translation=(tx, ty)).params` (the pre-0.19
 * formula: shear is one angle, applied as `rotation + shear` on the y axis).
 */
export function affineMatrix(opts: { scale?: readonly [number, number]; rotation?: number; shear?: number; translation?: readonly [number, number] }): Affine {
  const [sx, sy] = opts.scale ?? [1, 1];
  const rotation = opts.rotation ?? 0;
  const shear = opts.shear ?? 0;
  const [tx, ty] = opts.translation ?? [0, 0];
  return [
    sx * Math.cos(rotation), -sy * Math.sin(rotation + shear), tx,
    sx * Math.sin(rotation), sy * Math.cos(rotation + shear), ty,
  ];
}

/**
 * The reference's "keep the centre fixed" step for shear, rotate and scale: it reads a1, a2, b1, b2 of the
 * transform and sets the translation to 13.5 · (1 − a1 − a2), 13.5 · (1 − b1 − b2), 13.5 being the centre of
 * a 28 × 28 image on both axes (computed in that form, so the floats are the reference's). For other shapes
 * the centre is (cx, cy) = ((w − 1) / 2, (h − 1) / 2) and the translation cx − a1 cx − a2 cy,
 * cy − b1 cx − b2 cy keeps it fixed (the same thing when cx = cy).
 */
export function centredAffine(opts: { scale?: readonly [number, number]; rotation?: number; shear?: number }, h: number, w: number): Affine {
  const [a1, a2, , b1, b2] = affineMatrix(opts);
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  const translation: [number, number] = cx === cy
    ? [cx * (1 - a1 - a2), cy * (1 - b1 - b2)]
    : [cx - a1 * cx - a2 * cy, cy - b1 * cx - b2 * cy];
  return affineMatrix({ ...opts, translation });
}

/** skimage `transform.warp(image, inverse_map=M)`: order 1, mode 'constant', cval 0 (see the file header). */
export function warpAffine(src: Float64Array, h: number, w: number, m: Affine, cval = 0): Float64Array {
  const out = new Float64Array(h * w);
  const [a0, a1, a2, b0, b1, b2] = m;
  const at = (r: number, c: number): number => (r < 0 || r >= h || c < 0 || c >= w ? cval : src[r * w + c]!);
  for (let tr = 0; tr < h; tr++) {
    for (let tc = 0; tc < w; tc++) {
      const x = a0 * tc + a1 * tr + a2;
      const y = b0 * tc + b1 * tr + b2;
      const minr = Math.floor(y);
      const minc = Math.floor(x);
      const maxr = Math.ceil(y);
      const maxc = Math.ceil(x);
      const dr = y - minr;
      const dc = x - minc;
      const top = (1 - dc) * at(minr, minc) + dc * at(minr, maxc);
      const bottom = (1 - dc) * at(maxr, minc) + dc * at(maxr, maxc);
      out[tr * w + tc] = (1 - dr) * top + dr * bottom;
    }
  }
  return out;
}
