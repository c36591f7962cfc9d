/**
 * Runs an experiment: every run in its own child process with a timeout and a memory limit,
 * one row appended to <out>/results.jsonl (runs/<experiment>/ by default) as each run finishes, the report
 * re-rendered after each row. Finished (ok) runs are skipped on the next start; failures never count
 * as finished. `openExperiment` is the part a queue coordinator (queue/coordinator.ts) shares: the
 * folder, the resume, the splits, the run ids, the report.
 */
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { loadDataset, type Dataset } from '../data/datasets.ts';
import { makeSplit, testPart, type Split, type SplitSpec } from '../data/split.ts';
import { canonicalJson } from '../engine/hash.ts';
import { createPipeline } from '../features/pipeline.ts';
import { writeReport } from '../report/write.ts';
import { latestPerId, loadBaseline } from './report-rows.ts';
import type { ChildMessage } from './child.ts';
import { gitCommit, machine, PROJECT_ROOT } from './env.ts';
import { checkOutDir, lockFolder, makeOutDir, moveGenerationAside } from './folder.ts';
import type { Experiment, RunSpec } from './experiment.ts';
import { executeRun, featurePreparer, runId, selectionIds, type MachineEnv } from './execute.ts';
import { runProvenance } from './provenance.ts';
import { appendRow, appendSelectionRow, readRows, readSelectionRows, setAsideTornLine, type ResultRow, type SelectionRow } from '../results/row.ts';
import { engineChoice } from '../engine/ort.ts';

export { runIsolated } from './isolated.ts';

/** Present while an experiment has runs left to do (interrupted, or some failed): the next start resumes. */
export const RESUME_FILE = '.resume';

export interface RunEvents {
  /** A run is starting (index among runs to do now, how many to do; where: the queue worker that took it). */
  start(run: RunSpec, position: number, todo: number, where?: string): void;
  progress(run: RunSpec, m: Extract<ChildMessage, { type: 'progress' }>): void;
  done(run: RunSpec, row: ResultRow): void;
  skip(run: RunSpec): void;
  note(message: string): void;
  /** The experiment ended (finished or failed): release the terminal. */
  close(): void;
}

export interface RunOptions {
  /** Folder for results.jsonl and the report (default runs/<name>; see defaultOutDir). */
  outDir?: string;
  /** Start over even when an unfinished run could resume: the previous generation moves to previous/<time>/. */
  fresh?: boolean;
  events?: Partial<RunEvents>;
}

export interface RunSummary {
  outDir: string;
  rows: ResultRow[];
  ran: number;
  skipped: number;
  failed: number;
  report: string;
}

export async function runExperiment(exp: Experiment, opts: RunOptions = {}): Promise<RunSummary> {
  const ev = opts.events ?? {};
  let opened: OpenExperiment | undefined;
  try {
    const state = (opened = await openExperiment(exp, opts, ev));
    const prepare = featurePreparer(state.dataset, (run) => state.splitOf(run.split), (m) => ev.note?.(m));
    let failed = 0;
    for (const [pos, run] of state.todo.entries()) {
      ev.start?.(run, pos, state.todo.length);
      const row = await executeRun(
        {
          experiment: exp.name,
          settings: exp.config,
          dataset: state.dataset,
          split: state.splitOf(run.split),
          env: { ...state.env, packages: state.versionsOf(run) },
          baseDir: state.baseDir,
          code: state.codeOf(run),
          id: state.ids[run.index]!,
          outDir: state.outDir,
          selectionRows: state.selectionRows,
          onSelectionRow: (row) => state.addSelectionRow(row),
          prepare,
          events: ev,
        },
        run,
      );
      if (row.status !== 'ok') failed++;
      await appendRow(state.resultsFile, row);
      ev.done?.(run, row);
      await state.render();
    }
    return await state.finish(failed);
  } finally {
    opened?.close();
    ev.close?.();
  }
}

/** An experiment's folder opened for running: what is left to do, and how to record and report it. */
export interface OpenExperiment {
  outDir: string;
  resultsFile: string;
  /** True when an unfinished experiment in the folder is resumed. */
  resumed: boolean;
  dataset: Dataset;
  splitOf(spec: SplitSpec): Split;
  /** The machine's environment; a row's also has its run's package versions (versionsOf). */
  env: MachineEnv;
  /** Installed versions of the packages a run depends on (its plugin's and its feature steps' declared libraries). */
  versionsOf(run: RunSpec): Record<string, string>;
  baseDir: string;
  codeOf(run: RunSpec): string;
  /** Every run's id, by run index. */
  ids: string[];
  /** The runs without a finished row, in order. */
  todo: RunSpec[];
  /** Rows already in results.jsonl when the experiment was opened. */
  existing: ResultRow[];
  selectionRows: SelectionRow[];
  addSelectionRow(row: SelectionRow): Promise<void>;
  /** Re-renders the report from results.jsonl. */
  render(): Promise<void>;
  /** Final render; drops the resume marker when every run is finished. */
  finish(failed: number): Promise<RunSummary>;
  /** Releases the folder's lock (safe to call twice). */
  close(): void;
}

