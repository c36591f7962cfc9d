/**
 * Experiment files (experiments/*.json): validated with zod; every error names the file, the path
 * inside it and what is allowed. Expands into test runs: classifier × training size × repetition. A
 * classifier with several candidate settings (grid points × feature sets) gets one test run per
 * repetition whose setting is chosen first by cross-validation or on a validation part carved from
 * its training rows (never on the test rows), then refitted on all of them and tested once.
 */
import { basename, dirname, extname, resolve } from 'node:path';
import { z } from 'zod';
import { selectionSchema, splitSpecSchema, type SelectionSpec, type SplitSpec } from '../data/split.ts';
import { parsePipeline, type StepSpec } from '../features/pipeline.ts';
import { datasetSourceSchema } from '../data/sources.ts';
export type { SelectionSpec };
import { parseParams, type ClassifierPlugin } from '../classifiers/plugin.ts';
import { CORRUPTION_NAMES, PRECISIONS, type Precision } from '@digitbench/runtime/internal';
import { resolvePlugin } from '../classifiers/registry.ts';
import { PROJECT_ROOT } from './env.ts';
import { readJsonFile } from './json-file.ts';
import { createRng } from '../engine/rng.ts';
import { distributionsSchema, sampleSpace, searchSchema, type Dimension, type Distribution, type SearchSpec } from './search/space.ts';

const classifierEntrySchema = z
  .object({
    /** A built-in name (knn, svm, …) or a plugin file path relative to the experiment file. */
    plugin: z.string().min(1),
    /** Shown in the report instead of the plugin name (e.g. "knn-pca"). */
    label: z.string().min(1).optional(),
    params: z.record(z.string(), z.unknown()).default({}),
    /** Each key lists values to try; every combination becomes a run. */
    grid: z.record(z.string(), z.array(z.unknown()).min(1)).optional(),
    /** Overrides the shared pipeline for this classifier. */
    features: z.array(z.unknown()).optional(),
    /** Names from the experiment's featureSets to try (default: all of them, for classifiers that take vectors). */
    featureSets: z.array(z.string().min(1)).min(1).optional(),
    /**
     * How the candidates are searched (search/space.ts, search/halving.ts): "grid" (every grid point on every
     * feature set, the default), "random" (a seeded sample of `candidates` settings from the grid's lists and
     * the distributions), or "halving" (successive halving, as scikit-learn's HalvingGridSearchCV, or
     * HalvingRandomSearchCV when `candidates` is a number or "exhaust").
     */
    search: searchSchema.default({ strategy: 'grid' }),
    /** What a random search draws from, per param: a list of choices, {"logUniform": [lo, hi]}, {"uniform": [lo, hi]}, {"int": [lo, hi], "log": false}. */
    distributions: distributionsSchema.optional(),
    timeoutSeconds: z.number().positive().optional(),
    memoryLimitMb: z.number().int().positive().optional(),
  })
  .strict();

const precisionSchema = z.enum(PRECISIONS);

