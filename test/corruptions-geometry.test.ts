/**
 * MNIST-C shear, scale, rotate, translate, stripe, dotted_line, zigzag and canny_edges
 * (packages/runtime/src/corruptions/): each against an independent computation written here, on real MNIST
 * test digits, and deterministic by seed.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../src/data/datasets.ts';
import { shear } from '../packages/runtime/src/corruptions/shear.ts';
import { rotate } from '../packages/runtime/src/corruptions/rotate.ts';
import { scale } from '../packages/runtime/src/corruptions/scale.ts';
import { translate } from '../packages/runtime/src/corruptions/translate.ts';
import { stripe } from '../packages/runtime/src/corruptions/stripe.ts';
import { dottedLine } from '../packages/runtime/src/corruptions/dotted-line.ts';
import { zigzag } from '../packages/runtime/src/corruptions/zigzag.ts';
import { cannyEdges } from '../packages/runtime/src/corruptions/canny-edges.ts';
import { warpAffine } from '../packages/runtime/src/corruptions/affine.ts';
import { createRng } from '../packages/runtime/src/corruptions/random.ts';
import { correlate1d, gaussianFilterMode, sobel } from '../packages/runtime/src/corruptions/filters.ts';
import { gaussianFilter } from '../packages/runtime/src/corruptions/image.ts';

const H = 28;
const W = 28;
let digits: Uint8Array[] = [];

beforeAll(async () => {
  const ds = await loadDataset('mnist');
  const data = ds.test.images.data;
  digits = [];
  for (let i = 0; i < 40; i++) digits.push(Uint8Array.from(data.subarray(i * 784, (i + 1) * 784)));
});

// ---- independent references ----

/** Plain bilinear sampling of 0..255 pixels at (x = column, y = row), 0 outside the image. */
function bilinear(img: ArrayLike<number>, h: number, w: number, x: number, y: number): number {
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  let v = 0;
  for (const [dy, wy] of [[0, 1 - fy], [1, fy]] as const) {
    for (const [dx, wx] of [[0, 1 - fx], [1, fx]] as const) {
      const r = y0 + dy;
      const c = x0 + dx;
      if (wx * wy === 0 || r < 0 || r >= h || c < 0 || c >= w) continue;
      v += wx * wy * img[r * w + c]!;
    }
  }
  return v;
}

/** Resample with an inverse map (output column, row) → input (x, y). */
function resample(img: ArrayLike<number>, h: number, w: number, inv: (x: number, y: number) => [number, number]): Float64Array {
  const out = new Float64Array(h * w);
  for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) out[r * w + c] = bilinear(img, h, w, ...inv(c, r));
  return out;
}

/** Largest difference and the share of pixels equal after the reference's float32 → uint8 truncation. */
function compare(out: Uint8Array, ref: Float64Array): { maxDiff: number; exact: number } {
  let maxDiff = 0;
  let exact = 0;
  for (let i = 0; i < out.length; i++) {
    const want = Math.min(255, Math.max(0, Math.floor(Math.fround(ref[i]!))));
    const d = Math.abs(out[i]! - want);
    if (d > maxDiff) maxDiff = d;
    if (d === 0) exact++;
  }
  return { maxDiff, exact: exact / out.length };
}

function differs(a: Uint8Array, b: Uint8Array): boolean {
  return a.some((v, i) => v !== b[i]);
}

// The geometric maps of MNIST-C about the centre (cx, cy), as the inverse map output → input.
const centre = (h: number, w: number) => [(w - 1) / 2, (h - 1) / 2] as const;
const shearMap = (k: number, h: number, w: number) => (x: number, y: number): [number, number] => {
  const [cx, cy] = centre(h, w);
  return [x - Math.sin(k) * (y - cy), Math.cos(k) * (y - cy) + cy];
};
const rotateMap = (t: number, h: number, w: number) => (x: number, y: number): [number, number] => {
  const [cx, cy] = centre(h, w);
  return [Math.cos(t) * (x - cx) - Math.sin(t) * (y - cy) + cx, Math.sin(t) * (x - cx) + Math.cos(t) * (y - cy) + cy];
};
const scaleMap = (s: number, h: number, w: number) => (x: number, y: number): [number, number] => {
  const [cx, cy] = centre(h, w);
  return [s * (x - cx) + cx, s * (y - cy) + cy];
};

