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
 * Where onnxruntime-node (an optional peer dependency) is installed, k-NN, rbf SVM, naive Bayes and the CNN predict
 * on it by default, with the same labels (`loadModel(file, { engine: 'js' })` keeps plain JS; model.engineKind).
 */
import { fileURLToPath } from 'node:url';
import { loadBundleBytes, type DigitModel } from './bundle/model.ts';
import { readBundleFile } from './bundle/read.node.ts';
import { builtinResolver } from './models/builtins.ts';
import type { ModelPlugin, NativeEngine } from './models/plugin.ts';
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
  const native = await nativeEngine(options);
  return loadBundleBytes(bytes, name, builtinResolver(options.plugins ?? [], nodeCnn, HINT), { ...(options.maxPixels !== undefined ? { maxPixels: options.maxPixels } : {}), ...(native ? { native } : {}) });
}

/** onnxruntime-node for options.engine 'ort' or by default where it loads; undefined for 'js' (or by default where it does not). */
async function nativeEngine(options: LoadModelOptions): Promise<NativeEngine | undefined> {
  const engine = options.engine;
  if (engine !== undefined && engine !== 'ort' && engine !== 'js') throw new Error(`loadModel: engine is "${String(engine)}"; give 'ort' (onnxruntime-node), 'js' (plain JS and tfjs), or leave it out.`);
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`loadModel: threads is ${String(threads)}; give a whole number of at least 1.`);
  if (engine === 'js') return undefined;
  const { ortNative } = await import('./engine/ort-native.ts');
  const native = await ortNative(threads);
  if (!('error' in native)) return native;
  if (engine === 'ort') throw new Error(`loadModel: engine 'ort', but ${native.error}; install it or pass engine: 'js'.`);
  return undefined;
}

function checkedBytes(source: Uint8Array | ArrayBuffer, maxBytes = 1024 ** 3): Uint8Array {
  const bytes = source instanceof ArrayBuffer ? new Uint8Array(source) : source;
  if (!(bytes instanceof Uint8Array)) throw new Error('loadModel: give a bundle file path or the bundle\'s bytes (a Uint8Array).');
  if (bytes.length > maxBytes) throw new Error(`loadModel: the bundle is ${bytes.length} bytes, more than the ${maxBytes}-byte limit; raise maxBytes if it is a bundle you trust.`);
  return bytes;
}
