/**
 * One test run, start to row: choose among its candidate settings on folds of the training rows (each
 * candidate in its own process), prepare the chosen setting's features, fit and test it in its own
 * process, measure its bundle in a fresh one, and assemble the result row. The local runner (run.ts)
 * and a queue worker (queue/worker.ts) both call this, so a row means the same wherever it was made.
 */
import { rm } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Dataset } from '../data/datasets.ts';
import type { Split } from '../data/split.ts';
import { hashJson } from '../engine/hash.ts';
import { createPipeline } from '../features/pipeline.ts';
import { prepareFeatures } from '../features/prepare.ts';
import { BUNDLES_OFF } from '../report/markdown.ts';
import type { CompactBundle, ResultRow, SelectionRow } from '../results/row.ts';
import type { ChildMeasurements, ChildRequest, CompactWritten, SelectMeasurements, SelectRequest } from './child.ts';
import type { DeployAnswer, DeployRequest, DeploymentFigures } from './deploy-child.ts';
import { corruptedFile, corruptionList, ensureCorrupted, type CorruptedSet } from './corrupted.ts';
import { testPart } from '../data/split.ts';
import { compactPrecisions, type Candidate, type ExperimentConfig, type RunSpec } from './experiment.ts';
import { precisionTag, type Precision } from '@digitbench/runtime/internal';
import { latestPerId } from './report-rows.ts';
import { DEPLOY_CHILD, oneLine, PLUGIN_FAULTS, runIsolated, type Outcome } from './isolated.ts';
import type { RunEvents } from './run.ts';
import type { EngineName } from '../engine/ort.ts';
import { nextStep, searchPlan, type SearchStep, type SearchTask } from './search/plan.ts';

/** What of the experiment's config a run needs (all of it travels in a queue job). */
export type RunSettings = Pick<ExperimentConfig, 'dataset' | 'selection' | 'bundles' | 'latencySamples' | 'deploy' | 'refit'> & Partial<Pick<ExperimentConfig, 'bundle' | 'reject' | 'robustness' | 'seed'>>;

/** The environment a row records: the machine's, its run's package versions (the run adds its tfjs backend and threads). */
export interface RowEnv {
  node: string;
  platform: string;
  cpu: string;
  cores: number;
  host?: string;
  worker?: string;
  /** The engine of the numeric work (engineChoice): onnxruntime-node ("ort") or tfjs ("wasm"). */
  engine: EngineName;
  packages: Record<string, string>;
  gitCommit: string | null;
}

/** The machine's part of a row's environment (the same for every run of an experiment here). */
export type MachineEnv = Omit<RowEnv, 'packages'>;

/** A run's id: everything its result depends on (the same on every machine that would give the same row). */
export function runId(p: { datasetHash: string; fingerprint: string; run: RunSpec; settings: RunSettings; versions: Record<string, string>; code: string; engine: EngineName }): string {
  const { run } = p;
  return hashJson({
    dataset: p.datasetHash,
    split: p.fingerprint,
    candidates: run.candidates,
    ...(run.candidates.length > 1 ? { selection: p.settings.selection } : {}),
    // A random search's candidates are above (sampled at parse time); halving scores them differently.
    ...(run.candidates.length > 1 && run.search?.strategy === 'halving' ? { search: run.search } : {}),
    plugin: run.plugin.name,
    label: run.label,
    library: run.plugin.library,
    seed: run.seed,
    bundles: p.settings.bundles,
    // Only when asked for, so that the ids of every other run stay as they were.
    ...(p.settings.refit === 'all' && p.settings.bundles ? { refit: 'all' } : {}),
    ...(p.settings.bundles && compactPrecisions(p.settings).length ? { precisions: compactPrecisions(p.settings) } : {}),
    reject: p.settings.reject?.targetAccuracy ?? 0.995,
    ...(p.settings.bundles && p.settings.robustness ? { robustness: p.settings.robustness } : {}),
    versions: p.versions,
    code: p.code,
    // ort and wasm rows are different results (float32 sums in another order; the CNN trains differently).
    engine: p.engine,
  }).slice(0, 16);
}

/** The ids of a run's selection rows, one per candidate. */
export function selectionIds(run: RunSpec, id: string): string[] {
  return run.candidates.map((_, i) => selectionId(run, id, { candidate: i, rung: 0 }));
}

