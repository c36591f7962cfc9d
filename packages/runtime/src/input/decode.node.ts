/**
 * Reading the inputs of `digitbench predict` in Node: PNG and JPEG files of any size and colour, folders of
 * them, and MNIST idx image files (plain or gzipped). The type is told by the content (magic bytes), never by
 * the extension; in folders only *.png, *.jpg and *.jpeg (any case) are looked at, in name order
 * (code-point order), non-recursively.
 *
 * Images are decoded in plain JavaScript: PNG by pngjs, JPEG by jpeg-js (both loaded on first use). The
 * output is raw 8-bit sRGB pixels, 3 channels, or 4 when the image has alpha (an alpha channel or a PNG
 * tRNS chunk), as sharp (libvips) gave them before: a grey PNG or JPEG arrives as 3 channels, 16-bit PNG
 * samples are brought to 8 bits by dropping the low byte (as libvips does), and CMYK JPEGs (with the
 * Adobe marker that CMYK JPEGs carry) are converted to RGB. The EXIF orientation of a JPEG (APP1) or PNG
 * (eXIf) is applied. Embedded ICC colour profiles are not applied (the values are taken as sRGB).
 * PNG pixels are identical to sharp's; JPEG pixels differ from libjpeg-turbo's by a few levels (the IDCT and
 * the chroma upsampling differ). Cut-off files are refused (their end marker is missing), as sharp's
 * `failOn: 'truncated'` did. JPEG variants jpeg-js cannot read (arithmetic-coded, lossless, hierarchical,
 * 12-bit) are refused with a message saying to convert them. Decoding runs on the calling thread.
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
 *    DIGITBENCH_MAX_IDX_MB), likewise, by the idx reader (../io/idx.ts), which also checks the header's
 *    counts against the size before reading the rest;
 *  - an image over 25 megapixels is refused from its header's dimensions before decoding (`maxPixels`, or
 *    DIGITBENCH_MAX_MEGAPIXELS in megapixels); see `decodeImage`.
 *
 * A bad input becomes an entry with a one-line `error` naming the file and saying what to do; the other
 * inputs are still read. An idx labels file is named as such (the images file is wanted).
 */
