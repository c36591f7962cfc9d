/**
 * One definition per plugin and per step: what a built-in declares (its file) and the registry's list are
 * all the other layers read. A new built-in is its file plus one line in the registry: nothing else in
 * src/ names it, a run's id and environment take its declared libraries (and only them, with its steps'),
 * and the report shows each run's own threads and packages.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { builtins, resolvePlugin } from '../src/classifiers/registry.ts';
import { defineClassifier, type ClassifierPlugin } from '../src/classifiers/plugin.ts';
import { moduleClosure } from '../src/engine/code-hash.ts';
import { installedVersion, libraryName } from '../src/engine/packages.ts';
import { steps } from '../src/features/steps.ts';
import { featureLibraries } from '../src/features/cache.ts';
import { patchFiles, pluginModule, runCodeHash, runLibraries, runProvenance } from '../src/harness/provenance.ts';
import type { StepSpec } from '../src/features/pipeline.ts';
import { envSection } from '../src/report/sections/environment.ts';
import type { ResultRow } from '../src/results/row.ts';
import { fixtureRows } from './helpers/report-rows.ts';
import { engineChoice } from '../src/engine/ort.ts';

const ROOT = resolve(__dirname, '..');
const SRC = join(ROOT, 'src');
const RUNTIME_SRC = join(ROOT, 'packages/runtime/src');
const names = builtins.map((p) => p.name);

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? tsFiles(p) : /\.ts$/.test(f) && !f.endsWith('.d.ts') ? [p] : [];
  });
}

/** String literals (and template literal parts) in a file's code, comments left out. */
function literals(file: string): { text: string; line: number }[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: { text: string; line: number }[] = [];
  const visit = (n: ts.Node) => {
    if (ts.isStringLiteralLike(n) || ts.isTemplateHead(n) || ts.isTemplateMiddle(n) || ts.isTemplateTail(n)) {
      out.push({ text: n.text, line: sf.getLineAndCharacterOfPosition(n.getStart()).line + 1 });
    }
    n.forEachChild(visit);
  };
  visit(sf);
  return out;
}

/** The npm packages a module's project closure imports, stopping at the runtime package (by name, not followed). */
function importedPackages(entry: string): Set<string> {
  const files = moduleClosure([entry]).filter((f) => f.startsWith(SRC + '/') && f.endsWith('.ts'));
  const found = new Set<string>();
  const bare = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])([^.'"/][^'"]*|@[^'"]+)\1/g;
  for (const f of files) {
    for (const m of readFileSync(f, 'utf8').matchAll(bare)) {
      const s = m[2]!;
      if (s.startsWith('node:')) continue;
      found.add(s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!);
    }
  }
  return found;
}

const SCALE = { step: 'scale' } as StepSpec;

/** Packages that run no numeric work of a plugin: schemas, the TypeScript loader of worker threads, the runtime itself. */
const INFRASTRUCTURE = new Set(['zod', 'tsx', '@digitbench/runtime', 'digitbench']);