describe('affine corruptions against a plain bilinear resampler', () => {
  it('warpAffine interpolates as skimage warp order 1 on a hand-checked 3 × 3 case', () => {
    const img = Float64Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    // Each output samples half a pixel right and down: the mean of a 2 × 2 block, 0 outside.
    const out = warpAffine(img, 3, 3, [1, 0, 0.5, 0, 1, 0.5]);
    expect(Array.from(out)).toEqual([2, 3, 1.75, 5, 6, 3.25, 3.25, 3.75, 2]);
  });

  for (const [name, fn, mapOf, amount] of [
    ['shear', shear, shearMap, 0.4],
    ['rotate', rotate, rotateMap, 0.4],
  ] as const) {
    it(`${name}: ±${amount} about the centre, bilinear, on 40 real test digits; both signs drawn`, () => {
      const signs = new Set<number>();
      let exactSum = 0;
      digits.forEach((img, i) => {
        const out = fn(img, H, W, createRng(1000 + i));
        expect(out).toBeInstanceOf(Uint8Array);
        expect(out.length).toBe(784);
        const plus = compare(out, resample(img, H, W, mapOf(amount, H, W)));
        const minus = compare(out, resample(img, H, W, mapOf(-amount, H, W)));
        const best = plus.maxDiff <= minus.maxDiff ? plus : minus;
        signs.add(plus.maxDiff <= minus.maxDiff ? 1 : -1);
        expect(best.maxDiff).toBeLessThanOrEqual(1); // float rounding only
        expect(Math.max(plus.maxDiff, minus.maxDiff)).toBeGreaterThan(30); // the other sign is really different
        exactSum += best.exact;
      });
      expect(signs).toEqual(new Set([1, -1]));
      expect(exactSum / digits.length).toBeGreaterThan(0.99);
    });
  }

  it('scale: the inverse map scales by 1 / 0.7 about the centre (the digit shrinks to 70 %, ink × 0.49)', () => {
    let inkIn = 0;
    let inkOut = 0;
    for (const img of digits) {
      const out = scale(img, H, W);
      const cmp = compare(out, resample(img, H, W, scaleMap(1 / 0.7, H, W)));
      expect(cmp.maxDiff).toBeLessThanOrEqual(1);
      expect(cmp.exact).toBeGreaterThan(0.99);
      for (let i = 0; i < 784; i++) {
        inkIn += img[i]!;
        inkOut += out[i]!;
      }
    }
    expect(inkOut / inkIn).toBeGreaterThan(0.45);
    expect(inkOut / inkIn).toBeLessThan(0.53);
  });

  it('translate: an exact shift by (±3, ±3) pixels with 0 shifted in; all four directions drawn', () => {
    const seen = new Set<string>();
    digits.forEach((img, i) => {
      const out = translate(img, H, W, createRng(7 + i));
      const matches: string[] = [];
      for (const dx of [-3, 3]) {
        for (const dy of [-3, 3]) {
          let same = true;
          for (let r = 0; r < H && same; r++) {
            for (let c = 0; c < W; c++) {
              const sr = r + dy;
              const sc = c + dx;
              const want = sr < 0 || sr >= H || sc < 0 || sc >= W ? 0 : img[sr * W + sc]!;
              if (out[r * W + c] !== want) { same = false; break; }
            }
          }
          if (same) matches.push(`${dx},${dy}`);
        }
      }
      expect(matches.length).toBe(1);
      seen.add(matches[0]!);
    });
    expect(seen.size).toBe(4);
  });

  it('other shapes: rotate, shear and scale of a 20 × 36 image turn about its own centre', () => {
    const h = 20;
    const w = 36;
    const img = new Uint8Array(h * w);
    for (let r = 4; r < 16; r++) for (let c = 6; c < 30; c++) img[r * w + c] = (r * 37 + c * 11) % 256;
    for (const [fn, mapOf] of [[rotate, rotateMap], [shear, shearMap]] as const) {
      const out = fn(img, h, w, createRng(3));
      const best = Math.min(compare(out, resample(img, h, w, mapOf(0.4, h, w))).maxDiff, compare(out, resample(img, h, w, mapOf(-0.4, h, w))).maxDiff);
      expect(best).toBeLessThanOrEqual(1);
    }
    expect(compare(scale(img, h, w), resample(img, h, w, scaleMap(1 / 0.7, h, w))).maxDiff).toBeLessThanOrEqual(1);
    expect(() => rotate(img, 28, 28, createRng(1))).toThrow('An image of 28×28 needs 784 pixels, got 720.');
  });
});

