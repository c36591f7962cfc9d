/**
 * `digitbench worker --queue redis://…`: takes run jobs from the queue (BullMQ) and runs each exactly
 * as a local run does (executeRun: selection, features, fit and test in child processes with the
 * run's time and memory limits, the bundle measured in a fresh process), then hands back the row and
 * leaves the bundle in Redis for the coordinator.
 *
 * Before running, a worker proves it would make the coordinator's row: the job must name a built-in or
 * a plugin file in this checkout, and the dataset hash, split fingerprint, library versions and code
 * hash here must give the job's run id. Otherwise the job fails with the reason and is not retried
 * (UnrecoverableError): another worker with the same mismatch would only fail the same way, and one
 * without it must not quietly stand in.
 */
import { sourceKey, type DatasetSource } from '../data/sources.ts';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job, Queue, UnrecoverableError, WaitingChildrenError, Worker } from 'bullmq';
import { parseParams } from '../classifiers/plugin.ts';
import { resolvePlugin } from '../classifiers/registry.ts';
import { loadDataset } from '../data/datasets.ts';
import { makeSplit, type Split } from '../data/split.ts';
import type { Dataset } from '../data/datasets.ts';
import { canonicalJson } from '../engine/hash.ts';
import { parsePipeline } from '../features/pipeline.ts';
import { gitCommit, machine, PROJECT_ROOT } from '../harness/env.ts';
import { executeRun, featurePreparer, runId, scoreCandidate, selectionId, testChosen, type RunContext } from '../harness/execute.ts';
import type { Candidate, RunSpec } from '../harness/experiment.ts';
import { oneLine, PREPARE_CHILD, runIsolated } from '../harness/isolated.ts';
import type { PrepareRequest } from '../harness/prepare-child.ts';
import { runProvenance } from '../harness/provenance.ts';
import type { SelectionRow } from '../results/row.ts';
import { bundleKey, CANDIDATE_JOB_NAME, candidateJobSchema, refusePlugin, runJobSchema, type CandidateResult, type JobProgress, type JobResult } from './job.ts';
import { MAX_STALLED, parentStep } from './flow.ts';
import { bullConnection, closeAll, connectRedis, type QueueTarget } from './connection.ts';
import { engineChoice } from '../engine/ort.ts';

/** Bundles wait this long in Redis for a coordinator that is down. */
const BUNDLE_TTL_SECONDS = 7 * 24 * 3600;

/** How long a worker's job lock lasts (DIGITBENCH_QUEUE_LOCK_MS; default 30 s): a killed worker's job is taken up again after about this long. */
export function lockMs(): number {
  const v = Number(process.env.DIGITBENCH_QUEUE_LOCK_MS);
  return Number.isFinite(v) && v >= 1000 ? v : 30_000;
}

export interface WorkerOptions {
  target: QueueTarget;
  concurrency: number;
  log: (line: string) => void;
  /** Test fixtures' hooks (no environment switch in production code). */
  hooks?: {
    /** Called once a candidate job's scoring process has started. */
    candidateStarted?(job: Job): void;
  };
}

export interface RunningWorker {
  name: string;
  /** Resolves when the worker stopped after close(); rejects when Redis went away. */
  done: Promise<void>;
  /** Stops taking jobs, lets the running ones finish, then stops. */
  close(): Promise<void>;
}

function refuse(worker: string, why: string): never {
  throw new UnrecoverableError(`refused by worker ${worker}: ${why}`);
}

