/**
 * Experiment files (experiments/*.json): validated with zod; every error names the file, the path
 * inside it and what is allowed. Expands into runs: classifier × parameter grid × repetition.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, resolve } from 'node:path';
import { z } from 'zod';
import { splitSpecSchema } from '../data/split.ts';
import { parsePipeline, type StepSpec } from '../features/pipeline.ts';
import { parseParams, type ClassifierPlugin } from '../classifiers/plugin.ts';
import { resolvePlugin } from '../classifiers/registry.ts';
import { PROJECT_ROOT } from './env.ts';

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
    timeoutSeconds: z.number().positive().optional(),
    memoryLimitMb: z.number().int().positive().optional(),
  })
  .strict();

export const experimentSchema = z
  .object({
    $schema: z.string().optional(),
    name: z.string().regex(/^[a-z0-9][a-z0-9-_]*$/, 'use lowercase letters, digits, - and _').optional(),
    description: z.string().optional(),
    dataset: z.string().min(1).default('mnist'),
    split: splitSpecSchema.default({ validation: 0, seed: 0 }),
    /** The shared pipeline for classifiers that take feature vectors. */
    features: z.array(z.unknown()).default([{ step: 'scale' }]),
    /** The pipeline for classifiers that take images (must keep rows as images). */
    imageFeatures: z.array(z.unknown()).default([{ step: 'scale' }]),
    classifiers: z.array(classifierEntrySchema).min(1),
    /** Runs per classifier setting, with seeds seed, seed+1, … */
    repetitions: z.number().int().positive().default(1),
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
        /** Timed passes of single-image predictions, and calls per pass. */
        passes: z.number().int().min(2).default(5),
        calls: z.number().int().positive().default(200),
        /** Images per call for the throughput figure. */
        batch: z.number().int().positive().default(1000),
      })
      .strict()
      .default({ passes: 5, calls: 200, batch: 1000 }),
  })
  .strict();

export type ExperimentConfig = z.output<typeof experimentSchema>;

export interface RunSpec {
  /** Index in the expanded run list. */
  index: number;
  label: string;
  pluginRef: string;
  plugin: ClassifierPlugin;
  params: Record<string, unknown>;
  features: StepSpec[];
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

/** Resolves a name like `quick` to the project's experiments/quick.json; anything with a slash or .json is a path (from the current folder). */
export function experimentPath(ref: string): string {
  if (ref.includes('/') || extname(ref) === '.json') return resolve(ref);
  return resolve(PROJECT_ROOT, 'experiments', `${ref}.json`);
}

export async function loadExperiment(file: string): Promise<Experiment> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new Error(`Experiment file ${file} not found; name one in experiments/ (e.g. quick) or give a path to a .json file.`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message}).`);
  }
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
  const shared = parseSteps(config.features, 'features');
  const image = parseSteps(config.imageFeatures, 'imageFeatures');
  const runs: RunSpec[] = [];
  for (const [i, entry] of config.classifiers.entries()) {
    let plugin: ClassifierPlugin;
    try {
      plugin = await resolvePlugin(entry.plugin, baseDir);
    } catch (e) {
      throw new Error(`${file}: classifiers[${i}].plugin: ${(e as Error).message}`);
    }
    const features = entry.features ? parseSteps(entry.features, `classifiers[${i}].features`) : plugin.input === 'image' ? image : shared;
    for (const combo of gridCombinations(entry.grid)) {
      let params: Record<string, unknown>;
      try {
        params = parseParams(plugin, { ...entry.params, ...combo }) as Record<string, unknown>;
      } catch (e) {
        throw new Error(`${file}: classifiers[${i}]: ${(e as Error).message}`);
      }
      for (let rep = 0; rep < config.repetitions; rep++) {
        runs.push({
          index: runs.length,
          label: entry.label ?? plugin.name,
          pluginRef: entry.plugin,
          plugin,
          params,
          features,
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

