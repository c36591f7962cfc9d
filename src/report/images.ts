/**
 * PNG grids of digits drawn by the report. Misclassified test digits: each cell is the digit (white on
 * black, as stored) scaled up, with a caption strip drawn in a 3×5 pixel font: true label (green) →
 * predicted label (red). Captioned strips (corrupted sample digits): each cell a digit with a caption of
 * up to two words in capitals. The same captions go in the report's Markdown table, so nobody has to
 * read the tiny glyphs.
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
  A: '010101111101101',
  B: '110101110101110',
  C: '011100100100011',
  D: '110101101101110',
  E: '111100110100111',
  F: '111100110100100',
  G: '011100101101011',
  H: '101101111101101',
  I: '111010010010111',
  J: '001001001101010',
  K: '101101110101101',
  L: '100100100100111',
  M: '101111111101101',
  N: '110101101101101',
  O: '010101101101010',
  P: '110101110100100',
  Q: '010101101110011',
  R: '110101110101101',
  S: '011100010001110',
  T: '111010010010010',
  U: '101101101101111',
  V: '101101101101010',
  W: '101101111111101',
  X: '101101010101101',
  Y: '101101010010010',
  Z: '111001010100111',
  '-': '000000111000000',
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

/** A width × height PNG filled with the background, and a pixel setter. */
function canvas(width: number, height: number): { png: PNG; set: (x: number, y: number, rgb: Rgb) => void } {
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
  return { png, set };
}

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
  const { png, set } = canvas(width, height);

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

export interface StripCell {
  /** Raw 0..255 pixels of one h×w image, row by row. */
  pixels: ArrayLike<number>;
  /** Drawn in capitals, one line per word (words split at "_", "-" and spaces; at most two lines). */
  caption: string;
}

/**
 * Draws captioned digits into one PNG grid, `columns` cells a row (default 8), each digit at `scale`×
 * (default 3) with its caption under it in grey, one word a line (the 3×5 font at 2 px per pixel). A
 * null cell is left empty (background), so a set of cells can start a new grid row.
 */
export function captionedStrip(cells: readonly (StripCell | null)[], imageShape: readonly [number, number], opts: GridOptions = {}): Grid {
  const [h, w] = imageShape;
  for (const [i, c] of cells.entries()) {
    if (c && c.pixels.length !== h * w) throw new Error(`Strip cell ${i} ("${c.caption}") has ${c.pixels.length} pixels, not ${h}×${w}; pass one raw image per cell.`);
  }
  const scale = opts.scale ?? 3;
  const columns = Math.max(1, Math.min(opts.columns ?? 8, cells.length || 1));
  const rows = Math.max(1, Math.ceil(cells.length / columns));
  const glyphPx = 2;
  const pad = 3;
  const lineH = 6 * glyphPx;
  const words = cells.map((c) => (c?.caption ?? '').toUpperCase().split(/[_\s-]+/).filter(Boolean).slice(0, 2));
  const textW = (s: string) => (s.length * 4 - 1) * glyphPx;
  const widest = Math.max(0, ...words.flat().map(textW));
  const cellW = Math.max(w * scale, widest) + 2 * pad;
  const cellH = h * scale + 2 * lineH + 3 * pad;
  const width = columns * cellW;
  const height = rows * cellH;
  const { png, set } = canvas(width, height);
  cells.forEach((c, n) => {
    if (!c) return;
    const cx = (n % columns) * cellW;
    const cy = Math.floor(n / columns) * cellH;
    const ox = cx + Math.floor((cellW - w * scale) / 2);
    const oy = cy + pad;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = Math.max(0, Math.min(255, Math.round(c.pixels[y * w + x]!)));
        for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) set(ox + x * scale + dx, oy + y * scale + dy, [v, v, v]);
      }
    }
    words[n]!.forEach((word, line) => {
      const x0 = cx + Math.floor((cellW - textW(word)) / 2);
      const y0 = oy + h * scale + pad + line * lineH;
      [...word].forEach((ch, k) => {
        const g = FONT[ch] ?? FONT['?']!;
        for (let gy = 0; gy < 5; gy++)
          for (let gx = 0; gx < 3; gx++)
            if (g[gy * 3 + gx] === '1') for (let dy = 0; dy < glyphPx; dy++) for (let dx = 0; dx < glyphPx; dx++) set(x0 + (k * 4 + gx) * glyphPx + dx, y0 + gy * glyphPx + dy, GREY);
      });
    });
  });
  const bytes = PNG.sync.write(png);
  return { png: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), width, height, columns, rows };
}
