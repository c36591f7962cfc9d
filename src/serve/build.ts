/**
 * The browser build: the page's own code on @digitbench/runtime's browser entry (the bundle reader,
 * feature transforms and model plugins `digitbench predict` runs too), bundled for the browser with
 * esbuild, as any app would (plus the `digitbench-source` condition, which resolves the workspace
 * package to its sources). For plugin files the user passes, one thing differs from Node, here and
 * tested: a workbench module with a `.browser.ts` twin beside it is replaced by the twin
 * (engine/threads.ts: no worker threads in a page), and a Node built-in imported by the project's own code
 * is a build error that names it, unless it is a dynamic import() (which sits on a branch only Node takes).
 *
 * Plugins are split into chunks, so a page downloads only the plugins (and tfjs only where a plugin or
 * step uses it) its bundles name. The build holds the built-in plugins and the plugin files the user
 * passed (`--plugin`), keyed by plugin name; nothing a bundle names is ever bundled or imported (a
 * bundle is data). A plugin file that cannot be bundled for a browser is left out, with the bundler's
 * reason, which the page shows for that model instead of breaking.
 */
import { existsSync } from 'node:fs';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ROOT = resolve(SRC, '..');

const NODE_BUILTIN = /^(node:.*|fs|fs\/promises|path|os|url|crypto|module|worker_threads|zlib|child_process|util|stream|events|buffer|process|perf_hooks|v8|assert|http|https|net|tls|readline)$/;

export interface BuiltFile {
  bytes: Uint8Array;
  type: string;
}

/** A plugin file the user passed (`--plugin`), with the name its plugin gives itself. */
export interface PluginFile {
  /** The plugin's `name` (what bundles name it by). */
  name: string;
  /** Absolute path of the file. */
  file: string;
}

export interface PluginBuildStatus extends PluginFile {
  ok: boolean;
  /** Why it was left out of the page (the bundler's first error), when not ok. */
  reason?: string;
}

export interface BrowserBuild {
  /** URL path (e.g. "/assets/app.js") → content. */
  files: Map<string, BuiltFile>;
  /** The plugin files passed to the build, and whether each made it into the build. */
  plugins: PluginBuildStatus[];
  /** esbuild's version, for the page and the measurements. */
  bundler: string;
}

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.map': 'application/json', '.css': 'text/css; charset=utf-8' };

function browserPlugin(): esbuild.Plugin {
  return {
    name: 'digitbench-browser',
    setup(build) {
      // A project module with a .browser.ts twin: use the twin.
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        if (!args.importer.startsWith(SRC) || args.importer.endsWith('.browser.ts')) return undefined;
        const target = resolve(args.resolveDir, args.path);
        if (extname(target) !== '.ts') return undefined;
        const twin = target.slice(0, -3) + '.browser.ts';
        return existsSync(twin) ? { path: twin } : undefined;
      });
      build.onResolve({ filter: NODE_BUILTIN }, (args) => {
        // Code outside node_modules: the project's own, or a plugin file of the user's.
        const inProject = !args.importer.split(sep).includes('node_modules');
        // import('node:…') in the project's code sits on a Node-only path (e.g. svm-ovo.ts): left to run time.
        if (inProject && args.kind !== 'dynamic-import') {
          return {
            errors: [
              {
                text: `imports "${args.path}", which a browser does not have; keep Node-only code out of what bundles load, or give the module a .browser.ts twin.`,
              },
            ],
          };
        }
        // Inside a library: only on its Node code path (e.g. emscripten's `if (ENVIRONMENT_IS_NODE) require("fs")`).
        return { path: args.path, external: true };
      });
    },
  };
}

/** A virtual module mapping each plugin file's plugin name to a dynamic import of it (one chunk each). */
function pluginsModule(plugins: readonly PluginFile[]): esbuild.Plugin {
  return {
    name: 'digitbench-plugin-files',
    setup(build) {
      build.onResolve({ filter: /^digitbench:plugin-files$/ }, () => ({ path: 'plugin-files', namespace: 'digitbench' }));
      build.onLoad({ filter: /.*/, namespace: 'digitbench' }, () => ({
        contents: `export const pluginFiles = {${plugins.map((p) => `${JSON.stringify(p.name)}: () => import(${JSON.stringify(p.file)})`).join(',')}};`,
        resolveDir: ROOT,
        loader: 'js',
      }));
    },
  };
}

const ENTRIES = { app: join(SRC, 'serve/page/app.ts'), bench: join(SRC, 'serve/page/bench.ts') };

function options(plugins: readonly PluginFile[], minify: boolean): esbuild.BuildOptions {
  return {
    entryPoints: ENTRIES,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outdir: '/assets',
    entryNames: '[name]',
    chunkNames: 'chunk-[hash]',
    write: false,
    minify,
    sourcemap: false,
    metafile: false,
    logLevel: 'silent',
    // tfjs-node is an optional dependency that tf.ts imports by a computed name: it stays a runtime
    // import, which fails in a page, and tf.ts then takes the wasm backend.
    // @digitbench/runtime (a workspace package) from its sources; its browser entry, as any app gets.
    conditions: ['digitbench-source'],
    plugins: [browserPlugin(), pluginsModule(plugins)],
    define: { 'process.env.NODE_ENV': '"production"' },
  };
}

function firstError(e: unknown): string {
  const errors = (e as { errors?: esbuild.Message[] }).errors;
  const m = errors?.[0];
  if (!m) return e instanceof Error ? e.message.split('\n')[0]! : String(e);
  const where = m.location ? `${relative(ROOT, m.location.file)}:${m.location.line}: ` : '';
  return (where + m.text).replace(/\s+/g, ' ');
}

/**
 * Loads the plugin files the user passed (`--plugin`) in Node, as their own code, to learn each
 * plugin's name: registry.ts's loadPluginFiles, the same checks and one-line refusals as
 * `predict --plugin` (a missing path, a folder or other non-file, another extension, an oversized file,
 * a module that throws or exports no plugin, a built-in's name, two files with one name).
 */
export async function loadPluginFiles(paths: readonly string[], baseDir = process.cwd()): Promise<PluginFile[]> {
  if (!paths.length) return [];
  const { loadPluginFiles: load } = await import('../classifiers/registry.ts');
  return (await load(paths, baseDir)).map(({ name, file }) => ({ name, file }));
}

/**
 * Builds the page: the built-in plugins are always included; `plugins` are the user's plugin files
 * (from loadPluginFiles). A plugin file that fails to bundle is reported and left out; a failure of the
 * project's own code is an error.
 */
export async function buildBrowserApp(plugins: readonly PluginFile[] = [], { minify = true }: { minify?: boolean } = {}): Promise<BrowserBuild> {
  const status: PluginBuildStatus[] = [];
  for (const p of plugins) {
    try {
      await esbuild.build({ ...options([], false), entryPoints: [p.file], splitting: false, outdir: undefined, outfile: '/x.js' });
      status.push({ ...p, ok: true });
    } catch (e) {
      status.push({ ...p, ok: false, reason: firstError(e) });
    }
  }
  let result: esbuild.BuildResult;
  try {
    result = await esbuild.build(options(status.filter((p) => p.ok).map(({ name, file }) => ({ name, file })), minify));
  } catch (e) {
    throw new Error(`The browser build failed: ${firstError(e)}`);
  }
  const out = new Map<string, BuiltFile>();
  for (const f of result.outputFiles ?? []) {
    out.set(f.path, { bytes: f.contents, type: TYPES[extname(f.path)] ?? 'application/octet-stream' });
  }
  return { files: out, plugins: status, bundler: `esbuild ${esbuild.version}` };
}
