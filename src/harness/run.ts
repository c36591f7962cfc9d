/**
 * Runs an experiment: every run in its own child process with a timeout and a memory limit,
 * one row appended to reports/<experiment>/results.jsonl as each run finishes, the report
 * re-rendered after each row. Finished (ok) runs are skipped on the next start; failures never count
 * as finished.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDataset, type Dataset } from '../data/datasets.ts';
import { makeSplit, type Split, type SplitSpec } from '../data/split.ts';
import { canonicalJson, hashJson } from '../engine/hash.ts';
import { takeRows } from '../engine/matrix.ts';
import { createPipeline } from '../features/pipeline.ts';
import { prepareFeatures } from '../features/prepare.ts';
import { BUNDLES_OFF } from '../report/markdown.ts';
import { writeReport } from '../report/write.ts';
import { latestPerId, loadBaseline } from './report-rows.ts';
import type { ChildMeasurements, ChildMessage, ChildRequest, SelectMeasurements, SelectRequest } from './child.ts';
import type { DeployRequest, DeploymentFigures } from './deploy-child.ts';
import { gitCommit, machine, packageVersions, PROJECT_ROOT } from './env.ts';
import type { Candidate, Experiment, RunSpec } from './experiment.ts';
import { runCodeHash } from './provenance.ts';
import { appendRow, appendSelectionRow, readRows, readSelectionRows, type ResultRow, type SelectionRow } from '../results/row.ts';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'child.ts');
const DEPLOY_CHILD = join(dirname(fileURLToPath(import.meta.url)), 'deploy-child.ts');
/** Present while an experiment has runs left to do (interrupted, or some failed): the next start resumes. */
const RESUME_FILE = '.resume';

export interface RunEvents {
  /** A run is starting (index among runs to do now, how many to do). */
  start(run: RunSpec, position: number, todo: number): void;
  progress(run: RunSpec, m: Extract<ChildMessage, { type: 'progress' }>): void;
  done(run: RunSpec, row: ResultRow): void;
  skip(run: RunSpec): void;
  note(message: string): void;
  /** The experiment ended (finished or failed): release the terminal. */
  close(): void;
}

export interface RunOptions {
  /** Folder for results.jsonl and the report (default reports/<name>). */
  outDir?: string;
  /** Start over: the old results file is kept beside as results.<time>.jsonl.bak. */
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

function oneLine(s: string): string {
  const line = s.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? 'unknown error';
  return line.length > 400 ? `${line.slice(0, 397)}…` : line;
}

/** Resident memory of a process in MB, from /proc (Linux); undefined elsewhere. */
function rssMb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

type Outcome<R = ChildMeasurements> = { status: 'ok'; result: R } | { status: 'failed' | 'timeout'; reason: string; elapsedSeconds: number };

/**
 * Runs one request in a child process, enforcing the timeout and memory limit. The child module
 * (child.ts by default; deploy-child.ts for the deployment measurements) answers with one
 * {type: 'result'} or {type: 'error'} message, and may send progress before it.
 */
export function runIsolated<Req = ChildRequest, Res = ChildMeasurements>(
  req: Req,
  limits: { timeoutSeconds: number; memoryLimitMb: number },
  onProgress: (m: Extract<ChildMessage, { type: 'progress' }>) => void = () => {},
  entry: string = CHILD,
): Promise<Outcome<Res>> {
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  return new Promise((resolvePromise) => {
    let settled = false;
    let stderrTail = '';
    let child: ChildProcess;
    const finish = (o: Outcome<Res>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearInterval(watch);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      resolvePromise(o);
    };
    child = fork(entry, [], {
      execArgv: ['--import', 'tsx', `--max-old-space-size=${limits.memoryLimitMb}`],
      env: { ...process.env, DIGITBENCH_CHILD: '1' },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderrTail = (stderrTail + d.toString()).slice(-4000);
    });
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'progress') onProgress(m);
      else if (m.type === 'result') finish({ status: 'ok', result: m.result as Res });
      else finish({ status: 'failed', reason: oneLine(m.message), elapsedSeconds: elapsed() });
    });
    // 'close', not 'exit': it waits until the IPC channel and stderr are drained, so a result or an
    // out-of-memory message sent just before exiting is never missed.
    child.on('close', (code, signal) => {
      if (settled) return;
      const oom = /heap out of memory|Out of memory|Cannot allocate|RangeError: Array buffer allocation failed/i.test(stderrTail);
      const lastLine = stderrTail.trim().split('\n').filter((l) => l.trim()).pop();
      const reason = oom
        ? `ran out of memory (limit ${limits.memoryLimitMb} MB); raise memoryLimitMb or use a smaller split`
        : code === 0 && !signal
          ? 'the run process exited without sending a result'
          : `the run process crashed (${signal ? `signal ${signal}` : `exit code ${code}`})${lastLine ? `: ${oneLine(lastLine)}` : ''}`;
      finish({ status: 'failed', reason, elapsedSeconds: elapsed() });
    });
    child.on('error', (e) => finish({ status: 'failed', reason: `could not start the run process: ${oneLine(e.message)}`, elapsedSeconds: elapsed() }));
    const timer = setTimeout(
      () => finish({ status: 'timeout', reason: `no result after ${limits.timeoutSeconds} s; raise timeoutSeconds or use smaller params`, elapsedSeconds: elapsed() }),
      limits.timeoutSeconds * 1000,
    );
    const watch = setInterval(() => {
      const mb = child.pid ? rssMb(child.pid) : undefined;
      if (mb !== undefined && mb > limits.memoryLimitMb) {
        finish({ status: 'failed', reason: `used ${Math.round(mb)} MB, over the memory limit of ${limits.memoryLimitMb} MB; raise memoryLimitMb or use a smaller split`, elapsedSeconds: elapsed() });
      }
    }, 200);
    child.send(req as Parameters<ChildProcess["send"]>[0]);
  });
}