/** Where a run's bundle goes, relative to the report folder: models/<label>-<id>.bundle. */
export function bundleName(label: string, id: string): string {
  return join('models', `${slug(label)}-${id.slice(0, 8)}.bundle`);
}

/** Where a run's refitted bundle goes (refit: "all"): models/<label>-<id>.refit.bundle. */
export function refitBundleName(label: string, id: string): string {
  return join('models', `${slug(label)}-${id.slice(0, 8)}.refit.bundle`);
}

/** Where a run's compact bundle goes (bundle.precision): models/<label>-<id>.f16.bundle or .int8.bundle. */
export function compactBundleName(label: string, id: string, precision: Precision): string {
  return join('models', `${slug(label)}-${id.slice(0, 8)}.${precisionTag(precision)}.bundle`);
}

function slug(label: string): string {
  return label.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'model';
}

/**
 * Fits each distinct expensive pipeline once per split, so every run on it reads the same cached
 * features; a pipeline that fails gives its error to each run that needs it. `fit` does the fitting
 * (in this process locally; a worker fits in a child process, so its event loop keeps the job's lock).
 */
export function featurePreparer(
  dataset: Dataset,
  splitOf: (run: RunSpec) => Split,
  note: (m: string) => void,
  fit: (run: RunSpec, split: Split) => Promise<void> = (run, sp) => prepareFeatures(dataset, sp, run.features, { seed: sp.seed }).then(() => {}),
  opts: { retryFailures?: boolean } = {},
): (run: RunSpec) => Promise<string | undefined> {
  // The promise, not its result, so runs that need the same features at once (a worker taking several jobs) fit them once.
  const fitted = new Map<string, Promise<string | undefined>>();
  return (run) => {
    const sp = splitOf(run);
    const key = hashJson({ split: sp.fingerprint, features: run.features });
    let done = fitted.get(key);
    if (!done) {
      done = (async () => {
        const pipeline = createPipeline(run.features, dataset.imageShape);
        if (!pipeline.expensive) return undefined;
        note(`fitting features ${pipeline.labels.join(' → ')} on ${sp.train.length} training rows …`);
        try {
          await fit(run, sp);
          return undefined;
        } catch (e) {
          // A long-lived worker tries again for the next run instead of failing every later one the same way.
          if (opts.retryFailures) fitted.delete(key);
          return `feature pipeline failed: ${oneLine((e as Error).message)}`;
        }
      })();
      fitted.set(key, done);
    }
    return done;
  };
}

/** Corrupted sets made (or being made) in this process, by cache file: every run of the split shares one. */
const corruptedSets = new Map<string, Promise<CorruptedSet>>();

/**
 * The experiment's corrupted test images of a run's split (experiment key robustness), made once in this
 * process (the parent of the run and deploy children) and cached on disk for every bundle; the seed is the
 * experiment's. A failure is forgotten, so the next run tries again.
 */
export function corruptedFor(dataset: Dataset, split: Split, robustness: NonNullable<RunSettings['robustness']>, seed: number, note?: (m: string) => void): Promise<CorruptedSet> {
  const corruptions = corruptionList(robustness.corruptions, 'robustness.corruptions');
  // The cache file's path: it names everything the images depend on, and the cache folder.
  const key = corruptedFile({ datasetHash: dataset.contentHash, fingerprint: split.fingerprint, corruptions, seed, imageShape: dataset.imageShape });
  let p = corruptedSets.get(key);
  if (!p) {
    p = (async () => {
      const test = testPart(dataset, split).x;
      const made = await ensureCorrupted({ datasetHash: dataset.contentHash, fingerprint: split.fingerprint, pixels: test.data, rows: test.rows, imageShape: dataset.imageShape, corruptions, seed });
      if (made.made) note?.(`corrupted the ${test.rows} test images with ${corruptions.length} corruption(s) in ${made.seconds.toFixed(1)} s (${made.file})`);
      const { made: _, seconds: __, ...set } = made;
      return set;
    })();
    corruptedSets.set(key, p);
    p.catch(() => corruptedSets.delete(key));
  }
  return p;
}