describe('stripe', () => {
  it('inverts columns 0–6 and 21–27 and leaves 7–20 on real digits; twice is the identity', () => {
    for (const img of digits.slice(0, 10)) {
      const out = stripe(img, H, W);
      for (let r = 0; r < H; r++) {
        for (let c = 0; c < W; c++) {
          const v = img[r * W + c]!;
          expect(out[r * W + c]).toBe(c < 7 || c >= 21 ? 255 - v : v);
        }
      }
      expect(stripe(out, H, W)).toEqual(img);
    }
  });
});

// ---- lines: an independent rendering of MNIST-C's line_from_points stroke ----

/** The stroke's value at (row, column) for the line through (c0, r0)–(c1, r1), without the column cuts. */
function stroke(r: number, c: number, c0: number, r0: number, c1: number, r1: number): number {
  const d = Math.min(Math.abs(r - (r0 + ((r1 - r0) / (c1 - c0)) * (c - c0))), 2.3 - 1e-10);
  return Math.min(1, Math.max(0, 1 + Math.log(1 - d / 2.3)));
}

describe('dotted_line', () => {
  it('on a blank image: one line (0, r0)–(27, r1) with r0, r1 in 0..26, only in columns 2–3, 6–7, …, 26', () => {
    const blank = new Uint8Array(784);
    const rows = new Set<number>();
    for (let seed = 0; seed < 60; seed++) {
      const out = dottedLine(blank, H, W, createRng(seed));
      const found: [number, number][] = [];
      for (let r0 = 0; r0 < 27; r0++) {
        for (let r1 = 0; r1 < 27; r1++) {
          let ok = true;
          for (let r = 0; r < H && ok; r++) {
            for (let c = 0; c < W; c++) {
              const on = c % 4 >= 2 && c !== 27;
              const want = on ? Math.floor(Math.fround(stroke(r, c, 0, r0, 27, r1) * 255)) : 0;
              if (Math.abs(out[r * W + c]! - want) > 1) { ok = false; break; }
            }
          }
          if (ok) found.push([r0, r1]);
        }
      }
      expect(found.length).toBe(1);
      rows.add(found[0]![0]).add(found[0]![1]);
      // Ink exists only in the dash columns.
      for (let c = 0; c < W; c++) {
        const ink = Array.from({ length: H }, (_, r) => out[r * W + c]!).some((v) => v > 0);
        if (c % 4 < 2 || c === 27) expect(ink).toBe(false);
        else expect(ink).toBe(true);
      }
    }
    expect(Math.max(...rows)).toBeLessThanOrEqual(26);
    expect(rows.size).toBeGreaterThan(20);
  });

  it('adds the dashes to a real digit with a clip at 255, and is deterministic by seed', () => {
    const blank = new Uint8Array(784);
    for (const [i, img] of digits.slice(0, 10).entries()) {
      const out = dottedLine(img, H, W, createRng(50 + i));
      const line = dottedLine(blank, H, W, createRng(50 + i));
      for (let p = 0; p < 784; p++) expect(Math.abs(out[p]! - Math.min(255, img[p]! + line[p]!))).toBeLessThanOrEqual(1);
      expect(dottedLine(img, H, W, createRng(50 + i))).toEqual(out);
    }
    expect(differs(dottedLine(digits[0]!, H, W, createRng(1)), dottedLine(digits[0]!, H, W, createRng(2)))).toBe(true);
  });
});

