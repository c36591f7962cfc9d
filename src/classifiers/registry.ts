/**
 * The built-in classifiers, listed explicitly (no registration by import side effect), and the
 * resolution of a plugin named by path in an experiment.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cnn } from './cnn.ts';
import { decisionTree } from './decision-tree.ts';
import { knn } from './knn.ts';
import { naiveBayes } from './naive-bayes.ts';
import { randomForest } from './random-forest.ts';
import { pluginFromModule, type ClassifierPlugin } from './plugin.ts';
import { svm } from './svm.ts';

export const builtins: readonly ClassifierPlugin[] = [knn, svm, naiveBayes, decisionTree, randomForest, cnn];

export function builtinNames(): string[] {
  return builtins.map((p) => p.name);
}

export function isPluginPath(ref: string): boolean {
  return ref.startsWith('.') || ref.startsWith('/') || /\.[cm]?[jt]s$/.test(ref);
}

/**
 * A built-in by name, or a plugin file by path (relative to `baseDir`). A plugin file exports one
 * `defineClassifier(...)` result, as its default export or as its only named plugin export.
 */
export async function resolvePlugin(ref: string, baseDir = process.cwd()): Promise<ClassifierPlugin> {
  if (!isPluginPath(ref)) {
    const found = builtins.find((p) => p.name === ref);
    if (!found) throw new Error(`Unknown classifier "${ref}"; use one of ${builtinNames().join(', ')} or a plugin file path like ./my-plugin.ts.`);
    return found;
  }
  const file = isAbsolute(ref) ? ref : resolve(baseDir, ref);
  if (!existsSync(file)) throw new Error(`Plugin file ${file} not found; check the path (relative paths start from ${baseDir}).`);
  return pluginFromModule((await import(pathToFileURL(file).href)) as Record<string, unknown>, file);
}
