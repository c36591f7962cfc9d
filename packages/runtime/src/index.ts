/**
 * @digitbench/runtime for Node: load a model bundle that digitbench picked and read digits with it.
 *
 *   import { loadModel, readInputs } from '@digitbench/runtime';
 *   const model = await loadModel('model.bundle');                 // a path, or the bundle's bytes
 *   const [p] = await model.predict(pixels);  // h×w raw values 0..255 (model.imageShape), or a decoded image
 *   console.log(p.label, p.top);              // 7, [{ label: 7, name: '7', score: 0.98 }, …]
 *
 * A bundle carries its own feature pipeline, so raw pixels go in; decoded pictures (any size, dark ink
 * on light paper or the reverse) are normalized the way MNIST was made. A bundle is data: loading it
 * never imports or runs anything it names. Its plugin is a built-in or one you pass
 * (`loadModel(file, { plugins: [myPlugin] })`). CNN bundles need TensorFlow.js (see ./cnn.ts).
 */
import { fileURLToPath } from 'node:url';
import { loadBundleBytes, type DigitModel } from './bundle/model.ts';
import { readBundleFile } from './bundle/read.node.ts';
import { builtinResolver } from './models/builtins.ts';
import type { ModelPlugin } from './models/plugin.ts';
import type { LoadModelOptions } from './common.ts';

export * from './common.ts';
export { readBundleFile, DEFAULT_MAX_BUNDLE_BYTES } from './bundle/read.node.ts';
export { decodeImage, readInputs, type ReadInputsOptions } from './input/decode.node.ts';

/** The CNN from `@digitbench/runtime/cnn`, by a specifier bundlers leave alone (tfjs is an optional peer). */
async function nodeCnn(): Promise<ModelPlugin> {
  const specifier = ['@digitbench', 'runtime', 'cnn'].join('/');
  return ((await import(specifier)) as { cnn: ModelPlugin }).cnn;
}

const HINT = 'pass it explicitly (loadModel(file, { plugins: [yourPlugin] }) or digitbench predict --plugin <file>).';

/**
 * Loads a model bundle from a file path or file: URL (read with caps: a regular file, at most `maxBytes`,
 * its prefix checked before the rest is read) or from its bytes. (The browser entry's loadModel takes the
 * same types, a URL fetched.)
 */
export async function loadModel(source: string | URL | Uint8Array | ArrayBuffer, options: LoadModelOptions = {}): Promise<DigitModel> {
  if (source instanceof URL && source.protocol !== 'file:') throw new Error(`loadModel: ${source.href} is not a file: URL; in Node give a file path or the bundle's bytes (fetch it first).`);
  const path = typeof source === 'string' ? source : source instanceof URL ? fileURLToPath(source) : undefined;
  const [bytes, name] = path !== undefined ? [await readBundleFile(path, options.maxBytes), path] : [checkedBytes(source as Uint8Array | ArrayBuffer, options.maxBytes), 'the bundle'];
  return loadBundleBytes(bytes, name, builtinResolver(options.plugins ?? [], nodeCnn, HINT), options.maxPixels !== undefined ? { maxPixels: options.maxPixels } : {});
}

function checkedBytes(source: Uint8Array | ArrayBuffer, maxBytes = 1024 ** 3): Uint8Array {
  const bytes = source instanceof ArrayBuffer ? new Uint8Array(source) : source;
  if (!(bytes instanceof Uint8Array)) throw new Error('loadModel: give a bundle file path or the bundle\'s bytes (a Uint8Array).');
  if (bytes.length > maxBytes) throw new Error(`loadModel: the bundle is ${bytes.length} bytes, more than the ${maxBytes}-byte limit; raise maxBytes if it is a bundle you trust.`);
  return bytes;
}