export async function openExperiment(exp: Experiment, opts: { outDir?: string; fresh?: boolean }, ev: Partial<RunEvents>): Promise<OpenExperiment> {
  const outDir = opts.outDir ?? defaultOutDir(exp.name);
  const flag = opts.outDir !== undefined ? `--out ${outDir}` : `The output folder ${outDir}`;
  // 1. Everything that can fail before the first run is proven before the folder is touched.
  const proof = await proveExperiment(exp, outDir, flag);
  const { dataset, splits, splitOf, versionsOf, env, baseDir, codeOf, ids, baseline } = proof;
  // 2. The folder: made if missing, then held by this process alone.
  await makeOutDir(outDir, flag);
  const lock = lockFolder(outDir, exp.name, flag);
  try {
    const resultsFile = join(outDir, 'results.jsonl');
    const selectionFile = join(outDir, 'selection.jsonl');
    const resumeFile = join(outDir, RESUME_FILE);
    // Resume only this experiment, left unfinished here (the marker is never committed): a finished one,
    // another experiment's folder, or the report shipped in a fresh clone is measured again.
    const resume = !opts.fresh && existsSync(resumeFile) && (await readFile(resumeFile, 'utf8')).trim() === exp.name;
    if (!resume) {
      // 3. A new generation: the previous one (results, side rows, config, report, charts, bundles) moves aside whole.
      const moved = await moveGenerationAside(outDir);
      if (moved) {
        ev.note?.(`${opts.fresh ? '--fresh' : `nothing of "${exp.name}" unfinished to resume in ${outDir}`}: every run is measured again; the previous results, report and bundles were moved to ${moved}`);
      }
    } else {
      // A row cut off by a power cut: set aside (kept in a side file), so its run is simply done again.
      for (const f of [resultsFile, selectionFile, join(outDir, 'browser.jsonl')]) {
        const torn = await setAsideTornLine(f);
        if (torn) ev.note?.(torn.message);
      }
    }
    await writeFile(resumeFile, `${exp.name}\n`);
    // The config beside its results, so the report can be re-rendered (and the run repeated) from the folder alone.
    await writeFile(join(outDir, 'experiment.json'), `${JSON.stringify(exp.raw, null, 2)}\n`);
    const existing = resume && existsSync(resultsFile) ? await readRows(resultsFile) : [];
    const finished = new Set(existing.filter((r) => isFinished(r) && r.experiment === exp.name).map((r) => r.id));
    const todo = exp.runs.filter((_, i) => !finished.has(ids[i]!));
    for (const run of exp.runs) if (finished.has(ids[run.index]!)) ev.skip?.(run);
    // Selection rows of the current runs, kept across a resume (a finished candidate is not scored again).
    const wantedSelection = new Set(exp.runs.filter((r) => r.candidates.length > 1).flatMap((r) => selectionIds(r, ids[r.index]!)));
    // A halving run's rows are per (rung, candidate), their resources from its schedule: kept by run id (which hashes the search).
    const halving = new Set(exp.runs.filter((r) => r.candidates.length > 1 && r.search?.strategy === 'halving').map((r) => ids[r.index]!));
    const selectionRows = resume ? (await readSelectionRows(selectionFile)).filter((r) => wantedSelection.has(r.id) || (halving.has(r.runId) && r.resource !== undefined)) : [];
    const currentIds = new Set(ids);
    // Which rows of results.jsonl belong to the experiment as it is now, for `digitbench report`.
    await writeFile(join(outDir, 'runs.json'), `${JSON.stringify(ids)}\n`);
    const images = reportImages(dataset, [...splits.values()]);
    // Only this experiment's current runs: rows of runs since removed or changed are kept in the file but not reported.
    const current = (rows: ResultRow[]) => latestPerId(rows).filter((r) => currentIds.has(r.id));
    const render = async (rows: ResultRow[]) =>
      writeReport(outDir, current(rows), { config: exp.raw, title: exp.name, ...images, selection: latestPerId(selectionRows), ...baseline } as Parameters<typeof writeReport>[2]);
    const readAll = async () => (existsSync(resultsFile) ? await readRows(resultsFile) : []);
    return {
      outDir,
      resultsFile,
      resumed: resume,
      dataset,
      splitOf,
      env,
      versionsOf,
      baseDir,
      codeOf,
      ids,
      todo,
      existing,
      selectionRows,
      addSelectionRow: async (row) => {
        await appendSelectionRow(selectionFile, row);
        selectionRows.push(row);
      },
      render: async () => {
        await render(await readAll());
      },
      finish: async (failed) => {
        const rows = await readAll();
        const written = await render(rows);
        if (current(rows).length === exp.runs.length && current(rows).every(isFinished)) await rm(resumeFile, { force: true });
        const ignored = latestPerId(rows).length - current(rows).length;
        if (ignored > 0) ev.note?.(`${ignored} older row(s) in ${resultsFile} belong to runs no longer in the experiment; they are kept but not reported (--fresh starts a clean file).`);
        return { outDir, rows: current(rows), ran: todo.length, skipped: exp.runs.length - todo.length, failed, report: written.report };
      },
      close: () => lock.release(),
    };
  } catch (e) {
    lock.release();
    throw e;
  }
}

