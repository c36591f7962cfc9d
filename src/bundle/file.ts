/**
 * Bundles on disk: written atomically beside the report; read by the runtime's readBundleFile
 * (@digitbench/runtime bundle/read.node.ts), capped before anything is read.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { readBundleFile } from '@digitbench/runtime/internal';

export { DEFAULT_MAX_BUNDLE_BYTES, MAX_BUNDLE_BYTES_ENV, maxBundleBytes, readBundleFile } from '@digitbench/runtime/internal';
import type { ClassifierPlugin } from '../classifiers/plugin.ts';
import { pluginResolver } from '../classifiers/registry.ts';
import { encodeBundle, type BundleInput } from '@digitbench/runtime/internal';
import { loadBundleBytes, type DigitModel } from '@digitbench/runtime/internal';

/** Writes a bundle to `file` (through a temporary file, so a crash never leaves half a bundle); returns its size. */
export async function writeBundle(file: string, input: BundleInput): Promise<number> {
  const bytes = await encodeBundle(input);
  await writeFileAtomically(file, bytes);
  return bytes.byteLength;
}

/** Writes `bytes` to `file` through a temporary file beside it, so a crash never leaves half a file. */
export async function writeFileAtomically(file: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
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
  /** Refuse decoded pictures larger than this many pixels in predict (default 25 MP, as decodeImage). */
  maxPixels?: number;
}

/**
 * Loads a model bundle for predictions in an app:
 *   const model = await loadModel('reports/quick/models/svm-1a2b3c4d.bundle');
 *   const [p] = await model.predict(pixels);   // h×w raw values (0..255; 784 for MNIST's 28×28), or a decoded image
 * Loading reads data only: the bundle's plugin name is matched against `options.plugins`, then the
 * built-ins; nothing the file names is imported or run.
 */
export async function loadModel(file: string, options: LoadModelOptions = {}): Promise<DigitModel> {
  return loadBundleBytes(await readBundleFile(file, options.maxBytes), file, pluginResolver(options.plugins), options.maxPixels !== undefined ? { maxPixels: options.maxPixels } : {});
}