export interface RunContext {
  experiment: string;
  settings: RunSettings;
  dataset: Dataset;
  /** This run's split. */
  split: Split;
  env: RowEnv;
  /** Plugin paths are relative to it. */
  baseDir: string;
  code: string;
  id: string;
  /** The report folder: the bundle goes to <outDir>/models/. */
  outDir: string;
  /** Selection rows already scored (a resumed run does not score a finished candidate again). */
  selectionRows: readonly SelectionRow[];
  onSelectionRow(row: SelectionRow): Promise<void>;
  prepare(run: RunSpec): Promise<string | undefined>;
  events: Partial<RunEvents>;
}

/** The selection's outcome a run is tested with: the chosen candidate, why there is none, or nothing (a run with one setting). */
export type Chosen = Extract<SearchStep, { kind: 'chosen' | 'none' }> | undefined;

/**
 * A run start to row, in this process: its selection (nextStep → scoreCandidate until a choice; rows
 * the context already has as ok are not scored again), then testChosen.
 */
export async function executeRun(ctx: RunContext, run: RunSpec): Promise<ResultRow> {
  const startedAt = new Date().toISOString();
  let chosen: Chosen;
  if (run.candidates.length > 1) {
    const plan = searchPlan(run, { dataset: ctx.dataset, selection: ctx.settings.selection });
    // A resumed run keeps its ok rows; a failed one is scored again.
    const rows: SelectionRow[] = latestPerId(ctx.selectionRows).filter((r) => r.runId === ctx.id && r.status === 'ok');
    let step: SearchStep;
    while ((step = nextStep(plan, rows)).kind === 'score') {
      for (const task of step.tasks) {
        const row = await scoreCandidate(ctx, run, task);
        await ctx.onSelectionRow(row);
        rows.push(row);
      }
    }
    chosen = step;
  }
  return testChosen(ctx, run, chosen, startedAt);
}

/** The id of a candidate's selection row: a grid candidate's is as it always was; a halving rung's names the rung and its resource. */
export function selectionId(run: RunSpec, id: string, task: SearchTask): string {
  const c = run.candidates[task.candidate]!;
  return hashJson({ run: id, candidate: task.candidate, c, ...(task.resource ? { rung: task.rung, resource: task.resource } : {}) }).slice(0, 16);
}

/**
 * One candidate (× rung) scored on the run's folds, in its own process: its selection row (not yet
 * written anywhere; the caller records it). The row names where it was scored (env) and how long it took.
 */
export async function scoreCandidate(ctx: RunContext, run: RunSpec, task: SearchTask): Promise<SelectionRow> {
  const { settings: cfg, dataset, events: ev } = ctx;
  const ci = task.candidate;
  const candidate = run.candidates[ci];
  if (!candidate) throw new Error(`candidate ${ci} is not one of the run's ${run.candidates.length}`);
  const phase = `select ${ci + 1}/${run.candidates.length}${task.rung ? ` rung ${task.rung}` : ''}`;
  ev.progress?.(run, { type: 'progress', phase });
  const selStart = new Date().toISOString();
  const t0 = performance.now();
  const o = await runIsolated<SelectRequest, SelectMeasurements>(
    {
      kind: 'select',
      dataset: cfg.dataset,
      split: run.split,
      selection: cfg.selection,
      features: candidate.features,
      pluginRef: run.pluginRef,
      baseDir: ctx.baseDir,
      params: candidate.params,
      seed: run.seed,
      ...(task.resource ? { rung: task.rung, resource: task.resource } : {}),
    },
    run,
    (m) => ev.progress?.(run, { ...m, phase: `${phase}${m.phase === 'tick' ? '' : ` ${m.phase}`}` }),
  );
  const elapsedSeconds = (performance.now() - t0) / 1000;
  return selectionRowOf(ctx, run, task, selStart, o.status === 'ok' ? { status: 'ok', folds: o.result.folds } : { status: o.status, reason: o.reason }, elapsedSeconds);
}

/**
 * A candidate's selection row from its outcome (scoreCandidate's, or a queue's verdict on a candidate job
 * that never answered, e.g. its workers died): the candidate's setting, where and when it was scored.
 */