/** The run a job describes, as this checkout sees it; refuses what this worker must not or cannot run. */
export async function jobRun(data: unknown, worker: string) {
  const parsed = runJobSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    refuse(worker, `not a digitbench run job of this version (${issue.path.join('.') || 'job'}: ${issue.message}); give coordinator and workers the same checkout`);
  }
  const job = parsed.data;
  const ref = job.run.pluginRef;
  const why = refusePlugin(ref);
  if (why) refuse(worker, `the job ${why}`);
  let plugin;
  try {
    plugin = await resolvePlugin(ref, PROJECT_ROOT);
  } catch (e) {
    refuse(worker, `the job's plugin: ${(e as Error).message}`);
  }
  let candidates: Candidate[];
  try {
    candidates = job.run.candidates.map((c, i) => ({
      ...(c.featureSet !== undefined ? { featureSet: c.featureSet } : {}),
      features: parsePipeline(c.features, `candidates[${i}].features`),
      params: parseParams(plugin, c.params) as Record<string, unknown>,
    }));
  } catch (e) {
    refuse(worker, `the job's settings: ${(e as Error).message}`);
  }
  const first = candidates[0]!;
  const run: RunSpec = {
    ...job.run,
    plugin,
    candidates,
    params: first.params,
    features: first.features,
    ...(candidates.length === 1 && first.featureSet !== undefined ? { featureSet: first.featureSet } : {}),
  };
  let dataset;
  try {
    dataset = await loadDataset(job.settings.dataset);
  } catch (e) {
    refuse(worker, `cannot load the dataset "${job.settings.dataset}" here: ${oneLine((e as Error).message)}`);
  }
  if (dataset.contentHash !== job.expect.datasetHash) {
    refuse(worker, `the dataset "${job.settings.dataset}" here has content hash ${dataset.contentHash}, the coordinator's ${job.expect.datasetHash} (another version or other files); give every machine the same dataset`);
  }
  const split = makeSplit(dataset, run.split);
  if (split.fingerprint !== job.expect.fingerprint) {
    refuse(worker, `the split fingerprint here is ${split.fingerprint}, the coordinator's ${job.expect.fingerprint} (another dataset version, or other files); give every machine the same dataset`);
  }
  const { versions, code } = runProvenance(run, PROJECT_ROOT);
  const engine = engineChoice();
  const theirs = job.expect.engine ?? 'wasm';
  if (engine.engine !== theirs) {
    refuse(worker, `the engine here is ${engine.engine} (${engine.reason}), the coordinator's ${theirs}; install the same optional dependencies (onnxruntime-node) on every machine, or set DIGITBENCH_ENGINE=${theirs} here`);
  }
  const id = runId({ datasetHash: dataset.contentHash, fingerprint: split.fingerprint, run, settings: job.settings, versions, code, engine: engine.engine });
  if (id !== job.expect.id) {
    const differ = Object.keys({ ...versions, ...job.expect.versions })
      .filter((k) => versions[k] !== job.expect.versions[k])
      .map((k) => `${k} ${versions[k] ?? 'absent'} here, ${job.expect.versions[k] ?? 'absent'} there`);
    const what = differ.length
      ? `its libraries differ (${differ.join('; ')})`
      : code !== job.expect.code
        ? `its code differs (code hash ${code} here, ${job.expect.code} there)`
        : 'its settings read differently here';
    refuse(worker, `this worker would not make the coordinator's run ${job.expect.id}: ${what}; check out the same commit and run npm ci on every machine`);
  }
  return { job, run, dataset, split, code, id, versions };
}

