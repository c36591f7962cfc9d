/**
 * The built-in model plugins: the one list of them. Each is imported on first use, so a web build
 * splits each into its own chunk and a page downloads only the plugins its bundles name. The CNN is
 * not imported from here: it needs TensorFlow.js (an optional peer), so no build that never names
 * `@digitbench/runtime/cnn` should have to resolve tfjs. Its loader is given by the entry: Node imports
 * the subpath by a computed specifier (index.ts), a page passes `cnnPlugin()` itself (browser.ts).
 */
import type { ModelPlugin } from './plugin.ts';

/** Built-ins that predict in plain JavaScript. */
export const jsModels: Readonly<Record<string, () => Promise<ModelPlugin>>> = {
  knn: () => import('./knn.ts').then((m) => m.knnModel),
  svm: () => import('./svm.ts').then((m) => m.svmModel),
  'naive-bayes': () => import('./naive-bayes.ts').then((m) => m.naiveBayesModel),
  'decision-tree': () => import('./decision-tree.ts').then((m) => m.decisionTreeModel),
  'random-forest': () => import('./random-forest.ts').then((m) => m.randomForestModel),
};

/** The name of every built-in plugin, the CNN included. */
export const BUILTIN_MODELS: readonly string[] = [...Object.keys(jsModels), 'cnn'];

/**
 * Maps a bundle's `plugin.name` to a plugin the caller already has (never a path; nothing the bundle
 * names is imported). It returns a plugin of that name, or throws (`UnknownPluginError` when it has none
 * by that name).
 */
export type PluginResolver = (name: string) => Promise<ModelPlugin>;

/** A resolver's "no plugin by that name" error; its message continues "<file>: " as it is. */
export class UnknownPluginError extends Error {}

/**
 * The resolver for a bundle's plugin name: the passed plugins first (the caller's own code), then the
 * built-ins (`cnn` from `loadCnn`). Any other name is an `UnknownPluginError`.
 */
export function builtinResolver(plugins: readonly ModelPlugin[], loadCnn: () => Promise<ModelPlugin>, hint: string): PluginResolver {
  return async (name) => {
    const passed = plugins.find((p) => p.name === name);
    if (passed) return passed;
    if (Object.hasOwn(jsModels, name)) return jsModels[name]!();
    if (name === 'cnn') return loadCnn();
    throw new UnknownPluginError(`its plugin "${name}" is not built in; ${hint}`);
  };
}
