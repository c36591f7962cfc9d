/**
 * MNIST-C shear, scale, rotate, translate and stripe
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
import { warpAffine } from '../packages/runtime/src/corruptions/affine.ts';
import { createRng } from '../packages/runtime/src/corruptions/random.ts';

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

describe('determinism by seed', () => {
  it('same seed, same bytes; the random ones change with the seed', () => {
    const img = digits[3]!;
    for (const fn of [shear, rotate, translate, scale, stripe]) {
      expect(fn(img, H, W, createRng(42))).toEqual(fn(img, H, W, createRng(42)));
    }
    for (const fn of [shear, rotate, translate]) {
      const outs = new Set(Array.from({ length: 10 }, (_, s) => Buffer.from(fn(img, H, W, createRng(s))).toString('hex')));
      expect(outs.size).toBeGreaterThan(1);
    }
  });
});
