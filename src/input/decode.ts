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
 * Decoded images are normalized to MNIST format by ./normalize.ts into the `shape` option (the model's
 * image shape; default 28×28); idx images are already MNIST format and are used as they are when they have
 * that shape (an idx file of another shape is refused, naming both).
 *
 * Limits, checked before anything is read or decoded (a bad value of an option or variable fails the whole
 * call in one line naming it):
 *  - only regular files are opened: a folder named among the files of a folder, a FIFO, a character device
 *    such as /dev/zero or a socket is refused from its `stat`;
 *  - a PNG or JPEG file over 50 MB is refused from its size (`maxImageBytes`, or DIGITBENCH_MAX_IMAGE_MB in
 *    MB); an idx file over 1,000 MB, or gzipped data unpacking to more (`maxIdxBytes`, or
 *    DIGITBENCH_MAX_IDX_MB), likewise, by the idx reader (../data/idx.ts), which also checks the header's
 *    counts against the size before reading the rest;
 *  - an image over 25 megapixels is refused from its header's dimensions before decoding (`maxPixels`, or
 *    DIGITBENCH_MAX_MEGAPIXELS in megapixels); see `decodeImage`.
 *
 * A bad input becomes an entry with a one-line `error` naming the file and saying what to do; the other
 * inputs are still read. An idx labels file is named as such (the images file is wanted).
 */
