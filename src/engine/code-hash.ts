/**
 * Hashes the project's own code that a computation runs: the entry modules and every module they
 * import, followed through relative import specifiers and into the runtime workspace package
 * (`@digitbench/runtime…`, resolved to its sources as the digitbench-source condition does). Run ids and the feature cache key include
 * it, so a change to a classifier, a feature step or the harness code that produces a result makes
 * new ids (old rows are not reused), while a change elsewhere (README, another plugin, the report)
 * does not.
 *
 * Written here rather than taken from a dependency-graph package (madge, dependency-tree): those parse
 * with a TypeScript or Babel front end and pull in dozens of packages to answer a question that, for a
 * code base whose imports are all static `import … from './x.ts'` (and `import('./x.ts')`, worker URLs), a scan
 * of the specifiers answers exactly.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from './hash.ts';

/** `from './x.ts'`, `import('./x.ts')`, `import './x.ts'`, and worker files: `new URL('./x.ts', import.meta.url)`. */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\bnew URL\(\s*)(['"])(\.{1,2}\/[^'"]+)\1/g;

/** `from '@digitbench/runtime'` and its subpaths (`/internal`, `/cnn`). */
const RUNTIME_SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(@digitbench\/runtime(?:\/[\w/-]+)?)\1/g;
const RUNTIME = resolve(dirname(fileURLToPath(import.meta.url)), '../../packages/runtime');
let runtimeExports: Record<string, unknown> | undefined;

/** The source file a runtime specifier resolves to under the digitbench-source condition, if any. */
function runtimeSource(specifier: string): string | undefined {
  runtimeExports ??= (JSON.parse(readFileSync(resolve(RUNTIME, 'package.json'), 'utf8')) as { exports: Record<string, unknown> }).exports;
  const entry = runtimeExports[`.${specifier.slice('@digitbench/runtime'.length)}`] as Record<string, unknown> | undefined;
  const source = entry?.['digitbench-source'];
  const path = typeof source === 'string' ? source : (source as Record<string, string> | undefined)?.default;
  return path ? resolve(RUNTIME, path) : undefined;
}

/** The project imports a module names (relative ones, and the runtime package's entries; files that exist), in order. */
export function localImports(file: string, text = readFileSync(file, 'utf8')): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(SPECIFIER)) {
    const target = resolve(dirname(file), m[2]!);
    if (existsSync(target)) out.push(target);
  }
  for (const m of text.matchAll(RUNTIME_SPECIFIER)) {
    const target = runtimeSource(m[2]!);
    if (target && existsSync(target)) out.push(target);
  }
  return out;
}

/** Every module reachable from the entries by relative imports (the entries included), sorted. */
export function moduleClosure(entries: readonly string[]): string[] {
  const seen = new Set<string>();
  const stack = entries.map((e) => resolve(e));
  while (stack.length) {
    const f = stack.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    if (/\.[cm]?[jt]s$/.test(f)) stack.push(...localImports(f));
  }
  return [...seen].sort();
}

const memo = new Map<string, string>();

/**
 * sha256 over the closure's files, each named by its path relative to `root`, so moving the checkout
 * does not change the hash. Memoized per process (the files do not change while a run is going on).
 */
export function codeHash(entries: readonly string[], root: string): string {
  const key = `${root}\0${[...entries].sort().join('\0')}`;
  const hit = memo.get(key);
  if (hit) return hit;
  const parts: string[] = [];
  for (const f of moduleClosure(entries)) parts.push(relative(root, f).split('\\').join('/'), readFileSync(f, 'utf8'));
  const h = sha256(...parts).slice(0, 16);
  memo.set(key, h);
  return h;
}

/** Forgets memoized hashes (tests that edit files in between). */
export function clearCodeHashes(): void {
  memo.clear();
}
