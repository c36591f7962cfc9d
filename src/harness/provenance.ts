/**
 * Which project code a run's result depends on, as a hash that goes into its run id: the plugin's
 * module and its imports, the feature pipeline (prepare.ts and its imports), the metrics the run
 * computes, the run process itself, and the library patches. Editing any of them makes new ids, so
 * old rows are never reused as if the new code had made them; editing the README, the report or
 * another plugin does not.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { codeHash } from '../engine/code-hash.ts';
import { sha256 } from '../engine/hash.ts';
import { isPluginPath } from '../classifiers/registry.ts';
import { PROJECT_ROOT } from './env.ts';

const here = dirname(fileURLToPath(import.meta.url));
const src = resolve(here, '..');

/** The module that defines a plugin: a plugin file, or src/classifiers/<name>.ts for a built-in. */
export function pluginModule(pluginRef: string, baseDir: string): string {
  if (isPluginPath(pluginRef)) return resolve(baseDir, pluginRef);
  const file = join(src, 'classifiers', `${pluginRef}.ts`);
  // A built-in kept under another file name: the whole classifier layer, to be safe.
  return existsSync(file) ? file : join(src, 'classifiers', 'registry.ts');
}

function patchesText(): string {
  const dir = join(PROJECT_ROOT, 'patches');
  if (!existsSync(dir)) return '';
  return readdirSync(dir)
    .filter((f) => f.endsWith('.patch'))
    .sort()
    .map((f) => `${f}\n${readFileSync(join(dir, f), 'utf8')}`)
    .join('\n');
}

/** The code hash of a run of this plugin (test run or selection). */
export function runCodeHash(pluginRef: string, baseDir: string): string {
  const modules = codeHash(
    [
      pluginModule(pluginRef, baseDir),
      join(src, 'features', 'prepare.ts'),
      join(src, 'metrics', 'accuracy.ts'),
      join(src, 'metrics', 'confusion.ts'),
      join(src, 'metrics', 'per-class.ts'),
    ],
    PROJECT_ROOT,
  );
  // child.ts itself, not its imports: it reaches every built-in through the registry.
  return sha256(modules, readFileSync(join(here, 'child.ts'), 'utf8'), patchesText()).slice(0, 16);
}
