/**
 * The built-in classifiers for a web page: the same plugin modules as registry.ts, each loaded on first
 * use (the browser build puts each in its own chunk, so a page downloads only the plugins its bundles
 * name). Plugin files named by path are added by the browser build (src/serve/build.ts), which knows
 * which files the experiment's bundles name.
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

/** Finds a plugin by built-in name, or by a plugin file the build included (`files`: ref → loader). */
export function browserResolver(files: Readonly<Record<string, () => Promise<unknown>>>): (ref: string) => Promise<ClassifierPlugin> {
  return async (ref) => {
    const builtin = builtinLoaders[ref];
    if (builtin) return builtin();
    const file = files[ref];
    if (!file) throw new Error(`the plugin "${ref}" is not part of this page's build`);
    return pluginFromModule((await file()) as Record<string, unknown>, ref);
  };
}
