/**
 * What a PNG or JPEG file says about itself before any pixel is decoded, and the parts of decoding that
 * do not depend on the decoder: the type from the magic bytes, the size from the header (so the pixel
 * limit is applied before decoding), whether the file is complete, the EXIF orientation (a small parser
 * of TIFF tag 0x0112, from a JPEG's APP1 "Exif" segment or a PNG's eXIf chunk) and its application to
 * decoded pixels, and the messages. No Node or DOM imports: shared by ./decode.node.ts (pngjs, jpeg-js)
 * and ./decode.browser.ts (the browser's own decoders), so that both refuse the same files with the same
 * one-line messages.
 *
 * JPEG variants that the pure-JS decoder (jpeg-js) cannot read are refused from the header with a message
 * saying to convert the file: arithmetic-coded, lossless and hierarchical JPEGs and 12-bit samples. Other
 * formats (WebP, GIF, TIFF, BMP, HEIC, AVIF, JPEG XL) are named when recognized; only PNG and JPEG are read.
 */
import type { DecodedImage } from './normalize.ts';

export type ImageKind = 'png' | 'jpeg';

/** Height × width of the images a model takes. */
export type Shape = readonly [number, number];

/** The pixel limit's default (25 MP) lives with the normalizer; this is the largest image file read by default. */
export const DEFAULT_MAX_IMAGE_BYTES = 50e6;

/** Options of `decodeImage` (Node and browser). */
export interface DecodeOptions {
  /**
   * The largest image decoded, in pixels (width × height): default DIGITBENCH_MAX_MEGAPIXELS megapixels when
   * set (Node only), else 25 MP (DEFAULT_MAX_PIXELS), far more than a photo of a digit needs.
   */
  maxPixels?: number;
}

/** One input of `readInputs`: its pixels, or a one-line error. */
export interface InputImage {
  /** The file, or `${file}#${index}` for an image of an idx file. */
  name: string;
  /** h×w values 0..255 (the `shape` option of readInputs; 784 for 28×28), MNIST-normalized (bright ink on black). */
  pixels?: Float32Array;
  /** One line, naming the file and saying what to do. */
  error?: string;
}

const starts = (b: Uint8Array, at: number, ...sig: number[]) => b.length >= at + sig.length && sig.every((x, i) => b[at + i] === x);
const ascii = (b: Uint8Array, at: number, text: string) => starts(b, at, ...Array.from(text, (c) => c.charCodeAt(0)));

