/**
 * Bundles on disk: written atomically beside the report; read by the runtime's readBundleFile
 * (@digitbench/runtime bundle/read.node.ts), capped before anything is read.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { loadModel as loadRuntimeModel, type DigitModel, type LoadModelOptions } from '@digitbench/runtime';

export { DEFAULT_MAX_BUNDLE_BYTES, MAX_BUNDLE_BYTES_ENV, maxBundleBytes, readBundleFile } from '@digitbench/runtime/internal';
export type { LoadModelOptions };
import { builtins } from '../classifiers/registry.ts';
import { engineChoice } from '../engine/ort.ts';
import { encodeBundle, type BundleInput } from '@digitbench/runtime/internal';

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

/**
 * The runtime's loadModel (@digitbench/runtime) with the workbench's built-in plugins passed first: the
 * same bundle reader and model code, with the workbench's fast engines for k-NN (k-d tree, tfjs brute
 * force), the SVM (tfjs RBF products) and the CNN (tfjs-node where installed); tests check their labels
 * equal the runtime's own plain-JS ones. `plugins` come before the built-ins.
 */
export async function loadModel(file: string, options: LoadModelOptions = {}): Promise<DigitModel> {
  // The runtime's engine follows the workbench's choice (DIGITBENCH_ENGINE=wasm: no onnxruntime-node).
  return loadRuntimeModel(file, { engine: engineChoice().engine === 'ort' ? 'ort' : 'js', ...options, plugins: [...(options.plugins ?? []), ...builtins] });
}