/** What an experiment needs before its first run, each part checked; nothing on disk is changed. */
export async function proveExperiment(exp: Experiment, outDir: string, flag = `--out ${outDir}`) {
  await checkOutDir(outDir, flag);
  const cfg = exp.config;
  const dataset = await loadDataset(cfg.dataset);
  const splits = new Map<string, Split>();
  const splitOf = (spec: SplitSpec): Split => {
    const key = canonicalJson(spec);
    let sp = splits.get(key);
    if (!sp) splits.set(key, (sp = makeSplit(dataset, spec)));
    return sp;
  };
  for (const run of exp.runs) {
    try {
      splitOf(run.split);
    } catch (e) {
      throw new Error(`${exp.file}: split: ${(e as Error).message}`);
    }
  }
  // Every candidate's pipeline must take the dataset's image shape, and an image classifier the shape its pipeline gives.
  const checked = new Set<string>();
  for (const run of exp.runs) {
    for (const c of run.candidates) {
      const key = canonicalJson([run.label, c.features, c.params]);
      if (checked.has(key)) continue;
      checked.add(key);
      try {
        const pipeline = createPipeline(c.features, dataset.imageShape);
        if (run.plugin.input === 'image' && pipeline.outputImage) run.plugin.create(c.params, { seed: run.seed, log: { info() {}, warn() {} }, imageShape: pipeline.outputImage });
      } catch (e) {
        throw new Error(`${exp.file}: classifiers (${run.label}${c.featureSet !== undefined ? `, feature set ${c.featureSet}` : ''}) on ${dataset.imageShape[0]}×${dataset.imageShape[1]} images: ${(e as Error).message}`);
      }
    }
  }
  if (cfg.resample === 'split' && new Set(exp.runs.map((r) => splitOf(r.split).fingerprint)).size < 2) {
    throw new Error(
      `${exp.file}: resample "split" re-draws the split per repetition, but this split takes the whole official sets, so every draw is the same; give split.train (and split.test) below the dataset's sizes.`,
    );
  }
  const env: MachineEnv = { ...machine(), engine: engineChoice().engine, gitCommit: gitCommit() };
  const baseDir = dirname(exp.file);
  // Per plugin and feature pipelines: the packages a run depends on are its plugin's and its steps'.
  const provenance = new Map<string, ReturnType<typeof runProvenance>>();
  const provenanceOf = (run: RunSpec) => {
    const key = canonicalJson([run.pluginRef, run.candidates.map((c) => c.features)]);
    let p = provenance.get(key);
    if (!p) provenance.set(key, (p = runProvenance(run, baseDir)));
    return p;
  };
  const codeOf = (run: RunSpec) => provenanceOf(run).code;
  const versionsOf = (run: RunSpec) => provenanceOf(run).versions;
  const ids = exp.runs.map((run) => runId({ datasetHash: dataset.contentHash, fingerprint: splitOf(run.split).fingerprint, run, settings: cfg, versions: versionsOf(run), code: codeOf(run), engine: env.engine }));
  let baseline: Awaited<ReturnType<typeof loadBaseline>>;
  try {
    baseline = await loadBaseline(exp.raw);
  } catch (e) {
    throw new Error(`${exp.file}: ${(e as Error).message}`);
  }
  return { dataset, splits, splitOf, versionsOf, env, baseDir, codeOf, ids, baseline };
}

/** A run whose bundle was written but not measured is not finished: resuming measures it again. */
export function isFinished(r: ResultRow): boolean {
  return r.status === 'ok' && (!r.bundle || r.deployment !== undefined);
}

/**
 * Where a run writes unless told otherwise: runs/<experiment>/ (git-ignored), so a clone's reference
 * reports in reports/ stay as they are; they are made with --out reports/<experiment>.
 */
export function defaultOutDir(experiment: string): string {
  return join(PROJECT_ROOT, 'runs', experiment);
}

/** What the report needs to draw misclassified digits: each split's raw test images, keyed by its fingerprint. */
export function reportImages(dataset: Dataset, splits: readonly Split[]) {
  return {
    testImages: Object.fromEntries(splits.map((sp) => [sp.fingerprint, testPart(dataset, sp).x])),
    imageShape: dataset.imageShape,
    classNames: dataset.classes,
  };
}

