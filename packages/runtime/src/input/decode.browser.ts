/// <reference lib="dom" />
/**
 * Reading pictures of digits in a web page: a File from an `<input type="file">` or a drop, a Blob, or the
 * bytes of a PNG or JPEG (ArrayBuffer, Uint8Array), decoded by the browser itself (createImageBitmap, then
 * drawn on an OffscreenCanvas, or a `<canvas>` where there is none, and read back with getImageData) to
 * `{ width, height, channels: 4, data }`; a canvas the page drew on goes through `fromImageData`. The
 * result is what `normalizeDigit` (and a model's `predict`) takes, as in Node. No Node built-ins.
 *
 * The same files are refused with the same one-line messages as in Node (./decode.node.ts), because the
 * checks before decoding are shared (./image-header.ts): only PNG and JPEG (other formats named, and JPEG
 * variants jpeg-js cannot read refused, so that a page and a Node service accept the same files), the
 * pixel limit from the header before anything is decoded (`maxPixels`, default 25 MP), a cut-off file
 * (no end marker: browsers would show the part that arrived) refused. The EXIF orientation is applied by
 * the browser (`imageOrientation: 'from-image'`); where it was not (the picture comes back with the stored
 * width and height although the orientation turns it a quarter), it is applied here. Colour profiles are
 * not applied (`colorSpaceConversion: 'none'`), as in Node. JPEG pixels differ from Node's jpeg-js by a few
 * levels (the browser's decoder is libjpeg-turbo in Chromium); PNG pixels are the same.
 */
import { formatBytes } from '../io/format-bytes.ts';
import {
  bytesOf,
  checkedHeader,
  checkShape,
  DEFAULT_MAX_IMAGE_BYTES,
  errorLine,
  imageKind,
  notImageMessage,
  orient,
  undecodableError,
  type DecodeOptions,
  type InputImage,
  type Shape,
} from './image-header.ts';
import { DEFAULT_MAX_PIXELS, normalizeDigit, type DecodedImage } from './normalize.ts';

export { DEFAULT_MAX_IMAGE_BYTES, type DecodeOptions, type InputImage, type Shape } from './image-header.ts';

const GIVE = 'give a PNG or JPEG image.';

/** What `decodeImage` takes: a File or Blob, or the file's bytes. */
export type ImageSource = Blob | ArrayBuffer | ArrayBufferView;

/** Options of the browser's `readInputs`: the image shape, the pixel limit and the file size cap. */
export interface ReadInputsOptions extends DecodeOptions {
  /** Height × width of the images wanted (a bundle's `imageShape`; default 28×28). */
  shape?: Shape;
  /** The largest file read, in bytes: default 50 MB. */
  maxImageBytes?: number;
}

/** A limit option: a positive number, or the default when not given (the message is Node's). */
function limitOption(value: number | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new Error(`${option} must be a positive number (got ${String(value)}).`);
  return value;
}



/** A 2D context to draw `width` × `height` pixels in: an OffscreenCanvas, or a `<canvas>` element. */
function context(width: number, height: number): OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D | null {
  if (typeof OffscreenCanvas !== 'undefined') return new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  return canvas.getContext('2d', { willReadFrequently: true });
}

/**
 * Decodes a PNG or JPEG (a File, a Blob or its bytes) to RGBA pixels, EXIF orientation applied. Errors are
 * one line naming `name`. An image over `maxPixels` (default 25 MP) is refused from its header before the
 * browser decodes it; the size of the file is the caller's to cap (`readInputs` refuses files over 50 MB).
 */
export async function decodeImage(input: ImageSource, name: string, options: DecodeOptions = {}): Promise<DecodedImage> {
  const limit = limitOption(options.maxPixels, 'maxPixels', DEFAULT_MAX_PIXELS);
  const bytes = input instanceof Blob ? new Uint8Array(await input.arrayBuffer()) : bytesOf(input);
  if (bytes.length === 0) throw new Error(`${name}: the file is empty; ${GIVE}`);
  const kind = imageKind(bytes);
  if (!kind) throw new Error(notImageMessage(name, bytes, GIVE));
  const header = checkedHeader(bytes, kind, name, limit);
  let bitmap: ImageBitmap;
  try {
    const blob = input instanceof Blob ? input : new Blob([bytes.slice()], { type: `image/${kind}` });
    bitmap = await createImageBitmap(blob, { imageOrientation: 'from-image', premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  } catch (e) {
    throw undecodableError(name, e instanceof Error ? e.message : String(e));
  }
  try {
    const { width, height } = bitmap;
    const ctx = context(width, height);
    if (!ctx) throw new Error(`${name}: the browser gave no 2D canvas to decode the image on; try another browser.`);
    ctx.drawImage(bitmap, 0, 0);
    const img: DecodedImage = { width, height, channels: 4, data: ctx.getImageData(0, 0, width, height).data };
    // A browser that ignored a quarter-turn orientation gives the stored size back: turn it here.
    const turned = header.orientation >= 5 && header.width !== header.height;
    return turned && width === header.width && height === header.height ? orient(img, header.orientation) : img;
  } finally {
    bitmap.close();
  }
}

/** A picture the page has as ImageData (a canvas's getImageData), as `normalizeDigit` and `predict` take it. */
export function fromImageData(image: { width: number; height: number; data: Uint8ClampedArray | Uint8Array }): DecodedImage {
  return { width: image.width, height: image.height, channels: 4, data: image.data };
}

/**
 * Reads pictures a user gave the page (a FileList from `<input type="file" multiple>` or a drop, or any
 * Blobs), in order, each decoded and MNIST-normalized into `shape` (default 28×28), as Node's
 * `readInputs` does for files: every bad input is an entry with a one-line `error` naming it (a File's
 * name, else "image N"), the rest still succeed. A bad option fails the whole call in one line.
 */
export async function readInputs(files: Iterable<Blob> | ArrayLike<Blob>, options: ReadInputsOptions = {}): Promise<InputImage[]> {
  const shape = checkShape(options.shape);
  const maxPixels = limitOption(options.maxPixels, 'maxPixels', DEFAULT_MAX_PIXELS);
  const maxBytes = limitOption(options.maxImageBytes, 'maxImageBytes', DEFAULT_MAX_IMAGE_BYTES);
  const out: InputImage[] = [];
  for (const [i, file] of Array.from(files).entries()) {
    const given = (file as Partial<File>).name;
    const name = typeof given === 'string' && given ? given : `image ${i + 1}`;
    try {
      if (file.size === 0) throw new Error(`${name}: the file is empty; ${GIVE}`);
      if (file.size > maxBytes) {
        throw new Error(`${name}: the file is ${formatBytes(file.size)}, over the ${formatBytes(maxBytes)} limit for an image file; give a smaller file, or raise the limit with the maxImageBytes option.`);
      }
      out.push({ name, pixels: normalizeDigit(await decodeImage(file, name, { maxPixels }), name, shape) });
    } catch (e) {
      out.push({ name, error: errorLine(e) });
    }
  }
  return out;
}
