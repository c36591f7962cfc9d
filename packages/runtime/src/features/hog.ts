import * as z from 'zod/mini';
import { defineStepTransform, mapRows, requireImage, type ImageShape } from './step.ts';

export interface HogParams {
  cellSize: number;
  bins: number;
  blockSize: number;
}

/** Length of the HOG vector for an h×w image. */
export function hogLength(h: number, w: number, p: HogParams): number {
  const cr = Math.floor(h / p.cellSize);
  const cc = Math.floor(w / p.cellSize);
  return Math.max(0, cr - p.blockSize + 1) * Math.max(0, cc - p.blockSize + 1) * p.blockSize * p.blockSize * p.bins;
}

/**
 * Histogram of oriented gradients, following scikit-image's `hog` (Dalal & Triggs), on h×w images of any
 * shape: ⌊h/cellSize⌋ × ⌊w/cellSize⌋ whole cells from the top-left corner (pixels past the last whole cell
 * are left out, as scikit-image does); the cells of a block must fit both sides. Centred
 * differences (zero on the border), unsigned orientations in [0°, 180°) split into `bins` equal
 * bins, magnitude-weighted votes averaged per cell, overlapping blocks of blockSize×blockSize cells
 * (stride one cell) normalised with L2-Hys (clip at 0.2). Stateless.
 */
export function hogImage(src: Float32Array, dst: Float32Array, h: number, w: number, p: HogParams): void {
  const { cellSize: cs, bins, blockSize: bs } = p;
  const cr = Math.floor(h / cs);
  const cc = Math.floor(w / cs);
  const hist = new Float64Array(cr * cc * bins);
  const binWidth = 180 / bins;
  for (let r = 0; r < cr * cs; r++) {
    for (let c = 0; c < cc * cs; c++) {
      const gx = c > 0 && c < w - 1 ? src[r * w + c + 1]! - src[r * w + c - 1]! : 0;
      const gy = r > 0 && r < h - 1 ? src[(r + 1) * w + c]! - src[(r - 1) * w + c]! : 0;
      const mag = Math.hypot(gx, gy);
      if (mag === 0) continue;
      let angle = (Math.atan2(gy, gx) * 180) / Math.PI;
      if (angle < 0) angle += 180;
      if (angle >= 180) angle -= 180;
      const b = Math.min(bins - 1, Math.floor(angle / binWidth));
      hist[(Math.floor(r / cs) * cc + Math.floor(c / cs)) * bins + b]! += mag;
    }
  }
  const area = cs * cs;
  const blockLen = bs * bs * bins;
  const block = new Float64Array(blockLen);
  let o = 0;
  for (let br = 0; br + bs <= cr; br++) {
    for (let bc = 0; bc + bs <= cc; bc++) {
      let k = 0;
      for (let i = 0; i < bs; i++) {
        for (let j = 0; j < bs; j++) {
          const base = ((br + i) * cc + (bc + j)) * bins;
          for (let b = 0; b < bins; b++) block[k++] = hist[base + b]! / area;
        }
      }
      l2hys(block);
      for (let t = 0; t < blockLen; t++) dst[o++] = block[t]!;
    }
  }
}

function l2hys(v: Float64Array, eps = 1e-5, clip = 0.2): void {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n + eps * eps);
  let n2 = 0;
  for (let i = 0; i < v.length; i++) {
    v[i] = Math.min(v[i]! / n, clip);
    n2 += v[i]! * v[i]!;
  }
  n2 = Math.sqrt(n2 + eps * eps);
  for (let i = 0; i < v.length; i++) v[i]! /= n2;
}

const cellSizeSchema = z.number().check(z.int(), z.gte(2));

export const hogSpec = z.strictObject({
  step: z.literal('hog'),
  /** One cell size, or several whose HOG vectors are concatenated in the order given (e.g. [4, 7]). */
  cellSize: z._default(z.union([cellSizeSchema, z.array(cellSizeSchema).check(z.minLength(1), z.maxLength(6))]), 4),
  bins: z._default(z.number().check(z.int(), z.gte(2), z.lte(36)), 9),
  blockSize: z._default(z.number().check(z.int(), z.gte(1)), 2),
});

/** The HOG of each cell size in turn, with its vector length; a cell size whose blocks do not fit the images is refused. */
function hogParts(spec: z.output<typeof hogSpec>, image: ImageShape): { h: number; w: number; sizes: number[]; parts: { p: HogParams; len: number }[] } {
  const [h, w] = requireImage('hog', image);
  const sizes = typeof spec.cellSize === 'number' ? [spec.cellSize] : [...spec.cellSize];
  const parts = sizes.map((cellSize) => {
    const p: HogParams = { cellSize, bins: spec.bins, blockSize: spec.blockSize };
    const len = hogLength(h, w, p);
    if (len === 0) {
      const need = cellSize * spec.blockSize;
      throw new Error(
        `Feature step "hog": cells of ${cellSize} px in blocks of ${spec.blockSize} need images of at least ${need}×${need}, but these are ${h}×${w}; lower cellSize or blockSize.`,
      );
    }
    return { p, len };
  });
  return { h, w, sizes, parts };
}

/** HOG features of each image (one or several cell sizes, concatenated). Stateless; the rows become plain vectors. */
export const hog = defineStepTransform({
  name: 'hog',
  spec: hogSpec,
  shape(spec, image) {
    const { sizes } = hogParts(spec, image);
    return { label: `hog(${sizes.map((c) => `${c}px`).join('+')},${spec.bins}bins,${spec.blockSize}x${spec.blockSize})`, image: undefined };
  },
  restore(spec, image) {
    const { h, w, parts } = hogParts(spec, image);
    const total = parts.reduce((s, q) => s + q.len, 0);
    return (x) =>
      mapRows(x, total, (src, dst) => {
        let o = 0;
        for (const { p, len } of parts) {
          hogImage(src, dst.subarray(o, o + len), h, w, p);
          o += len;
        }
      });
  },
});
