/**
 * @digitbench/runtime for web pages: no Node built-in anywhere in this entry's import graph.
 *
 *   import { loadModel, decodeImage } from '@digitbench/runtime';   // bundlers pick this file
 *   const model = await loadModel('/models/tree.bundle');          // a URL, or the bundle's bytes
 *   const [p] = await model.predict(await decodeImage(file, file.name));  // a File/Blob, or canvas ImageData
 *
 * CNN bundles need TensorFlow.js and its .wasm files: pass `cnnPlugin({ wasmPaths })` from
 * `@digitbench/runtime/cnn` in `plugins`.
 */
import { loadBundleBytes, type DigitModel } from './bundle/model.ts';
import { builtinResolver } from './models/builtins.ts';
import type { LoadModelOptions } from './common.ts';

export * from './common.ts';
export { decodeImage, fromImageData, readInputs, type ImageSource, type ReadInputsOptions } from './input/decode.browser.ts';

const DEFAULT_MAX_BYTES = 1024 ** 3;

const HINT = 'pass it explicitly (loadModel(url, { plugins: [yourPlugin] })).';

async function noCnn(): Promise<never> {
  throw new Error(
    'its plugin "cnn" needs TensorFlow.js: install @tensorflow/tfjs-core, @tensorflow/tfjs-layers and @tensorflow/tfjs-backend-wasm, and pass cnnPlugin({ wasmPaths }) from \'@digitbench/runtime/cnn\' as loadModel(url, { plugins: [cnnPlugin(…)] })',
  );
}

/** The body of a response, refused past `limit` bytes (from Content-Length, else while it streams). */
async function readCapped(res: Response, url: string, limit: number): Promise<Uint8Array> {
  const tooLarge = (n: number | string) => new Error(`${url} is ${n} bytes, more than the ${limit}-byte limit for a bundle; raise loadModel's maxBytes if it is a bundle you trust.`);
  const declared = Number(res.headers.get('content-length'));
  if (declared > limit) throw tooLarge(declared);
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel();
      throw tooLarge(`over ${limit}`);
    }
    parts.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Loads a model bundle from a URL (fetched, capped at `maxBytes`) or from its bytes. */
export async function loadModel(source: string | URL | Uint8Array | ArrayBuffer, options: LoadModelOptions = {}): Promise<DigitModel> {
  const limit = options.maxBytes ?? DEFAULT_MAX_BYTES;
  let bytes: Uint8Array;
  let name: string;
  if (typeof source === 'string' || source instanceof URL) {
    name = String(source);
    const res = await fetch(source);
    if (!res.ok) throw new Error(`${name}: the server answered ${res.status} ${res.statusText}; check the bundle's URL.`);
    bytes = await readCapped(res, name, limit);
  } else {
    name = 'the bundle';
    bytes = source instanceof ArrayBuffer ? new Uint8Array(source) : source;
    if (bytes.length > limit) throw new Error(`loadModel: the bundle is ${bytes.length} bytes, more than the ${limit}-byte limit; raise maxBytes if it is a bundle you trust.`);
  }
  return loadBundleBytes(bytes, name, builtinResolver(options.plugins ?? [], noCnn, HINT), options.maxPixels !== undefined ? { maxPixels: options.maxPixels } : {});
}
