/**
 * What a run's result depends on besides its data and settings, for its run id:
 * - the project code, as a hash: the plugin's module and its imports, the feature pipeline (prepare.ts
 *   and its imports), the metrics the run computes, the run process itself, and the patches of the
 *   run's libraries. Editing any of them makes new ids, so old rows are never reused as if the new code
 *   had made them; editing the README, the report, another plugin or another library's patch does not.
 * - the npm packages, by installed version: those the run's plugin declares (`libraries`: load and
 *   predict; `fitLibraries`: fitting) and those its feature steps declare, and only those.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { codeHash } from '../engine/code-hash.ts';
import { sha256 } from '../engine/hash.ts';
import { isPluginPath } from '../classifiers/registry.ts';
import type { ClassifierPlugin } from '../classifiers/plugin.ts';
import { libraryName, libraryVersions } from '../engine/packages.ts';
import type { StepSpec } from '../features/pipeline.ts';
import { stepOf } from '../features/steps.ts';
import { PROJECT_ROOT } from './env.ts';
import type { RunSpec } from './experiment.ts';
import { librariesOn } from '../engine/ort.ts';

const here = dirname(fileURLToPath(import.meta.url));
const src = resolve(here, '..');

/** The module that defines a plugin: a plugin file, or src/classifiers/<name>.ts for a built-in. */
export function pluginModule(pluginRef: string, baseDir: string): string {
  if (isPluginPath(pluginRef)) return resolve(baseDir, pluginRef);
  const file = join(src, 'classifiers', `${pluginRef}.ts`);
  // A built-in kept under another file name: the whole classifier layer, to be safe.
  return existsSync(file) ? file : join(src, 'classifiers', 'registry.ts');
}

/** patches/ files (patch-package's `<name>+<version>.patch`, `@scope+name+…` for scoped names) of these packages. */
export function patchFiles(names: Iterable<string>): string[] {
  const dir = join(PROJECT_ROOT, 'patches');
  if (!existsSync(dir)) return [];
  const prefixes = [...names].map((n) => `${n.replace('/', '+')}+`);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.patch') && prefixes.some((p) => f.startsWith(p)))
    .sort();
}

function patchesText(names: Iterable<string>): string {
  return patchFiles(names)
    .map((f) => `${f}\n${readFileSync(join(PROJECT_ROOT, 'patches', f), 'utf8')}`)
    .join('\n');
}

/**
 * The npm packages a run's results depend on: what its plugin declares (`libraries`, `fitLibraries`) and
 * what the steps of its feature pipelines declare (every candidate setting's), each with its `engineLibraries`
 * for the engine at hand only, as "name version" entries,
 * and which of them are patched.
 */
export function runLibraries(plugin: Pick<ClassifierPlugin, 'libraries' | 'fitLibraries' | 'engineLibraries' | 'patched'>, featureSets: readonly (readonly StepSpec[])[]): { libraries: string[]; patched: string[] } {
  const steps = featureSets.flat().map((spec) => stepOf(spec));
  return {
    libraries: [...new Set([...(plugin.libraries ?? []), ...(plugin.fitLibraries ?? []), ...librariesOn(plugin.engineLibraries), ...steps.flatMap((s) => [...(s.libraries ?? []), ...librariesOn(s.engineLibraries)])])],
    patched: [...new Set([...(plugin.patched ?? []), ...steps.flatMap((s) => s.patched ?? [])])].sort(),
  };
}

/**
 * A run's provenance: the installed versions of its libraries (resolved from its plugin's module, then
 * the project; "(patched)" on patched ones) and its code hash (with those libraries' patches).
 */
export function runProvenance(run: Pick<RunSpec, 'plugin' | 'pluginRef' | 'candidates'>, baseDir: string): { versions: Record<string, string>; code: string } {
  const { libraries, patched } = runLibraries(run.plugin, run.candidates.map((c) => c.features));
  const versions = libraryVersions(libraries, patched, [pluginModule(run.pluginRef, baseDir), fileURLToPath(import.meta.url)]);
  return { versions, code: runCodeHash(run.pluginRef, baseDir, libraries.map(libraryName)) };
}

/** The code hash of a run of this plugin (test run or selection), with the patches of `libraries` (package names). */
export function runCodeHash(pluginRef: string, baseDir: string, libraries: readonly string[] = []): string {
  const modules = codeHash(
    [
      pluginModule(pluginRef, baseDir),
      join(src, 'features', 'prepare.ts'),
      join(src, 'metrics', 'accuracy.ts'),
      join(src, 'metrics', 'confusion.ts'),
      join(src, 'metrics', 'per-class.ts'),
      // The calibration and threshold the run fits and stores in its bundle (with metrics/calibration.ts).
      join(here, 'trust.ts'),
    ],
    PROJECT_ROOT,
  );
  // child.ts itself, not its imports: it reaches every built-in through the registry.
  return sha256(modules, readFileSync(join(here, 'child.ts'), 'utf8'), patchesText(libraries)).slice(0, 16);
}