import { readdir, stat, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import sharp, { type Metadata } from 'sharp';
import { checkFileSize, openRegularFile, readAt, resolveLimit, type ByteCap } from '@digitbench/runtime/internal';
import { IdxMagicError, idxByteCap, IMAGE_MAGIC, LABEL_MAGIC, parseIdxImages, readIdx } from '@digitbench/runtime/internal';
import { DEFAULT_MAX_PIXELS, normalizeDigit, SIDE, type DecodedImage } from '@digitbench/runtime/internal';

/** Height × width of the images a model takes. */
export type Shape = readonly [number, number];

export type { DecodedImage } from '@digitbench/runtime/internal';

export interface InputImage {
  /** The file, or `${file}#${index}` for an image of an idx file. */
  name: string;
  /** h×w values 0..255 (the `shape` option of readInputs; 784 for 28×28), MNIST-normalized (bright ink on black). */
  pixels?: Float32Array;
  /** One line, naming the file and saying what to do. */
  error?: string;
}

const GIVE = 'give a PNG or JPEG image, a folder of them, or an idx images file.';
const IMAGE_EXT = /\.(png|jpe?g)$/i;
const CONCURRENCY = 4;

type Kind = 'png' | 'jpeg' | 'gzip' | 'idx-images' | 'idx-labels' | undefined;

function sniff(b: Uint8Array): Kind {
  const starts = (...sig: number[]) => b.length >= sig.length && sig.every((x, i) => b[i] === x);
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (starts(0xff, 0xd8, 0xff)) return 'jpeg';
  if (starts(0x1f, 0x8b)) return 'gzip';
  if (starts(0, 0, (IMAGE_MAGIC >> 8) & 0xff, IMAGE_MAGIC & 0xff)) return 'idx-images';
  if (starts(0, 0, (LABEL_MAGIC >> 8) & 0xff, LABEL_MAGIC & 0xff)) return 'idx-labels';
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

/** Options of `decodeImage`. */
export interface DecodeOptions {
  /**
   * The largest image decoded, in pixels (width × height): default DIGITBENCH_MAX_MEGAPIXELS megapixels when
   * set, else 25 MP (DEFAULT_MAX_PIXELS), far more than a photo of a digit needs.
   */
  maxPixels?: number;
}

/** Options of `readInputs`: the image shape, the pixel limit and the size caps on the files it reads. */
export interface ReadInputsOptions extends DecodeOptions {
  /**
   * Height × width of the images wanted (a bundle's `imageShape`; default 28×28): PNG and JPEG images are
   * normalized into it, and idx files must hold images of it.
   */
  shape?: Shape;
  /** The largest PNG or JPEG file read, in bytes: default DIGITBENCH_MAX_IMAGE_MB MB when set, else 50 MB. */
  maxImageBytes?: number;
  /** The largest idx file read (and, gzipped, unpacked), in bytes: default DIGITBENCH_MAX_IDX_MB MB when set, else 1,000 MB. */
  maxIdxBytes?: number;
}

export { DEFAULT_MAX_PIXELS };
export const DEFAULT_MAX_IMAGE_BYTES = 50e6;

function pixelLimit(maxPixels: number | undefined): number {
  return resolveLimit(maxPixels, 'maxPixels', 'DIGITBENCH_MAX_MEGAPIXELS', { name: 'megapixels', size: 1e6 }, DEFAULT_MAX_PIXELS).value;
}

/** Megapixels for a message: 256, 25, 2.36, 0.001. */
function megapixels(pixels: number): string {
  const v = pixels / 1e6;
  return String(v >= 100 ? Math.round(v) : Number(v.toPrecision(3)));
}

/**
 * Decodes a PNG or JPEG to raw 8-bit pixels, EXIF orientation applied, alpha kept. Errors name `name`.
 *
 * Safe for bytes from an HTTP upload as far as decoding goes: an image over `maxPixels` (default 25 MP) is
 * refused from its header's dimensions (sharp's `metadata()`, which decodes nothing) before any pixel is
 * decoded, with sharp's `limitInputPixels` set to the same limit as a backstop. The size of `bytes` is the
 * caller's to cap (an upload handler should refuse a body over a few MB; `readInputs` refuses image files
 * over 50 MB).
 */
export async function decodeImage(bytes: Uint8Array, name: string, options: DecodeOptions = {}): Promise<DecodedImage> {
  const limit = pixelLimit(options.maxPixels);
  if (bytes.length === 0) throw new Error(`${name}: the file is empty; ${GIVE}`);
  const kind = sniff(bytes);
  if (kind !== 'png' && kind !== 'jpeg') throw new Error(`${name}: not a PNG or JPEG image; ${GIVE}`);
  const undecodable = (e: unknown) =>
    new Error(
      `${name}: the image could not be decoded (${shortReason(e instanceof Error ? e.message : String(e))}); check that the file is a complete PNG or JPEG.`,
    );
  const tooLarge = (size: string) => new Error(`${name}: the image is ${size}over the ${megapixels(limit)} MP limit for a digit; crop or scale it down first.`);
  const out = await serially(async () => {
    let meta: Metadata;
    try {
      meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    } catch (e) {
      throw undecodable(e);
    }
    const { width: w, height: h } = meta;
    if (w && h && w * h > limit) throw tooLarge(`${w}×${h} pixels (${megapixels(w * h)} MP), `);
    try {
      return await sharp(bytes, { failOn: 'truncated', limitInputPixels: Math.max(1, Math.floor(limit)) })
        .rotate()
        .raw()
        .toBuffer({ resolveWithObject: true });
    } catch (e) {
      if (/exceeds pixel limit/i.test(e instanceof Error ? e.message : String(e))) throw tooLarge('');
      throw undecodable(e);
    }
  });
  const { width, height, channels } = out.info;
  if (channels !== 1 && channels !== 2 && channels !== 3 && channels !== 4) {
    throw new Error(`${name}: the image decodes to ${channels} channels; give a grey, RGB or RGBA PNG or JPEG.`);
  }
  return { width, height, channels, data: new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength) };
}

/** The `shape` option, checked: two whole numbers from 1 to 4096 (a bundle's limits); default 28×28. */
function checkShape(shape: Shape | undefined): Shape {
  if (shape === undefined) return [SIDE, SIDE];
  const ok = Array.isArray(shape) && shape.length === 2 && shape.every((v) => Number.isInteger(v) && v >= 1 && v <= 4096);
  if (!ok) throw new Error(`readInputs: shape is ${JSON.stringify(shape)}; give [height, width], two whole numbers from 1 to 4096 (e.g. a bundle's imageShape).`);
  return [shape[0], shape[1]];
}

function errorLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return (m.split('\n')[0] ?? m).trim();
}

/** The limits of one `readInputs` call, resolved (and checked) before anything is read. */
interface Limits {
  shape: Shape;
  pixels: number;
  image: ByteCap;
  idx: ByteCap;
}