describe('zigzag', () => {
  /** The zigzag's polyline written out from MNIST-C's construction: teeth of 2 × 2 along (2, r0)–(25, r1). */
  function polyline(r0: number, r1: number): [number, number][] {
    const t = Math.atan((r1 - r0) / 23);
    const len = 23 / Math.cos(t);
    const local: [number, number][] = [[0, 0], [2, 2], [6, -2], [10, 2], [14, -2], [18, 2], [22, -2]];
    const tail = len - 4 * Math.floor(len / 4);
    local.push([len, -2 / (2 * tail)]);
    return local.map(([u, v]) => [2 + u * Math.cos(t) - v * Math.sin(t), r0 + u * Math.sin(t) + v * Math.cos(t)]);
  }

  function render(r0: number, r1: number): Float64Array {
    const pts = polyline(r0, r1);
    const acc = new Float64Array(784);
    for (let k = 1; k < pts.length; k++) {
      const [c0, q0] = pts[k - 1]!;
      const [c1, q1] = pts[k]!;
      for (let r = 0; r < H; r++) {
        for (let c = Math.max(0, Math.floor(c0)); c < Math.min(W, Math.ceil(c1)); c++) {
          acc[r * W + c] = Math.min(1, acc[r * W + c]! + stroke(r, c, c0, q0, c1, q1));
        }
      }
    }
    return acc;
  }

  it('on a blank image: one of the 27 × 10 (r0, r1 − r0) zigzags, six teeth, ink only in columns 2–25', () => {
    const blank = new Uint8Array(784);
    const offsets = new Set<number>();
    for (let seed = 0; seed < 30; seed++) {
      const out = zigzag(blank, H, W, createRng(seed));
      const found: [number, number][] = [];
      for (let r0 = 0; r0 < 27; r0++) {
        for (let dr = -5; dr < 5; dr++) {
          const ref = render(r0, r0 + dr);
          let ok = true;
          for (let p = 0; p < 784 && ok; p++) if (Math.abs(out[p]! - Math.floor(Math.fround(ref[p]! * 255))) > 1) ok = false;
          if (ok) found.push([r0, dr]);
        }
      }
      expect(found.length).toBe(1);
      offsets.add(found[0]![1]);
      for (let r = 0; r < H; r++) {
        expect(out[r * W + 0]).toBe(0);
        expect(out[r * W + 1]).toBe(0);
        expect(out[r * W + 26]).toBe(0);
        expect(out[r * W + 27]).toBe(0);
      }
    }
    expect(Math.min(...offsets)).toBeGreaterThanOrEqual(-5);
    expect(Math.max(...offsets)).toBeLessThanOrEqual(4);
    expect(offsets.size).toBeGreaterThan(5);
  });

  it('adds to a real digit with a clip at 255, and is deterministic by seed', () => {
    const blank = new Uint8Array(784);
    for (const [i, img] of digits.slice(0, 10).entries()) {
      const out = zigzag(img, H, W, createRng(90 + i));
      const line = zigzag(blank, H, W, createRng(90 + i));
      for (let p = 0; p < 784; p++) expect(Math.abs(out[p]! - Math.min(255, img[p]! + line[p]!))).toBeLessThanOrEqual(1);
      expect(zigzag(img, H, W, createRng(90 + i))).toEqual(out);
    }
    expect(differs(zigzag(digits[0]!, H, W, createRng(1)), zigzag(digits[0]!, H, W, createRng(2)))).toBe(true);
  });
});

// ---- canny: an independent direct implementation (2-D convolutions, gradient-direction NMS, relaxation) ----

