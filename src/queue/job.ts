/**
 * What travels through the queue. A job is one test run of an experiment, self-contained: the run's
 * candidates, split and limits, the parts of the config it needs, and what the coordinator computed
 * (run id, dataset hash, split fingerprint, code hash, library versions) so a worker can prove it
 * would make the same row before it makes one. A job's answer is the row, its selection rows, and
 * where its bundle waits in Redis. Both sides validate what they receive (zod).
 */
import { datasetSourceSchema } from '../data/sources.ts';
import { existsSync, realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { selectionSchema, splitSpecSchema } from '../data/split.ts';
import { isPluginPath } from '../classifiers/registry.ts';
import { experimentSchema, type Experiment, type RunSpec } from '../harness/experiment.ts';
import type { RunSettings } from '../harness/execute.ts';
import { PROJECT_ROOT } from '../harness/env.ts';
import { resultRowSchema, selectionRowSchema } from '../results/row.ts';
import type { EngineName } from '../engine/ort.ts';
import { searchSchema } from '../harness/search/space.ts';

export const JOB_NAME = 'run';

const candidateSchema = z
  .object({
    featureSet: z.string().optional(),
    features: z.array(z.unknown()).min(1),
    params: z.record(z.string(), z.unknown()),
  })
  .strict();

export const runJobSchema = z
  .object({
    format: z.literal('digitbench-run-job'),
    version: z.literal(1),
    experiment: z.string().min(1),
    run: z
      .object({
        index: z.number().int().nonnegative(),
        label: z.string().min(1),
        /** A built-in's name, or "./<path inside the checkout>". */
        pluginRef: z.string().min(1),
        candidates: z.array(candidateSchema).min(1),
        split: splitSpecSchema,
        seed: z.number().int(),
        repetition: z.number().int().nonnegative(),
        timeoutSeconds: z.number().positive(),
        memoryLimitMb: z.number().int().positive(),
        /** How the candidates are searched (absent: a full grid, as in jobs from before the key). */
        search: searchSchema.optional(),
      })
      .strict(),
    settings: z
      .object({
        dataset: datasetSourceSchema,
        selection: selectionSchema,
        bundles: z.boolean(),
        refit: z.enum(['none', 'all']).default('none'),
        /** Compact bundles (absent in jobs from before the key: none). */
        bundle: experimentSchema.shape.bundle.optional(),
        latencySamples: z.number().int().nonnegative(),
        deploy: experimentSchema.shape.deploy,
        /** The "unsure" target and robustness measurement (absent in jobs from before the keys: the defaults, none). */
        reject: experimentSchema.shape.reject.optional(),
        robustness: experimentSchema.shape.robustness,
        /** The experiment's seed: the corruptions' seed (absent in jobs from before the key: 1, the default). */
        seed: z.number().int().optional(),
      })
      .strict(),
    expect: z
      .object({
        id: z.string().regex(/^[0-9a-f]{16}$/),
        datasetHash: z.string().min(1),
        fingerprint: z.string().min(1),
        code: z.string().min(1),
        versions: z.record(z.string(), z.string()),
        /** The coordinator's engine (absent in jobs from before there were two: wasm). */
        engine: z.enum(['ort', 'wasm']).optional(),
      })
      .strict(),
    /**
     * A run with several candidates (the parent job of a flow): the selection rows it already has (ok rows
     * on the coordinator's disk), so that a resumed run scores only the missing candidates.
     */
    have: z.array(selectionRowSchema).optional(),
    /** A flow parent's own phases so far (planning, then refit and test), seconds each: written by the workers that ran it. */
    segments: z.array(z.object({ phase: z.string().min(1), seconds: z.number().nonnegative() }).strict()).optional(),
  })
  .strict();

/** A flow's child: one candidate (× rung) of its parent run job, which the worker reads and proves first. */
export const CANDIDATE_JOB_NAME = 'candidate';

export const candidateJobSchema = z
  .object({
    format: z.literal('digitbench-candidate-job'),
    version: z.literal(1),
    candidate: z.number().int().nonnegative(),
    rung: z.number().int().nonnegative(),
    resource: z.object({ kind: z.enum(['rows', 'epochs']), value: z.number().int().positive() }).strict().optional(),
    /** The selection row's id the coordinator expects (the worker must compute the same). */
    selectionId: z.string().regex(/^[0-9a-f]{16}$/),
  })
  .strict();

export type CandidateJob = z.infer<typeof candidateJobSchema>;

/** A candidate job's answer: its selection row (a candidate that failed is a failed row, not a failed job). */
export const candidateResultSchema = z.object({ worker: z.string(), row: selectionRowSchema }).strict();
export type CandidateResult = z.infer<typeof candidateResultSchema>;

/** A candidate job's id: its parent's, the rung and the candidate (deterministic: BullMQ adds an id once). */
export function candidateJobId(parentId: string, task: { candidate: number; rung: number }): string {
  return `${parentId}.r${task.rung}.c${task.candidate}`;
}

/** The parent's id and the task of a candidate job's id, or undefined for another id. */
export function parseCandidateJobId(id: string): { parentId: string; rung: number; candidate: number } | undefined {
  const m = /^(.+)\.r(\d+)\.c(\d+)$/.exec(id);
  return m ? { parentId: m[1]!, rung: Number(m[2]), candidate: Number(m[3]) } : undefined;
}

export type RunJob = z.infer<typeof runJobSchema>;
/** A job as the coordinator writes it (defaults not yet filled in). */
export type RunJobInput = z.input<typeof runJobSchema>;

export const jobResultSchema = z
  .object({
    worker: z.string(),
    row: resultRowSchema,
    selectionRows: z.array(selectionRowSchema),
    /** The Redis key holding the bundle's bytes, when the row has a bundle. */
    bundleKey: z.string().optional(),
    /** The Redis key holding the refitted bundle's bytes (refit: "all"). */
    refitBundleKey: z.string().optional(),
    /** The Redis keys holding the compact bundles' bytes, by precision (bundle.precision). */
    compactBundleKeys: z.record(z.string(), z.string()).optional(),
  })
  .strict();

export type JobResult = z.infer<typeof jobResultSchema>;

/** Progress a worker reports on a job (BullMQ job progress). */
export interface JobProgress {
  worker: string;
  phase: string;
  total?: number;
  unit?: string;
  info?: Record<string, string | number>;
}

/**
 * A job's id: the run, the sweep (a fresh start of the experiment folder) and the attempt (rows the
 * run already has). A restarted coordinator asks for the same ids, which BullMQ does not add twice; a
 * run that failed and is tried again gets a new one.
 */
export function jobId(experiment: string, runId: string, sweep: string, attempt: number): string {
  return `${experiment}.${runId}.${sweep}.${attempt}`;
}

/** The Redis key under which a worker leaves a job's bundle for the coordinator. */
export function bundleKey(queueName: string, id: string): string {
  return `digitbench:${queueName}:bundle:${id}`;
}

/**
 * How a run names its plugin in a job: a built-in by name, a plugin file by its path inside the
 * checkout ("./plugins/x.ts"), which every worker's checkout has too. A file outside is an error here,
 * before anything is queued.
 */
export function jobPluginRef(run: RunSpec, baseDir: string, where: string): string {
  if (!isPluginPath(run.pluginRef)) return run.pluginRef;
  const rel = relative(PROJECT_ROOT, resolve(baseDir, run.pluginRef));
  if (rel.startsWith('..') || isAbsolute(rel)) {
    throw new Error(
      `${where}: the plugin file ${resolve(baseDir, run.pluginRef)} is outside this checkout (${PROJECT_ROOT}); queue workers run only built-ins and plugin files inside their own checkout, so move it into the checkout (and onto every worker) or run without --queue.`,
    );
  }
  return `./${rel.split(sep).join('/')}`;
}

/**
 * The worker's side: the plugin a job names must be a built-in or a file inside this checkout, named
 * by a relative path. Returns why not, or nothing when it may run.
 */
export function refusePlugin(ref: string): string | undefined {
  if (!isPluginPath(ref)) return undefined; // a built-in name; resolving it refuses unknown names
  const outside = `names the plugin "${ref}", which is neither a built-in nor a file inside this worker's checkout (${PROJECT_ROOT}); workers run only those`;
  if (isAbsolute(ref) || !ref.startsWith('./')) return outside;
  const file = resolve(PROJECT_ROOT, ref);
  const rel = relative(PROJECT_ROOT, file);
  if (rel.startsWith('..') || isAbsolute(rel)) return outside;
  if (!existsSync(file)) return `names the plugin file ${ref}, which this worker's checkout (${PROJECT_ROOT}) does not have; give every worker the same checkout`;
  const real = relative(realpathSync(PROJECT_ROOT), realpathSync(file));
  if (real.startsWith('..') || isAbsolute(real)) return outside;
  return undefined;
}

/** The job for one of an experiment's runs. */
export function runJob(
  exp: Experiment,
  run: RunSpec,
  p: { baseDir: string; id: string; datasetHash: string; fingerprint: string; code: string; versions: Record<string, string>; engine: EngineName },
): RunJobInput {
  const settings: RunSettings = exp.config;
  return {
    format: 'digitbench-run-job',
    version: 1,
    experiment: exp.name,
    run: {
      index: run.index,
      label: run.label,
      pluginRef: jobPluginRef(run, p.baseDir, `${exp.file}: classifiers (${run.label}).plugin`),
      candidates: run.candidates.map((c) => ({ ...(c.featureSet !== undefined ? { featureSet: c.featureSet } : {}), features: c.features, params: c.params })),
      split: run.split,
      seed: run.seed,
      repetition: run.repetition,
      timeoutSeconds: run.timeoutSeconds,
      memoryLimitMb: run.memoryLimitMb,
      ...(run.search ? { search: run.search } : {}),
    },
    settings: { dataset: settings.dataset, selection: settings.selection, bundles: settings.bundles, refit: settings.refit, ...(settings.bundle ? { bundle: settings.bundle } : {}), latencySamples: settings.latencySamples, deploy: settings.deploy, ...(settings.reject ? { reject: settings.reject } : {}), ...(settings.robustness ? { robustness: settings.robustness, seed: settings.seed } : {}) },
    expect: { id: p.id, datasetHash: p.datasetHash, fingerprint: p.fingerprint, code: p.code, versions: p.versions, engine: p.engine },
  };
}
