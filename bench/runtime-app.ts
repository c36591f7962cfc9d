/**
 * @digitbench/runtime as an app gets it: packed (`npm pack -w @digitbench/runtime`, which builds dist
 * first) and installed from the tarball into a fresh folder with nothing else. Shared by the budgets
 * benchmark (bench/runtime.ts) and the apps test (test/e2e/runtime-apps.test.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, resolve } from 'node:path';
import type { Metafile } from 'esbuild';

export const ROOT = resolve(import.meta.dirname, '..');

/** Builds and packs the runtime into `dest`; returns the tarball's path. */
export function packRuntime(dest: string): string {
  mkdirSync(dest, { recursive: true });
  const out = execFileSync('npm', ['pack', '-w', '@digitbench/runtime', '--pack-destination', dest, '--json', '--silent'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [info] = JSON.parse(out.slice(out.indexOf('['))) as { filename: string }[];
  return join(dest, info!.filename);
}

/** The files a packed tarball holds (`npm pack --dry-run`), without building. */
export function packedFiles(): string[] {
  const out = execFileSync('npm', ['pack', '-w', '@digitbench/runtime', '--dry-run', '--json', '--ignore-scripts', '--silent'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [info] = JSON.parse(out.slice(out.indexOf('['))) as { files: { path: string }[] }[];
  return info!.files.map((f) => f.path).sort();
}

/** A fresh app folder with `packages` installed by a plain `npm install` (the registry, or npm's cache). */
export function makeApp(dir: string, packages: string[], type: 'module' | 'commonjs' = 'module'): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', private: true, type }, null, 2));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...packages], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Packages npm installed in an app (its node_modules/.package-lock.json). */
export function installedPackages(dir: string): string[] {
  const lock = JSON.parse(readFileSync(join(dir, 'node_modules/.package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
  return Object.keys(lock.packages).map((p) => p.replace(/^.*node_modules\//, '')).sort();
}

/** Bytes on disk of a folder: `du` apparent size and allocated size. */
export function diskBytes(dir: string): { apparent: number; allocated: number } {
  const apparent = Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
  const allocated = Number(execFileSync('du', ['-sk', dir], { encoding: 'utf8' }).split('\t')[0]) * 1024;
  return { apparent, allocated };
}

/**
 * The JavaScript a page downloads to predict with one plugin, from an esbuild metafile of a split build:
 * the entry and its static imports, plus the plugin's lazy chunk (the output whose inputs include the
 * plugin's model module) and its static imports. Sizes are gzip -9 of the built files; `cwd` is the build's
 * working folder (metafile paths are relative to it).
 */
export function pageBytes(meta: Metafile, cwd: string, entry: string, lazyInput?: RegExp): { files: string[]; raw: number; gzip: number } {
  const outputs = meta.outputs;
  const seen = new Set<string>();
  const visit = (out: string) => {
    if (seen.has(out)) return;
    seen.add(out);
    for (const i of outputs[out]!.imports) if (i.kind === 'import-statement') visit(i.path);
  };
  const entryOut = Object.keys(outputs).find((o) => outputs[o]!.entryPoint === entry);
  if (!entryOut) throw new Error(`no output for entry ${entry}`);
  visit(entryOut);
  if (lazyInput) {
    const lazy = Object.keys(outputs).filter((o) => o.endsWith('.js') && Object.keys(outputs[o]!.inputs).some((i) => lazyInput.test(i)));
    if (!lazy.length) throw new Error(`no chunk holds ${lazyInput}`);
    for (const o of lazy) visit(o);
  }
  const files = [...seen].filter((f) => f.endsWith('.js'));
  let raw = 0;
  let gzip = 0;
  for (const f of files) {
    const bytes = readFileSync(resolve(cwd, f));
    raw += bytes.length;
    gzip += gzipSync(bytes, { level: 9 }).length;
  }
  return { files, raw, gzip };
}

export function gzipBytes(file: string): number {
  return gzipSync(readFileSync(file), { level: 9 }).length;
}

/** The plugins of `makeBundles`, with what each is fitted on. */
export const APP_PLUGINS = ['decision-tree', 'naive-bayes', 'knn', 'svm', 'random-forest', 'cnn'] as const;

/**
 * Real bundles of every built-in, from a small experiment run by the CLI into `dir` (1,000 / 200 MNIST
 * rows; about 20 s): plugin name → bundle path.
 */
export function makeBundles(dir: string): Record<(typeof APP_PLUGINS)[number], string> {
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'apps.json');
  writeFileSync(
    config,
    JSON.stringify({
      description: 'Bundles for the runtime apps test and budgets benchmark',
      dataset: 'mnist',
      split: { train: 1000, test: 200, seed: 7 },
      features: [{ step: 'scale' }, { step: 'pca', components: 30 }],
      imageFeatures: [{ step: 'scale' }],
      classifiers: [
        { plugin: 'decision-tree', features: [{ step: 'scale' }] },
        { plugin: 'naive-bayes' },
        { plugin: 'knn', params: { k: 3 } },
        { plugin: 'svm' },
        { plugin: 'random-forest', params: { nEstimators: 10 }, features: [{ step: 'scale' }] },
        { plugin: 'cnn', params: { epochs: 1, threads: 1 } },
      ],
      seed: 7,
    }),
  );
  execFileSync(process.execPath, [join(ROOT, 'bin/digitbench.js'), 'experiment', config, '--out', join(dir, 'out')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  const rows = readFileSync(join(dir, 'out/results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { classifier: string; status: string; bundle?: { file: string } });
  const out = {} as Record<(typeof APP_PLUGINS)[number], string>;
  for (const p of APP_PLUGINS) {
    const row = rows.find((r) => r.classifier === p && r.status === 'ok' && r.bundle);
    if (!row) throw new Error(`the apps experiment wrote no ${p} bundle`);
    out[p] = resolve(dir, 'out', row.bundle!.file);
  }
  return out;
}