function resolveLimits(options: ReadInputsOptions): Limits {
  const image = resolveLimit(options.maxImageBytes, 'maxImageBytes', 'DIGITBENCH_MAX_IMAGE_MB', { name: 'MB', size: 1e6 }, DEFAULT_MAX_IMAGE_BYTES);
  return {
    shape: checkShape(options.shape),
    pixels: pixelLimit(options.maxPixels),
    image: { bytes: image.value, what: 'an image file', raise: image.raise },
    idx: idxByteCap(options.maxIdxBytes, 'maxIdxBytes'),
  };
}

/** The refusal of an idx labels file, naming the images file that goes with it when the name follows MNIST's. */
function labelsFileError(file: string): string {
  const base = basename(file);
  const images = base.includes('labels-idx1-ubyte') ? base.replace('labels-idx1-ubyte', 'images-idx3-ubyte') : '…-images-idx3-ubyte';
  return `${file}: that is an idx labels file; give the images file (${images}).`;
}

/** The entries of an idx file (plain or gzipped), read by the idx reader with its checks and messages. */
async function idxEntries(file: string, gzipped: boolean, cap: ByteCap, [h, w]: Shape): Promise<InputImage[]> {
  let bytes: Uint8Array;
  try {
    bytes = (await readIdx(file, { cap, magic: IMAGE_MAGIC })).bytes;
  } catch (e) {
    if (!(e instanceof IdxMagicError)) throw e;
    if (e.magic === LABEL_MAGIC) return [{ name: file, error: labelsFileError(file) }];
    // Only idx files are read gzipped; a gzipped PNG or JPEG is not an image file.
    return [{ name: file, error: gzipped ? `${file}: gzip data that is not an idx images file; ${GIVE}` : errorLine(e) }];
  }
  const idx = parseIdxImages(file, bytes);
  if (idx.rows !== h || idx.cols !== w) {
    return [{ name: file, error: `${file}: idx images are ${idx.rows}×${idx.cols} but the model takes ${h}×${w} images; give an idx file of ${h}×${w} images, or PNG/JPEG images (they are brought to ${h}×${w}).` }];
  }
  if (idx.count === 0) return [{ name: file, error: `${file}: the idx images file holds no images; ${GIVE}` }];
  const size = h * w;
  return Array.from({ length: idx.count }, (_, i) => ({
    name: `${file}#${i}`,
    pixels: Float32Array.from(idx.pixels.subarray(i * size, (i + 1) * size)),
  }));
}

/**
 * The entries of one file: one image, or one per image of an idx file; errors as entries. Only a regular
 * file is opened; its first bytes tell its type, which sets its size cap, checked before the rest is read.
 */
async function fileEntries(file: string, limits: Limits): Promise<InputImage[]> {
  try {
    let opened: { handle: FileHandle; size: number };
    try {
      opened = await openRegularFile(file, GIVE);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return [{ name: file, error: `${file}: no such file or folder.` }];
      if (code) return [{ name: file, error: `${file}: cannot read the file (${code}); check its permissions.` }];
      throw e;
    }
    const { handle, size } = opened;
    let kind: Kind;
    let bytes: Uint8Array | undefined;
    try {
      if (size === 0) return [{ name: file, error: `${file}: the file is empty; ${GIVE}` }];
      kind = sniff(await readAt(handle, Math.min(16, size)));
      if (kind === 'png' || kind === 'jpeg') {
        checkFileSize(file, size, limits.image);
        bytes = await readAt(handle, size);
      }
    } finally {
      await handle.close();
    }
    if (kind === 'idx-labels') return [{ name: file, error: labelsFileError(file) }];
    if (kind === 'idx-images' || kind === 'gzip') return await idxEntries(file, kind === 'gzip', limits.idx, limits.shape);
    if (!bytes) return [{ name: file, error: `${file}: not a PNG or JPEG image; ${GIVE}` }];
    const img = await decodeImage(bytes, file, { maxPixels: limits.pixels });
    return [{ name: file, pixels: normalizeDigit(img, file, limits.shape) }];
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
export async function readInputs(paths: string[], options: ReadInputsOptions = {}): Promise<InputImage[]> {
  const limits = resolveLimits(options);
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
      results[i] = typeof s === 'string' ? await fileEntries(s, limits) : [s];
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, slots.length) }, worker));
  return results.flat();
}