import { readdir, stat, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { checkFileSize, openRegularFile, readAt, resolveLimit, type ByteCap } from '../io/files.ts';
import { IdxMagicError, idxByteCap, IMAGE_MAGIC, LABEL_MAGIC, parseIdxImages, readIdx } from '../io/idx.ts';
import {
  bytesOf,
  checkedHeader,
  checkShape,
  DEFAULT_MAX_IMAGE_BYTES,
  errorLine,
  imageKind,
  notImageMessage,
  orient,
  tooLargeError,
  undecodableError,
  UnsupportedImageError,
  type DecodeOptions,
  type ImageHeader,
  type InputImage,
  type Shape,
} from './image-header.ts';
import { DEFAULT_MAX_PIXELS, normalizeDigit, type DecodedImage } from './normalize.ts';

export { DEFAULT_MAX_IMAGE_BYTES, type DecodeOptions, type InputImage, type Shape } from './image-header.ts';

const GIVE = 'give a PNG or JPEG image, a folder of them, or an idx images file.';
const IMAGE_EXT = /\.(png|jpe?g)$/i;
const CONCURRENCY = 4;

type Kind = 'png' | 'jpeg' | 'gzip' | 'idx-images' | 'idx-labels' | undefined;

function sniff(b: Uint8Array): Kind {
  const image = imageKind(b);
  if (image) return image;
  const starts = (...sig: number[]) => b.length >= sig.length && sig.every((x, i) => b[i] === x);
  if (starts(0x1f, 0x8b)) return 'gzip';
  if (starts(0, 0, (IMAGE_MAGIC >> 8) & 0xff, IMAGE_MAGIC & 0xff)) return 'idx-images';
  if (starts(0, 0, (LABEL_MAGIC >> 8) & 0xff, LABEL_MAGIC & 0xff)) return 'idx-labels';
  return undefined;
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

function pixelLimit(maxPixels: number | undefined): number {
  return resolveLimit(maxPixels, 'maxPixels', 'DIGITBENCH_MAX_MEGAPIXELS', { name: 'megapixels', size: 1e6 }, DEFAULT_MAX_PIXELS).value;
}

// The decoders are CommonJS packages, loaded on first use (an import that decodes nothing pays nothing).
type PngModule = typeof import('pngjs');
type JpegModule = typeof import('jpeg-js');
let pngjs: Promise<PngModule> | undefined;
let jpegjs: Promise<JpegModule> | undefined;
const cjs = <T>(m: T): T => ((m as { default?: T }).default ?? m);
const loadPng = () => (pngjs ??= import('pngjs').then(cjs));
const loadJpeg = () => (jpegjs ??= import('jpeg-js').then(cjs));

/** What jpeg-js may allocate per pixel of the frame: 4 bytes of coefficients and 2 of samples per component (≤ 4), 3 of output. */
const JPEG_BYTES_PER_PIXEL = 32;

/** Reasons of pngjs and jpeg-js, in words. */
function decoderReason(kind: 'png' | 'jpeg', message: string): string {
  if (/read requests waitng on finished stream|unexpected end/i.test(message)) return 'truncated: the data ends before the end of the image';
  if (/^Crc error/i.test(message)) return 'corrupt PNG: a chunk fails its CRC check';
  if (/maxMemoryUsageInMB/.test(message)) return 'the JPEG needs more memory to decode than its size allows';
  if (/^(corrupt|truncated)/.test(message)) return message;
  return `corrupt ${kind === 'png' ? 'PNG' : 'JPEG'} data: ${message}`;
}

/** A PNG to 8-bit sRGB, 3 channels (4 with alpha): pngjs gives RGBA (16-bit samples kept, then >> 8). */
function decodePng(PNG: PngModule['PNG'], bytes: Uint8Array, header: ImageHeader): DecodedImage {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, header.end);
  const sixteen = header.depth === 16;
  const png = PNG.sync.read(buffer, { skipRescale: sixteen });
  const { width, height } = png;
  const src = png.data as unknown as ArrayLike<number>;
  const channels = header.alpha ? 4 : 3;
  const n = width * height;
  const data = new Uint8Array(n * channels);
  for (let i = 0, s = 0, d = 0; i < n; i++, s += 4, d += channels) {
    if (sixteen) {
      data[d] = src[s]! >> 8;
      data[d + 1] = src[s + 1]! >> 8;
      data[d + 2] = src[s + 2]! >> 8;
      if (channels === 4) data[d + 3] = src[s + 3]! >> 8;
    } else {
      data[d] = src[s]!;
      data[d + 1] = src[s + 1]!;
      data[d + 2] = src[s + 2]!;
      if (channels === 4) data[d + 3] = src[s + 3]!;
    }
  }
  return { width, height, channels, data };
}

/** The inflated size an interlaced PNG's data must have (Adam7: seven passes, a filter byte per row). */
function adam7Bytes(header: ImageHeader): number {
  const samples = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[header.color as 0 | 2 | 3 | 4 | 6];
  const bits = samples * header.depth;
  const passes: [number, number, number, number][] = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];
  let total = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const w = Math.ceil((header.width - x0) / dx), h = Math.ceil((header.height - y0) / dy);
    if (w > 0 && h > 0) total += h * (1 + Math.ceil((w * bits) / 8));
  }
  return total;
}

/** The IDAT data of a PNG, joined (for the size check of interlaced files). */
function idatData(b: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let o = 8; o + 12 <= b.length; ) {
    const length = ((b[o]! << 24) >>> 0) + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
    if (b[o + 4] === 0x49 && b[o + 5] === 0x44 && b[o + 6] === 0x41 && b[o + 7] === 0x54) parts.push(b.subarray(o + 8, o + 8 + length));
    o += 12 + length;
  }
  return Buffer.concat(parts);
}

