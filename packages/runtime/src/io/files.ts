/**
 * Reading files a user hands us (bundles, images, idx files, configs, rows files, files the page server
 * sends): only regular files are opened (a folder, FIFO, device such as /dev/zero or socket is refused from
 * its stat, and a FIFO never blocks), sizes are capped before anything is read, and limits come from an
 * option, else an environment variable, else a default. Every refusal is one line naming the file.
 */
import type { Stats } from 'node:fs';
import { constants } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { formatBytes } from './format-bytes.ts';

export { formatBytes };


/** What a file system entry is, in a few words, for messages ("a folder", "a FIFO (named pipe)", …). */
export function entryKind(s: Pick<Stats, 'isFile' | 'isDirectory' | 'isFIFO' | 'isCharacterDevice' | 'isBlockDevice' | 'isSocket'>): string {
  if (s.isFile()) return 'a file';
  if (s.isDirectory()) return 'a folder';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isFIFO()) return 'a FIFO (named pipe)';
  if (s.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** A path that is not a regular file; `kind` says what it is. */
export class NotRegularFileError extends Error {
  override name = 'NotRegularFileError';
  constructor(
    readonly file: string,
    readonly kind: string,
    give: string,
  ) {
    super(`${file}: not a regular file (${kind}); ${give}`);
  }
}

/** A size cap and how the user raises it, for the refusal's wording. */
export interface ByteCap {
  bytes: number;
  /** e.g. "an image file". */
  what: string;
  /** e.g. "DIGITBENCH_MAX_IMAGE_MB" or "the maxImageBytes option". */
  raise: string;
}

/** Refuses a file above the cap, in one line naming it, its size, the cap and how to raise it. */
export function checkFileSize(file: string, size: number, cap: ByteCap): void {
  if (size > cap.bytes) {
    throw new Error(
      `${file}: the file is ${formatBytes(size)}, over the ${formatBytes(cap.bytes)} limit for ${cap.what}; give a smaller file, or raise the limit with ${cap.raise}.`,
    );
  }
}

/**
 * Opens a regular file for reading, and nothing else: the path is `stat`ed first (a folder, FIFO, device or
 * socket is refused without being opened, so /dev/zero is never read and a FIFO never blocks), then opened
 * with O_NONBLOCK and `fstat`ed again through the handle (the path may have been swapped in between).
 * A refusal is a NotRegularFileError ending with `give`. Errors of the file system (ENOENT, EACCES…) are
 * thrown as they are, for the caller's own wording. The caller closes the handle.
 */
export async function openRegularFile(file: string, give: string): Promise<{ handle: FileHandle; size: number; stats: Stats }> {
  const refuse = (s: Stats) => new NotRegularFileError(file, entryKind(s), give);
  const before = await stat(file);
  if (!before.isFile()) throw refuse(before);
  const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const s = await handle.stat();
    if (!s.isFile()) throw refuse(s);
    return { handle, size: s.size, stats: s };
  } catch (e) {
    await handle.close();
    throw e;
  }
}

/** Reads up to `length` bytes from `position`; fewer only at the end of the file. */
export async function readAt(handle: FileHandle, length: number, position = 0): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await handle.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? buf : buf.subarray(0, got);
}

/**
 * A positive limit: the option when given, else the environment variable (in `unit`s, decimals allowed),
 * else the default. A bad value of either is a one-line error naming it.
 */
export function resolveLimit(
  option: number | undefined,
  optionName: string,
  env: string,
  unit: { name: string; size: number },
  fallback: number,
): { value: number; raise: string } {
  const positive = (v: number) => typeof v === 'number' && Number.isFinite(v) && v > 0;
  if (option !== undefined) {
    if (!positive(option)) throw new Error(`${optionName} must be a positive number (got ${String(option)}).`);
    return { value: option, raise: `the ${optionName} option` };
  }
  const raw = process.env[env];
  if (raw !== undefined && raw.trim() !== '') {
    const v = Number(raw);
    if (!positive(v)) {
      throw new Error(`${env} is "${raw}"; set it to a positive number of ${unit.name} (default ${fallback / unit.size}) or unset it.`);
    }
    return { value: v * unit.size, raise: env };
  }
  return { value: fallback, raise: env };
}
