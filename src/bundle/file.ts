/** Bundles on disk: written atomically beside the report, read with errors that name the file. */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { resolvePlugin } from '../classifiers/registry.ts';
import { encodeBundle, type BundleInput } from './format.ts';
import { loadBundleBytes, type DigitModel } from './model.ts';

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

export async function readBundleFile(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${file}: no such file; give a .bundle file that \`digitbench experiment\` wrote (in <report folder>/models/).`);
    if (code === 'EISDIR') throw new Error(`${file} is a folder; give a .bundle file (or a report folder with --model).`);
    throw new Error(`${file} could not be read (${(e as Error).message}).`);
  }
}

/**
 * Loads a model bundle for predictions in an app:
 *   const model = await loadModel('reports/quick/models/svm-1a2b3c4d.bundle');
 *   const [p] = await model.predict(pixels);   // 784 raw values (0..255), or a decoded image
 */
export async function loadModel(file: string): Promise<DigitModel> {
  return loadBundleBytes(await readBundleFile(file), file, (ref) => resolvePlugin(ref));
}