function directCanny(img: ArrayLike<number>, h: number, w: number): Uint8Array {
  const x = Array.from(img, (v) => v / 255);
  // 2-D Gaussian σ = 1, radius 4, zero outside, normalised by the same blur of an all-ones image.
  const g1 = Array.from({ length: 9 }, (_, i) => Math.exp(-((i - 4) ** 2) / 2));
  const s1 = g1.reduce((a, b) => a + b, 0);
  const blur = (f: (r: number, c: number) => number) => {
    const out = new Float64Array(h * w);
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < w; c++) {
        let v = 0;
        for (let i = -4; i <= 4; i++) {
          for (let j = -4; j <= 4; j++) {
            const rr = r + i;
            const cc = c + j;
            if (rr >= 0 && rr < h && cc >= 0 && cc < w) v += (g1[i + 4]! / s1) * (g1[j + 4]! / s1) * f(rr, cc);
          }
        }
        out[r * w + c] = v;
      }
    }
    return out;
  };
  const a = blur((r, c) => x[r * w + c]!);
  const ones = blur(() => 1);
  const sm = a.map((v, i) => v / ones[i]!);
  // 3 × 3 Sobel with the border reflected (index −1 reads 0, index n reads n − 1).
  const at = (r: number, c: number) => sm[Math.min(h - 1, Math.max(0, r)) * w + Math.min(w - 1, Math.max(0, c))]!;
  const gi = new Float64Array(h * w);
  const gj = new Float64Array(h * w);
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      gi[r * w + c] = (at(r + 1, c - 1) + 2 * at(r + 1, c) + at(r + 1, c + 1)) - (at(r - 1, c - 1) + 2 * at(r - 1, c) + at(r - 1, c + 1));
      gj[r * w + c] = (at(r - 1, c + 1) + 2 * at(r, c + 1) + at(r + 1, c + 1)) - (at(r - 1, c - 1) + 2 * at(r, c - 1) + at(r + 1, c - 1));
    }
  }
  const mag = gi.map((v, i) => Math.sqrt(v * v + gj[i]! * gj[i]!));
  const magAt = (y: number, xx: number) => {
    const y0 = Math.floor(y);
    const x0 = Math.floor(xx);
    const fy = y - y0;
    const fx = xx - x0;
    const m = (r: number, c: number) => (r < h && c < w ? mag[r * w + c]! : 0);
    return (1 - fy) * ((1 - fx) * m(y0, x0) + fx * m(y0, x0 + 1)) + fy * ((1 - fx) * m(y0 + 1, x0) + fx * m(y0 + 1, x0 + 1));
  };
  // Non-maximum suppression: compare with the magnitude one step along ± the gradient (∞-norm step).
  const keep = new Uint8Array(h * w);
  for (let r = 1; r < h - 1; r++) {
    for (let c = 1; c < w - 1; c++) {
      const p = r * w + c;
      if (!(mag[p]! > 0)) continue;
      const n = Math.max(Math.abs(gi[p]!), Math.abs(gj[p]!));
      const dr = gi[p]! / n;
      const dc = gj[p]! / n;
      if (magAt(r + dr, c + dc) <= mag[p]! + 1e-12 && magAt(r - dr, c - dc) <= mag[p]! + 1e-12) keep[p] = 1;
    }
  }
  // Hysteresis by relaxation: start from maxima ≥ 0.2 and grow through 8-neighbours ≥ 0.1 until stable.
  const edge = new Uint8Array(h * w);
  for (let p = 0; p < h * w; p++) if (keep[p] && mag[p]! >= 0.2) edge[p] = 1;
  for (let changed = true; changed;) {
    changed = false;
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < w; c++) {
        const p = r * w + c;
        if (edge[p] || !keep[p] || mag[p]! < 0.1) continue;
        for (let i = -1; i <= 1; i++) {
          for (let j = -1; j <= 1; j++) {
            const rr = r + i;
            const cc = c + j;
            if (rr >= 0 && rr < h && cc >= 0 && cc < w && edge[rr * w + cc]) { edge[p] = 1; changed = true; }
          }
        }
      }
    }
  }
  return edge.map((v) => v * 255);
}

describe('canny_edges', () => {
  it('a filled square gives its one-pixel outline, equal to a direct Sobel + hysteresis', () => {
    const img = new Uint8Array(784);
    for (let r = 8; r < 20; r++) for (let c = 9; c < 19; c++) img[r * W + c] = 255;
    const out = cannyEdges(img, H, W);
    expect(out).toEqual(directCanny(img, H, W));
    expect(new Set(out)).toEqual(new Set([0, 255]));
    expect(out.filter((v) => v === 255).length).toBeGreaterThan(30);
  });

  it('equals the direct computation on 40 real test digits (outputs 0/255, edges around the strokes)', () => {
    let mismatched = 0;
    let edgePixels = 0;
    for (const img of digits) {
      const out = cannyEdges(img, H, W);
      const ref = directCanny(img, H, W);
      for (let p = 0; p < 784; p++) {
        if (out[p] !== ref[p]) mismatched++;
        if (out[p] === 255) edgePixels++;
        expect(out[p] === 0 || out[p] === 255).toBe(true);
      }
    }
    expect(mismatched).toBe(0);
    expect(edgePixels / digits.length).toBeGreaterThan(40);
  });

  it('a blank image and a constant image have no edges; the border is never an edge', () => {
    expect(cannyEdges(new Uint8Array(784), H, W).every((v) => v === 0)).toBe(true);
    // Constant 200: the smoothing normalisation (blur / blur of ones) keeps it flat up to the border.
    expect(cannyEdges(new Uint8Array(784).fill(200), H, W).every((v) => v === 0)).toBe(true);
    const full = new Uint8Array(784);
    for (let r = 0; r < H; r++) for (let c = 0; c < 14; c++) full[r * W + c] = 255;
    const out = cannyEdges(full, H, W);
    for (let i = 0; i < W; i++) {
      expect(out[i]).toBe(0);
      expect(out[27 * W + i]).toBe(0);
      expect(out[i * W]).toBe(0);
      expect(out[i * W + 27]).toBe(0);
    }
    expect(out.filter((v) => v === 255).length).toBeGreaterThanOrEqual(26);
  });
});

