/**
 * MNIST-C `stripe`: inverts (255 − x) the left 7 and the right 7 columns of a 28 × 28 image (`x[:, :7]`
 * and `x[:, 21:]`), leaving the middle 14 as they are. Not random (the rng is not used).
 * Other shapes: the inverted bands are the left round(w / 4) and the right round(w / 4) columns.
 */
import { storeUint8, toFloat64 } from './image.ts';
import type { Rng } from './random.ts';

export function stripe(image: Uint8Array | Float32Array, h: number, w: number, _rng?: Rng): Uint8Array {
  const x = toFloat64(image, h, w);
  const band = Math.round(w / 4);
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      if (c < band || c >= w - band) x[r * w + c] = 255 - x[r * w + c]!;
    }
  }
  return storeUint8(x);
}