describe('a built-in is its file plus a line in the registry', () => {
  /**
   * Where a built-in's name may be written out: its own modules (the plugin file and the files it imports in
   * src/classifiers/), the runtime's own file of it and the runtime's one list, and these, each for a reason.
   */
  const ALLOWED: Record<string, string> = {
    'src/bench/work.ts': 'the bench grid: which plugins the benchmark times, with their settings (a grid, not a registry)',
    'packages/runtime/src/models/builtins.ts': "the runtime's one list of built-in models (a test checks it equals the registry's)",
    'packages/runtime/src/index.ts': "Node's loader of the CNN subpath (tfjs is an optional peer: the CNN is not in the lazy list)",
  };

  it('no other file in src/ (or the runtime) writes a built-in name as a string', () => {
    const own = new Map<string, Set<string>>();
    for (const name of names) {
      const closure = moduleClosure([pluginModule(name, ROOT)]).filter((f) => f.startsWith(join(SRC, 'classifiers') + '/'));
      for (const f of closure) own.set(f, new Set([...(own.get(f) ?? []), name]));
    }
    const offenders: string[] = [];
    for (const file of [...tsFiles(SRC), ...tsFiles(RUNTIME_SRC)]) {
      const rel = relative(ROOT, file);
      if (ALLOWED[rel]) continue;
      for (const { text, line } of literals(file)) {
        if (!names.includes(text)) continue;
        if (own.get(file)?.has(text)) continue;
        // The runtime's own model file of a built-in (models/knn.ts, cnn.ts, models/cnn-format.ts, …).
        if (file.startsWith(RUNTIME_SRC + '/') && basename(file).startsWith(text)) continue;
        offenders.push(`${rel}:${line}: '${text}'`);
      }
    }
    expect(offenders).toEqual([]);
    // The allow-list holds no stale entries.
    for (const rel of Object.keys(ALLOWED)) expect(literals(join(ROOT, rel)).some((l) => names.includes(l.text)), rel).toBe(true);
  });

  it("the registry's list is what resolves, and what a run's libraries and code hash come from (a new plugin needs nothing else)", async () => {
    const lines = readFileSync(join(SRC, 'classifiers/registry.ts'), 'utf8').split('\n');
    expect(lines.filter((l) => l.startsWith('export const builtins')).length).toBe(1);
    // A new built-in: its definition, then the registry line (here, pushed onto the same list).
    const fresh = defineClassifier({ ...builtins.find((p) => p.name === 'decision-tree')!, name: 'fresh-tree', fitLibraries: ['ml-cart 2.1.1', 'ml-matrix 6.15.1'] });
    (builtins as ClassifierPlugin[]).push(fresh);
    try {
      expect(await resolvePlugin('fresh-tree')).toBe(fresh);
      const { versions } = runProvenance({ plugin: fresh, pluginRef: 'fresh-tree', candidates: [{ features: [], params: {} }] }, ROOT);
      expect(versions).toEqual({ 'ml-cart': '2.1.1', 'ml-matrix': '6.15.1' });
    } finally {
      (builtins as ClassifierPlugin[]).pop();
    }
    await expect(resolvePlugin('fresh-tree')).rejects.toThrow('Unknown classifier "fresh-tree"');
  });
});

