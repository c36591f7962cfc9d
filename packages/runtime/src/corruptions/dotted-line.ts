/**
 * MNIST-C `dotted_line`: a line from (column 0, row r0) to (column 27, row r1), r0 and r1 drawn uniformly
 * from 0..26 (`np.random.randint(0, 27, size=2)`, r0 first), drawn with `line_from_points` (lines.ts), then
 * dashed: columns [0, 2), [4, 6), …, [24, 26) are zeroed (the reference's `idx = arange(0, 30, 2)` loop),
 * so the dashes are columns 2–3, 6–7, …, 26 (column 27 is zeroed by `line_from_points`' `[:, 27:]`).
 * Added to x / 255, clipped, × 255, float32, uint8.
 * Other shapes: the line runs from column 0 to w − 1, rows are drawn from 0..h − 2, and the dash length and
 * stroke width scale with w / 28 (exactly the reference at 28 × 28).
 */
import { storeUint8, toUnit } from './image.ts';
import { lineFromPoints } from './lines.ts';
import type { Rng } from './random.ts';

export function dottedLine(image: Uint8Array | Float32Array, h: number, w: number, rng: Rng): Uint8Array {
  const x = toUnit(image, h, w);
  const r0 = rng.randint(0, h - 1);
  const r1 = rng.randint(0, h - 1);
  const s = w / 28;
  const corruption = lineFromPoints(0, r0, w - 1, r1, h, w, 2.3 * s);
  const dash = Math.max(1, Math.round(2 * s));
  for (let c = 0; c < w; c++) {
    if (Math.floor(c / dash) % 2 !== 0) continue; // the reference's "off" segments: [0, 2), [4, 6), …
    for (let r = 0; r < h; r++) corruption[r * w + c] = 0;
  }
  for (let i = 0; i < x.length; i++) x[i] = x[i]! + corruption[i]!;
  for (let i = 0; i < x.length; i++) x[i] = x[i]! < 0 ? 0 : x[i]! > 1 ? 1 : x[i]!;
  return storeUint8(x, 255);
}
