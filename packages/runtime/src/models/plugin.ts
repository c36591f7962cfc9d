/**
 * What a model plugin gives the runtime: how to rebuild a fitted model from a bundle's bytes (`load`),
 * its params schema, and what it declares about itself. The workbench's classifier plugins
 * (`defineClassifier` in digitbench) add fitting (`create`) to the same object, so a plugin is defined
 * once. `defineModel` does the bookkeeping every fitted model needs.
 *
 * Schemas are zod 4 schemas of any flavour (zod/mini here, classic zod in a plugin author's file): both
 * are `z.core.$ZodType`, checked with zod/mini's `safeParse`.
 */
import * as z from 'zod/mini';
import type { Matrix } from '../engine/matrix.ts';
import { firstIssue, safeParse } from '../schema.ts';
import type { Precision, SerializeOptions } from './compact.ts';
import type { GaussianScores } from '../engine/ort-linear.ts';
import type { RbfProducts } from '../engine/ort-svm.ts';
import type { ChunkMinima } from '../engine/ort-minima.ts';
import type { LayersLike } from '../engine/ort-cnn-forward.ts';
import type { TypedModel } from './naive-bayes.ts';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

/** What `load` (and the workbench's `create`) get besides params. */
export interface ClassifierContext {
  /** Seed for everything random in this run. Same seed, same data → same predictions. */
  seed: number;
  log: Logger;
  /** Height × width of each row when the plugin takes images (input: 'image'). */
  imageShape?: readonly [number, number];
  /**
   * The native engine (onnxruntime-node) when the model should predict on it: given by Node's loadModel
   * with engine 'ort' (the default where it loads), never in a web page. Absent: plain JS / tfjs.
   */
  native?: NativeEngine;
}

/** What a built-in's ort path uses (packages/runtime/src/engine/ort-*.ts), passed in so models never import it. */
export interface NativeEngine {
  /** e.g. "onnxruntime-node 1.31.1 (1 thread)". */
  description(threads: number): string;
  /** Threads each session's operators use. */
  readonly threads: number;
  /** Gaussian NB's float32 log joint products with their rounding bounds (engine/ort-linear.ts). */
  gaussianScores(t: TypedModel, threads: number): Promise<GaussianScores>;
  /** An rbf SVM's float32 kernel products exp(xa·st)·w (engine/ort-svm.ts). */
  rbfProducts(st: Float32Array, e: number, l: number, w: Float32Array, cols: number, threads: number): Promise<RbfProducts>;
  /** k-NN's product qa·xaT reduced to chunk minima (engine/ort-minima.ts). */
  chunkMinima(xaT: Float32Array, w: number, chunks: number, chunk: number, threads: number): Promise<ChunkMinima>;
  /**
   * A CNN's forward pass (engine/ort-cnn-forward.ts) from a tfjs Sequential model's layers and weights (tfjs
   * layout, getWeights order): softmax probabilities of `rows` images. Rejects, in one line, layers it has no
   * graph for (the caller keeps tfjs then).
   */
  cnnForward?(model: LayersLike, imageShape: readonly [number, number], weights: readonly Float32Array[], threads: number): Promise<CnnForward>;
}

/** A CNN forward session: probabilities (rows × classes) of `rows` images of `x`. */
export interface CnnForward {
  probabilities(x: Float32Array, rows: number): Promise<Float32Array>;
  dispose(): void;
}

/** Where a model's numeric work ran: an engine name and the threads it kept busy. */
export interface ModelRuntime {
  /** e.g. "js", "tfjs-wasm 4.22.0 (SIMD)". */
  engine: string;
  /** Threads predict keeps busy (1 for plain JS on the calling thread). */
  threads: number;
  /** Threads the fit kept busy (worker threads included), for a model fitted in this process; absent for a loaded one. */
  fitThreads?: number;
}

/**
 * A fitted model: what the workbench's `Estimator.fit` returns and `plugin.load` rebuilds. Score columns
 * follow `classes` (ascending labels). Made with `defineModel`.
 */