export const experimentSchema = z
  .object({
    $schema: z.string().optional(),
    name: z.string().regex(/^[a-z0-9][a-z0-9-_]*$/, 'use lowercase letters, digits, - and _').optional(),
    description: z.string().optional(),
    /** A name, an idx folder, or a source object ({"csv": …}, {"images": …}, {"idx": …}); see data/sources.ts. */
    dataset: datasetSourceSchema.default('mnist'),
    split: splitSpecSchema.default({ validation: 0, seed: 0 }),
    /** The shared pipeline for classifiers that take feature vectors. */
    features: z.array(z.unknown()).default([{ step: 'scale' }]),
    /**
     * Named pipelines, e.g. {"raw": [...], "pca50": [...]}: each classifier that takes vectors runs on
     * each, and the one it is tested with is chosen by validation like a grid point. Replaces `features`.
     */
    featureSets: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'name feature sets with letters, digits, -, _ and .'), z.array(z.unknown())).optional(),
    /** How a classifier's candidate settings (grid points, feature sets) are chosen: never on the test rows. */
    selection: selectionSchema.default({ method: 'cv', folds: 5, seed: 0 }),
    /** The pipeline for classifiers that take images (must keep rows as images). */
    imageFeatures: z.array(z.unknown()).default([{ step: 'scale' }]),
    classifiers: z.array(classifierEntrySchema).min(1),
    /** Runs per classifier setting, with seeds seed, seed+1, … */
    repetitions: z.number().int().positive().default(1),
    /**
     * What a repetition varies: "seed" = the classifier's seed only (one split); "split" = the split too
     * (repetition r re-draws the stratified train/validation/test subsets with split seed split.seed + r).
     */
    resample: z.enum(['seed', 'split']).default('seed'),
    /** Training sizes for a learning curve: each classifier runs at each size (nested stratified subsets, one test part). */
    learningCurve: z
      .object({
        sizes: z
          .array(z.number().int().positive())
          .min(2)
          .refine((sizes) => sizes.every((n, i) => i === 0 || n > sizes[i - 1]!), 'list the sizes in increasing order, without repeats'),
      })
      .strict()
      .optional(),
    /**
     * Set this run's results beside another report's (e.g. the defaults of reports/mnist-full) and beside
     * published figures, in the report's "Against the defaults and the published results" section.
     */
    compare: z
      .object({
        /** A report folder, relative to the project root. */
        baseline: z.string().min(1).optional(),
        published: z
          .array(
            z
              .object({
                /** A classifier label of this experiment. */
                classifier: z.string().min(1),
                /** Published test accuracy, percent (none: only a target). */
                accuracy: z.number().min(0).max(100).optional(),
                /** The accuracy this experiment aims for, percent (default: none). */
                target: z.number().min(0).max(100).optional(),
                /** Where the published figure or the target comes from. */
                source: z.string().min(1),
              })
              .strict(),
          )
          .default([]),
      })
      .strict()
      .optional(),
    /** Write and measure a model bundle per test run (off for learning curves, where only accuracy and cost matter). */
    bundles: z.boolean().default(true),
    /**
     * "all": once a run is tested, the same setting is fitted again on its training plus test rows and
     * written as a second bundle, marked refitted and untested; it carries the tested figures it inherits.
     */
    refit: z.enum(['none', 'all']).default('none'),
    /**
     * Compact bundles: besides each run's float32 bundle (its exact model), the model with its large arrays
     * (k-NN rows, support vectors, thresholds, CNN weights) stored at these precisions, written as extra
     * bundles beside it (models/<label>-<id>.f16.bundle, .int8.bundle) and measured: size, test accuracy,
     * agreement with the float32 model's labels, and the deployment figures. One precision or a list;
     * "float32" (the default) alone writes none.
     */
    bundle: z
      .object({
        precision: z
          .union([precisionSchema, z.array(precisionSchema).min(1).refine((a) => new Set(a).size === a.length, 'list each precision once')], {
            error: (issue) => (issue.code === 'invalid_union' ? `expected ${PRECISIONS.map((p) => `"${p}"`).join(', ')} or a list of them` : undefined),
          })
          .default('float32'),
      })
      .strict()
      .default({ precision: 'float32' }),
    /**
     * Robustness (issue 24): each bundle measured on the test images under MNIST-C corruptions ("all", or a
     * list of names), plus Fashion-MNIST and uniform-noise images for the "unsure" answer. The corrupted
     * images are made once per experiment and split, and shared by every bundle.
     */
    robustness: z
      .object({
        corruptions: z.union([z.literal('all'), z.array(z.enum(CORRUPTION_NAMES as unknown as [string, ...string[]])).min(1).refine((a) => new Set(a).size === a.length, 'list each corruption once')], {
          error: (issue) => (issue.code === 'invalid_union' ? `expected "all" or a list of corruptions (${CORRUPTION_NAMES.join(', ')})` : undefined),
        }),
        /** Uniform-noise images to ask for an answer (0: none). */
        noiseImages: z.number().int().nonnegative().default(1000),
      })
      .strict()
      .optional(),
    /**
     * The "unsure" answer: a confidence threshold chosen on the validation rows (split.validation) so that
     * the answers above it reach this accuracy, stored in each bundle with the calibration.
     */
    reject: z.object({ targetAccuracy: z.number().gt(0).max(1).default(0.995) }).strict().default({ targetAccuracy: 0.995 }),
    seed: z.number().int().default(1),
    timeoutSeconds: z.number().positive().default(1800),
    memoryLimitMb: z.number().int().positive().default(6144),
    /** Single-row predictions timed on the model alone (features precomputed), for comparison with the bundle's figures. */
    latencySamples: z.number().int().nonnegative().default(200),
    /** Deployment limits for the pick, and how the bundle is measured (in a fresh process, from raw pixels). */
    deploy: z
      .object({
        /** Largest acceptable end-to-end latency p50 per image, ms. */
        maxLatencyMs: z.number().positive().optional(),
        /** Largest acceptable bundle, bytes. */
        maxModelBytes: z.number().positive().optional(),
        /** Smallest acceptable share of clean test images answered (not "unsure") at the reject target accuracy, 0..1. */
        minCoverage: z.number().min(0).max(1).optional(),
        /** Smallest acceptable mean accuracy over the corruptions, 0..1 (needs robustness). */
        minCorruptedAccuracy: z.number().min(0).max(1).optional(),
        /** Largest acceptable expected calibration error on the test rows, after calibration, 0..1. */
        maxEce: z.number().min(0).max(1).optional(),
        /** The Pareto chart's and the pick's accuracy axis: test accuracy, or coverage at the reject target. */
        axis: z.enum(['accuracy', 'coverage']).default('accuracy'),
        /** Timed passes of single-image predictions, and calls per pass. */
        passes: z.number().int().min(2).default(5),
        calls: z.number().int().positive().default(200),
        /** Images per call for the throughput figure. */
        batch: z.number().int().positive().default(1000),
        /** Whose figures the Pareto set and the pick use: a Node process, or a browser page (after `digitbench browser-bench`). */
        target: z.enum(['node', 'browser']).default('node'),
      })
      .strict()
      .default({ passes: 5, calls: 200, batch: 1000, target: 'node', axis: 'accuracy' }),
  })
  .strict();

