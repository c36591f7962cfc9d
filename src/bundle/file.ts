/**
 * Bundles on disk: written atomically beside the report, read with errors that name the file. Reading
 * is capped before anything is read: the file must be a regular file no larger than the limit, and its
 * 24-byte prefix (signature, declared length = file size) is checked before the whole file is read.
 */
import { constants } from 'node:fs';
import { mkdir, open, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Stats } from 'node:fs';
import type { ClassifierPlugin } from '../classifiers/plugin.ts';
import { pluginResolver } from '../classifiers/registry.ts';
import { BUNDLE_PREFIX_BYTES, checkBundlePrefix, encodeBundle, type BundleInput } from './format.ts';
import { loadBundleBytes, type DigitModel } from './model.ts';

/**
 * The default size limit of a bundle file: 1 GiB. The largest real bundle, a k-NN on raw pixels of full
 * MNIST (60,000 × 784 float32), is about 190 MB. Override with `maxBytes` or DIGITBENCH_MAX_BUNDLE_BYTES.
 */
export const DEFAULT_MAX_BUNDLE_BYTES = 1024 ** 3;
export const MAX_BUNDLE_BYTES_ENV = 'DIGITBENCH_MAX_BUNDLE_BYTES';

/** Writes a bundle to `file` (through a temporary file, so a crash never leaves half a bundle); returns its size. */
export async function writeBundle(file: string, input: BundleInput): Promise<number> {
  const bytes = await encodeBundle(input);
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return bytes.byteLength;
}

/** The size limit: `maxBytes` if given, else $DIGITBENCH_MAX_BUNDLE_BYTES, else 1 GiB. */
export function maxBundleBytes(maxBytes?: number): number {
  if (maxBytes !== undefined) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new Error(`maxBytes must be a whole number of bytes, 1 or more (got ${maxBytes}).`);
    return maxBytes;
  }
  const env = process.env[MAX_BUNDLE_BYTES_ENV];
  if (env === undefined || env === '') return DEFAULT_MAX_BUNDLE_BYTES;
  const n = Number(env);
  if (!/^\d+$/.test(env.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new Error(`${MAX_BUNDLE_BYTES_ENV} must be a whole number of bytes, 1 or more (got "${env.slice(0, 40)}"); unset it for the default of ${DEFAULT_MAX_BUNDLE_BYTES}.`);
  }
  return n;
}

function kindOf(s: Stats): string {
  if (s.isDirectory()) return 'a folder';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isFIFO()) return 'a FIFO (named pipe)';
  if (s.isSocket()) return 'a socket';
  return 'not a file';
}

/** A size for messages: exact GiB / MiB when it is a whole number of them, else MB, else bytes. */
function size(n: number): string {
  if (n >= 2 ** 30 && n % 2 ** 30 === 0) return `${n / 2 ** 30} GiB`;
  if (n >= 2 ** 20 && n % 2 ** 20 === 0) return `${n / 2 ** 20} MiB`;
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${n} bytes`;
}

/** An fs call on the open bundle; its failure is one line naming the file. */
async function io<T>(file: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw new Error(`${file} could not be read (${(e as Error).message}).`);
  }
}

/** Reads exactly `length` bytes at `position` (fewer only if the file shrank meanwhile). */
async function readAt(handle: FileHandle, length: number, position: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/**
 * Reads a bundle file, refusing before the read whatever cannot be a bundle: not a regular file (a
 * folder, FIFO or device, checked on the opened file, which is opened without blocking), larger than
 * the limit (see `maxBundleBytes`), or a prefix that is foreign or declares another length.
 */
export async function readBundleFile(file: string, maxBytes?: number): Promise<Uint8Array> {
  const limit = maxBundleBytes(maxBytes);
  let handle: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer; on a regular file it changes nothing.
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${file}: no such file; give a .bundle file that \`digitbench experiment\` wrote (in <report folder>/models/).`);
    if (code === 'ENXIO') throw new Error(`${file} is not a regular file (a socket); give a .bundle file.`);
    throw new Error(`${file} could not be read (${(e as Error).message}).`);
  }
  try {
    const stats = await io(file, handle.stat());
    if (!stats.isFile()) throw new Error(`${file} is not a regular file (${kindOf(stats)}); give a .bundle file.`);
    const bytes = stats.size;
    if (bytes > limit) {
      throw new Error(
        `${file} is ${size(bytes)}, more than the ${size(limit)} limit for a bundle (the largest real one, a k-NN on raw pixels of full MNIST, is about 190 MB); ` +
          `if it is a bundle you trust, raise the limit with ${MAX_BUNDLE_BYTES_ENV} (or loadModel's maxBytes).`,
      );
    }
    checkBundlePrefix(await io(file, readAt(handle, Math.min(bytes, BUNDLE_PREFIX_BYTES), 0)), bytes, file);
    const all = await io(file, readAt(handle, bytes, 0));
    if (all.length !== bytes) throw new Error(`${file} changed while it was read (${all.length} of ${bytes} bytes); read it again when nothing writes to it.`);
    return all;
  } finally {
    await handle.close();
  }
}

export interface LoadModelOptions {
  /**
   * Plugins for bundles whose plugin is not built in: matched by the bundle's plugin name, before the
   * built-ins. A bundle never names code to load; pass your plugin object here.
   */
  plugins?: readonly ClassifierPlugin[];
  /** Refuse files larger than this (default: $DIGITBENCH_MAX_BUNDLE_BYTES, else 1 GiB). */
  maxBytes?: number;
}

/**
 * Loads a model bundle for predictions in an app:
 *   const model = await loadModel('reports/quick/models/svm-1a2b3c4d.bundle');
 *   const [p] = await model.predict(pixels);   // 784 raw values (0..255), or a decoded image
 * Loading reads data only: the bundle's plugin name is matched against `options.plugins`, then the
 * built-ins; nothing the file names is imported or run.
 */
export async function loadModel(file: string, options: LoadModelOptions = {}): Promise<DigitModel> {
  return loadBundleBytes(await readBundleFile(file, options.maxBytes), file, pluginResolver(options.plugins));
}
