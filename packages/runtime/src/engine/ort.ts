/**
 * onnxruntime-node, the native engine (Node only; the browser entry never imports this file). It is an
 * optional peer dependency of @digitbench/runtime at an exact version: an app that installs it predicts
 * k-NN, SVM, naive Bayes and CNN bundles on it (loadModel's `engine`, default 'ort' where it loads);
 * without it everything runs as before, in plain JS and tfjs.
 *
 * Two loaders share one remembered result (the module, or why it cannot be used):
 * - `loadOrt()`: by import() of a computed specifier (bundlers leave it alone; works in the ES module and
 *   the CommonJS build), what loadModel uses;
 * - `loadOrtWith(require)`: synchronous, with the caller's require function (the workbench's engine
 *   choice is synchronous: digitbench src/engine/ort.ts passes createRequire(import.meta.url)).
 * `session.run` is synchronous inside its promise: it blocks the calling thread while it runs.
 */

/** The onnxruntime-node module's parts digitbench uses. */
export interface Ort {
  InferenceSession: {
    create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession>;
  };
  Tensor: new (type: string, data: ArrayLike<number> | BigInt64Array, dims: readonly number[]) => OrtTensor;
  env?: { versions?: { node?: string } };
}
export interface OrtTensor {
  readonly data: ArrayLike<number | bigint>;
  readonly dims: readonly number[];
  readonly type: string;
}
export interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

/** onnxruntime-node and its version, or why it cannot be used here. */
export type OrtLoad = { ort: Ort; version: string } | { error: string };

/** The package, and the version this runtime is tested with (its optional peer dependency's pin). */
export const ORT_PACKAGE = 'onnxruntime-node';
export const ORT_VERSION = '1.31.1';

let loaded: OrtLoad | undefined;

/** How an app installs it (the workbench, where it is an optional dependency, passes its own). */
const INSTALL = `npm install ${ORT_PACKAGE}@${ORT_VERSION}, an optional peer dependency of @digitbench/runtime`;

function failure(e: unknown, specifier: string, install = INSTALL): { error: string } {
  const err = e as NodeJS.ErrnoException;
  const message = String(err?.message ?? e);
  const missing = (err?.code === 'MODULE_NOT_FOUND' || err?.code === 'ERR_MODULE_NOT_FOUND') && message.includes(specifier);
  return {
    error: missing
      ? `${specifier} is not installed (${install}, on linux/win32 x64 or arm64 or darwin arm64)`
      : `${specifier} does not load here (${message.split('\n')[0]})`,
  };
}

function loadedFrom(mod: unknown, version?: string): OrtLoad {
  const m = mod as Ort & { default?: Ort };
  const ort = typeof m.InferenceSession?.create === 'function' ? m : (m.default as Ort);
  if (typeof ort?.InferenceSession?.create !== 'function' || typeof ort.Tensor !== 'function') return { error: `${ORT_PACKAGE} loaded but has no InferenceSession or Tensor (not onnxruntime-node?)` };
  return { ort, version: version ?? ort.env?.versions?.node ?? 'unknown version' };
}

/**
 * onnxruntime-node by import() (remembered). `specifier` other than the package's is for tests of the
 * refusal (e.g. a name that does not exist): such a load is not remembered.
 */
export async function loadOrt(specifier: string = ORT_PACKAGE): Promise<OrtLoad> {
  if (specifier === ORT_PACKAGE && loaded) return loaded;
  let result: OrtLoad;
  try {
    result = loadedFrom(await import(/* @vite-ignore */ [specifier].join('')));
  } catch (e) {
    result = failure(e, specifier);
  }
  if (specifier === ORT_PACKAGE) loaded = result;
  return result;
}

/** onnxruntime-node through `require` (synchronous; remembered): the workbench's loader. */
export function loadOrtWith(require: (id: string) => unknown, install?: string): OrtLoad {
  if (loaded) return loaded;
  try {
    const version = (require(`${ORT_PACKAGE}/package.json`) as { version: string }).version;
    loaded = loadedFrom(require(ORT_PACKAGE), version);
  } catch (e) {
    loaded = failure(e, ORT_PACKAGE, install);
  }
  return loaded;
}

/** The module, once a loader has loaded it (ortSession loads it first), else an error naming why. */
function ortModule(): { ort: Ort; version: string } {
  if (!loaded) throw new Error(`${ORT_PACKAGE} is not loaded yet; call loadOrt() first.`);
  if ('error' in loaded) throw new Error(loaded.error);
  return loaded;
}

/** How rows and engines name onnxruntime-node at `threads` threads, e.g. "onnxruntime-node 1.31.1 (1 thread)". */
export function ortDescription(threads: number): string {
  const ort = loaded;
  return `${ORT_PACKAGE} ${!ort || 'error' in ort ? '(not loaded)' : ort.version} (${threads} thread${threads === 1 ? '' : 's'})`;
}

/** A session on an ONNX model, single-threaded by default, without idle spinning (a shared machine). */
export async function ortSession(model: Uint8Array, threads = 1): Promise<OrtSession> {
  if (!loaded) await loadOrt();
  return ortModule().ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
}

/**
 * A float32 tensor. onnxruntime-node refuses views of a SharedArrayBuffer ("Invalid argument"), which is
 * how the workbench holds large matrices for its worker threads: those are copied (this view only), into
 * `scratch.buf` when given (grown as needed and kept, so a loop over chunks copies into one buffer; the
 * tensor is valid until the next f32 with the same scratch), else into a new array.
 */
export function f32(data: Float32Array, dims: readonly number[], scratch?: { buf?: Float32Array }): OrtTensor {
  return new (ortModule().ort.Tensor)('float32', ownedView(data, scratch), dims);
}

/** `data` where it is on an ordinary ArrayBuffer, else a copy (in `scratch.buf` when given): what f32 hands onnxruntime. */
export function ownedView(data: Float32Array, scratch?: { buf?: Float32Array }): Float32Array {
  if (typeof SharedArrayBuffer === 'undefined' || !(data.buffer instanceof SharedArrayBuffer)) return data;
  if (!scratch) return data.slice();
  if (!scratch.buf || scratch.buf.length < data.length) scratch.buf = new Float32Array(data.length);
  const out = scratch.buf.subarray(0, data.length);
  out.set(data);
  return out;
}
