/**
 * The built-in classifiers for a web page: the same plugin modules as registry.ts, each loaded on first
 * use (the browser build puts each in its own chunk, so a page downloads only the plugins its bundles
 * name). Plugin files are added by the browser build (src/serve/build.ts): only those the user passed
 * to `serve` / `browser-bench` with --plugin, keyed by their plugin's name.
 */
import { pluginFromModule, type ClassifierPlugin } from './plugin.ts';

export const builtinLoaders: Readonly<Record<string, () => Promise<ClassifierPlugin>>> = {
  knn: () => import('./knn.ts').then((m) => m.knn),
  svm: () => import('./svm.ts').then((m) => m.svm),
  'naive-bayes': () => import('./naive-bayes.ts').then((m) => m.naiveBayes),
  'decision-tree': () => import('./decision-tree.ts').then((m) => m.decisionTree),
  'random-forest': () => import('./random-forest.ts').then((m) => m.randomForest),
  cnn: () => import('./cnn.ts').then((m) => m.cnn),
};

/** Finds a plugin by name: a built-in, or a plugin file the build included (`files`: plugin name → loader). */
export function browserResolver(files: Readonly<Record<string, () => Promise<unknown>>>): (name: string) => Promise<ClassifierPlugin> {
  return async (name) => {
    if (Object.hasOwn(builtinLoaders, name)) return builtinLoaders[name]!();
    if (!Object.hasOwn(files, name)) throw new Error(`the plugin "${name}" is not built in; pass its file with --plugin <file>`);
    return pluginFromModule((await files[name]!()) as Record<string, unknown>, name);
  };
}
