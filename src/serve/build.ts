/**
 * The browser build: the page's own code and the very modules `digitbench predict` runs (bundle reader,
 * feature steps, plugins, tfjs), bundled for the browser with esbuild. There is no second implementation:
 * only two things differ from Node, both here and both tested.
 *
 * - A module with a `.browser.ts` twin beside it is replaced by the twin (engine/threads.ts: no worker
 *   threads in a page). A Node built-in imported by the project's own code is a build error that names it,
 *   unless it is a dynamic import() (which sits on a branch only Node takes).
 * - The CommonJS libraries that patch-package patches (or that carry a second, ESM copy of their code in
 *   their "module" entry, which a bundler would prefer) resolve to the file Node loads (their "main").
 *
 * Plugins are split into chunks, so a page downloads only the plugins (and tfjs only where a plugin or
 * step uses it) its bundles name. A plugin file that cannot be bundled for a browser is left out, with
 * the bundler's reason, which the page shows for that model instead of breaking.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const require = createRequire(import.meta.url);
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ROOT = resolve(SRC, '..');

/** Resolved as Node resolves them (their "main"): see the top of this file. */
export const NODE_RESOLVED = ['ml-knn', 'ml-naivebayes', 'ml-cart', 'libsvm-js'] as const;

const NODE_BUILTIN = /^(node:.*|fs|fs\/promises|path|os|url|crypto|module|worker_threads|zlib|child_process|util|stream|events|buffer|process|perf_hooks|v8|assert|http|https|net|tls|readline)$/;

export interface BuiltFile {
  bytes: Uint8Array;
  type: string;
}

export interface PluginBuildStatus {
  /** The plugin ref as bundles record it (an absolute file path). */
  ref: string;
  ok: boolean;
  /** Why it was left out of the page (the bundler's first error), when not ok. */
  reason?: string;
}

export interface BrowserBuild {
  /** URL path (e.g. "/assets/app.js") → content. */
  files: Map<string, BuiltFile>;
  /** Plugin files named by the experiment's bundles, and whether each made it into the build. */
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
      build.onResolve({ filter: new RegExp(`^(${NODE_RESOLVED.join('|')})$`) }, (args) => ({ path: require.resolve(args.path) }));
    },
  };
}

/** A virtual module mapping each plugin file's ref to a dynamic import of it (one chunk each). */
function pluginsModule(refs: readonly string[]): esbuild.Plugin {
  return {
    name: 'digitbench-plugin-files',
    setup(build) {
      build.onResolve({ filter: /^digitbench:plugin-files$/ }, () => ({ path: 'plugin-files', namespace: 'digitbench' }));
      build.onLoad({ filter: /.*/, namespace: 'digitbench' }, () => ({
        contents: `export const pluginFiles = {${refs.map((r) => `${JSON.stringify(r)}: () => import(${JSON.stringify(r)})`).join(',')}};`,
        resolveDir: ROOT,
        loader: 'js',
      }));
    },
  };
}

const ENTRIES = { app: join(SRC, 'serve/page/app.ts'), bench: join(SRC, 'serve/page/bench.ts') };

function options(pluginRefs: readonly string[], minify: boolean): esbuild.BuildOptions {
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
    plugins: [browserPlugin(), pluginsModule(pluginRefs)],
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
 * Builds the page for bundles whose plugins are `pluginRefs` (built-in names are always included; paths
 * are plugin files). A plugin file that fails to bundle is reported and left out; a failure of the
 * project's own code is an error.
 */
export async function buildBrowserApp(pluginRefs: readonly string[] = [], { minify = true }: { minify?: boolean } = {}): Promise<BrowserBuild> {
  const files = [...new Set(pluginRefs.filter((r) => r.startsWith('/')))];
  const plugins: PluginBuildStatus[] = [];
  for (const ref of files) {
    try {
      await esbuild.build({ ...options([ref], false), entryPoints: [ref], splitting: false, outdir: undefined, outfile: '/x.js' });
      plugins.push({ ref, ok: true });
    } catch (e) {
      plugins.push({ ref, ok: false, reason: firstError(e) });
    }
  }
  let result: esbuild.BuildResult;
  try {
    result = await esbuild.build(options(plugins.filter((p) => p.ok).map((p) => p.ref), minify));
  } catch (e) {
    throw new Error(`The browser build failed: ${firstError(e)}`);
  }
  const out = new Map<string, BuiltFile>();
  for (const f of result.outputFiles ?? []) {
    out.set(f.path, { bytes: f.contents, type: TYPES[extname(f.path)] ?? 'application/octet-stream' });
  }
  return { files: out, plugins, bundler: `esbuild ${esbuild.version}` };
}
