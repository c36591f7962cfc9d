/**
 * The classifier plugin API. A plugin is one file exporting `defineClassifier({...})`.
 * Parameters are a zod object schema: defaults and validation live there, never in constructors.
 */
import { z } from 'zod';
import type { Matrix } from '../engine/matrix.ts';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

/** Progress of a long fit (epochs, trees). The harness draws it; plugins only report. */
export interface Progress {
  /** Announces the number of steps (epochs, trees, …) and what a step is called. */
  start(total: number, unit: string): void;
  /** One step done; `info` is shown beside the bar (e.g. loss, val accuracy). */
  tick(info?: Record<string, string | number>): void;
}

export interface ClassifierContext {
  /** Seed for everything random in this run. Same seed, same data → same predictions. */
  seed: number;
  log: Logger;
  /** Height × width of each row when the plugin takes images (input: 'image'). */
  imageShape?: readonly [number, number];
}

export interface FitOptions {
  progress?: Progress;
  /** A validation part carved from train (for early stopping); never the test set. */
  validation?: { x: Matrix; y: Int32Array };
}

/**
 * A fitted model: what `Estimator.fit` returns and `plugin.load` rebuilds. Score columns follow
 * `classes` (ascending labels). Made with `defineModel`, which does the bookkeeping every model needs.
 */
export interface Model {
  /** The labels the model can predict, ascending; score columns follow this order. */
  readonly classes: Int32Array;
  /** Values in each input row (features, or h×w for image models). */
  readonly inputSize: number;
  predict(x: Matrix): Promise<Int32Array>;
  /** Per-class scores, rows × classes; the plugin's `scoreKind` says what they are. */
  scores?(x: Matrix): Promise<Matrix>;
  /** The model as bytes; `plugin.load` reverses it. Without it the run has no bundle. */
  serialize?(): Promise<Uint8Array>;
  /** Which engine does the numeric work, e.g. "tfjs-wasm 4.22.0 (SIMD, 1 thread)" or "js". */
  engine(): string;
  /** Frees what the model holds (wasm memory, tensors, worker threads). Safe to call twice. */
  dispose(): void;
}

/** A classifier with its params bound, ready to learn. Holds nothing until fit returns a model. */
export interface Estimator {
  fit(x: Matrix, y: Int32Array, options?: FitOptions): Promise<Model>;
}

export type ParamsSchema<P> = z.ZodType<P, any>;

export interface ClassifierPlugin<P = any> {
  name: string;
  summary: string;
  /** 'vector': gets the shared pipeline's output; 'image': gets scaled h×w images (one row each). */
  input: 'vector' | 'image';
  /** The npm package (and version range) the plugin wraps, e.g. "ml-knn 3.0.0 (patched)". */
  library: string;
  /** Defaults, validation and `.describe()` texts (shown by `digitbench list`) in one place. */
  params: ParamsSchema<P>;
  /** What `Model.scores` returns, e.g. "posterior probabilities" or "vote fractions". */
  scoreKind?: string;
  /** Small, fast settings used by the contract suite. */
  testParams?: Partial<P>;
  create(params: P, ctx: ClassifierContext): Estimator;
  /** Rebuilds a fitted model from `serialize()` bytes (required of built-ins). */
  load?(bytes: Uint8Array, params: P, ctx: ClassifierContext): Promise<Model>;
}

