/**
 * Reading a bundle file in Node, capped before anything is read: the file must be a regular file no
 * larger than the limit, and its 24-byte prefix (signature, declared length = file size) is checked
 * before the whole file is read. Errors are one line naming the file.
 */
import type { FileHandle } from 'node:fs/promises';
import { NotRegularFileError, openRegularFile, readAt } from '../io/files.ts';
import { BUNDLE_PREFIX_BYTES, checkBundlePrefix } from './format.ts';

/**
 * The default size limit of a bundle file: 1 GiB. The largest real bundle, a k-NN on raw pixels of full
 * MNIST (60,000 × 784 float32), is about 190 MB. Override with `maxBytes` or DIGITBENCH_MAX_BUNDLE_BYTES.
 */
export const DEFAULT_MAX_BUNDLE_BYTES = 1024 ** 3;
export const MAX_BUNDLE_BYTES_ENV = 'DIGITBENCH_MAX_BUNDLE_BYTES';

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

/**
 * Reads a bundle file, refusing before the read whatever cannot be a bundle: not a regular file (a
 * folder, FIFO or device: see ../io/files.ts openRegularFile), larger than
 * the limit (see `maxBundleBytes`), or a prefix that is foreign or declares another length.
 */
export async function readBundleFile(file: string, maxBytes?: number): Promise<Uint8Array> {
  const limit = maxBundleBytes(maxBytes);
  let handle: FileHandle;
  let bytes: number;
  try {
    ({ handle, size: bytes } = await openRegularFile(file, 'give a .bundle file.'));
  } catch (e) {
    if (e instanceof NotRegularFileError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${file}: no such file; give a .bundle file that \`digitbench experiment\` wrote (in <report folder>/models/).`);
    throw new Error(`${file} could not be read (${(e as Error).message}).`);
  }
  try {
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