describe('each plugin and step declares the npm packages it uses', () => {
  /** Imported by a plugin's modules but not run by it: the exemption and why. */
  const EXEMPT: Record<string, Record<string, string>> = {
    'decision-tree': { seedrandom: 'cart-trees.ts seeds forest trees; a single tree draws nothing' },
  };

  it.each(names)('%s: every package its own modules import is declared (libraries, fitLibraries or engineLibraries), at the installed version', (name) => {
    const plugin = builtins.find((p) => p.name === name)!;
    const declared = [...(plugin.libraries ?? []), ...(plugin.fitLibraries ?? []), ...(plugin.engineLibraries?.ort ?? []), ...(plugin.engineLibraries?.wasm ?? [])];
    const declaredNames = new Set(declared.map(libraryName));
    const missing = [...importedPackages(pluginModule(name, ROOT))].filter((p) => !INFRASTRUCTURE.has(p) && !declaredNames.has(p) && !EXEMPT[name]?.[p]);
    expect(missing).toEqual([]);
    for (const entry of declared) {
      const v = installedVersion(libraryName(entry), join(ROOT, 'package.json'));
      if (v !== undefined) expect(`${libraryName(entry)} ${v}`).toBe(entry);
    }
  });

  it.each(Object.keys(steps))('step %s: every package its fit imports is declared', (name) => {
    const step = steps[name as keyof typeof steps] as { libraries?: readonly string[]; engineLibraries?: { ort?: readonly string[]; wasm?: readonly string[] } };
    const declaredNames = new Set([...(step.libraries ?? []), ...(step.engineLibraries?.ort ?? []), ...(step.engineLibraries?.wasm ?? [])].map(libraryName));
    const missing = [...importedPackages(join(SRC, 'features', `${name}.ts`))].filter((p) => !INFRASTRUCTURE.has(p) && !declaredNames.has(p));
    expect(missing).toEqual([]);
  });

  it("a run's packages are its plugin's and its steps', and only its libraries' patches enter its code hash", () => {
    const plugin = (n: string) => builtins.find((p) => p.name === n)!;
    const PCA = [SCALE, { step: 'pca', components: 50 }] as StepSpec[];
    const run = (n: string, features: StepSpec[]) => runProvenance({ plugin: plugin(n), pluginRef: n, candidates: [{ features, params: {} }] }, ROOT);
    // Engine-only packages (engineLibraries): on ort, onnxruntime-node and protobufjs (which writes its graphs) for the
    // runs whose numeric work it does; on wasm, tfjs for those whose products run on it. The CNN uses tfjs on both.
    const onOrt = engineChoice().engine === 'ort';
    const ort = onOrt ? { 'onnxruntime-node': '1.31.1', protobufjs: '8.8.1' } : {};
    const tfjs = { '@tensorflow/tfjs': '4.22.0', '@tensorflow/tfjs-backend-wasm': '4.22.0' };
    const engine = onOrt ? ort : tfjs;
    expect(run('decision-tree', []).versions).toEqual({ 'ml-cart': '2.1.1' });
    expect(run('naive-bayes', [SCALE]).versions).toEqual({ ...ort });
    expect(run('naive-bayes', PCA).versions).toEqual({ 'ml-matrix': '6.15.1', seedrandom: '3.0.5', ...engine });
    expect(run('knn', [SCALE]).versions).toEqual({ 'ml-knn': '3.0.0 (patched)', ...engine });
    expect(run('svm', PCA).versions).toEqual({ 'libsvm-js': '0.2.1', 'ml-matrix': '6.15.1', seedrandom: '3.0.5', ...engine });
    expect(run('cnn', []).versions).toEqual({ ...tfjs, ...ort, '@tensorflow/tfjs-core': '4.22.0', '@tensorflow/tfjs-layers': '4.22.0', seedrandom: '3.0.5' });
    // Feature sets to choose among: every candidate's steps count.
    const both = runProvenance({ plugin: plugin('decision-tree'), pluginRef: 'decision-tree', candidates: [{ features: [], params: {} }, { features: PCA, params: {} }] }, ROOT);
    expect(Object.keys(both.versions)).toContain('ml-matrix');
    // Patches: ml-knn's enters knn's code hash; ml-naivebayes's (a test oracle's) enters none.
    expect(patchFiles(['ml-knn'])).toEqual(['ml-knn+3.0.0.patch']);
    expect(runLibraries(plugin('knn'), []).patched).toEqual(['ml-knn']);
    expect(run('knn', []).code).toBe(runCodeHash('knn', ROOT, ['ml-knn']));
    expect(run('knn', []).code).not.toBe(runCodeHash('knn', ROOT, []));
    expect(run('naive-bayes', []).code).toBe(runCodeHash('naive-bayes', ROOT, ['ml-naivebayes-not-used']));
    // The feature cache key's libraries: the pipeline's steps' alone.
    expect(featureLibraries([SCALE, { step: 'deskew' } as StepSpec])).toEqual({});
    expect(featureLibraries(PCA)).toEqual({ 'ml-matrix': '6.15.1', seedrandom: '3.0.5', ...engine });
  });

  it('a plugin that says a library is patched must declare it', () => {
    const tree = builtins.find((p) => p.name === 'decision-tree')!;
    expect(() => defineClassifier({ ...tree, name: 'x-tree', patched: ['ml-knn'] })).toThrow('Classifier plugin "x-tree" is invalid: patched: "ml-knn" is not among its libraries, fitLibraries or engineLibraries.');
    expect(() => defineClassifier({ ...tree, name: 'x-tree', engineLibraries: { gpu: ['x 1'] } as never })).toThrow('Classifier plugin "x-tree" is invalid: engineLibraries: Unrecognized key: "gpu".');
    expect(() => defineClassifier({ ...tree, name: 'x-tree', fitLibraries: ['ml-cart@2.1.1'] })).toThrow('Classifier plugin "x-tree" is invalid: fitLibraries.0: use "name version", e.g. "ml-knn 3.0.0".');
  });
});

describe("the report's environment: each run's own threads and packages", () => {
  it('one value where every run agrees (rows from before: unchanged), per classifier where they differ', () => {
    const rows = fixtureRows();
    const before = envSection(rows);
    expect(before).toContain('| threads | 1 |');
    const mixed = rows.map((r) =>
      r.classifier === 'knn'
        ? { ...r, env: { ...r.env, threads: 2, threadsUsed: { features: 2, fit: 1, predict: 2 }, packages: { 'ml-knn': '3.0.0 (patched)', '@tensorflow/tfjs': '4.22.0' } } }
        : { ...r, env: { ...r.env, threadsUsed: { fit: 1, predict: 1 }, packages: {} } },
    ) as ResultRow[];
    const after = envSection(mixed);
    const others = distinctLabels(rows).filter((l) => l !== 'knn');
    expect(after).toContain(`| threads | ${distinctLabels(rows).map((l) => (l === 'knn' ? 'knn 2 (features 2, predict 2)' : `${l} 1`)).join(', ')} |`);
    expect(after).toContain('| `ml-knn` | 3.0.0 (patched; knn) |');
    expect(after).toContain('| `@tensorflow/tfjs` | 4.22.0 (knn) |');
    expect(others.length).toBeGreaterThan(0);
    expect(after).not.toContain('environment 2');
  });
});

function distinctLabels(rows: readonly { classifier: string }[]): string[] {
  return [...new Set(rows.map((r) => r.classifier))];
}
