/**
 * Reading a JSON file a user hands us (an experiment config): a regular file only (a folder, FIFO or
 * device is refused before any read; @digitbench/runtime io/files.ts), a size cap, strict JSON (JSON.parse), and no key named twice in an object.
 * JSON.parse keeps the last of two equal keys without a word, so a config with "classifiers" twice
 * silently loses one list; jsonc-parser's visitor (a maintained scanner that reports each property with
 * its position) finds the duplicate, and the error gives its path and both lines.
 */
import type { FileHandle } from 'node:fs/promises';
import { visit, type JSONPath } from 'jsonc-parser';
import { NotRegularFileError, openRegularFile, readAt, resolveLimit } from '@digitbench/runtime/internal';

/** Largest experiment file read (bytes); a real one is a few kB. `DIGITBENCH_MAX_CONFIG_BYTES` overrides it. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

export function maxConfigBytes(): number {
  return resolveLimit(undefined, 'maxBytes', 'DIGITBENCH_MAX_CONFIG_BYTES', { name: 'bytes', size: 1 }, MAX_CONFIG_BYTES).value;
}

function pathText(path: JSONPath): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('') || '(top level)';
}

/** The first key named twice in one object, with its path and the lines of both; undefined when none. */
export function duplicateKey(text: string): { path: string; first: number; second: number } | undefined {
  const stack: Map<string, number>[] = [];
  let found: { path: string; first: number; second: number } | undefined;
  visit(text, {
    onObjectBegin: () => {
      stack.push(new Map());
    },
    onObjectEnd: () => {
      stack.pop();
    },
    onObjectProperty: (key, _offset, _length, line, _col, pathSupplier) => {
      const seen = stack[stack.length - 1];
      if (!seen || found) return;
      const first = seen.get(key);
      if (first !== undefined) found = { path: pathText([...pathSupplier(), key]), first: first + 1, second: line + 1 };
      else seen.set(key, line);
    },
  });
  return found;
}

/**
 * Reads and parses a JSON file. `noun` names it ("Experiment file"), `what` says what to give instead
 * ("name one in experiments/ … or give a path to a .json file"). Every error is one line naming the file.
 */
export async function readJsonFile(file: string, noun: string, what: string, maxBytes = maxConfigBytes()): Promise<unknown> {
  let opened: { handle: FileHandle; size: number };
  try {
    opened = await openRegularFile(file, what);
  } catch (e) {
    if (e instanceof NotRegularFileError) throw new Error(`${noun} ${file} is ${e.kind}, not a file; ${what}.`);
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new Error(`${noun} ${file} not found; ${what}.`);
    throw new Error(`${noun} ${file} cannot be read (${code ?? (e as Error).message}); check its permissions.`);
  }
  const { handle, size } = opened;
  let text: string;
  try {
    if (size > maxBytes) throw new Error(`${noun} ${file} is ${size} bytes, over the ${maxBytes}-byte limit (DIGITBENCH_MAX_CONFIG_BYTES raises it); ${what}.`);
    // At most the cap (plus one byte, to notice a file that grew since its size was taken).
    const bytes = await readAt(handle, size + 1);
    if (bytes.length > maxBytes) throw new Error(`${noun} ${file} grew past the ${maxBytes}-byte limit while being read; ${what}.`);
    text = bytes.toString('utf8');
  } finally {
    await handle.close();
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message}).`);
  }
  const dup = duplicateKey(text);
  if (dup) throw new Error(`${file}: ${dup.path} is given twice (lines ${dup.first} and ${dup.second}); keep one (JSON would silently drop the first).`);
  return raw;
}
