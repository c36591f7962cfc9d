/**
 * The idx file format (LeCun's MNIST format), plain or gzipped. Big-endian header:
 * magic 2051 = images (count, rows, cols), 2049 = labels (count); then one unsigned byte per value.
 * Every error names the file and says what is wrong.
 *
 * Reading a file, nothing is allocated for its contents before it is known to fit:
 *  - the path is `stat`ed first and only a regular file is opened (a folder, FIFO, character device such as
 *    /dev/zero or a socket is refused in one line), and then `fstat`ed again through the open handle;
 *  - a file above the size cap is refused before reading (default 1,000 MB, more than the largest real idx
 *    dataset, EMNIST ByClass's 547 MB training images; set DIGITBENCH_MAX_IDX_MB or the `maxBytes` option);
 *  - only the header is read first, and its counts × dimensions must give the file's size exactly;
 *  - a gzipped file is unpacked as a stream: the header is read from the first unpacked bytes, the size it
 *    announces must be within the cap, and then exactly that many bytes are allocated; more or fewer
 *    unpacked bytes are refused (so a gzip bomb stops at the announced size, or at the cap).
 *
 * Regular files, size caps and limits from environment variables: ./files.ts, shared with every reader of
 * a file a user hands us.
 */
import type { FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { createGunzip } from 'node:zlib';
import { checkFileSize, formatBytes, openRegularFile, readAt, resolveLimit, type ByteCap } from './files.ts';

export const IMAGE_MAGIC = 2051;
export const LABEL_MAGIC = 2049;

/** The default cap on an idx file's size (and, gzipped, on its unpacked size): 1,000 MB. */
export const DEFAULT_MAX_IDX_BYTES = 1000e6;

export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  /** count × rows × cols bytes, row-major. */
  pixels: Uint8Array;
}

export interface IdxReadOptions {
  /** Largest file (and unpacked gzip data) read, in bytes; default DIGITBENCH_MAX_IDX_MB MB, else 1,000 MB. */
  maxBytes?: number;
}

/** The idx size cap: the option, else DIGITBENCH_MAX_IDX_MB, else 1,000 MB. */
export function idxByteCap(maxBytes?: number, optionName = 'maxBytes'): ByteCap {
  const { value, raise } = resolveLimit(maxBytes, optionName, 'DIGITBENCH_MAX_IDX_MB', { name: 'MB', size: 1e6 }, DEFAULT_MAX_IDX_BYTES);
  return { bytes: value, what: 'an idx file', raise };
}

// ---------------------------------------------------------------------------------------------------
// The format.

/** A magic number the caller did not ask for; `magic` says which one the file has. */
export class IdxMagicError extends Error {
  override name = 'IdxMagicError';
  constructor(message: string, readonly magic: number) {
    super(message);
  }
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
    throw new IdxMagicError(`${file}: wrong magic number ${magic}${other}; an idx ${what} file starts with ${expected}.`, magic);
  }
}

function checkLength(file: string, actual: number, expected: number, what: string, has = 'the file has'): void {
  if (actual < expected) {
    throw new Error(`${file}: the file is truncated: the header announces ${what} (${expected} bytes) but ${has} ${actual}.`);
  }
  if (actual > expected) {
    throw new Error(`${file}: the file has ${actual - expected} bytes after the ${what} its header announces; it is not a valid idx file.`);
  }
}

/** What a header announces: the file's total size and the words for messages. */
interface Layout {
  magic: number;
  headerBytes: number;
  /** Header plus body, in bytes (a double: exact for any real file, and larger than any cap otherwise). */
  total: number;
  what: string;
}

/**
 * The layout from the first bytes of a file (at least the header, when the file has one). `magic` is the
 * expected magic number, or undefined to take images or labels.
 */
function layout(file: string, head: Uint8Array, magic: number | undefined): Layout {
  const [found] = header(file, head, 1, magic === LABEL_MAGIC ? 2 : 4) as [number];
  if (magic !== undefined) checkMagic(file, found, magic, magic === LABEL_MAGIC ? 'labels' : 'images');
  else if (found !== IMAGE_MAGIC && found !== LABEL_MAGIC) {
    throw new IdxMagicError(`${file}: wrong magic number ${found}; an idx file starts with ${IMAGE_MAGIC} (images) or ${LABEL_MAGIC} (labels).`, found);
  }
  if (found === LABEL_MAGIC) {
    const [, count] = header(file, head, 2) as [number, number];
    return { magic: found, headerBytes: 8, total: 8 + count, what: `${count} labels` };
  }
  const [, count, rows, cols] = header(file, head, 4) as [number, number, number, number];
  if (rows === 0 || cols === 0) throw new Error(`${file}: images of ${rows}×${cols} pixels are empty; the header is damaged.`);
  return { magic: found, headerBytes: 16, total: 16 + count * rows * cols, what: `${count} images of ${rows}×${cols}` };
}

export function parseIdxImages(file: string, bytes: Uint8Array): IdxImages {
  const { total, what } = layout(file, bytes, IMAGE_MAGIC);
  checkLength(file, bytes.length, total, what);
  const [, count, rows, cols] = header(file, bytes, 4) as [number, number, number, number];
  return { count, rows, cols, pixels: bytes.subarray(16) };
}

export function parseIdxLabels(file: string, bytes: Uint8Array): Uint8Array {
  const { total, what } = layout(file, bytes, LABEL_MAGIC);
  checkLength(file, bytes.length, total, what);
  return bytes.subarray(8);
}

