/**
 * MNIST-C fog at its default severity 5 (c = (3.0, 1.4)):
 * x = x/255; m = max(x); x = x + 3 · plasma(wibbledecay 1.4)[:H, :W]; x = clip(x · m / (m + 3), 0, 1) · 255.
 * The plasma fractal is the reference's diamond-square (mapsize 256, the map wraps around as np.roll does):
 * corner (0, 0) = 0, wibble starts at 100; at each step size s (256 down to 2) every square centre gets the
 * mean of its 4 corners plus wibble · U(−wibble, wibble), then every diamond centre the mean of its 4
 * neighbours plus the same kind of noise; wibble /= decay after each step; the whole map is finally scaled
 * to [0, 1] by its own min and max. The uniform draws come from our Rng (the same distribution as numpy's,
 * another stream). For images larger than 256 the map grows to the next power of two. Any shape.
 */
import type { Rng } from './random.ts';
import { storeUint8, toUnit } from './image.ts';

export const FOG = { strength: 3, wibbleDecay: 1.4, mapSize: 256 } as const;

/** The reference's plasma_fractal: a mapsize×mapsize (power of two) height map in [0, 1], row-major. */
export function plasmaFractal(rng: Rng, mapsize = 256, wibbleDecay = 3): Float64Array {
  const { map, min, max } = plasmaRaw(rng, mapsize, wibbleDecay);
  const top = max - min;
  for (let i = 0; i < map.length; i++) map[i] = (map[i]! - min) / top;
  return map;
}

/** The diamond-square map before its scaling to [0, 1], with its min and max (fog scales only the cells it uses). */
function plasmaRaw(rng: Rng, mapsize: number, wibbleDecay: number): { map: Float64Array; min: number; max: number } {
  if (!Number.isInteger(mapsize) || mapsize < 2 || (mapsize & (mapsize - 1)) !== 0) throw new Error(`plasma fractal mapsize must be a power of two ≥ 2, got ${mapsize}.`);
  const n = mapsize;
  const mask = n - 1;
  const map = new Float64Array(n * n);
  let wibble = 100;
  for (let step = n; step >= 2; step >>= 1) {
    const half = step >> 1;
    // fillsquares: the centre of each square of corners `step` apart.
    for (let r = 0; r < n; r += step) {
      for (let c = 0; c < n; c += step) {
        const r2 = (r + step) & mask;
        const c2 = (c + step) & mask;
        const sum = map[r * n + c]! + map[r2 * n + c]! + map[r * n + c2]! + map[r2 * n + c2]!;
        map[(r + half) * n + c + half] = sum / 4 + wibble * rng.uniform(-wibble, wibble);
      }
    }
    // filldiamonds: the middles of the top edges (r, c+half), then of the left edges (r+half, c).
    for (let r = 0; r < n; r += step) {
      for (let c = 0; c < n; c += step) {
        const up = (r - half) & mask;
        const c2 = (c + step) & mask;
        const sum = map[(r + half) * n + c + half]! + map[up * n + c + half]! + map[r * n + c]! + map[r * n + c2]!;
        map[r * n + c + half] = sum / 4 + wibble * rng.uniform(-wibble, wibble);
      }
    }
    for (let r = 0; r < n; r += step) {
      for (let c = 0; c < n; c += step) {
        const left = (c - half) & mask;
        const r2 = (r + step) & mask;
        const sum = map[(r + half) * n + c + half]! + map[(r + half) * n + left]! + map[r * n + c]! + map[r2 * n + c]!;
        map[(r + half) * n + c] = sum / 4 + wibble * rng.uniform(-wibble, wibble);
      }
    }
    wibble /= wibbleDecay;
  }
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < map.length; i++) {
    const v = map[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { map, min, max };
}

export function fog(image: Uint8Array | Float32Array, h: number, w: number, rng: Rng): Uint8Array {
  const x = toUnit(image, h, w);
  let size: number = FOG.mapSize;
  while (size < h || size < w) size *= 2;
  const { map: plasma, min, max } = plasmaRaw(rng, size, FOG.wibbleDecay);
  const top = max - min;
  let maxVal = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i]! > maxVal) maxVal = x[i]!;
  const k = FOG.strength;
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      const i = r * w + c;
      const p = (plasma[r * size + c]! - min) / top;
      const v = ((x[i]! + k * p) * maxVal) / (maxVal + k);
      x[i] = Math.min(1, Math.max(0, v)) * 255;
    }
  }
  return storeUint8(x);
}
