/**
 * The built-in classifiers, listed explicitly (no registration by import side effect), the resolution
 * of a plugin named by path in an experiment (trusted: the user's own config), and the resolver that
 * maps a bundle's plugin name to a plugin the caller already has (a bundle is data: never a path).
 */
import { existsSync, statSync } from 'node:fs';
import { register } from 'node:module';
import { extname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UnknownPluginError, type PluginResolver } from '@digitbench/runtime/internal';
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

/** The query that marks a plugin file's URL, so the hook below loads it as an ES module. */
const PLUGIN_QUERY = 'digitbench-plugin';

/**
 * A module-resolution hook: a plugin file (.ts or .js) is an ES module wherever it lives. Without it,
 * a .ts plugin in a folder with no package.json "type": "module" (e.g. /tmp) is CommonJS to Node and
 * tsx: under the CLI's ESM-only tsx hooks Node then re-enters the ESM loader for the same file and
 * fails ("Cannot require() ES Module … in a cycle"); under `--import tsx` it is compiled to CommonJS,
 * where top-level await and `import … from 'digitbench'` (whose entry uses top-level await) fail.
 * Only the marked URL changes format; what the plugin imports resolves as Node and tsx decide.
 */
const HOOK = `export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  return /\\.(ts|js)\\?${PLUGIN_QUERY}$/.test(r.url) ? { ...r, format: 'module' } : r;
}`;
let hooked = false;

/**
 * Imports a plugin file (the user's own code) as an ES module, wherever it lives: .ts and .js files are
 * marked for the hook above; .mts and .mjs are ES modules anyway.
 */
export async function importPluginFile(file: string): Promise<Record<string, unknown>> {
  const ext = extname(file);
  if (ext === '.ts' || ext === '.js') {
    if (!hooked) {
      register(`data:text/javascript,${encodeURIComponent(HOOK)}`);
      hooked = true;
    }
    return (await import(`${pathToFileURL(file).href}?${PLUGIN_QUERY}`)) as Record<string, unknown>;
  }
  return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
}

/**
 * A built-in by name, or a plugin file by path (relative to `baseDir`), from an experiment file or the
 * command line: the user's own code, named by them. A plugin file exports one `defineClassifier(...)`
 * result, as its default export or as its only named plugin export. Never give it a bundle's contents.
 */
export async function resolvePlugin(ref: string, baseDir = process.cwd()): Promise<ClassifierPlugin> {
  if (!isPluginPath(ref)) {
    const found = builtins.find((p) => p.name === ref);
    if (!found) throw new Error(`Unknown classifier "${ref}"; use one of ${builtinNames().join(', ')} or a plugin file path like ./my-plugin.ts.`);
    return found;
  }
  const file = isAbsolute(ref) ? ref : resolve(baseDir, ref);
  if (!existsSync(file)) throw new Error(`Plugin file ${file} not found; check the path (relative paths start from ${baseDir}).`);
  return pluginFromModule(await importPluginFile(file), file);
}

/** Extensions a plugin file may have. */
export const PLUGIN_FILE_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs'] as const;
/** A plugin file larger than this is refused before it is read (a plugin is source code, not data). */
export const MAX_PLUGIN_FILE_BYTES = 10 * 1024 * 1024;

/** A plugin file the user passed, loaded: its path, and the plugin it exports. */
export interface LoadedPluginFile {
  name: string;
  file: string;
  plugin: ClassifierPlugin;
}

/**
 * Plugin files the user names explicitly (`--plugin <files…>`): the user's own code, imported as ES
 * modules wherever they are. Every refusal is one line that names --plugin and the file: a missing
 * path, a folder or other non-file, another extension, an oversized file, a module that throws or
 * exports no plugin, a built-in's name, or two files with one name.
 */
export async function loadPluginFiles(paths: readonly string[], baseDir = process.cwd()): Promise<LoadedPluginFile[]> {
  const use = `give the path to a plugin file (${PLUGIN_FILE_EXTENSIONS.join(', ')}) that exports defineClassifier(...)`;
  const out: LoadedPluginFile[] = [];
  for (const p of paths) {
    const file = resolve(baseDir, p);
    let stats;
    try {
      stats = statSync(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new Error(`--plugin: ${p}: no such file; ${use}.`);
      throw new Error(`--plugin: ${p} cannot be read (${code ?? (e as Error).message}); ${use}.`);
    }
    if (stats.isDirectory()) throw new Error(`--plugin: ${p} is a folder; ${use}.`);
    if (!stats.isFile()) throw new Error(`--plugin: ${p} is not a regular file; ${use}.`);
    if (!(PLUGIN_FILE_EXTENSIONS as readonly string[]).includes(extname(file))) throw new Error(`--plugin: ${p} is not a ${PLUGIN_FILE_EXTENSIONS.join(', ')} file; ${use}.`);
    if (stats.size > MAX_PLUGIN_FILE_BYTES) throw new Error(`--plugin: ${p} is ${(stats.size / 1e6).toFixed(1)} MB, more than a plugin file may be (${MAX_PLUGIN_FILE_BYTES / 1024 / 1024} MB); ${use}.`);
    let plugin: ClassifierPlugin;
    try {
      plugin = pluginFromModule(await importPluginFile(file), file);
    } catch (e) {
      throw new Error(`--plugin: ${p} could not be loaded as a plugin (${(e instanceof Error ? e.message : String(e)).split('\n')[0]}).`);
    }
    const { name } = plugin;
    if (builtins.some((b) => b.name === name)) throw new Error(`--plugin: ${p} defines the plugin "${name}", which is built in; give the plugin another name.`);
    const same = out.find((o) => o.name === name);
    if (same?.file === file) continue;
    if (same) throw new Error(`--plugin: ${same.file} and ${p} both define the plugin "${name}"; pass one of them.`);
    out.push({ name, file, plugin });
  }
  return out;
}

/**
 * The resolver for a bundle's plugin name: the passed plugins first (the caller's own code), then the
 * built-ins. Any other name is an `UnknownPluginError`; nothing is imported.
 */
export function pluginResolver(plugins: readonly ClassifierPlugin[] = []): PluginResolver {
  return async (name) => {
    const found = plugins.find((p) => p.name === name) ?? builtins.find((p) => p.name === name);
    if (found) return found;
    throw new UnknownPluginError(
      `its plugin "${name}" is not built in; pass it explicitly (loadModel(file, { plugins: [yourPlugin] }) or digitbench predict --plugin <file>).`,
    );
  };
}