// ---------------------------------------------------------------------------------------------------
// Reading files.

const GIVE_IDX = 'give the idx file itself (plain or gzipped).';

/**
 * Unpacks gzip data holding one idx file: the header from the first unpacked bytes, then exactly the size
 * it announces (refused when over the cap), never more.
 */
function gunzipIdx(file: string, data: Uint8Array, magic: number | undefined, cap: ByteCap): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const z = createGunzip();
    let done = false;
    const finish = (e: Error | undefined, out?: Uint8Array) => {
      if (done) return;
      done = true;
      z.destroy();
      if (e) reject(e);
      else resolve(out!);
    };
    let head: Buffer[] = [];
    let plan: Layout | undefined;
    let out: Uint8Array | undefined;
    let got = 0;
    let extra = 0;
    const take = (chunk: Buffer) => {
      if (!plan) {
        head.push(chunk);
        const first = Buffer.concat(head);
        // The header is complete once its magic says how long it is (8 or 16 bytes).
        if (first.length < 16 && !(first.length >= 8 && first.readUInt32BE(0) === LABEL_MAGIC)) return;
        plan = layout(file, first, magic);
        if (plan.total > cap.bytes) {
          throw new Error(
            `${file}: the header announces ${plan.what} (${formatBytes(plan.total)} unpacked), over the ${formatBytes(cap.bytes)} limit for ${cap.what}; give a smaller file, or raise the limit with ${cap.raise}.`,
          );
        }
        out = new Uint8Array(plan.total);
        head = [];
        chunk = first;
      }
      const room = plan.total - got;
      out!.set(room >= chunk.length ? chunk : chunk.subarray(0, room), got);
      got += Math.min(room, chunk.length);
      if (chunk.length > room) {
        extra += chunk.length - room;
        if (plan.total + extra > cap.bytes) {
          throw new Error(
            `${file}: the gzip data unpacks to more than the ${formatBytes(cap.bytes)} limit for ${cap.what}, past the ${plan.what} its header announces; it is not a valid idx file.`,
          );
        }
      }
    };
    z.on('data', (chunk: Buffer) => {
      try {
        take(chunk);
      } catch (e) {
        finish(e as Error);
      }
    });
    z.on('error', (e) => finish(new Error(`${file}: the gzip data is damaged (${e.message}); download or reinstall the file.`)));
    z.on('end', () => {
      try {
        if (!plan) {
          const first = Buffer.concat(head);
          plan = layout(file, first, magic); // throws: the unpacked data is shorter than a header
          out = new Uint8Array(0);
          got = first.length;
        }
        checkLength(file, got + extra, plan.total, plan.what, 'the unpacked data has');
        finish(undefined, out);
      } catch (e) {
        finish(e as Error);
      }
    });
    z.end(data);
  });
}

/**
 * Reads one idx file, plain or gzipped, checking as it goes (see the top of this file). `magic`: the one
 * expected (else images or labels); `cap`: the size cap, resolved (instead of `maxBytes`). Throws one-line errors naming the file; a wrong magic is an
 * IdxMagicError.
 */
export async function readIdx(
  file: string,
  options: IdxReadOptions & { magic?: number; cap?: ByteCap } = {},
): Promise<{ magic: number; bytes: Uint8Array }> {
  const cap = options.cap ?? idxByteCap(options.maxBytes);
  let opened: { handle: FileHandle; size: number };
  try {
    opened = await openRegularFile(file, GIVE_IDX);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code) throw new Error(`${file}: cannot read the file (${code}); check the path.`);
    throw e;
  }
  const { handle, size } = opened;
  try {
    checkFileSize(file, size, cap);
    const head = await readAt(handle, Math.min(16, size));
    if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
      const bytes = await gunzipIdx(file, await readAt(handle, size), options.magic, cap);
      return { magic: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, false), bytes };
    }
    // Plain: the header's counts must give the file's size before the body is read.
    const plan = layout(file, head, options.magic);
    checkLength(file, size, plan.total, plan.what);
    const bytes = await readAt(handle, size);
    checkLength(file, bytes.length, plan.total, plan.what); // the file shrank while being read
    return { magic: plan.magic, bytes: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
  } finally {
    await handle.close();
  }
}

export async function readIdxImages(file: string, options: IdxReadOptions = {}): Promise<IdxImages> {
  return parseIdxImages(file, (await readIdx(file, { ...options, magic: IMAGE_MAGIC })).bytes);
}

export async function readIdxLabels(file: string, options: IdxReadOptions = {}): Promise<Uint8Array> {
  return parseIdxLabels(file, (await readIdx(file, { ...options, magic: LABEL_MAGIC })).bytes);
}

/** Reads an images file and its labels file and checks that they belong together. */
export async function readIdxPair(
  imagesFile: string,
  labelsFile: string,
  options: IdxReadOptions = {},
): Promise<{ images: IdxImages; labels: Uint8Array }> {
  const [images, labels] = await Promise.all([readIdxImages(imagesFile, options), readIdxLabels(labelsFile, options)]);
  if (images.count !== labels.length) {
    throw new Error(
      `${labelsFile}: has ${labels.length} labels but ${basename(imagesFile)} has ${images.count} images; use the labels file that belongs to those images.`,
    );
  }
  return { images, labels };
}