export type ExperimentConfig = z.output<typeof experimentSchema>;

/**
 * The compact precisions a run writes besides float32 (bundle.precision without float32, in the order
 * float16, int8); [] when none. Settings of a queue job from before the key have none.
 */
export function compactPrecisions(config: { bundle?: { precision: Precision | Precision[] } }): Precision[] {
  const asked = [config.bundle?.precision ?? 'float32'].flat();
  return PRECISIONS.filter((p) => p !== 'float32' && asked.includes(p));
}

/** One setting a classifier can be tested with: a grid point on a feature set. */
export interface Candidate {
  /** The feature set's name, when the experiment names feature sets. */
  featureSet?: string;
  features: StepSpec[];
  params: Record<string, unknown>;
}

export interface RunSpec {
  /** Index in the expanded run list. */
  index: number;
  label: string;
  pluginRef: string;
  plugin: ClassifierPlugin;
  /** The settings to choose among (one: nothing to choose). `params`/`features` hold the chosen one once chosen. */
  candidates: Candidate[];
  /** How the candidates are searched (the entry's `search`, defaults filled in). */
  search?: SearchSpec;
  params: Record<string, unknown>;
  features: StepSpec[];
  featureSet?: string;
  /** This run's split (repetitions with resample "split" and learning-curve sizes each have their own). */
  split: SplitSpec;
  seed: number;
  repetition: number;
  timeoutSeconds: number;
  memoryLimitMb: number;
}

export interface Experiment {
  name: string;
  file: string;
  config: ExperimentConfig;
  /** The JSON as written, for the report. */
  raw: unknown;
  runs: RunSpec[];
}

function where(file: string, path: PropertyKey[]): string {
  return path.length ? `${file}: ${path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '')}` : file;
}

function gridCombinations(grid: Record<string, unknown[]> | undefined): Record<string, unknown>[] {
  let combos: Record<string, unknown>[] = [{}];
  for (const [key, values] of Object.entries(grid ?? {})) combos = combos.flatMap((c) => values.map((v) => ({ ...c, [key]: v })));
  return combos;
}

/**
 * A classifier entry's candidates: every grid point on each of its pipelines (search "grid", and halving
 * over the grid), or a seeded sample of its space (search "random", halving with a number of candidates):
 * the feature set a dimension when there are several, then the grid's lists and the distributions
 * (space.ts), drawn with createRng(`${search.seed}:${label}:search`). Every setting passes parseParams.
 */
