/**
 * MNIST-C's `line_from_points(c0, r0, c1, r1)`, the stroke that `dotted_line` and `zigzag` draw: for every
 * pixel, the vertical distance d = |r − f(c)| to the line through (c0, r0) and (c1, r1) (f(c) = m (c − c0) + r0),
 * capped at 2.3 − 1e-10, gives log(1 − d / 2.3) + 1 clipped to [0, 1] (1 on the line, 0 from d ≈ 1.454);
 * columns left of ⌊c0⌋ and from ⌈c1⌉ on are zeroed with Python's slice rules (`[:, :l]`, `[:, r:]`, so a
 * negative bound counts from the right). A vertical line (c1 = c0) draws nothing, as in the reference.
 * The reference's grid is 28 × 28; here it is h × w, and `width` (2.3 in the reference) can be scaled.
 */

/** The stroke as an h × w float64 image in [0, 1]. */
export function lineFromPoints(c0: number, r0: number, c1: number, r1: number, h: number, w: number, width = 2.3): Float64Array {
  const out = new Float64Array(h * w);
  if (c1 === c0) return out;
  const m = (r1 - r0) / (c1 - c0);
  const cap = width - 1e-10;
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      let dist = Math.abs(r - (m * (c - c0) + r0));
      if (dist > cap) dist = cap;
      const v = Math.log(1 - dist / width) + 1;
      out[r * w + c] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  const l = Math.floor(c0);
  const rr = Math.ceil(c1);
  // corruption[:, :l] = 0 and corruption[:, r:] = 0, with Python's negative-index slices.
  const leftEnd = l >= 0 ? Math.min(l, w) : Math.max(w + l, 0);
  const rightStart = rr >= 0 ? Math.min(rr, w) : Math.max(w + rr, 0);
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < leftEnd; c++) out[r * w + c] = 0;
    for (let c = rightStart; c < w; c++) out[r * w + c] = 0;
  }
  return out;
}