export async function startWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const name = `${hostname()}#${process.pid}`;
  const { target, log } = opts;
  const watch = await connectRedis(target, 'worker');
  const env = { ...machine(), worker: name, engine: engineChoice().engine, gitCommit: gitCommit() };

  // One per dataset for the worker's life: features fitted for one job are known to the next (they are in
  // the feature cache), so only the first job on a split and pipeline pays a fitting process.
  const preparers = new Map<string, (run: RunSpec) => Promise<string | undefined>>();
  const preparerFor = (source: DatasetSource, dataset: Dataset) => {
    const key = `${sourceKey(source)}\0${dataset.contentHash}`;
    let p = preparers.get(key);
    if (!p) {
      const splits = new Map<string, Split>();
      const splitOf = (run: RunSpec) => {
        const k = canonicalJson(run.split);
        let sp = splits.get(k);
        if (!sp) splits.set(k, (sp = makeSplit(dataset, run.split)));
        return sp;
      };
      p = featurePreparer(dataset, splitOf, (m) => log(`${name}: ${m}`), async (r) => {
        const o = await runIsolated<PrepareRequest, { seconds: number }>({ dataset: source, split: r.split, features: r.features }, r, () => {}, PREPARE_CHILD);
        if (o.status !== 'ok') throw new Error(o.reason);
      }, { retryFailures: true });
      preparers.set(key, p);
    }
    return p;
  };

  // Candidate jobs read their run from the parent job; the proof (dataset, split, code, run id) is made once per parent.
  const queue = new Queue(target.name, { connection: bullConnection(target) });
  queue.on('error', () => {});
  const proofs = new Map<string, ReturnType<typeof jobRun>>();
  const proofOf = (parentId: string) => {
    let p = proofs.get(parentId);
    if (!p) {
      p = (async () => {
        const parent = await Job.fromId(queue, parentId);
        if (!parent) throw new Error(`its parent run job ${parentId} is no longer in Redis`);
        return jobRun(parent.data, name);
      })();
      p.catch(() => proofs.delete(parentId));
      proofs.set(parentId, p);
      // A few runs at a time at most; the oldest proofs go first.
      if (proofs.size > 16) proofs.delete(proofs.keys().next().value!);
    }
    return p;
  };

  const progressOf = (job: Job) => {
    let lastSent = 0;
    return (p: Omit<JobProgress, 'worker'>) => {
      const now = Date.now();
      // Every phase; ticks at most twice a second.
      if (p.phase === 'tick' && now - lastSent < 500) return;
      lastSent = now;
      void job.updateProgress({ worker: name, ...p } satisfies JobProgress).catch(() => {});
    };
  };
  const contextOf = (proof: Awaited<ReturnType<typeof jobRun>>, outDir: string, report: (p: Omit<JobProgress, 'worker'>) => void): RunContext => ({
    experiment: proof.job.experiment,
    settings: proof.job.settings,
    dataset: proof.dataset,
    split: proof.split,
    env: { ...env, packages: proof.versions },
    baseDir: PROJECT_ROOT,
    code: proof.code,
    id: proof.id,
    outDir,
    selectionRows: [],
    onSelectionRow: async () => {},
    prepare: preparerFor(proof.job.settings.dataset, proof.dataset),
    events: { progress: (_, m) => report({ phase: m.phase, ...(m.total !== undefined ? { total: m.total } : {}), ...(m.unit ? { unit: m.unit } : {}), ...(m.info ? { info: m.info } : {}) }) },
  });

  /** One candidate (× rung) of a flow's run: its selection row, scored in a child process as a local run scores it. */
  const processCandidate = async (job: Job): Promise<CandidateResult> => {
    const parsed = candidateJobSchema.safeParse(job.data);
    if (!parsed.success) refuse(name, `not a digitbench candidate job of this version (${parsed.error.issues[0]?.path.join('.') || 'job'}: ${parsed.error.issues[0]?.message}); give coordinator and workers the same checkout`);
    const c = parsed.data;
    const parentId = job.parent?.id;
    if (!parentId) refuse(name, 'a candidate job without its parent run job');
    const proof = await proofOf(parentId);
    const { run } = proof;
    if (c.candidate >= run.candidates.length) refuse(name, `candidate ${c.candidate} is not one of the run's ${run.candidates.length}`);
    const task = { candidate: c.candidate, rung: c.rung, ...(c.resource ? { resource: c.resource } : {}) };
    if (selectionId(run, proof.id, task) !== c.selectionId) refuse(name, `this worker would not make the coordinator's selection row ${c.selectionId} for candidate ${c.candidate}; check out the same commit on every machine`);
    log(`${name}: took ${proof.job.experiment} ${run.label}${run.repetition ? ` #${run.repetition + 1}` : ''} candidate ${c.candidate + 1}/${run.candidates.length}${c.rung ? ` rung ${c.rung}` : ''} (job ${job.id}, attempt ${job.attemptsMade + 1})`);
    const report = progressOf(job);
    report({ phase: 'start' });
    let calls = 0;
    const ctx = contextOf(proof, tmpdir(), (p) => {
      report(p);
      // The first call is scoreCandidate's own; later ones come from its scoring process, which has started.
      if (++calls === 2) opts.hooks?.candidateStarted?.(job);
    });
    const row = await scoreCandidate(ctx, run, task);
    log(`${name}: ${run.label} candidate ${c.candidate + 1} ${row.status === 'ok' ? 'scored' : `${row.status}: ${row.reason}`}`);
    return { worker: name, row };
  };

  const process_ = async (job: Job, token?: string): Promise<JobResult | CandidateResult> => {
    if (job.name === CANDIDATE_JOB_NAME) return processCandidate(job);
    const proof = await jobRun(job.data, name);
    const { job: data, run } = proof;
    // A flow's parent (it carries `have`): its step machine decides whether to wait for more children.
    const flow = data.have !== undefined && run.candidates.length > 1;
    log(`${name}: took ${data.experiment} ${run.label}${run.repetition ? ` #${run.repetition + 1}` : ''} (job ${job.id}, attempt ${job.attemptsMade + 1}${flow ? ', its candidates scored' : ''})`);
    const report = progressOf(job);
    report({ phase: 'start' });
    const workDir = await mkdtemp(join(tmpdir(), 'digitbench-job-'));
    try {
      const ctx = contextOf(proof, workDir, report);
      let selectionRows: SelectionRow[] = [];
      let row;
      if (flow) {
        const startedAt = new Date().toISOString();
        // The parent's own phases, kept in its data across activations (BullMQ's processedOn is the last one's).
        const segments = [...(data.segments ?? [])];
        const keep = (phase: string, since: number) => {
          segments.push({ phase, seconds: (performance.now() - since) / 1000 });
          return job.updateData({ ...(job.data as object), segments });
        };
        let t = performance.now();
        let step;
        try {
          step = await parentStep(job, token!, queue, ctx, run, data.have!);
        } catch (e) {
          if (e instanceof WaitingChildrenError) await keep('plan', t);
          throw e;
        }
        await keep('plan', t);
        selectionRows = step.fresh;
        t = performance.now();
        row = await testChosen(ctx, run, step.chosen, startedAt);
        await keep('test', t);
      } else {
        row = await executeRun({ ...ctx, onSelectionRow: async (r) => void selectionRows.push(r) }, run);
      }
      let key: string | undefined;
      let refitKey: string | undefined;
      const compactKeys: Record<string, string> = {};
      if (row.status === 'ok' && row.bundle) {
        // This worker's own key: a worker that lost the job's lock and finishes late cannot overwrite the bundle of the run the coordinator collects.
        key = bundleKey(target.name, `${job.id}.${name}`);
        await watch.client.set(key, await readFile(join(workDir, row.bundle.file)), 'EX', BUNDLE_TTL_SECONDS);
        if (row.refit) {
          refitKey = bundleKey(target.name, `${job.id}.${name}.refit`);
          await watch.client.set(refitKey, await readFile(join(workDir, row.refit.file)), 'EX', BUNDLE_TTL_SECONDS);
        }
        for (const c of row.compact ?? []) {
          if (!c.file) continue;
          compactKeys[c.precision] = bundleKey(target.name, `${job.id}.${name}.${c.precision}`);
          await watch.client.set(compactKeys[c.precision]!, await readFile(join(workDir, c.file)), 'EX', BUNDLE_TTL_SECONDS);
        }
      }
      log(`${name}: ${run.label}${run.repetition ? ` #${run.repetition + 1}` : ''} ${row.status === 'ok' ? `ok ${(row.metrics.accuracy * 100).toFixed(2)}%` : `${row.status}: ${row.reason}`}`);
      return { worker: name, row, selectionRows, ...(key ? { bundleKey: key } : {}), ...(refitKey ? { refitBundleKey: refitKey } : {}), ...(Object.keys(compactKeys).length ? { compactBundleKeys: compactKeys } : {}) };
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  };

  const lock = lockMs();
  const worker = new Worker(target.name, process_, {
    connection: bullConnection(target),
    concurrency: opts.concurrency,
    name,
    lockDuration: lock,
    stalledInterval: lock,
    // A job whose worker died is taken up again this many times, then fails (a run that kills every machine it lands on).
    maxStalledCount: MAX_STALLED,
  });
  worker.on('error', () => {}); // connection errors: the watch decides when Redis is gone
  worker.on('failed', (job, err) => {
    if (job) log(`${name}: job ${job.id} failed: ${oneLine(err.message)}`);
  });
  await worker.waitUntilReady();
  log(`${name}: waiting for jobs on ${target.shown} (queue "${target.name}", ${opts.concurrency} at a time)`);

  let closing: Promise<void> | undefined;
  let lostRedis = false;
  const close = () =>
    (closing ??= (async () => {
      await worker.close();
      await queue.close();
      await watch.close();
    })());
  const done = Promise.race([
    watch.gone.catch(async (e: Error) => {
      lostRedis = true;
      await closeAll([{ close: () => worker.close(true) }, queue, watch]);
      throw new Error(`${e.message}; this worker stopped. A job it was running goes back to the queue once Redis is back (stalled-job recovery).`);
    }),
    new Promise<void>((res, rej) =>
      worker.on('closed', () => {
        // Closed without close(): BullMQ gave up its connection.
        if (closing) res();
        else if (!lostRedis) rej(new Error(`Redis at ${target.shown} went away (the queue's connection closed); this worker stopped. A job it was running goes back to the queue (stalled-job recovery).`));
      }),
    ),
  ]);
  return { name, done, close };
}