export interface Model {
  /** The labels the model can predict, ascending; score columns follow this order. */
  readonly classes: Int32Array;
  /** Values in each input row (features, or h×w for image models). */
  readonly inputSize: number;
  predict(x: Matrix): Promise<Int32Array>;
  /** Per-class scores, rows × classes; the plugin's `scoreKind` says what they are. */
  scores?(x: Matrix): Promise<Matrix>;
  /** Labels and scores in one pass, where they share work (e.g. a k-NN search); equal to predict's and scores'. */
  predictWithScores?(x: Matrix): Promise<{ labels: Int32Array; scores: Matrix }>;
  /**
   * The model as bytes; `plugin.load` reverses it. Without it the run has no bundle. `precision` (one of
   * the plugin's `precisions`) stores the large arrays compactly; the default is the exact format.
   */
  serialize?(options?: SerializeOptions): Promise<Uint8Array>;
  /** Which engine does the numeric work, e.g. "tfjs-wasm 4.22.0 (SIMD, 1 thread)" or "js". */
  engine(): string;
  /** The engine and the threads it used (for result rows); defaults to engine() on 1 thread. */
  runtime?(): ModelRuntime;
  /** Frees what the model holds (wasm memory, tensors, worker threads). Safe to call twice. */
  dispose(): void;
}

/** A zod 4 schema (zod/mini or classic) for a plugin's params. */
export type ParamsSchema<P> = z.ZodMiniType<P, any> | z.core.$ZodType<P, any>;

/** A wasm file a plugin's predict needs in a web page: served at `<wasm base>/<file>`. */
export interface BrowserAsset {
  /** The npm package that ships it. */
  package: string;
  /** Its path inside that package. */
  path: string;
  /** The file name the page fetches. */
  file: string;
}

/** A plugin as the runtime sees it: enough to rebuild and run a fitted model from a bundle. */
export interface ModelPlugin<P = any> {
  name: string;
  summary: string;
  /** 'vector': gets the bundle pipeline's output; 'image': gets scaled h×w images (one row each). */
  input: 'vector' | 'image';
  /** Defaults, validation and descriptions (shown by `digitbench list`) in one place. */
  params: ParamsSchema<P>;
  /** What `Model.scores` returns, e.g. "posterior probabilities" or "vote fractions". */
  scoreKind?: string;
  /** npm packages (name and version) that load and predict use; [] when the code is all ours. */
  libraries?: readonly string[];
  /** wasm files predict needs in a web page. */
  browserAssets?: readonly BrowserAsset[];
  /**
   * The compact precisions `serialize({ precision })` can write besides the exact format (float32):
   * e.g. ['float16', 'int8']. `load` reads them all back.
   */
  precisions?: readonly Precision[];
  /** Rebuilds a fitted model from `serialize()` bytes. */
  load?(bytes: Uint8Array, params: P, ctx: ClassifierContext): Promise<Model>;
}

/** What a plugin gives `defineModel`: its fitted state and the functions that use it. */
export interface ModelDefinition<S> {
  classes: Int32Array;
  inputSize: number;
  state: S;
  predict(state: S, x: Matrix): Int32Array | Promise<Int32Array>;
  scores?(state: S, x: Matrix): Matrix | Promise<Matrix>;
  /** Labels and scores in one pass (needs `scores`): what predict and scores give, for the cost of one. */
  predictWithScores?(state: S, x: Matrix): { labels: Int32Array; scores: Matrix } | Promise<{ labels: Int32Array; scores: Matrix }>;
  serialize?(state: S, options: SerializeOptions): Uint8Array | Promise<Uint8Array>;
  engine(state: S): string;
  /** The engine and threads used (default: engine(state) on 1 thread). */
  runtime?(state: S): ModelRuntime;
  /** Releases wasm memory, tensors or worker threads; called once, by the first dispose(). */
  free?(state: S): void;
  /** How to name the input width in errors: "features" (default) or e.g. "pixels (one 28×28 image per row)". */
  inputName?: string;
  /** Reject NaN and ±Infinity in inputs (default true). */
  checkFinite?: boolean;
}

/**
 * A Model from a plugin's fitted state, with the bookkeeping written once for every plugin: predict,
 * scores and serialize refuse after dispose, inputs of the wrong width or with non-finite values are
 * rejected with an error naming the plugin, empty inputs give empty outputs, and dispose frees once.
 */