/** PNG or JPEG from the first bytes (the extension is never looked at). */
export function imageKind(b: Uint8Array): ImageKind | undefined {
  if (starts(b, 0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (starts(b, 0, 0xff, 0xd8, 0xff)) return 'jpeg';
  return undefined;
}

/** The name of another image format the first bytes (at least 12) show, for the message; undefined when none is recognized. */
export function otherImageFormat(b: Uint8Array): string | undefined {
  if (ascii(b, 0, 'GIF87a') || ascii(b, 0, 'GIF89a')) return 'GIF';
  if (ascii(b, 0, 'RIFF') && ascii(b, 8, 'WEBP')) return 'WebP';
  if (starts(b, 0, 0x49, 0x49, 0x2a, 0x00) || starts(b, 0, 0x4d, 0x4d, 0x00, 0x2a)) return 'TIFF';
  if (ascii(b, 0, 'BM') && b.length >= 18 && [12, 40, 52, 56, 64, 108, 124].includes(b[14]! | (b[15]! << 8)) && b[16] === 0 && b[17] === 0) return 'BMP';
  if (starts(b, 0, 0xff, 0x0a) || (starts(b, 0, 0, 0, 0, 0x0c) && ascii(b, 4, 'JXL '))) return 'JPEG XL';
  if (ascii(b, 4, 'ftyp')) {
    const brand = String.fromCharCode(...b.subarray(8, 12));
    if (brand === 'avif' || brand === 'avis') return 'AVIF';
    if (['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1'].includes(brand)) return 'HEIC';
  }
  return undefined;
}

/** The refusal of a file that is not PNG or JPEG: the format named when recognized. */
export function notImageMessage(name: string, b: Uint8Array, give: string): string {
  const other = otherImageFormat(b);
  if (other) return `${name}: ${/^[AEIOU]/.test(other) ? 'an' : 'a'} ${other} image, not a PNG or JPEG; convert it to PNG or JPEG first.`;
  return `${name}: not a PNG or JPEG image; ${give}`;
}

/** What the header says. Width and height are as stored (before the EXIF orientation is applied). */
export interface ImageHeader {
  kind: ImageKind;
  width: number;
  height: number;
  /** EXIF orientation 1–8 (1 when there is none or it cannot be read). */
  orientation: number;
  /** PNG: bit depth (1, 2, 4, 8 or 16); JPEG: sample precision (8). */
  depth: number;
  /** PNG: an alpha channel (grey+alpha or RGBA) or a tRNS chunk. JPEG: false. */
  alpha: boolean;
  /** PNG: colour type (0, 2, 3, 4, 6); JPEG: the number of colour components (1, 3 or 4). */
  color: number;
  /** JPEG: an Adobe APP14 segment (CMYK JPEGs need one). */
  adobe: boolean;
  /** The data reaches its end marker (PNG: the IEND chunk; JPEG: EOI after the image data). */
  complete: boolean;
  /** PNG: where the IEND chunk ends (bytes after it are ignored, as libpng does); JPEG: the data's length. */
  end: number;
}

/** A header that cannot be read: `reason` is a few words for "the image could not be decoded (reason)". */
export class HeaderError extends Error {
  override name = 'HeaderError';
}

/** A valid JPEG of a kind the decoder does not read: `message` is the whole line, naming the file. */
export class UnsupportedImageError extends Error {
  override name = 'UnsupportedImageError';
}

const TRUNCATED = 'truncated: the data ends before the end of the image';

/** The header of a PNG or JPEG (kind from `imageKind`); throws HeaderError or UnsupportedImageError. */
export function readHeader(b: Uint8Array, kind: ImageKind, name: string): ImageHeader {
  return kind === 'png' ? pngHeader(b) : jpegHeader(b, name);
}

const u32be = (b: Uint8Array, o: number) => b[o]! * 2 ** 24 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
const u16be = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;

/** PNG: IHDR, then a walk over the chunk headers (no CRC check: the decoder does that) for tRNS, eXIf and IEND. */
function pngHeader(b: Uint8Array): ImageHeader {
  if (b.length < 33) throw new HeaderError(b.length < 16 ? TRUNCATED : 'corrupt header: the PNG header is cut short');
  if (u32be(b, 8) !== 13 || !ascii(b, 12, 'IHDR')) throw new HeaderError('corrupt header: the PNG does not start with its IHDR chunk');
  const width = u32be(b, 16), height = u32be(b, 20), depth = b[24]!, color = b[25]!;
  const depths: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
  if (width === 0 || height === 0 || width > 2 ** 31 - 1 || height > 2 ** 31 - 1) throw new HeaderError(`corrupt header: the PNG claims ${width}×${height} pixels`);
  if (!depths[color]?.includes(depth)) throw new HeaderError(`corrupt header: the PNG has colour type ${color} with bit depth ${depth}`);
  let alpha = color === 4 || color === 6;
  let orientation = 1;
  let complete = false;
  let last = b.length;
  for (let o = 33; o + 8 <= b.length; ) {
    const length = u32be(b, o);
    const end = o + 12 + length;
    if (end > b.length) break;
    if (ascii(b, o + 4, 'IEND')) {
      complete = true;
      last = end;
      break;
    }
    if (ascii(b, o + 4, 'tRNS')) alpha = true;
    else if (ascii(b, o + 4, 'eXIf')) orientation = exifOrientation(b.subarray(o + 8, o + 8 + length));
    o = end;
  }
  return { kind: 'png', width, height, orientation, depth, alpha, color, adobe: false, complete, end: last };
}

/** The frame markers jpeg-js reads: baseline, extended and progressive Huffman-coded DCT. */
const SOF_READ = new Set([0xc0, 0xc1, 0xc2]);
const SOF_OTHER: Record<number, string> = {
  0xc3: 'a lossless JPEG',
  0xc5: 'a hierarchical JPEG',
  0xc6: 'a hierarchical JPEG',
  0xc7: 'a hierarchical lossless JPEG',
  0xc9: 'an arithmetic-coded JPEG',
  0xca: 'an arithmetic-coded JPEG',
  0xcb: 'an arithmetic-coded lossless JPEG',
  0xcd: 'an arithmetic-coded hierarchical JPEG',
  0xce: 'an arithmetic-coded hierarchical JPEG',
  0xcf: 'an arithmetic-coded hierarchical lossless JPEG',
};

/** The refusal of a JPEG variant the decoder does not read. */
function unsupported(name: string, what: string): UnsupportedImageError {
  return new UnsupportedImageError(`${name}: the image is ${what}, which cannot be decoded here; convert it to PNG, or to a baseline or progressive JPEG.`);
}

/** JPEG: the marker segments up to the first scan (frame header, EXIF, Adobe), then EOI somewhere after it. */
function jpegHeader(b: Uint8Array, name: string): ImageHeader {
  let o = 2;
  let frame: { width: number; height: number; depth: number; color: number } | undefined;
  let orientation = 1, exifSeen = false, adobe = false;
  for (;;) {
    while (o < b.length && b[o] !== 0xff) o++; // stray bytes between segments, as libjpeg skips them
    while (o < b.length && b[o] === 0xff) o++; // fill bytes
    if (o >= b.length) throw new HeaderError(TRUNCATED);
    const marker = b[o++]!;
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;
    if (marker === 0xd9) throw new HeaderError('corrupt header: the JPEG ends before its image data');
    if (o + 2 > b.length) throw new HeaderError(TRUNCATED);
    const length = u16be(b, o);
    if (length < 2) throw new HeaderError('corrupt header: a JPEG marker segment has a bad length');
    const seg = b.subarray(o + 2, o + length);
    if (o + length > b.length) throw new HeaderError(TRUNCATED);
    if (marker === 0xda) {
      if (!frame) throw new HeaderError('corrupt header: the JPEG has image data before its frame header');
      o += length;
      break;
    }
    if (marker === 0xe1 && !exifSeen && ascii(seg, 0, 'Exif') && seg[4] === 0) {
      exifSeen = true;
      orientation = exifOrientation(seg.subarray(6));
    } else if (marker === 0xee && ascii(seg, 0, 'Adobe')) {
      adobe = true;
    } else if (SOF_OTHER[marker]) {
      throw unsupported(name, SOF_OTHER[marker]!);
    } else if (SOF_READ.has(marker) && !frame) {
      if (seg.length < 6) throw new HeaderError('corrupt header: the JPEG frame header is cut short');
      const depth = seg[0]!, height = u16be(seg, 1), width = u16be(seg, 3), color = seg[5]!;
      if (depth !== 8) throw unsupported(name, `a ${depth}-bit JPEG`);
      if (width === 0 || height === 0) throw new HeaderError(`corrupt header: the JPEG claims ${width}×${height} pixels`);
      if (color !== 1 && color !== 3 && color !== 4) throw unsupported(name, `a JPEG with ${color} colour components`);
      frame = { width, height, depth, color };
    }
    o += length;
  }
  // EOI cannot occur inside entropy-coded data (a 0xFF there is followed by 0x00 or a restart marker).
  let complete = false;
  for (let i = b.length - 2; i >= o; i--) {
    if (b[i] === 0xff && b[i + 1] === 0xd9) {
      complete = true;
      break;
    }
  }
  return { kind: 'jpeg', ...frame!, orientation, alpha: false, adobe, complete, end: b.length };
}

/** The EXIF orientation (1–8) in a TIFF structure ("II*\0" or "MM\0*", then IFD0); 1 when absent or unreadable. */
export function exifOrientation(t: Uint8Array): number {
  if (t.length < 8) return 1;
  const le = starts(t, 0, 0x49, 0x49), be = starts(t, 0, 0x4d, 0x4d);
  if (!le && !be) return 1;
  const u16 = (o: number) => (le ? t[o]! | (t[o + 1]! << 8) : (t[o]! << 8) | t[o + 1]!);
  const u32 = (o: number) => (le ? u16(o) + u16(o + 2) * 65536 : u16(o) * 65536 + u16(o + 2));
  if (u16(2) !== 42) return 1;
  const ifd = u32(4);
  if (ifd + 2 > t.length) return 1;
  const count = u16(ifd);
  for (let i = 0; i < count; i++) {
    const e = ifd + 2 + 12 * i;
    if (e + 12 > t.length) break;
    if (u16(e) !== 0x0112) continue;
    const type = u16(e + 2);
    const v = type === 3 ? u16(e + 8) : type === 4 ? u32(e + 8) : type === 1 ? t[e + 8]! : 0;
    return v >= 1 && v <= 8 ? v : 1;
  }
  return 1;
}

/**
 * The pixels as they are meant to be shown: EXIF orientation `o` applied (2: mirrored left–right, 3: turned
 * 180°, 4: mirrored top–bottom, 5: transposed, 6: turned 90° clockwise, 7: transversed, 8: turned 90°
 * anticlockwise). Orientation 1 returns the image itself.
 */
export function orient(img: DecodedImage, o: number): DecodedImage {
  if (o < 2 || o > 8) return img;
  const { width: w, height: h, channels: c, data } = img;
  const swap = o >= 5;
  const W = swap ? h : w, H = swap ? w : h;
  const out = new Uint8Array(w * h * c);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let sx: number, sy: number;
      switch (o) {
        case 2: sx = w - 1 - x; sy = y; break;
        case 3: sx = w - 1 - x; sy = h - 1 - y; break;
        case 4: sx = x; sy = h - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = h - 1 - x; break;
        case 7: sx = w - 1 - y; sy = h - 1 - x; break;
        default: sx = w - 1 - y; sy = x; break; // 8
      }
      const d = (y * W + x) * c, s = (sy * w + sx) * c;
      for (let k = 0; k < c; k++) out[d + k] = data[s + k]!;
    }
  }
  return { width: W, height: H, channels: c, data: out };
}

