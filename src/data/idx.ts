/**
 * The idx file format (LeCun's MNIST format), plain or gzipped. Big-endian header:
 * magic 2051 = images (count, rows, cols), 2049 = labels (count); then one unsigned byte per value.
 * Every error names the file and says what is wrong.
 */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { basename } from 'node:path';

export const IMAGE_MAGIC = 2051;
export const LABEL_MAGIC = 2049;

export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  /** count × rows × cols bytes, row-major. */
  pixels: Uint8Array;
}

async function readBytes(file: string): Promise<Uint8Array> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${file}: cannot read the file (${code ?? (e as Error).message}); check the path.`);
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new Error(`${file}: the gzip data is damaged (${(e as Error).message}); download or reinstall the file.`);
    }
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** The first `words` big-endian words; `headerWords` is the whole header's size, for the message. */
function header(file: string, bytes: Uint8Array, words: number, headerWords = words): number[] {
  if (bytes.length < 4 * words) {
    throw new Error(`${file}: the file is truncated: ${bytes.length} bytes is shorter than the ${4 * headerWords}-byte idx header.`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: words }, (_, i) => view.getUint32(4 * i, false));
}

function checkMagic(file: string, magic: number, expected: number, what: string): void {
  if (magic !== expected) {
    const other = magic === IMAGE_MAGIC ? ' (that is an image file)' : magic === LABEL_MAGIC ? ' (that is a label file)' : '';
    throw new Error(`${file}: wrong magic number ${magic}${other}; an idx ${what} file starts with ${expected}.`);
  }
}

function checkLength(file: string, actual: number, expected: number, what: string): void {
  if (actual < expected) {
    throw new Error(`${file}: the file is truncated: the header announces ${what} (${expected} bytes) but the file has ${actual}.`);
  }
  if (actual > expected) {
    throw new Error(`${file}: the file has ${actual - expected} bytes after the ${what} its header announces; it is not a valid idx file.`);
  }
}

export function parseIdxImages(file: string, bytes: Uint8Array): IdxImages {
  checkMagic(file, header(file, bytes, 1, 4)[0]!, IMAGE_MAGIC, 'images');
  const [, count, rows, cols] = header(file, bytes, 4) as [number, number, number, number];
  if (rows === 0 || cols === 0) throw new Error(`${file}: images of ${rows}×${cols} pixels are empty; the header is damaged.`);
  checkLength(file, bytes.length, 16 + count * rows * cols, `${count} images of ${rows}×${cols}`);
  return { count, rows, cols, pixels: bytes.subarray(16) };
}

export function parseIdxLabels(file: string, bytes: Uint8Array): Uint8Array {
  checkMagic(file, header(file, bytes, 1, 2)[0]!, LABEL_MAGIC, 'labels');
  const [, count] = header(file, bytes, 2) as [number, number];
  checkLength(file, bytes.length, 8 + count, `${count} labels`);
  return bytes.subarray(8);
}

export async function readIdxImages(file: string): Promise<IdxImages> {
  return parseIdxImages(file, await readBytes(file));
}

export async function readIdxLabels(file: string): Promise<Uint8Array> {
  return parseIdxLabels(file, await readBytes(file));
}

/** Reads an images file and its labels file and checks that they belong together. */
export async function readIdxPair(imagesFile: string, labelsFile: string): Promise<{ images: IdxImages; labels: Uint8Array }> {
  const [images, labels] = await Promise.all([readIdxImages(imagesFile), readIdxLabels(labelsFile)]);
  if (images.count !== labels.length) {
    throw new Error(
      `${labelsFile}: has ${labels.length} labels but ${basename(imagesFile)} has ${images.count} images; use the labels file that belongs to those images.`,
    );
  }
  return { images, labels };
}
