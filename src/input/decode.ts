/**
 * Reading the inputs of `digitbench predict`: PNG and JPEG files of any size and colour, folders of them,
 * and MNIST idx image files (plain or gzipped). The type is told by the content (magic bytes), never by
 * the extension; in folders only *.png, *.jpg and *.jpeg (any case) are looked at, in name order
 * (code-point order), non-recursively.
 *
 * Images are decoded with sharp (libvips): `.rotate()` applies the EXIF orientation of photos, the output
 * is raw 8-bit pixels with alpha kept. Note that sharp's raw output is always sRGB, so a grey PNG or JPEG
 * arrives as 3 channels (4 with alpha); 16-bit files arrive as 8-bit; CMYK JPEGs are converted to RGB.
 * `failOn: 'truncated'` rejects cut-off files but tolerates harmless decoder warnings (such as libpng's
 * "known incorrect sRGB profile"), which sharp's default ('warning') would turn into failures.
 * Decoded images are normalized to MNIST format by ./normalize.ts; idx images are already MNIST format
 * and are used as they are.
 *
 * A bad input becomes an entry with a one-line `error` naming the file and saying what to do; the other
 * inputs are still read.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';
import { IMAGE_MAGIC, parseIdxImages } from '../data/idx.ts';
import { normalizeDigit, SIDE, type DecodedImage } from './normalize.ts';

export type { DecodedImage } from './normalize.ts';

export interface InputImage {
  /** The file, or `${file}#${index}` for an image of an idx file. */
  name: string;
  /** 784 values 0..255, MNIST-normalized (bright ink on black, 28×28). */
  pixels?: Float32Array;
  /** One line, naming the file and saying what to do. */
  error?: string;
}

const GIVE = 'give a PNG or JPEG image, a folder of them, or an idx images file.';
const IMAGE_EXT = /\.(png|jpe?g)$/i;
const CONCURRENCY = 4;

type Kind = 'png' | 'jpeg' | 'gzip' | 'idx-images' | undefined;

function sniff(b: Uint8Array): Kind {
  const starts = (...sig: number[]) => b.length >= sig.length && sig.every((x, i) => b[i] === x);
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (starts(0xff, 0xd8, 0xff)) return 'jpeg';
  if (starts(0x1f, 0x8b)) return 'gzip';
  if (starts(0, 0, (IMAGE_MAGIC >> 8) & 0xff, IMAGE_MAGIC & 0xff)) return 'idx-images';
  return undefined;
}

/** sharp's error in a few words, on one line. */
function shortReason(message: string): string {
  let first = (message.split('\n')[0] ?? '').trim();
  const corrupt = /^Input (buffer|file) has corrupt header:?\s*/i;
  if (corrupt.test(first)) {
    const rest = first.replace(corrupt, '');
    first = rest ? `corrupt header: ${rest}` : 'corrupt header';
  }
  if (!first) first = 'unknown error';
  return first.length > 120 ? `${first.slice(0, 117)}...` : first;
}

/**
 * Runs sharp calls one at a time. libvips keeps its error text in one process-wide buffer, so when two
 * decodes fail at the same time one of them reports "Unknown error" (seen with sharp 0.35.5); each decode
 * still uses libvips' own threads.
 */
let queue: Promise<unknown> = Promise.resolve();
function serially<T>(job: () => Promise<T>): Promise<T> {
  const run = queue.then(job);
  queue = run.catch(() => undefined);
  return run;
}

/** Decodes a PNG or JPEG to raw 8-bit pixels, EXIF orientation applied, alpha kept. Errors name `name`. */
export async function decodeImage(bytes: Uint8Array, name: string): Promise<DecodedImage> {
  if (bytes.length === 0) throw new Error(`${name}: the file is empty; ${GIVE}`);
  const kind = sniff(bytes);
  if (kind !== 'png' && kind !== 'jpeg') throw new Error(`${name}: not a PNG or JPEG image; ${GIVE}`);
  const out = await serially(() => sharp(bytes, { failOn: 'truncated' }).rotate().raw().toBuffer({ resolveWithObject: true })).catch((e: unknown) => {
      throw new Error(
        `${name}: the image could not be decoded (${shortReason(e instanceof Error ? e.message : String(e))}); check that the file is a complete PNG or JPEG.`,
      );
    });
  const { width, height, channels } = out.info;
  if (channels !== 1 && channels !== 2 && channels !== 3 && channels !== 4) {
    throw new Error(`${name}: the image decodes to ${channels} channels; give a grey, RGB or RGBA PNG or JPEG.`);
  }
  return { width, height, channels, data: new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength) };
}

function errorLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return (m.split('\n')[0] ?? m).trim();
}

function idxEntries(file: string, bytes: Uint8Array): InputImage[] {
  const idx = parseIdxImages(file, bytes);
  if (idx.rows !== SIDE || idx.cols !== SIDE) {
    return [{ name: file, error: `${file}: idx images are ${idx.rows}×${idx.cols}; digitbench models take ${SIDE}×${SIDE} images.` }];
  }
  if (idx.count === 0) return [{ name: file, error: `${file}: the idx images file holds no images; ${GIVE}` }];
  const size = SIDE * SIDE;
  return Array.from({ length: idx.count }, (_, i) => ({
    name: `${file}#${i}`,
    pixels: Float32Array.from(idx.pixels.subarray(i * size, (i + 1) * size)),
  }));
}

/** The entries of one file: one image, or one per image of an idx file; errors as entries. */
async function fileEntries(file: string): Promise<InputImage[]> {
  try {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return [{ name: file, error: `${file}: no such file or folder.` }];
      return [{ name: file, error: `${file}: cannot read the file (${code ?? errorLine(e)}); check its permissions.` }];
    }
    if (bytes.length === 0) return [{ name: file, error: `${file}: the file is empty; ${GIVE}` }];
    let kind = sniff(bytes);
    if (kind === 'gzip') {
      try {
        bytes = gunzipSync(bytes);
      } catch (e) {
        return [{ name: file, error: `${file}: the gzip data is damaged (${errorLine(e)}); ${GIVE}` }];
      }
      kind = sniff(bytes);
      // Only idx files are read gzipped; a gzipped PNG or JPEG is not an image file.
      if (kind !== 'idx-images') return [{ name: file, error: `${file}: not a PNG or JPEG image; ${GIVE}` }];
    }
    if (kind === 'idx-images') return idxEntries(file, bytes);
    const img = await decodeImage(bytes, file);
    return [{ name: file, pixels: normalizeDigit(img, file) }];
  } catch (e) {
    return [{ name: file, error: errorLine(e) }];
  }
}

/** The image files of a folder, non-recursive, by name; or the error entry when it has none. */
async function folderFiles(dir: string): Promise<string[] | InputImage> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true }))
      .filter((d) => !d.isDirectory() && IMAGE_EXT.test(d.name))
      .map((d) => d.name);
  } catch (e) {
    return { name: dir, error: `${dir}: cannot read the folder (${(e as NodeJS.ErrnoException).code ?? errorLine(e)}); check its permissions.` };
  }
  if (names.length === 0) {
    return { name: dir, error: `${dir}: the folder has no PNG or JPEG images (.png, .jpg or .jpeg files); ${GIVE}` };
  }
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return names.map((n) => join(dir, n));
}

/**
 * Reads PNG/JPEG files, folders of them and idx images files, in the order given (folder contents by
 * name). Every bad input is an entry with `error`; the rest still succeed.
 */
export async function readInputs(paths: string[]): Promise<InputImage[]> {
  // Expand folders first, keeping the order; each slot is a file to read or a finished error entry.
  const slots: (string | InputImage)[] = [];
  for (const p of paths) {
    let isDir = false;
    try {
      isDir = (await stat(p)).isDirectory();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        slots.push({ name: p, error: `${p}: no such file or folder.` });
        continue;
      }
      // Anything else (e.g. permissions) is reported when the file is read.
    }
    if (!isDir) {
      slots.push(p);
      continue;
    }
    const files = await folderFiles(p);
    if (Array.isArray(files)) slots.push(...files);
    else slots.push(files);
  }
  // Read a few files at a time (decoding itself is serialized, see `serially`), keeping the order.
  const results: InputImage[][] = new Array(slots.length);
  let next = 0;
  const worker = async () => {
    while (next < slots.length) {
      const i = next++;
      const s = slots[i]!;
      results[i] = typeof s === 'string' ? await fileEntries(s) : [s];
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, slots.length) }, worker));
  return results.flat();
}