export async function runExperiment(exp: Experiment, opts: RunOptions = {}): Promise<RunSummary> {
  try {
    return await runAll(exp, opts, opts.events ?? {});
  } finally {
    opts.events?.close?.();
  }
}

async function runAll(exp: Experiment, opts: RunOptions, ev: Partial<RunEvents>): Promise<RunSummary> {
  const outDir = opts.outDir ?? defaultOutDir(exp.name);
  const resultsFile = join(outDir, 'results.jsonl');
  const selectionFile = join(outDir, 'selection.jsonl');
  const resumeFile = join(outDir, RESUME_FILE);
  // Resume only an experiment left unfinished here (the marker is never committed): a finished one,
  // or the report shipped in a fresh clone, is measured again on this machine.
  const resume = !opts.fresh && existsSync(resumeFile);
  if (!resume && existsSync(resultsFile)) {
    const backup = join(outDir, `results.${new Date().toISOString().replace(/[:.]/g, '-')}.jsonl.bak`);
    await rename(resultsFile, backup);
    if (existsSync(selectionFile)) await rename(selectionFile, backup.replace('results.', 'selection.'));
    ev.note?.(
      `${opts.fresh ? '--fresh' : `nothing unfinished to resume in ${outDir}`}: every run is measured again; the previous results were moved to ${backup} and their bundles are replaced`,
    );
  }
  // Bundles belong to the results beside them: a new start writes its own (only bundle files are removed).
  if (!resume) await removeBundles(join(outDir, 'models'));
  await mkdir(outDir, { recursive: true });
  await writeFile(resumeFile, `${exp.name}\n`);
  // The config beside its results, so the report can be re-rendered (and the run repeated) from the folder alone.
  await writeFile(join(outDir, 'experiment.json'), `${JSON.stringify(exp.raw, null, 2)}\n`);
  const cfg = exp.config;
  const dataset = await loadDataset(cfg.dataset);
  const splits = new Map<string, Split>();
  const splitOf = (spec: SplitSpec): Split => {
    const key = canonicalJson(spec);
    let sp = splits.get(key);
    if (!sp) splits.set(key, (sp = makeSplit(dataset, spec)));
    return sp;
  };
  for (const run of exp.runs) splitOf(run.split);
  if (cfg.resample === 'split' && new Set(exp.runs.map((r) => splitOf(r.split).fingerprint)).size < 2) {
    throw new Error(
      `${exp.file}: resample "split" re-draws the split per repetition, but this split takes the whole official sets, so every draw is the same; give split.train (and split.test) below the dataset's sizes.`,
    );
  }
  const versions = packageVersions();
  const env = { ...machine(), packages: versions, gitCommit: gitCommit() };
  const baseDir = dirname(exp.file);
  const codes = new Map<string, string>();
  const codeOf = (run: RunSpec) => {
    let c = codes.get(run.pluginRef);
    if (!c) codes.set(run.pluginRef, (c = runCodeHash(run.pluginRef, baseDir)));
    return c;
  };
  const choosing = (run: RunSpec) => run.candidates.length > 1;

  const ids = exp.runs.map((run) =>
    hashJson({
      dataset: dataset.contentHash,
      split: splitOf(run.split).fingerprint,
      candidates: run.candidates,
      ...(choosing(run) ? { selection: cfg.selection } : {}),
      plugin: run.plugin.name,
      label: run.label,
      library: run.plugin.library,
      seed: run.seed,
      bundles: cfg.bundles,
      versions,
      code: codeOf(run),
    }).slice(0, 16),
  );
  const existing = resume && existsSync(resultsFile) ? await readRows(resultsFile) : [];
  // A run whose bundle was written but not measured is not finished: resuming measures it again.
  const done = (r: ResultRow) => r.status === 'ok' && (!r.bundle || r.deployment !== undefined);
  const finished = new Set(existing.filter((r) => done(r) && r.experiment === exp.name).map((r) => r.id));
  const todo = exp.runs.filter((_, i) => !finished.has(ids[i]!));
  for (const run of exp.runs) if (finished.has(ids[run.index]!)) ev.skip?.(run);
  // Selection rows of the current runs, kept across a resume (a finished candidate is not scored again).
  const selectionIds = (run: RunSpec) => run.candidates.map((c, i) => hashJson({ run: ids[run.index]!, candidate: i, c }).slice(0, 16));
  const wantedSelection = new Set(exp.runs.filter(choosing).flatMap(selectionIds));
  const selectionRows = resume ? (await readSelectionRows(selectionFile)).filter((r) => wantedSelection.has(r.id)) : [];

  // Each distinct expensive pipeline is fitted once per split, here, so every run on it reads the same
  // cached features. A pipeline that fails becomes a failed row for each run that needs it; the others go on.
  const featureErrors = new Map<string, string | undefined>();
  const prepare = async (run: RunSpec): Promise<string | undefined> => {
    const sp = splitOf(run.split);
    const key = hashJson({ split: sp.fingerprint, features: run.features });
    if (featureErrors.has(key)) return featureErrors.get(key);
    const pipeline = createPipeline(run.features, dataset.imageShape);
    let error: string | undefined;
    if (pipeline.expensive) {
      ev.note?.(`fitting features ${pipeline.labels.join(' → ')} on ${sp.train.length} training rows …`);
      try {
        await prepareFeatures(dataset, sp, run.features, { seed: sp.seed });
      } catch (e) {
        error = `feature pipeline failed: ${oneLine((e as Error).message)}`;
      }
    }
    featureErrors.set(key, error);
    return error;
  };

  const currentIds = new Set(ids);
  // Which rows of results.jsonl belong to the experiment as it is now, for `digitbench report`.
  await writeFile(join(outDir, 'runs.json'), `${JSON.stringify(ids)}\n`);
  const images = reportImages(dataset, [...splits.values()]);
  // Only this experiment's current runs: rows of runs since removed or changed are kept in the file but not reported.
  const current = (rows: ResultRow[]) => latestPerId(rows).filter((r) => currentIds.has(r.id));
  // Read before any run, so a missing baseline stops the experiment before hours of work.
  const baseline = await loadBaseline(exp.raw);
  const render = async (rows: ResultRow[]) =>
    writeReport(outDir, current(rows), { config: exp.raw, title: exp.name, ...images, selection: latestPerId(selectionRows), ...baseline } as Parameters<typeof writeReport>[2]);

  let failed = 0;
  for (const [pos, run] of todo.entries()) {
    ev.start?.(run, pos, todo.length);
    const startedAt = new Date().toISOString();
    const id = ids[run.index]!;
    const sp = splitOf(run.split);
    const splitInfo = { train: sp.train.length, validation: sp.validation.length, test: sp.test.length, seed: sp.seed, fingerprint: sp.fingerprint };
    // Choose among the candidates on folds of the training rows; the test rows are read once, by the chosen one.
    let chosen: { candidate: Candidate; accuracy: number; folds: number } | undefined;
    let selectionError: string | undefined;
    if (choosing(run)) {
      const sids = selectionIds(run);
      const scored: SelectionRow[] = [];
      for (const [ci, candidate] of run.candidates.entries()) {
        const have = latestPerId(selectionRows).find((r) => r.id === sids[ci] && r.status === 'ok');
        if (have) {
          scored.push(have);
          continue;
        }
        ev.progress?.(run, { type: 'progress', phase: `select ${ci + 1}/${run.candidates.length}` });
        const selStart = new Date().toISOString();
        const o = await runIsolated<SelectRequest, SelectMeasurements>(
          { kind: 'select', dataset: cfg.dataset, split: run.split, selection: cfg.selection, features: candidate.features, pluginRef: run.pluginRef, baseDir, params: candidate.params, seed: run.seed },
          run,
          (m) => ev.progress?.(run, { ...m, phase: `select ${ci + 1}/${run.candidates.length}${m.phase === 'tick' ? '' : ` ${m.phase}`}` }),
        );
        const row: SelectionRow = {
          id: sids[ci]!,
          runId: id,
          experiment: exp.name,
          classifier: run.label,
          repetition: run.repetition,
          seed: run.seed,
          split: splitInfo,
          method: cfg.selection.method,
          ...(candidate.featureSet !== undefined ? { featureSet: candidate.featureSet } : {}),
          features: createPipeline(candidate.features, dataset.imageShape).labels,
          params: candidate.params,
          candidate: ci,
          startedAt: selStart,
          code: codeOf(run),
          ...(o.status === 'ok' ? { status: 'ok' as const, folds: o.result.folds } : { status: o.status, reason: o.reason }),
        };
        await appendSelectionRow(selectionFile, row);
        selectionRows.push(row);
        scored.push(row);
      }
      const ok = scored.filter((r) => r.status === 'ok' && r.folds?.length);
      const meanOf = (r: SelectionRow, f: (x: NonNullable<SelectionRow['folds']>[number]) => number) => r.folds!.reduce((a, x) => a + f(x), 0) / r.folds!.length;
      // Highest mean validation accuracy; ties: the faster fit, then the earlier candidate in the file.
      const best = [...ok].sort((a, b) => meanOf(b, (x) => x.accuracy) - meanOf(a, (x) => x.accuracy) || meanOf(a, (x) => x.fitSeconds) - meanOf(b, (x) => x.fitSeconds) || a.candidate - b.candidate)[0];
      if (best) chosen = { candidate: run.candidates[best.candidate]!, accuracy: meanOf(best, (x) => x.accuracy), folds: best.folds!.length };
      else selectionError = `every candidate setting failed in selection (first: ${scored.find((r) => r.reason)?.reason ?? 'no folds'})`;
    }
    const setting: Candidate = chosen?.candidate ?? run.candidates[0]!;
    const tested: RunSpec = { ...run, params: setting.params, features: setting.features, ...(setting.featureSet !== undefined ? { featureSet: setting.featureSet } : {}) };
    const featureError = selectionError ? undefined : await prepare(tested);
    const req: ChildRequest = {
      dataset: cfg.dataset,
      split: run.split,
      features: tested.features,
      pluginRef: run.pluginRef,
      baseDir,
      params: tested.params,
      seed: run.seed,
      latencySamples: cfg.latencySamples,
      ...(cfg.bundles ? { bundle: { file: join(outDir, bundleName(run.label, id)), runId: id, experiment: exp.name, classifier: run.label } } : {}),
    };
    const outcome: Outcome = selectionError
      ? { status: 'failed', reason: selectionError, elapsedSeconds: 0 }
      : featureError
        ? { status: 'failed', reason: featureError, elapsedSeconds: 0 }
        : await runIsolated(req, run, (m) => ev.progress?.(run, m));
    // The deployment figures, measured on the bundle in a fresh process.
    let deployment: DeploymentFigures | undefined;
    let deploymentError: string | undefined;
    if (outcome.status === 'ok' && outcome.result.bundle) {
      ev.progress?.(run, { type: 'progress', phase: 'deploy' });
      const d = await runIsolated<DeployRequest, DeploymentFigures>(
        { bundleFile: outcome.result.bundle.file, dataset: cfg.dataset, split: run.split, predictions: outcome.result.predictions, passes: cfg.deploy.passes, calls: cfg.deploy.calls, batch: cfg.deploy.batch },
        run,
        () => {},
        DEPLOY_CHILD,
      );
      if (d.status === 'ok') deployment = d.result;
      else deploymentError = `measuring the bundle failed: ${d.reason}`;
    }
    const base = {
      id,
      experiment: exp.name,
      dataset: cfg.dataset,
      split: splitInfo,
      features: createPipeline(tested.features, dataset.imageShape).labels,
      ...(tested.featureSet !== undefined ? { featureSet: tested.featureSet } : {}),
      ...(chosen ? { selection: { method: cfg.selection.method, folds: chosen.folds, candidates: run.candidates.length, validationAccuracy: chosen.accuracy } } : {}),
      code: codeOf(run),
      classifier: run.label,
      library: run.plugin.library,
      params: tested.params,
      seed: run.seed,
      repetition: run.repetition,
      startedAt,
    };
    let row: ResultRow;
    if (outcome.status === 'ok') {
      const r = outcome.result;
      row = {
        ...base,
        engine: r.engine,
        env: { ...env, tfjsBackend: r.tfjsBackend, threads: r.threads },
        status: 'ok',
        metrics: r.metrics,
        timing: r.timing,
        peakRssMb: r.peakRssMb,
        ...(r.modelBytes !== undefined ? { modelBytes: r.modelBytes } : {}),
        ...(r.bundle ? { bundle: { file: relative(outDir, r.bundle.file).split(sep).join('/'), bytes: r.bundle.bytes } } : {}),
        ...(r.noBundle ? { noBundle: r.noBundle } : !cfg.bundles ? { noBundle: BUNDLES_OFF } : {}),
        ...(deployment ? { deployment } : {}),
        ...(deploymentError ? { deploymentError } : {}),
        predictions: r.predictions,
        testLabels: r.testLabels,
        testLabelsHash: r.testLabelsHash,
      };
    } else {
      failed++;
      row = {
        ...base,
        engine: 'unknown (the run did not finish)',
        env: { ...env, tfjsBackend: null, threads: 1 },
        status: outcome.status,
        reason: outcome.reason,
        elapsedSeconds: outcome.elapsedSeconds,
      };
    }
    await appendRow(resultsFile, row);
    ev.done?.(run, row);
    await render(await readRows(resultsFile));
  }
  const rows = existsSync(resultsFile) ? await readRows(resultsFile) : [];
  const written = await render(rows);
  if (current(rows).length === exp.runs.length && current(rows).every(done)) await rm(resumeFile, { force: true });
  const ignored = latestPerId(rows).length - current(rows).length;
  if (ignored > 0) ev.note?.(`${ignored} older row(s) in ${resultsFile} belong to runs no longer in the experiment; they are kept but not reported (--fresh starts a clean file).`);
  return { outDir, rows: current(rows), ran: todo.length, skipped: exp.runs.length - todo.length, failed, report: written.report };
}

/**
 * Where a run writes unless told otherwise: runs/<experiment>/ (git-ignored), so a clone's reference
 * reports in reports/ stay as they are; they are made with --out reports/<experiment>.
 */
export function defaultOutDir(experiment: string): string {
  return join(PROJECT_ROOT, 'runs', experiment);
}

/** Removes the bundle files (and half-written ones) of a models folder, nothing else. */
async function removeBundles(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const f of await readdir(dir)) if (/\.bundle(\.tmp-\d+)?$/.test(f)) await rm(join(dir, f), { force: true });
}

/** Where a run's bundle goes, relative to the report folder: models/<label>-<id>.bundle. */
export function bundleName(label: string, id: string): string {
  const slug = label.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'model';
  return join('models', `${slug}-${id.slice(0, 8)}.bundle`);
}

/** What the report needs to draw misclassified digits: each split's raw test images, keyed by its fingerprint. */
export function reportImages(dataset: Dataset, splits: readonly Split[]) {
  return {
    testImages: Object.fromEntries(splits.map((sp) => [sp.fingerprint, takeRows(dataset.test.images, sp.test)])),
    imageShape: dataset.imageShape,
    classNames: dataset.classes,
  };
}