describe('filters (scipy.ndimage)', () => {
  it('a Gaussian of a single bright pixel is the outer product of the σ = 1, radius-4 kernel, sum 1', () => {
    const img = new Float64Array(784);
    img[14 * W + 13] = 1;
    const out = gaussianFilterMode(img, H, W, 1, 'constant');
    const g = Array.from({ length: 9 }, (_, i) => Math.exp(-((i - 4) ** 2) / 2));
    const s = g.reduce((a, b) => a + b, 0);
    let sum = 0;
    for (let r = 0; r < H; r++) {
      for (let c = 0; c < W; c++) {
        const dr = r - 14;
        const dc = c - 13;
        const want = Math.abs(dr) <= 4 && Math.abs(dc) <= 4 ? (g[dr + 4]! / s) * (g[dc + 4]! / s) : 0;
        expect(out[r * W + c]).toBeCloseTo(want, 15);
        sum += out[r * W + c]!;
      }
    }
    expect(sum).toBeCloseTo(1, 14);
    // Mode 'nearest' agrees with image.ts's gaussianFilter on a real digit.
    const x = Float64Array.from(digits[0]!, (v) => v / 255);
    const a = gaussianFilterMode(x, H, W, 0.7, 'nearest');
    const b = gaussianFilter(x, H, W, 0.7);
    for (let i = 0; i < 784; i++) expect(a[i]).toBeCloseTo(b[i]!, 12);
  });

  it('boundary modes and Sobel follow scipy (reflect, mirror, nearest, wrap, constant)', () => {
    const row = Float64Array.from([1, 2, 3, 4]);
    const shiftLeft = (mode: 'reflect' | 'mirror' | 'nearest' | 'wrap' | 'constant') => Array.from(correlate1d(row, 1, 4, [0, 0, 0, 0, 1], 1, mode, 9));
    expect(shiftLeft('reflect')).toEqual([3, 4, 4, 3]);
    expect(shiftLeft('mirror')).toEqual([3, 4, 3, 2]);
    expect(shiftLeft('nearest')).toEqual([3, 4, 4, 4]);
    expect(shiftLeft('wrap')).toEqual([3, 4, 1, 2]);
    expect(shiftLeft('constant')).toEqual([3, 4, 9, 9]);
    // Sobel across a vertical step: [-1, 0, 1] along the columns, [1, 2, 1] down the rows (4 × 1 + ... = 4).
    const step = new Float64Array(25);
    for (let r = 0; r < 5; r++) for (let c = 3; c < 5; c++) step[r * 5 + c] = 1;
    const j = sobel(step, 5, 5, 1);
    const i = sobel(step, 5, 5, 0);
    expect(Array.from(j.subarray(10, 15))).toEqual([0, 0, 4, 4, 0]);
    expect(i.every((v) => v === 0)).toBe(true);
  });
});

describe('determinism by seed', () => {
  it('same seed, same bytes; the random ones change with the seed', () => {
    const img = digits[3]!;
    for (const fn of [shear, rotate, translate, dottedLine, zigzag, scale, stripe, cannyEdges]) {
      expect(fn(img, H, W, createRng(42))).toEqual(fn(img, H, W, createRng(42)));
    }
    for (const fn of [shear, rotate, translate]) {
      const outs = new Set(Array.from({ length: 10 }, (_, s) => Buffer.from(fn(img, H, W, createRng(s))).toString('hex')));
      expect(outs.size).toBeGreaterThan(1);
    }
  });
});