function entryCandidates(
  entry: { params: Record<string, unknown>; grid?: Record<string, unknown[]>; distributions?: Record<string, Distribution>; search: SearchSpec; label?: string },
  plugin: ClassifierPlugin,
  pipelines: { name?: string; features: StepSpec[] }[],
  at: string,
): Candidate[] {
  const { search } = entry;
  const make = (pipeline: { name?: string; features: StepSpec[] }, combo: Record<string, unknown>): Candidate => {
    let params: Record<string, unknown>;
    try {
      params = parseParams(plugin, { ...entry.params, ...combo }) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`${at}: ${(e as Error).message}`);
    }
    return { ...(pipeline.name !== undefined ? { featureSet: pipeline.name } : {}), features: pipeline.features, params };
  };
  const sampled = search.strategy === 'random' || (search.strategy === 'halving' && search.candidates !== 'grid');
  if (entry.distributions && !sampled) {
    throw new Error(`${at}.distributions: distributions are drawn from by a random search; set "search": {"strategy": "random", "candidates": N} (or halving with "candidates": N), or list the values in grid.`);
  }
  for (const key of Object.keys(entry.distributions ?? {})) {
    if (entry.grid && key in entry.grid) throw new Error(`${at}.distributions.${key}: ${key} is also in grid; give it in one of the two.`);
  }
  if (search.strategy === 'halving' && search.resource === 'epochs') {
    const searched = [...Object.keys(entry.grid ?? {}), ...Object.keys(entry.distributions ?? {})];
    if (searched.includes('epochs')) throw new Error(`${at}.search.resource: epochs cannot be the resource since it is searched (in grid or distributions); remove it there or use "resource": "rows".`);
    const first = make(pipelines[0]!, {});
    if (typeof first.params.epochs !== 'number') throw new Error(`${at}.search.resource: "epochs" needs an epochs param, which ${plugin.name} has not; use "resource": "rows".`);
  }
  if (!sampled) return pipelines.flatMap((pipeline) => gridCombinations(entry.grid).map((combo) => make(pipeline, combo)));
  let count: number;
  if (search.strategy === 'random') count = search.candidates;
  else if (search.candidates !== 'exhaust' && search.candidates !== 'grid') count = search.candidates;
  else {
    // HalvingRandomSearchCV's n_candidates "exhaust": max_resources // min_resources, known here only when both are given
    // (or epochs: auto = the params' epochs). scikit-learn refuses both "exhaust" as well.
    const max = search.maxResources === 'auto' ? (search.resource === 'epochs' ? (make(pipelines[0]!, {}).params.epochs as number) : undefined) : search.maxResources;
    const min = typeof search.minResources === 'number' ? search.minResources : search.resource === 'epochs' && search.minResources === 'smallest' ? 1 : undefined;
    if (max === undefined || min === undefined) {
      throw new Error(`${at}.search.candidates: "exhaust" draws maxResources // minResources candidates, so give minResources as a number${search.resource === 'rows' ? ' and maxResources as a number' : ''} (or a number of candidates).`);
    }
    count = Math.max(1, Math.floor(max / min));
  }
  const dimensions: Dimension[] = [
    ...(pipelines.length > 1 ? [{ key: 'featureSet', distribution: pipelines.map((_, j) => j) }] : []),
    ...Object.entries(entry.grid ?? {}).map(([key, values]) => ({ key, distribution: values as Distribution })),
    ...Object.entries(entry.distributions ?? {}).map(([key, distribution]) => ({ key, distribution })),
  ];
  const drawn = sampleSpace(dimensions, count, createRng(`${search.seed}:${entry.label ?? plugin.name}:search`), {
    where: `${at}.search.candidates`,
    cap: search.strategy === 'halving' && search.candidates === 'exhaust',
    check: (d) => void make(pipelines[d.featureSet ?? 0]!, d.params),
  });
  return drawn.map((d) => make(pipelines[d.featureSet ?? 0]!, d.params));
}

/** Resolves a name like `quick` to the project's experiments/quick.json; anything with a slash or .json is a path (from the current folder). */
export function experimentPath(ref: string): string {
  if (ref.includes('/') || extname(ref) === '.json') return resolve(ref);
  return resolve(PROJECT_ROOT, 'experiments', `${ref}.json`);
}

export async function loadExperiment(file: string): Promise<Experiment> {
  const raw = await readJsonFile(file, 'Experiment file', 'name one in experiments/ (e.g. quick) or give a path to a .json file');
  return parseExperiment(raw, file);
}

