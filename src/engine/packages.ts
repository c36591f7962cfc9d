/**
 * Installed npm packages, for what plugins and feature steps declare they use (`libraries`, `fitLibraries`:
 * "name version" entries, e.g. "ml-knn 3.0.0"). Versions are read from the installed package.json, found by
 * walking node_modules folders as Node does, so a package whose `exports` hides its package.json (ml-matrix,
 * csv-parse) is found too.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

/** The package name of a declared library: "ml-knn 3.0.0" → "ml-knn", "@tensorflow/tfjs 4.22.0" → "@tensorflow/tfjs". */
export function libraryName(entry: string): string {
  return entry.trim().split(/\s+/)[0]!;
}

/** The version a declared library names ("ml-knn 3.0.0" → "3.0.0"), if it names one. */
export function declaredVersion(entry: string): string | undefined {
  return entry.trim().split(/\s+/)[1];
}

/**
 * The installed version of package `name` as Node resolves it from the module or folder `from` (a path), or
 * undefined when it is not installed there (e.g. an optional dependency that did not install).
 */
export function installedVersion(name: string, from: string): string | undefined {
  const paths = createRequire(from).resolve.paths(name) ?? [];
  for (const dir of paths) {
    const file = join(dir, name, 'package.json');
    if (!existsSync(file)) continue;
    try {
      const v = (JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown }).version;
      return typeof v === 'string' ? v : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Installed versions of declared libraries (by package name, sorted), resolved from each of `from` in turn
 * (e.g. a plugin file's folder, then the project); a patched one reads "3.0.0 (patched)". Libraries not
 * installed are left out.
 */
export function libraryVersions(entries: Iterable<string>, patched: Iterable<string>, from: readonly string[]): Record<string, string> {
  const marked = new Set(patched);
  const names = [...new Set([...entries].map(libraryName))].sort();
  const out: Record<string, string> = {};
  for (const name of names) {
    let v: string | undefined;
    for (const f of from) if ((v = installedVersion(name, f)) !== undefined) break;
    if (v !== undefined) out[name] = marked.has(name) ? `${v} (patched)` : v;
  }
  return out;
}