/** What a plugin gives `defineModel`: its fitted state and the functions that use it. */
export interface ModelDefinition<S> {
  classes: Int32Array;
  inputSize: number;
  state: S;
  predict(state: S, x: Matrix): Int32Array | Promise<Int32Array>;
  scores?(state: S, x: Matrix): Matrix | Promise<Matrix>;
  serialize?(state: S): Uint8Array | Promise<Uint8Array>;
  engine(state: S): string;
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
    async serialize() {
      const s = live('serialize');
      return def.serialize!(s);
    },
    engine() {
      return state === undefined ? 'disposed' : def.engine(state);
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
  return z.number().int().positive().max(64).nullable().default(null).describe(description);
}

/** The checks every fit starts with: one label per row, some data, finite values. */
export function checkTrainingData(x: Matrix, y: Int32Array, who: string): void {
  if (x.rows !== y.length) throw new Error(`${who}: fit got ${x.rows} rows but ${y.length} labels; pass one label per row.`);
  if (x.rows === 0 || x.cols === 0) throw new Error(`${who}: fit got no training data; pass at least one row with at least one feature.`);
  checkFinite(x, who, 'the training data');
}

/** The distinct labels of y, ascending, and each row's index into them. */
export function labelIndex(y: Int32Array): { classes: Int32Array; index: Int32Array } {
  const classes = Int32Array.from(new Set(y)).sort();
  const index = new Int32Array(y.length);
  const lo = classes[0] ?? 0;
  const span = (classes[classes.length - 1] ?? 0) - lo + 1;
  if (span <= 65536) {
    // Small label range (digits): a lookup table instead of a Map per row.
    const table = new Int32Array(span);
    classes.forEach((c, i) => (table[c - lo] = i));
    for (let i = 0; i < y.length; i++) index[i] = table[y[i]! - lo]!;
  } else {
    const pos = new Map<number, number>();
    classes.forEach((c, i) => pos.set(c, i));
    for (let i = 0; i < y.length; i++) index[i] = pos.get(y[i]!)!;
  }
  return { classes, index };
}

const definitionSchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9-]*$/, 'use lowercase letters, digits and dashes'),
  summary: z.string().min(1),
  input: z.enum(['vector', 'image']),
  library: z.string().min(1),
  scoreKind: z.string().min(1).optional(),
  params: z.custom<z.ZodType>((v) => v instanceof z.ZodType, 'must be a zod schema'),
  testParams: z.record(z.string(), z.unknown()).optional(),
  create: z.custom<(...args: unknown[]) => unknown>((v) => typeof v === 'function', 'must be a function'),
  load: z.custom<(...args: unknown[]) => unknown>((v) => typeof v === 'function', 'must be a function').optional(),
});

/** Checks a plugin definition's shape and returns it typed. */
export function defineClassifier<P>(def: ClassifierPlugin<P>): ClassifierPlugin<P> {
  const r = definitionSchema.safeParse(def);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const who = typeof (def as { name?: unknown }).name === 'string' ? `"${(def as { name: string }).name}"` : '(unnamed)';
    throw new Error(`Classifier plugin ${who} is invalid: ${issue.path.join('.') || 'definition'}: ${issue.message}.`);
  }
  return def;
}

/**
 * The plugin a plugin file's module exports: its default export, or its only named plugin export.
 * `file` names the file in the error. Shared by the Node registry and the browser build's.
 */
export function pluginFromModule(mod: Record<string, unknown>, file: string): ClassifierPlugin {
  const candidates = Object.values(mod).filter(
    (v): v is ClassifierPlugin => !!v && typeof v === 'object' && 'create' in v && 'params' in v && 'name' in v,
  );
  const plugin = (mod.default as ClassifierPlugin | undefined) ?? (candidates.length === 1 ? candidates[0] : undefined);
  if (!plugin) throw new Error(`Plugin file ${file} must export one classifier made with defineClassifier(...) (found ${candidates.length}).`);
  return defineClassifier(plugin);
}

/** Validates raw params against the plugin's schema; the error names the plugin and the field. */
export function parseParams<P>(plugin: ClassifierPlugin<P>, raw: unknown): P {
  const r = plugin.params.safeParse(raw ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = issue.path.length ? issue.path.join('.') : 'params';
  throw new Error(`Invalid params for classifier "${plugin.name}": ${field}: ${issue.message}.`);
}

/**
 * Reads JSON model bytes written by a plugin's serialize() and checks them against its schema;
 * `what` names the model in the error, e.g. "a digitbench libsvm model".
 */
export function parseSavedJson<T>(bytes: Uint8Array, schema: z.ZodType<T>, plugin: string, what: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new Error(`${plugin}: the saved model is not valid JSON; pass the bytes that serialize() returned.`);
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new Error(`${plugin}: the saved model is not ${what} (${issue.path.join('.') || 'root'}: ${issue.message}); pass the bytes that serialize() returned.`);
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