export function selectionRowOf(
  ctx: Pick<RunContext, 'settings' | 'dataset' | 'split' | 'env' | 'code' | 'id' | 'experiment'>,
  run: RunSpec,
  task: SearchTask,
  startedAt: string,
  outcome: { status: 'ok'; folds: NonNullable<SelectionRow['folds']> } | { status: 'failed' | 'timeout'; reason: string },
  elapsedSeconds?: number,
): SelectionRow {
  const candidate = run.candidates[task.candidate]!;
  const env = { ...(ctx.env.host ? { host: ctx.env.host } : {}), ...(ctx.env.worker ? { worker: ctx.env.worker } : {}), engine: ctx.env.engine };
  return {
    id: selectionId(run, ctx.id, task),
    runId: ctx.id,
    experiment: ctx.experiment,
    classifier: run.label,
    repetition: run.repetition,
    seed: run.seed,
    split: splitInfoOf(ctx.split),
    method: ctx.settings.selection.method,
    ...(candidate.featureSet !== undefined ? { featureSet: candidate.featureSet } : {}),
    features: createPipeline(candidate.features, ctx.dataset.imageShape).labels,
    params: candidate.params,
    candidate: task.candidate,
    startedAt,
    code: ctx.code,
    ...outcome,
    env,
    ...(task.rung || task.resource ? { rung: task.rung } : {}),
    ...(task.resource ? { resource: task.resource } : {}),
    ...(run.search && run.search.strategy !== 'grid' ? { search: run.search.strategy } : {}),
    ...(elapsedSeconds !== undefined ? { elapsedSeconds } : {}),
  };
}

/**
 * The rest of a run once its selection is done: the chosen setting (or the run's only one) prepared,
 * fitted on the training rows and tested once in its own process, its bundle measured in a fresh one,
 * and the result row. `chosen` of kind "none" gives a failed row with the selection's reason.
 */
