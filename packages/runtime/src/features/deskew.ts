import * as z from 'zod/mini';
import { defineStepTransform, mapRows, requireImage } from './step.ts';

/**
 * Second-moment deskewing (the classic MNIST step, LeCun et al.): shear each image so that the
 * covariance of its row and column coordinates (weighted by intensity) becomes zero, and move its
 * centre of mass to the image centre. Bilinear sampling, zero outside. Stateless.
 */
export function deskewImage(src: Float32Array, dst: Float32Array, h: number, w: number): void {
  let total = 0;
  let sr = 0;
  let sc = 0;
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      const p = src[r * w + c]!;
      total += p;
      sr += r * p;
      sc += c * p;
    }
  }
  if (total <= 0) {
    dst.set(src);
    return;
  }
  const mr = sr / total;
  const mc = sc / total;
  let vr = 0;
  let crc = 0;
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      const p = src[r * w + c]!;
      vr += (r - mr) * (r - mr) * p;
      crc += (r - mr) * (c - mc) * p;
    }
  }
  const alpha = vr > 0 ? crc / vr : 0;
  const or = h / 2;
  const oc = w / 2;
  for (let r = 0; r < h; r++) {
    const rin = r - or + mr;
    const shift = alpha * (r - or) + mc - oc;
    const r0 = Math.floor(rin);
    const fr = rin - r0;
    for (let c = 0; c < w; c++) {
      const cin = c + shift;
      const c0 = Math.floor(cin);
      const fc = cin - c0;
      dst[r * w + c] =
        (1 - fr) * ((1 - fc) * at(src, h, w, r0, c0) + fc * at(src, h, w, r0, c0 + 1)) +
        fr * ((1 - fc) * at(src, h, w, r0 + 1, c0) + fc * at(src, h, w, r0 + 1, c0 + 1));
    }
  }
}

function at(src: Float32Array, h: number, w: number, r: number, c: number): number {
  return r >= 0 && r < h && c >= 0 && c < w ? src[r * w + c]! : 0;
}

export const deskew = defineStepTransform({
  name: 'deskew',
  spec: z.strictObject({ step: z.literal('deskew') }),
  shape(_spec, image) {
    requireImage('deskew', image);
    return { label: 'deskew', image };
  },
  restore(_spec, image) {
    const [h, w] = requireImage('deskew', image);
    return (x) => mapRows(x, h * w, (src, dst) => deskewImage(src, dst, h, w));
  },
});
