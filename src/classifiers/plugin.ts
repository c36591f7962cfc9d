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

export interface Classifier {
  fit(x: Matrix, y: Int32Array, options?: FitOptions): Promise<void>;
  predict(x: Matrix): Promise<Int32Array>;
  /** Per-class scores or probabilities, rows × classes (columns in ascending label order). */
  scores?(x: Matrix): Promise<Matrix>;
  /** The trained model as bytes; model size = its length. `plugin.load` reverses it. */
  serialize?(): Promise<Uint8Array>;
  /** Which engine did the numeric work, e.g. "tfjs-wasm 4.22.0 (SIMD, 1 thread)" or "js". */
  engine(): string;
  /** Frees wasm memory and tensors. Safe to call twice. */
  dispose(): void;
}

export type ParamsSchema<P> = z.ZodType<P, any>;

export interface ClassifierPlugin<P = any> {
  name: string;
  summary: string;
  /** 'vector': gets the shared pipeline's output; 'image': gets scaled h×w images (one row each). */
  input: 'vector' | 'image';
  /** The npm package (and version range) the plugin wraps, e.g. "ml-knn 3.0.0 (patched)". */
  library: string;
  params: ParamsSchema<P>;
  /** Small, fast settings used by the contract suite. */
  testParams?: Partial<P>;
  create(params: P, ctx: ClassifierContext): Classifier;
  /** Rebuilds a trained classifier from `serialize()` bytes. */
  load?(bytes: Uint8Array, params: P, ctx: ClassifierContext): Promise<Classifier>;
}

const definitionSchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9-]*$/, 'use lowercase letters, digits and dashes'),
  summary: z.string().min(1),
  input: z.enum(['vector', 'image']),
  library: z.string().min(1),
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
