/**
 * The classifier plugin API. A plugin is one file exporting `defineClassifier({...})`.
 * Parameters are a zod object schema: defaults and validation live there, never in constructors.
 */
// Type only: this module is in the browser page's build, which must not load the Node engine module.
import type { EngineLibraries } from '../engine/ort.ts';
import { z } from 'zod';
import { checkFinite, type ClassifierContext, type Model, type ModelPlugin } from '@digitbench/runtime/internal/web';
import type { Matrix } from '@digitbench/runtime/internal/web';

export {
  checkFinite,
  defineModel,
  ownBytes,
  parseParams,
  parseSavedJson,
  threadsParam,
  type ClassifierContext,
  type Logger,
  type Model,
  type ModelDefinition,
  type ModelPlugin,
  type ModelRuntime,
  type ParamsSchema,
} from '@digitbench/runtime/internal/web';

/** Progress of a long fit (epochs, trees). The harness draws it; plugins only report. */
export interface Progress {
  /** Announces the number of steps (epochs, trees, …) and what a step is called. */
  start(total: number, unit: string): void;
  /** One step done; `info` is shown beside the bar (e.g. loss, val accuracy). */
  tick(info?: Record<string, string | number>): void;
}

export interface FitOptions {
  progress?: Progress;
  /** A validation part carved from train (for early stopping); never the test set. */
  validation?: { x: Matrix; y: Int32Array };
}

/** A classifier with its params bound, ready to learn. Holds nothing until fit returns a model. */
export interface Estimator {
  fit(x: Matrix, y: Int32Array, options?: FitOptions): Promise<Model>;
}

/**
 * A classifier plugin: the runtime's `ModelPlugin` (name, params, load, …) plus fitting. One object
 * serves the workbench (fit, report) and any app (`loadModel(file, { plugins: [it] })`).
 */
export interface ClassifierPlugin<P = any> extends ModelPlugin<P> {
  /** What the plugin's code is and which npm packages it uses, for the report's library column. */
  library: string;
  /**
   * npm packages (name and version, e.g. "libsvm-js 0.2.1") that fitting uses besides `libraries` (what load
   * and predict use). With `libraries` and the run's feature steps' own, these are the packages whose
   * installed versions enter a run's id and its row's environment; no other package does.
   */
  fitLibraries?: readonly string[];
  /** npm packages used on one engine only (e.g. tfjs on wasm, onnxruntime-node on ort): only the run's engine's enter its id and environment. */
  engineLibraries?: EngineLibraries;
  /** Which of those packages (names) carry a patch in patches/: the patch enters run ids, the version reads "(patched)". */
  patched?: readonly string[];
  /** Small, fast settings used by the contract suite. */
  testParams?: Partial<P>;
  create(params: P, ctx: ClassifierContext): Estimator;
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

/** A declared npm package: "name version" (or a bare name). */
const libraryEntry = z.string().regex(/^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*( [^\s]+)?$/i, 'use "name version", e.g. "ml-knn 3.0.0"');

const definitionSchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9-]*$/, 'use lowercase letters, digits and dashes'),
  summary: z.string().min(1),
  input: z.enum(['vector', 'image']),
  library: z.string().min(1),
  scoreKind: z.string().min(1).optional(),
  params: z.custom<z.core.$ZodType>((v) => !!v && typeof v === 'object' && '_zod' in v, 'must be a zod schema'),
  libraries: z.array(libraryEntry).optional(),
  fitLibraries: z.array(libraryEntry).optional(),
  engineLibraries: z.object({ ort: z.array(libraryEntry).optional(), wasm: z.array(libraryEntry).optional() }).strict().optional(),
  patched: z.array(z.string()).optional(),
  browserAssets: z.array(z.object({ package: z.string(), path: z.string(), file: z.string() })).optional(),
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
  const declared = new Set([...(def.libraries ?? []), ...(def.fitLibraries ?? []), ...(def.engineLibraries?.ort ?? []), ...(def.engineLibraries?.wasm ?? [])].map((l) => l.split(' ')[0]));
  const stray = (def.patched ?? []).find((p) => !declared.has(p));
  if (stray !== undefined) throw new Error(`Classifier plugin "${def.name}" is invalid: patched: "${stray}" is not among its libraries, fitLibraries or engineLibraries.`);
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
