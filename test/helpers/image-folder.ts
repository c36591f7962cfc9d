/**
 * MNIST digits written as image-folder datasets (one sub-folder per class), for the image-folder, evaluate
 * and end-to-end tests and the load benchmark.
 *
 * - lossless (default): each digit as a 28×28 grey PNG of its exact pixels (bright ink on black), so
 *   `normalize: "resize"` reads back the idx rows exactly;
 * - photoLike: each digit as a "photo" (test/helpers/photos.ts's render): enlarged 3–8× with a smooth
 *   kernel, dark ink on light paper, off-centre on a larger non-square canvas, as grey, RGB and RGBA PNG
 *   and JPEG (quality 90, saved as .jpg), chosen per digit, deterministically.
 *
 * Files are named by the digit's index in its MNIST part, zero-padded (00042.png), so code-point order is
 * index order, and the loader's row order (file names across the class folders) is the MNIST order.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadDataset } from '../../src/data/datasets.ts';
import { FORMATS, render, type Look } from './photos.ts';

export interface MnistPngFolderOptions {
  /** 'flat': class folders directly in `dir`; 'train-test': train/ and test/ each holding them. */
  layout: 'flat' | 'train-test';
  /** Which MNIST part a flat folder's rows come from (default 'train'). */
  from?: 'train' | 'test';
  /** Photo-like renderings instead of exact 28×28 PNGs. */
  photoLike?: boolean;
  /** The folder name of each label (default '0'…'9'). */
  classNames?: readonly string[];
}

export interface WrittenImage {
  file: string;
  label: number;
  /** Index in its MNIST part. */
  index: number;
  /** The MNIST digit, 784 values 0–255 (a view of the loaded dataset). */
  pixels: Float32Array;
}

export interface WrittenFolder {
  dir: string;
  /** In the loader's row order (file names across the class folders: the MNIST order). */
  train: WrittenImage[];
  test: WrittenImage[];
}

/** A deterministic variety of photo looks for digit i: sizes 84–224 px, padding 5–99 px, four formats. */
export function photoLook(i: number): Look {
  return {
    scale: 3 + (i % 6),
    kernel: (['lanczos3', 'linear', 'cubic'] as const)[i % 3]!,
    pad: { left: 5 + ((i * 37) % 90), right: 20 + ((i * 53) % 70), top: 5 + ((i * 29) % 60), bottom: 10 + ((i * 17) % 50) },
    format: FORMATS[i % FORMATS.length]!,
  };
}

/** The encoded file for one digit and its extension. */
async function encode(pixels: Float32Array, index: number, photoLike: boolean): Promise<{ bytes: Buffer; ext: string }> {
  if (photoLike) {
    const look = photoLook(index);
    return { bytes: await render(pixels, look), ext: look.format === 'jpeg' ? 'jpg' : 'png' };
  }
  const bytes = await sharp(Uint8Array.from(pixels), { raw: { width: 28, height: 28, channels: 1 } }).png({ compressionLevel: 6 }).toBuffer();
  return { bytes, ext: 'png' };
}

/**
 * Writes MNIST rows as a class-folder dataset under `dir`: the first `rows` rows of the `from` part
 * (flat), or the first rows.train training and rows.test test rows (train-test). Returns what was written,
 * in the order the loader reads it.
 */
export async function writeMnistPngFolder(
  dir: string,
  rows: number | { train: number; test: number },
  options: MnistPngFolderOptions,
): Promise<WrittenFolder> {
  const ds = await loadDataset('mnist');
  const names = options.classNames ?? ds.classes;
  const counts =
    options.layout === 'flat'
      ? { [options.from ?? 'train']: typeof rows === 'number' ? rows : rows.train }
      : typeof rows === 'number'
        ? { train: rows, test: rows }
        : rows;
  const out: WrittenFolder = { dir, train: [], test: [] };
  for (const part of ['train', 'test'] as const) {
    const n = counts[part] ?? 0;
    if (n === 0) continue;
    const base = options.layout === 'flat' ? dir : join(dir, part);
    const src = ds[part];
    const written: WrittenImage[] = new Array(n);
    // A folder only for the classes present (an empty class folder is refused by the loader).
    for (let i = 0; i < n; i++) mkdirSync(join(base, names[src.labels[i]!]!), { recursive: true });
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const i = next++;
        const pixels = src.images.data.subarray(i * 784, (i + 1) * 784);
        const label = src.labels[i]!;
        const { bytes, ext } = await encode(pixels, i, options.photoLike ?? false);
        const file = join(base, names[label]!, `${String(i).padStart(5, '0')}.${ext}`);
        writeFileSync(file, bytes);
        written[i] = { file, label, index: i, pixels };
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    // A flat folder's rows are the dataset's train part, whichever MNIST part they came from.
    if (options.layout === 'flat') out.train = written;
    else out[part] = written;
  }
  return out;
}