export function defineModel<S>(who: string, def: ModelDefinition<S>): Model {
  let state: S | undefined = def.state;
  const nClasses = def.classes.length;
  const live = (what: string): S => {
    if (state === undefined) throw new Error(`${who}: this model was disposed; fit or load a new one to ${what}.`);
    return state;
  };
  const input = (x: Matrix, what: string): S => {
    const s = live(what);
    if (x.cols !== def.inputSize) {
      const unit = def.inputName ?? 'features';
      throw new Error(`${who}: the model was trained on ${def.inputSize} ${unit} but got rows of ${x.cols}; use the same feature pipeline for fit and predict.`);
    }
    if (def.checkFinite !== false) checkFinite(x, who, `the input to ${what}`);
    return s;
  };
  const model: Model = {
    classes: def.classes,
    inputSize: def.inputSize,
    async predict(x) {
      const s = input(x, 'predict');
      return x.rows === 0 ? new Int32Array(0) : def.predict(s, x);
    },
    async serialize(options = {}) {
      const s = live('serialize');
      return def.serialize!(s, options);
    },
    engine() {
      return state === undefined ? 'disposed' : def.engine(state);
    },
    runtime() {
      if (state === undefined) return { engine: 'disposed', threads: 0 };
      return def.runtime ? def.runtime(state) : { engine: def.engine(state), threads: 1 };
    },
    dispose() {
      const s = state;
      state = undefined;
      if (s !== undefined) def.free?.(s);
    },
  };
  if (!def.serialize) delete (model as { serialize?: unknown }).serialize;
  if (def.scores) {
    const scores = def.scores;
    model.scores = async (x) => {
      const s = input(x, 'score');
      return x.rows === 0 ? { rows: 0, cols: nClasses, data: new Float32Array(0) } : scores(s, x);
    };
    if (def.predictWithScores) {
      const both = def.predictWithScores;
      model.predictWithScores = async (x) => {
        const s = input(x, 'predict');
        return x.rows === 0 ? { labels: new Int32Array(0), scores: { rows: 0, cols: nClasses, data: new Float32Array(0) } } : both(s, x);
      };
    }
  }
  return model;
}

/**
 * A private, aligned copy of bytes[start, end). Not `bytes.slice()`: on a Node Buffer (what readFile
 * gives) slice is a view into a shared pool, so typed arrays over its `.buffer` would read other bytes.
 */
export function ownBytes(bytes: Uint8Array, start = 0, end = bytes.length): Uint8Array {
  const out = new Uint8Array(end - start);
  out.set(bytes.subarray(start, end));
  return out;
}

/** A `threads` parameter: a count of worker threads (1–64), or null for the plugin's own choice. */
export function threadsParam(description: string) {
  return z._default(z.nullable(z.number().check(z.int(), z.positive(), z.maximum(64))), null).register(z.globalRegistry, { description });
}

/** Validates raw params against the plugin's schema; the error names the plugin and the field. */
export function parseParams<P>(plugin: Pick<ModelPlugin<P>, 'name' | 'params'>, raw: unknown): P {
  const r = safeParse(plugin.params as z.core.$ZodType<P>, raw ?? {});
  if (r.success) return r.data;
  throw new Error(`Invalid params for classifier "${plugin.name}": ${firstIssue(r.error, 'params')}.`);
}

/**
 * Reads JSON model bytes written by a plugin's serialize() and checks them against its schema;
 * `what` names the model in the error, e.g. "a digitbench libsvm model".
 */
export function parseSavedJson<T>(bytes: Uint8Array, schema: z.core.$ZodType<T>, plugin: string, what: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new Error(`${plugin}: the saved model is not valid JSON; pass the bytes that serialize() returned.`);
  }
  const r = safeParse(schema, raw);
  if (!r.success) {
    throw new Error(`${plugin}: the saved model is not ${what} (${firstIssue(r.error, 'root')}); pass the bytes that serialize() returned.`);
  }
  return r.data;
}

/** Rejects NaN and ±Infinity in a plugin's input, naming the row and column. */
export function checkFinite(x: Matrix, plugin: string, where: string): void {
  const d = x.data;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i]!)) {
      throw new Error(
        `${plugin}: ${where} has a non-finite value (${d[i]}) at row ${Math.floor(i / x.cols)}, column ${i % x.cols}; clean or impute the features first.`,
      );
    }
  }
}

/** Checks the platform is little-endian (saved models store typed arrays as little-endian bytes). */
export function checkLittleEndian(who: string): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new Error(`${who}: saved models are little-endian and this machine is big-endian; save and load on a little-endian machine.`);
  }
}