/** Megapixels for a message: 256, 25, 2.36, 0.001. */
export function megapixels(pixels: number): string {
  const v = pixels / 1e6;
  return String(v >= 100 ? Math.round(v) : Number(v.toPrecision(3)));
}

/** The refusal of an image over the pixel limit (`size`: "W×H pixels (N MP), " when known). */
export function tooLargeError(name: string, limit: number, size: string): Error {
  return new Error(`${name}: the image is ${size}over the ${megapixels(limit)} MP limit for a digit; crop or scale it down first.`);
}

/** The refusal of an image the header checks passed but the decoder could not decode (`reason` on one line). */
export function undecodableError(name: string, reason: string): Error {
  return new Error(`${name}: the image could not be decoded (${shortReason(reason)}); check that the file is a complete PNG or JPEG.`);
}

/** A decoder's error in a few words, on one line, without parentheses (the message puts it in some). */
export function shortReason(message: string): string {
  let first = (message.split('\n')[0] ?? '').replace(/[()]/g, '').trim();
  if (!first) first = 'unknown error';
  return first.length > 120 ? `${first.slice(0, 117)}...` : first;
}

/**
 * Header checks shared by the decoders: the size from the header against the pixel limit, then
 * completeness. Throws the one-line errors; returns the header.
 */