export async function parseExperiment(raw: unknown, file: string): Promise<Experiment> {
  const r = experimentSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new Error(`${where(file, issue.path)}: ${issue.message}.`);
  }
  const config = r.data;
  const baseDir = dirname(file);
  const parseSteps = (steps: unknown[], path: string) => {
    try {
      return parsePipeline(steps, path);
    } catch (e) {
      throw new Error(`${file}: ${(e as Error).message}`);
    }
  };
  const named = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  if (config.featureSets && 'features' in named) throw new Error(`${file}: give either features or featureSets, not both (featureSets replaces the shared pipeline).`);
  const shared = parseSteps(config.features, 'features');
  const image = parseSteps(config.imageFeatures, 'imageFeatures');
  const sets = Object.entries(config.featureSets ?? {}).map(([name, steps]) => ({ name, features: parseSteps(steps, `featureSets.${name}`) }));
  if (config.featureSets && !sets.length) throw new Error(`${file}: featureSets: name at least one pipeline, e.g. {"pca50": [{"step": "scale"}, {"step": "pca", "components": 50}]}.`);
  if (!config.bundles && compactPrecisions(config).length) throw new Error(`${file}: bundle.precision asks for compact bundles, but "bundles" is false; remove one of the two.`);
  if (config.resample === 'split' && config.repetitions < 2) throw new Error(`${file}: resample: "split" re-draws the split per repetition; set repetitions to 2 or more.`);
  const sizes = config.learningCurve?.sizes ?? [undefined];
  const splitFor = (size: number | undefined, rep: number): SplitSpec => ({
    ...config.split,
    ...(size !== undefined ? { train: size } : {}),
    ...(config.resample === 'split' ? { seed: (config.split.seed ?? 0) + rep } : {}),
  });
  const entries: { entry: (typeof config.classifiers)[number]; plugin: ClassifierPlugin; candidates: Candidate[] }[] = [];
  for (const [i, entry] of config.classifiers.entries()) {
    let plugin: ClassifierPlugin;
    try {
      plugin = await resolvePlugin(entry.plugin, baseDir);
    } catch (e) {
      throw new Error(`${file}: classifiers[${i}].plugin: ${(e as Error).message}`);
    }
    let pipelines: { name?: string; features: StepSpec[] }[];
    if (entry.features) {
      if (entry.featureSets) throw new Error(`${file}: classifiers[${i}]: give either features or featureSets, not both.`);
      pipelines = [{ features: parseSteps(entry.features, `classifiers[${i}].features`) }];
    } else if (entry.featureSets) {
      if (!config.featureSets) throw new Error(`${file}: classifiers[${i}].featureSets names feature sets, but the experiment has no featureSets; add them at the top level.`);
      pipelines = entry.featureSets.map((name, j) => {
        const set = sets.find((s) => s.name === name);
        if (!set) throw new Error(`${file}: classifiers[${i}].featureSets[${j}]: no feature set "${name}"; use one of ${sets.map((s) => s.name).join(', ')}.`);
        return set;
      });
    } else if (plugin.input === 'image') pipelines = [{ features: image }];
    else pipelines = sets.length ? sets : [{ features: shared }];
    const candidates = entryCandidates(entry, plugin, pipelines, `${file}: classifiers[${i}]`);
    if (entry.search.strategy !== 'grid' && candidates.length < 2) {
      throw new Error(`${file}: classifiers[${i}].search: a ${entry.search.strategy} search needs at least two candidate settings (it has ${candidates.length}); add grid values or distributions, or remove search.`);
    }
    entries.push({ entry, plugin, candidates });
  }
  const runs: RunSpec[] = [];
  for (const size of sizes) {
    for (const { entry, plugin, candidates } of entries) {
      for (let rep = 0; rep < config.repetitions; rep++) {
        const first = candidates[0]!;
        runs.push({
          index: runs.length,
          label: entry.label ?? plugin.name,
          pluginRef: entry.plugin,
          plugin,
          candidates,
          ...(candidates.length > 1 ? { search: entry.search } : {}),
          params: first.params,
          features: first.features,
          ...(candidates.length === 1 && first.featureSet !== undefined ? { featureSet: first.featureSet } : {}),
          split: splitFor(size, rep),
          seed: config.seed + rep,
          repetition: rep,
          timeoutSeconds: entry.timeoutSeconds ?? config.timeoutSeconds,
          memoryLimitMb: entry.memoryLimitMb ?? config.memoryLimitMb,
        });
      }
    }
  }
  return { name: config.name ?? basename(file, '.json'), file, config, raw, runs };
}

