/**
 * PNG grids of misclassified test digits. Each cell is the digit (white on black, as stored) scaled up,
 * with a caption strip drawn in a 3×5 pixel font: true label (green) → predicted label (red).
 * The same captions go in the report's Markdown table, so nobody has to read the tiny glyphs.
 */
import { PNG } from 'pngjs';
import type { Matrix } from '@digitbench/runtime/internal';

/** 3×5 glyphs, one string of 15 bits per character, row by row. */
const FONT: Record<string, string> = {
  '0': '111101101101111',
  '1': '010110010010111',
  '2': '111001111100111',
  '3': '111001111001111',
  '4': '101101111001001',
  '5': '111100111001111',
  '6': '111100111101111',
  '7': '111001010010010',
  '8': '111101111101111',
  '9': '111101111001111',
  '>': '100010001010100',
  '?': '111001011000010',
};

export interface Misclassified {
  /** Row of the test set. */
  index: number;
  actual: number;
  predicted: number;
}

/** The first `max` wrong predictions, in test-row order. */
export function pickMisclassified(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, max = 40): Misclassified[] {
  const out: Misclassified[] = [];
  for (let i = 0; i < yTrue.length && out.length < max; i++) {
    if (yTrue[i] !== yPred[i]) out.push({ index: i, actual: yTrue[i]!, predicted: yPred[i]! });
  }
  return out;
}

export interface GridOptions {
  /** Cells per grid row (default 10). */
  columns?: number;
  /** Pixel magnification of the digit (default 2). */
  scale?: number;
}

export interface Grid {
  png: Uint8Array;
  width: number;
  height: number;
  columns: number;
  rows: number;
}

type Rgb = readonly [number, number, number];
const BG: Rgb = [40, 40, 40];
const GREEN: Rgb = [90, 220, 90];
const RED: Rgb = [255, 90, 90];
const GREY: Rgb = [200, 200, 200];

/**
 * Draws the listed test images (raw 0..255 rows of `images`, each h×w) into one PNG grid.
 * `images` must be the test rows in the same order as the predictions the items came from.
 */
export function misclassifiedGrid(images: Matrix, imageShape: readonly [number, number], items: readonly Misclassified[], opts: GridOptions = {}): Grid {
  const [h, w] = imageShape;
  if (h * w !== images.cols) {
    throw new Error(`Test images have ${images.cols} pixels per row but the image shape is ${h}×${w}; pass the raw test images.`);
  }
  const scale = opts.scale ?? 2;
  const columns = Math.max(1, Math.min(opts.columns ?? 10, items.length || 1));
  const rows = Math.max(1, Math.ceil(items.length / columns));
  const glyphPx = 2;
  const pad = 2;
  const cellW = Math.max(w * scale, 4 * 8 * glyphPx) + 2 * pad;
  const cellH = h * scale + 5 * glyphPx + 3 * pad + pad;
  const width = columns * cellW;
  const height = rows * cellH;
  const png = new PNG({ width, height });
  const px = png.data;
  const set = (x: number, y: number, [r, g, b]: Rgb) => {
    const o = (y * width + x) * 4;
    px[o] = r;
    px[o + 1] = g;
    px[o + 2] = b;
    px[o + 3] = 255;
  };
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) set(x, y, BG);

  const drawText = (text: string, x0: number, y0: number, colors: Rgb[]) => {
    [...text].forEach((ch, n) => {
      const g = FONT[ch] ?? FONT['?']!;
      for (let gy = 0; gy < 5; gy++)
        for (let gx = 0; gx < 3; gx++)
          if (g[gy * 3 + gx] === '1')
            for (let dy = 0; dy < glyphPx; dy++)
              for (let dx = 0; dx < glyphPx; dx++) set(x0 + (n * 4 + gx) * glyphPx + dx, y0 + gy * glyphPx + dy, colors[n] ?? GREY);
    });
  };

  items.forEach((item, n) => {
    if (item.index < 0 || item.index >= images.rows) {
      throw new Error(`Misclassified row ${item.index} is outside the ${images.rows} test images; pass the test images of the same split.`);
    }
    const cx = (n % columns) * cellW;
    const cy = Math.floor(n / columns) * cellH;
    const ox = cx + Math.floor((cellW - w * scale) / 2);
    const oy = cy + pad;
    const base = item.index * images.cols;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = Math.max(0, Math.min(255, Math.round(images.data[base + y * w + x]!)));
        for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) set(ox + x * scale + dx, oy + y * scale + dy, [v, v, v]);
      }
    }
    const a = String(item.actual);
    const p = String(item.predicted);
    const text = `${a}>${p}`;
    const colors: Rgb[] = [...[...a].map(() => GREEN), GREY, ...[...p].map(() => RED)];
    const tx = cx + Math.floor((cellW - (text.length * 4 - 1) * glyphPx) / 2);
    drawText(text, Math.max(cx, tx), oy + h * scale + 2 * pad, colors);
  });
  const bytes = PNG.sync.write(png);
  return { png: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), width, height, columns, rows };
}
