/** MNIST digits at other image sizes, for the any-shape tests: exact area resampling and idx folders. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMatrix, type Matrix } from '@digitbench/runtime/internal';

/**
 * Each row of `m` (an sh×sw image) resampled to h×w by exact area averaging: every output pixel is the
 * mean of the source over its footprint, each source pixel weighted by its overlap (shrinking or growing,
 * each axis on its own). Ink stays bright on black; values stay within the source's range (not rounded).
 */
export function resizeRows(m: Matrix, [sh, sw]: readonly [number, number], [h, w]: readonly [number, number]): Matrix {
  if (m.cols !== sh * sw) throw new Error(`resizeRows: rows have ${m.cols} values, not ${sh}×${sw}`);
  const weights = (from: number, to: number) => {
    // weights[o] = [source index, weight][], weights summing to 1.
    const scale = from / to;
    return Array.from({ length: to }, (_, o) => {
      const a = o * scale;
      const b = (o + 1) * scale;
      const out: [number, number][] = [];
      for (let s = Math.floor(a); s < Math.min(from, Math.ceil(b)); s++) {
        const overlap = Math.min(b, s + 1) - Math.max(a, s);
        if (overlap > 0) out.push([s, overlap / scale]);
      }
      return out;
    });
  };
  const wr = weights(sh, h);
  const wc = weights(sw, w);
  const out = new Float32Array(m.rows * h * w);
  const tmp = new Float64Array(sh * w);
  for (let i = 0; i < m.rows; i++) {
    const src = m.data.subarray(i * sh * sw, (i + 1) * sh * sw);
    for (let r = 0; r < sh; r++) {
      for (let c = 0; c < w; c++) {
        let s = 0;
        for (const [j, k] of wc[c]!) s += src[r * sw + j]! * k;
        tmp[r * w + c] = s;
      }
    }
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < w; c++) {
        let s = 0;
        for (const [j, k] of wr[r]!) s += tmp[j * w + c]! * k;
        out[(i * h + r) * w + c] = s;
      }
    }
  }
  return createMatrix(m.rows, h * w, out);
}

/** An idx file: big-endian magic, dimensions, then the bytes. */
export function idxBytes(magic: number, dims: readonly number[], bytes: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
}

/** Writes an idx dataset folder (the four MNIST-format files) of h×w images (pixels rounded to 0..255); returns `dir`. */
export function writeIdxDataset(
  dir: string,
  [h, w]: readonly [number, number],
  train: { x: Matrix; y: Int32Array },
  test: { x: Matrix; y: Int32Array },
): string {
  mkdirSync(dir, { recursive: true });
  for (const [part, prefix] of [[train, 'train'], [test, 't10k']] as const) {
    const pixels = Uint8Array.from(part.x.data, (v) => Math.min(255, Math.max(0, Math.round(v))));
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte`), idxBytes(2051, [part.x.rows, h, w], pixels));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), idxBytes(2049, [part.y.length], Uint8Array.from(part.y)));
  }
  return dir;
}
