/**
 * MNIST-C `zigzag`: a zigzag (teeth of length a = 2 and height b = 2) along a line from (column 2, row r0)
 * to (column 25, row r1), r0 from 0..26 and r1 = r0 + (−5..4) (`np.random.randint`, r0 drawn first), built
 * exactly as the reference: endpoints (0, 0), ((2i + 1) a, (−1)^i b) for i < ⌊(d − a) / 2a⌋ + 1 and a last
 * (d, r_i / (2 (d − max_c))), rotated by θ = atan((r1 − r0) / 23) and moved to (2, r0), each segment drawn
 * with `line_from_points` (lines.ts) and added to x / 255 with a clip to [0, 1] after each; then × 255,
 * float32, uint8. (Python 3 division: θ is not rounded to an integer slope.)
 * Other shapes: the ends are columns round(2 s) and w − 1 − round(2 s) and a, b, the row offset range and the
 * stroke width scale with s = w / 28; r0 is drawn from 0..h − 2 (exactly the reference at 28 × 28).
 */
import { storeUint8, toUnit } from './image.ts';
import { lineFromPoints } from './lines.ts';
import type { Rng } from './random.ts';

/** The zigzag's vertices (columns, rows) in image coordinates, as the reference computes them. */
export function zigzagPoints(r0: number, r1: number, w: number): { cs: number[]; rs: number[] } {
  const s = w / 28;
  const a = 2 * s;
  const b = 2 * s;
  const c0 = Math.round(2 * s);
  const c1 = w - 1 - c0;
  const theta = Math.atan((r1 - r0) / (c1 - c0));
  const d = (c1 - c0) / Math.cos(theta);
  const pts: [number, number][] = [[0, 0]];
  const count = Math.floor((d - a) / (2 * a)) + 1;
  let ri = 0;
  for (let i = 0; i < count; i++) {
    const ci = (2 * i + 1) * a;
    ri = (i % 2 === 0 ? 1 : -1) * b;
    pts.push([ci, ri]);
  }
  const maxC = 2 * a * Math.floor(d / (2 * a));
  if (d !== maxC) pts.push([d, ri / (2 * (d - maxC))]);
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  const cs = pts.map(([c, r]) => cos * c + -sin * r + c0);
  const rs = pts.map(([c, r]) => sin * c + cos * r + r0);
  return { cs, rs };
}

export function zigzag(image: Uint8Array | Float32Array, h: number, w: number, rng: Rng): Uint8Array {
  const x = toUnit(image, h, w);
  const s = w / 28;
  const r0 = rng.randint(0, h - 1);
  const off = Math.round(5 * s);
  const r1 = r0 + rng.randint(-off, off);
  const { cs, rs } = zigzagPoints(r0, r1, w);
  for (let i = 1; i < cs.length; i++) {
    const seg = lineFromPoints(cs[i - 1]!, rs[i - 1]!, cs[i]!, rs[i]!, h, w, 2.3 * s);
    for (let p = 0; p < x.length; p++) {
      const v = x[p]! + seg[p]!;
      x[p] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  return storeUint8(x, 255);
}
