/**
 * MNIST-C `canny_edges`: `skimage.feature.canny(x / 255)` with its defaults, as 0 / 255. Not random (the rng
 * is not used). The algorithm of the scikit-image releases MNIST-C was made with (≤ 0.18, Python NMS):
 * 1. Smoothing with the mask normalisation of `smooth_with_function_and_mask` (mask all ones):
 *    gaussian(x, σ = 1, mode 'constant') / (gaussian(ones, σ = 1, mode 'constant') + ε), ε = 2⁻⁵²
 *    (scipy's gaussian_filter: truncate 4, radius 4).
 * 2. isobel = scipy `sobel(axis=0)`, jsobel = `sobel(axis=1)` (mode 'reflect'); magnitude = hypot.
 * 3. The eroded mask: interior pixels (the border row/column is never an edge) with magnitude > 0.
 * 4. Non-maximum suppression in four sectors (0–45°, 45–90°, 90–135°, 135–180°), each comparing the
 *    magnitude with the two neighbours along the gradient interpolated as c2 · w + c1 · (1 − w) ≤ m; the
 *    sectors are assigned in that order and a later sector overwrites an earlier one on ties, as the
 *    reference's successive `local_maxima[pts] = …` do.
 * 5. Hysteresis: thresholds 0.1 and 0.2 (10 % and 20 % of a float image's dtype maximum 1); the local
 *    maxima ≥ 0.1 are labelled 8-connected, and a component is kept when it has a pixel ≥ 0.2.
 * Differences: hypot, exp and log are JavaScript's, which may differ from the C library's in the last bit,
 * which can only matter at exact ties.
 */
import { gaussianFilterMode, sobel } from './filters.ts';
import { checkShape } from './image.ts';
import type { Rng } from './random.ts';

export const CANNY_SIGMA = 1;
export const CANNY_LOW = 0.1;
export const CANNY_HIGH = 0.2;
const EPS = 2.220446049250313e-16;

/** The canny edge map of a float64 image (h × w), as 0/1 bytes. */
export function cannyMask(image: Float64Array, h: number, w: number, sigma = CANNY_SIGMA, low = CANNY_LOW, high = CANNY_HIGH): Uint8Array {
  const n = h * w;
  const blurred = gaussianFilterMode(image, h, w, sigma, 'constant', 0);
  const bleed = gaussianFilterMode(new Float64Array(n).fill(1), h, w, sigma, 'constant', 0);
  const smoothed = new Float64Array(n);
  for (let i = 0; i < n; i++) smoothed[i] = blurred[i]! / (bleed[i]! + EPS);
  const jsobel = sobel(smoothed, h, w, 1);
  const isobel = sobel(smoothed, h, w, 0);
  const mag = new Float64Array(n);
  for (let i = 0; i < n; i++) mag[i] = Math.hypot(isobel[i]!, jsobel[i]!);

  const maxima = new Uint8Array(n);
  for (let r = 1; r < h - 1; r++) {
    for (let c = 1; c < w - 1; c++) {
      const p = r * w + c;
      const m = mag[p]!;
      if (!(m > 0)) continue;
      const iv = isobel[p]!;
      const jv = jsobel[p]!;
      const ai = Math.abs(iv);
      const aj = Math.abs(jv);
      const at = (dr: number, dc: number): number => mag[(r + dr) * w + c + dc]!;
      let decided: number | undefined;
      // 0–45°: mix of vertical and diagonal neighbours.
      if (((iv >= 0 && jv >= 0) || (iv <= 0 && jv <= 0)) && ai >= aj) {
        const wt = aj / ai;
        const plus = at(1, 1) * wt + at(1, 0) * (1 - wt) <= m;
        const minus = at(-1, -1) * wt + at(-1, 0) * (1 - wt) <= m;
        decided = plus && minus ? 1 : 0;
      }
      // 45–90°: diagonal and horizontal.
      if (((iv >= 0 && jv >= 0) || (iv <= 0 && jv <= 0)) && ai <= aj) {
        const wt = ai / aj;
        const plus = at(1, 1) * wt + at(0, 1) * (1 - wt) <= m;
        const minus = at(-1, -1) * wt + at(0, -1) * (1 - wt) <= m;
        decided = plus && minus ? 1 : 0;
      }
      // 90–135°: anti-diagonal and horizontal.
      if (((iv <= 0 && jv >= 0) || (iv >= 0 && jv <= 0)) && ai <= aj) {
        const wt = ai / aj;
        const plus = at(-1, 1) * wt + at(0, 1) * (1.0 - wt) <= m;
        const minus = at(1, -1) * wt + at(0, -1) * (1.0 - wt) <= m;
        decided = plus && minus ? 1 : 0;
      }
      // 135–180°: anti-diagonal and vertical.
      if (((iv <= 0 && jv >= 0) || (iv >= 0 && jv <= 0)) && ai >= aj) {
        const wt = aj / ai;
        const plus = at(-1, 1) * wt + at(-1, 0) * (1 - wt) <= m;
        const minus = at(1, -1) * wt + at(1, 0) * (1 - wt) <= m;
        decided = plus && minus ? 1 : 0;
      }
      if (decided !== undefined) maxima[p] = decided;
    }
  }

  // Hysteresis: keep the 8-connected components of (maxima & mag ≥ low) that contain a pixel ≥ high.
  const out = new Uint8Array(n);
  const stack: number[] = [];
  for (let p = 0; p < n; p++) {
    if (maxima[p] !== 1 || !(mag[p]! >= high) || out[p] === 1) continue;
    out[p] = 1;
    stack.push(p);
    while (stack.length > 0) {
      const q = stack.pop()!;
      const qr = Math.floor(q / w);
      const qc = q - qr * w;
      for (let dr = -1; dr <= 1; dr++) {
        for (let dc = -1; dc <= 1; dc++) {
          const rr = qr + dr;
          const cc = qc + dc;
          if (rr < 0 || rr >= h || cc < 0 || cc >= w) continue;
          const t = rr * w + cc;
          if (out[t] === 0 && maxima[t] === 1 && mag[t]! >= low) {
            out[t] = 1;
            stack.push(t);
          }
        }
      }
    }
  }
  return out;
}

export function cannyEdges(image: Uint8Array | Float32Array, h: number, w: number, _rng?: Rng): Uint8Array {
  checkShape(image, h, w);
  const x = new Float64Array(h * w);
  for (let i = 0; i < x.length; i++) x[i] = image[i]! / 255;
  const mask = cannyMask(x, h, w);
  const out = new Uint8Array(h * w);
  for (let i = 0; i < out.length; i++) out[i] = mask[i] ? 255 : 0;
  return out;
}