export async function testChosen(ctx: RunContext, run: RunSpec, chosenStep: Chosen, startedAt: string = new Date().toISOString()): Promise<ResultRow> {
  const { settings: cfg, dataset, id, events: ev } = ctx;
  const sp = ctx.split;
  const chosen = chosenStep?.kind === 'chosen' ? { candidate: run.candidates[chosenStep.candidate]!, accuracy: chosenStep.accuracy, folds: chosenStep.folds } : undefined;
  const selectionError = chosenStep?.kind === 'none' ? chosenStep.reason : undefined;
  const setting: Candidate = chosen?.candidate ?? run.candidates[0]!;
  const tested: RunSpec = { ...run, params: setting.params, features: setting.features, ...(setting.featureSet !== undefined ? { featureSet: setting.featureSet } : {}) };
  const featureError = selectionError ? undefined : await ctx.prepare(tested);
  const req: ChildRequest = {
    dataset: cfg.dataset,
    split: run.split,
    features: tested.features,
    pluginRef: run.pluginRef,
    baseDir: ctx.baseDir,
    params: tested.params,
    seed: run.seed,
    latencySamples: cfg.latencySamples,
    reject: { targetAccuracy: cfg.reject?.targetAccuracy ?? 0.995 },
    ...(cfg.bundles
      ? {
          bundle: {
            file: join(ctx.outDir, bundleName(run.label, id)),
            runId: id,
            experiment: ctx.experiment,
            classifier: run.label,
            ...(cfg.refit === 'all' ? { refitFile: join(ctx.outDir, refitBundleName(run.label, id)) } : {}),
            ...(compactPrecisions(cfg).length ? { compact: compactPrecisions(cfg).map((precision) => ({ precision, file: join(ctx.outDir, compactBundleName(run.label, id, precision)) })) } : {}),
          },
        }
      : {}),
  };
  const outcome: Outcome<ChildMeasurements> = selectionError
    ? { status: 'failed', reason: selectionError, elapsedSeconds: 0 }
    : featureError
      ? { status: 'failed', reason: featureError, elapsedSeconds: 0 }
      : await runIsolated(req, run, (m) => ev.progress?.(run, m));
  // The deployment figures, measured on the bundle in a fresh process.
  let deployment: DeploymentFigures | undefined;
  let deploymentError: string | undefined;
  let robustness: DeployAnswer['robustness'];
  let robustnessError: string | undefined;
  /** The bundle cannot be used (rebuilt or predicted from): the run fails, and its bundle is removed. */
  let bundleFault: string | undefined;
  if (outcome.status === 'ok' && outcome.result.bundle) {
    // The corrupted test images (robustness), made here once per experiment and split, before the bundle's process starts.
    let corrupted: CorruptedSet | undefined;
    if (cfg.robustness) {
      ev.progress?.(run, { type: 'progress', phase: 'corrupt' });
      try {
        corrupted = await corruptedFor(dataset, sp, cfg.robustness, cfg.seed ?? 1, (m) => ev.note?.(m));
      } catch (e) {
        robustnessError = `making the corrupted test images failed: ${oneLine((e as Error).message)}`;
      }
    }
    ev.progress?.(run, { type: 'progress', phase: 'deploy' });
    const d = await runIsolated<DeployRequest, DeployAnswer>(
      {
        bundleFile: outcome.result.bundle.file,
        dataset: cfg.dataset,
        split: run.split,
        predictions: outcome.result.predictions,
        passes: cfg.deploy.passes,
        calls: cfg.deploy.calls,
        batch: cfg.deploy.batch,
        pluginRef: run.pluginRef,
        baseDir: ctx.baseDir,
        ...(corrupted && cfg.robustness ? { robustness: { corrupted, noiseImages: cfg.robustness.noiseImages } } : {}),
      },
      run,
      () => {},
      DEPLOY_CHILD,
    );
    if (d.status === 'ok') {
      const { robustness: r, robustnessError: rError, ...figures } = d.result;
      deployment = figures;
      if (r) robustness = r;
      if (rError) robustnessError = oneLine(rError);
    } else {
      if (d.status === 'failed' && Object.values(PLUGIN_FAULTS).some((p) => d.reason.startsWith(p))) bundleFault = d.reason;
      else deploymentError = `measuring the bundle failed: ${d.reason}`;
      if (cfg.robustness) robustnessError ??= 'not measured: the bundle\'s measuring process failed (see deploymentError)';
    }
  }
  // Each compact bundle measured the same way, in its own fresh process; a fault there is that bundle's, not the run's.
  let compact: CompactBundle[] | undefined;
  if (outcome.status === 'ok' && outcome.result.compact && !bundleFault) {
    compact = [];
    for (const c of outcome.result.compact) compact.push(await measureCompact(ctx, run, c));
  }
  const base = rowBase({ experiment: ctx.experiment, settings: cfg, dataset, split: sp, code: ctx.code, id }, tested, startedAt, chosen && { ...chosen, candidates: run.candidates.length });
  if (outcome.status !== 'ok') return { ...base, ...notFinished(ctx.env), status: outcome.status, reason: outcome.reason, elapsedSeconds: outcome.elapsedSeconds };
  if (bundleFault) {
    await rm(outcome.result.bundle!.file, { force: true });
    if (outcome.result.refit) await rm(outcome.result.refit.file, { force: true });
    for (const c of outcome.result.compact ?? []) if ('file' in c) await rm(c.file, { force: true });
    return { ...base, ...notFinished(ctx.env), status: 'failed', reason: bundleFault, elapsedSeconds: (Date.now() - Date.parse(startedAt)) / 1000 };
  }
  const r = outcome.result;
  return {
    ...base,
    engine: r.engine,
    env: { ...ctx.env, tfjsBackend: r.tfjsBackend, threads: r.threads, ...(r.threadsUsed ? { threadsUsed: r.threadsUsed } : {}) },
    status: 'ok',
    metrics: r.metrics,
    timing: r.timing,
    peakRssMb: r.peakRssMb,
    ...(r.modelBytes !== undefined ? { modelBytes: r.modelBytes } : {}),
    ...(r.bundle ? { bundle: { file: relative(ctx.outDir, r.bundle.file).split(sep).join('/'), bytes: r.bundle.bytes } } : {}),
    ...(r.noBundle ? { noBundle: r.noBundle } : !cfg.bundles ? { noBundle: BUNDLES_OFF } : {}),
    ...(r.refit ? { refit: { file: relative(ctx.outDir, r.refit.file).split(sep).join('/'), bytes: r.refit.bytes, trainRows: r.refit.trainRows } } : {}),
    ...(compact ? { compact } : {}),
    ...(deployment ? { deployment } : {}),
    ...(deploymentError ? { deploymentError } : {}),
    ...(r.trust ? { trust: r.trust } : {}),
    ...(r.noTrust ? { noTrust: oneLine(r.noTrust) } : {}),
    ...(robustness ? { robustness } : {}),
    ...(robustnessError ? { robustnessError } : {}),
    predictions: r.predictions,
    testLabels: r.testLabels,
    testLabelsHash: r.testLabelsHash,
  };
}

