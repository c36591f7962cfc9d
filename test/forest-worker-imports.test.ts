/**
 * The random forest's worker threads start while the main thread prepares the training set; each one
 * loads only the split search (cart/forest-tree.ts and what it imports), not @digitbench/runtime, which
 * costs about 0.2 s of CPU per worker to load. Follows the worker's value imports (not `import type`)
 * through the source files.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Every module specifier a file imports or re-exports at run time (type-only imports are erased). */
function valueImports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const out: string[] = [];
  // `import type …` and `export type …` are erased; `import { type A } from` stays (verbatimModuleSyntax)
  const re = /^(?:import|export)\s+(type\s+)?[^'";]*?\s*from\s*'([^']+)'|^import\s+'([^']+)'/gm;
  for (const m of src.matchAll(re)) {
    if (m[3]) out.push(m[3]);
    else if (!m[1]) out.push(m[2]!);
  }
  return out;
}

function closure(entry: string): { files: string[]; packages: Set<string> } {
  const files: string[] = [];
  const packages = new Set<string>();
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (files.includes(file)) continue;
    files.push(file);
    for (const spec of valueImports(file)) {
      if (spec.startsWith('.')) todo.push(resolve(dirname(file), spec));
      else packages.add(spec);
    }
  }
  return { files, packages };
}

describe('random-forest worker', () => {
  it('loads the split search without @digitbench/runtime', () => {
    const { files, packages } = closure(resolve(ROOT, 'src/classifiers/random-forest-worker.ts'));
    expect(files.map((f) => f.slice(ROOT.length + 1)).sort()).toContain('src/classifiers/cart/grow.ts');
    expect([...packages].filter((p) => p.startsWith('@digitbench/'))).toEqual([]);
  });

  it('the import scan sees the runtime where a module loads it (cart-trees.ts)', () => {
    const { packages } = closure(resolve(ROOT, 'src/classifiers/cart-trees.ts'));
    expect(packages.has('@digitbench/runtime/internal')).toBe(true);
  });
});