export function checkedHeader(bytes: Uint8Array, kind: ImageKind, name: string, limit: number): ImageHeader {
  let header: ImageHeader;
  try {
    header = readHeader(bytes, kind, name);
  } catch (e) {
    if (e instanceof HeaderError) throw undecodableError(name, e.message);
    throw e;
  }
  const { width: w, height: h } = header;
  if (w * h > limit) throw tooLargeError(name, limit, `${w}×${h} pixels (${megapixels(w * h)} MP), `);
  if (!header.complete) throw undecodableError(name, TRUNCATED);
  return header;
}

/** The `shape` option of readInputs, checked: two whole numbers from 1 to 4096 (a bundle's limits); default 28×28. */
export function checkShape(shape: Shape | undefined, side = 28): Shape {
  if (shape === undefined) return [side, side];
  const ok = Array.isArray(shape) && shape.length === 2 && shape.every((v) => Number.isInteger(v) && v >= 1 && v <= 4096);
  if (!ok) throw new Error(`readInputs: shape is ${JSON.stringify(shape)}; give [height, width], two whole numbers from 1 to 4096 (e.g. a bundle's imageShape).`);
  return [shape[0], shape[1]];
}

/** The first line of an error's message. */
export function errorLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return (m.split('\n')[0] ?? m).trim();
}

/** Any bytes an app hands a decoder (a Uint8Array, another typed array or DataView, an ArrayBuffer) as a Uint8Array, without a copy. */
export function bytesOf(input: ArrayBuffer | ArrayBufferView): Uint8Array {
  return input instanceof Uint8Array ? input : input instanceof ArrayBuffer ? new Uint8Array(input) : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
}