/**
 * A compact bundle's row entry: what the run's process measured (size, accuracy, agreement with the float32
 * labels) and the deployment figures of the bundle in a fresh process (whose agreement is with the compact
 * model's own labels). A bundle that cannot be rebuilt or predicted from there is removed, with its error.
 */
async function measureCompact(ctx: RunContext, run: RunSpec, c: CompactWritten): Promise<CompactBundle> {
  const precision = c.precision as CompactBundle['precision'];
  if ('error' in c) return { precision, error: oneLine(c.error) };
  const cfg = ctx.settings;
  ctx.events.progress?.(run, { type: 'progress', phase: `deploy ${precisionTag(c.precision)}` });
  const d = await runIsolated<DeployRequest, DeploymentFigures>(
    { bundleFile: c.file, dataset: cfg.dataset, split: run.split, predictions: c.predictions, passes: cfg.deploy.passes, calls: cfg.deploy.calls, batch: cfg.deploy.batch, pluginRef: run.pluginRef, baseDir: ctx.baseDir },
    run,
    () => {},
    DEPLOY_CHILD,
  );
  if (d.status === 'failed' && Object.values(PLUGIN_FAULTS).some((p) => d.reason.startsWith(p))) {
    await rm(c.file, { force: true });
    return { precision, error: d.reason };
  }
  return {
    precision,
    file: relative(ctx.outDir, c.file).split(sep).join('/'),
    bytes: c.bytes,
    modelBytes: c.modelBytes,
    metrics: { accuracy: c.total ? c.correct / c.total : 0, correct: c.correct, total: c.total },
    agreement: { same: c.same, total: c.total },
    ...(d.status === 'ok' ? { deployment: d.result } : { deploymentError: `measuring the bundle failed: ${d.reason}` }),
  };
}

function splitInfoOf(sp: Split) {
  return {
    train: sp.train.length,
    validation: sp.validation.length,
    test: sp.test.length,
    seed: sp.seed,
    fingerprint: sp.fingerprint,
    ...(sp.carved ? { carved: true as const } : {}),
    ...(sp.grouped ? { grouped: true as const } : {}),
  };
}

function notFinished(env: RowEnv) {
  return { engine: 'unknown (the run did not finish)', env: { ...env, tfjsBackend: null, threads: 1 } };
}

/** The fields every row of a run has, finished or not. */
function rowBase(
  c: { experiment: string; settings: RunSettings; dataset: Dataset; split: Split; code: string; id: string },
  tested: RunSpec,
  startedAt: string,
  chosen?: { accuracy: number; folds: number; candidates: number },
) {
  return {
    id: c.id,
    experiment: c.experiment,
    dataset: c.dataset.name,
    split: splitInfoOf(c.split),
    features: createPipeline(tested.features, c.dataset.imageShape).labels,
    ...(tested.featureSet !== undefined ? { featureSet: tested.featureSet } : {}),
    ...(chosen ? { selection: { method: c.settings.selection.method, folds: chosen.folds, candidates: chosen.candidates, validationAccuracy: chosen.accuracy } } : {}),
    code: c.code,
    classifier: tested.label,
    library: tested.plugin.library,
    params: tested.params,
    seed: tested.seed,
    repetition: tested.repetition,
    startedAt,
  };
}

/**
 * The row of a run that never ran to a result of its own (e.g. a queue job a worker refused or lost):
 * its first candidate's setting, the reason, and the environment of the machine that records it.
 */
export function notRunRow(
  state: { ids: readonly string[]; splitOf(spec: RunSpec['split']): Split; env: MachineEnv; versionsOf(run: RunSpec): Record<string, string>; codeOf(run: RunSpec): string; dataset: Dataset },
  experiment: string,
  settings: RunSettings,
  run: RunSpec,
  status: 'failed' | 'timeout',
  reason: string,
  worker?: string,
): ResultRow {
  const base = rowBase({ experiment, settings, dataset: state.dataset, split: state.splitOf(run.split), code: state.codeOf(run), id: state.ids[run.index]! }, run, new Date().toISOString());
  const env: RowEnv = { ...state.env, ...(worker ? { worker } : {}), packages: state.versionsOf(run) };
  return { ...base, ...notFinished(env), status, reason, elapsedSeconds: 0 };
}