/**
 * Decodes a PNG or JPEG to raw 8-bit pixels, EXIF orientation applied, alpha kept. Errors name `name`.
 *
 * Safe for bytes from an HTTP upload as far as decoding goes: an image over `maxPixels` (default 25 MP) is
 * refused from its header's dimensions before any pixel is decoded, and the decoders are bounded by the same
 * limit (jpeg-js's `maxResolutionInMP` and `maxMemoryUsageInMB`; pngjs inflates at most the header's size,
 * and an interlaced PNG's data is size-checked first). The size of `bytes` is the caller's to cap (an upload
 * handler should refuse a body over a few MB; `readInputs` refuses image files over 50 MB). Decoding is
 * synchronous work on this thread; its cost grows with the pixel count (timings: digitbench
 * docs/measurements.md).
 */
export async function decodeImage(input: Uint8Array | ArrayBuffer | ArrayBufferView | Blob, name: string, options: DecodeOptions = {}): Promise<DecodedImage> {
  const limit = pixelLimit(options.maxPixels);
  // The same inputs as the browser entry's decodeImage (a Blob or any bytes), so one app's code type-checks with either.
  const bytes = input instanceof Blob ? new Uint8Array(await input.arrayBuffer()) : bytesOf(input);
  if (bytes.length === 0) throw new Error(`${name}: the file is empty; ${GIVE}`);
  const kind = imageKind(bytes);
  if (!kind) throw new Error(notImageMessage(name, bytes, GIVE));
  const header = checkedHeader(bytes, kind, name, limit);
  let img: DecodedImage;
  if (kind === 'png') {
    const { PNG } = await loadPng();
    try {
      // pngjs inflates interlaced data without a size bound: its size is checked first (a zlib bomb stops at the bound).
      if (isInterlaced(bytes)) {
        const want = adam7Bytes(header);
        let got: number;
        try {
          got = inflateSync(idatData(bytes.subarray(0, header.end)), { maxOutputLength: want }).length;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new Error(`corrupt PNG: the image data inflates to more than the ${want} bytes its header announces`);
          throw e;
        }
        if (got < want) throw new Error(`truncated: the image data inflates to ${got} bytes, not the ${want} its header announces`);
      }
      img = decodePng(PNG, bytes, header);
    } catch (e) {
      throw undecodableError(name, decoderReason('png', e instanceof Error ? e.message : String(e)));
    }
  } else {
    const { decode } = await loadJpeg();
    let out: { width: number; height: number; data: Uint8Array };
    try {
      out = decode(bytes, {
        useTArray: true,
        formatAsRGBA: false,
        maxResolutionInMP: limit / 1e6,
        maxMemoryUsageInMB: Math.max(64, Math.ceil((limit * JPEG_BYTES_PER_PIXEL) / 2 ** 20)),
      });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (/maxResolutionInMP/.test(message)) throw tooLargeError(name, limit, '');
      if (/Unsupported color mode \(4 components\)/.test(message)) {
        throw new UnsupportedImageError(`${name}: the image is a CMYK JPEG without the Adobe marker, which cannot be decoded here; convert it to PNG, or to an RGB JPEG.`);
      }
      throw undecodableError(name, decoderReason('jpeg', message));
    }
    img = { width: out.width, height: out.height, channels: 3, data: out.data };
  }
  return orient(img, header.orientation);
}

/** The interlace byte of a PNG's IHDR. */
function isInterlaced(b: Uint8Array): boolean {
  return b[28] === 1;
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
    let head: Uint8Array;
    let bytes: Uint8Array | undefined;
    try {
      if (size === 0) return [{ name: file, error: `${file}: the file is empty; ${GIVE}` }];
      head = await readAt(handle, Math.min(32, size));
      kind = sniff(head);
      if (kind === 'png' || kind === 'jpeg') {
        checkFileSize(file, size, limits.image);
        bytes = await readAt(handle, size);
      }
    } finally {
      await handle.close();
    }
    if (kind === 'idx-labels') return [{ name: file, error: labelsFileError(file) }];
    if (kind === 'idx-images' || kind === 'gzip') return await idxEntries(file, kind === 'gzip', limits.idx, limits.shape);
    if (!bytes) return [{ name: file, error: notImageMessage(file, head, GIVE) }];
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
  // Read a few files at a time (reads overlap; decoding runs on this thread), keeping the order.
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
