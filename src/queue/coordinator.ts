/**
 * `digitbench experiment <config> --queue redis://…`: the experiment's runs become BullMQ jobs that
 * `digitbench worker`s on any machine take; this process collects each finished job's row, selection
 * rows and bundle into the report folder, exactly where a local run writes them, and re-renders the
 * report after each.
 *
 * Nothing lost, nothing twice:
 * - job ids are the run id plus the folder's sweep token and the run's attempt number, so a restarted
 *   coordinator asks for the jobs it already queued (BullMQ adds an id once) and collects the ones
 *   that finished while it was away; a row is appended once per job, and a run with a row is not queued again;
 * - a worker that dies leaves its job locked until the lock expires; BullMQ's stalled-job check then
 *   gives it to another worker;
 * - a run that fails for its own reasons (throw, timeout, out of memory) comes back as a failed row of a
 *   completed job, never retried; a job a worker refuses (another dataset, another checkout) fails
 *   without retries and becomes a failed row that says why;
 * - Redis going away stops this process with the rows written so far intact; the same command resumes.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { FlowProducer, Queue, QueueEvents, type Job } from 'bullmq';
import type { Experiment, RunSpec } from '../harness/experiment.ts';
import { writeFileAtomically } from '../bundle/file.ts';
import { bundleName, compactBundleName, notRunRow, refitBundleName } from '../harness/execute.ts';
import { openExperiment, type OpenExperiment, type RunEvents, type RunSummary } from '../harness/run.ts';
import { appendJobRow, appendRow, jobRowSchema, type JobRow, type ResultRow, type SelectionRow } from '../results/row.ts';

const segmentsSchema = jobRowSchema.shape.segments.unwrap();
import { bullConnection, closeAll, connectRedis, type QueueTarget } from './connection.ts';
import { CANDIDATE_JOB_NAME, candidateJobId, candidateResultSchema, JOB_NAME, jobId, jobPluginRef, jobResultSchema, parseCandidateJobId, runJob, type JobProgress } from './job.ts';
import { CANDIDATE_OPTS, candidateJobData, firstTasks } from './flow.ts';

/** The folder's sweep token: new on a fresh start, kept while the experiment resumes. */
const SWEEP_FILE = '.queue';

export interface QueuedOptions {
  target: QueueTarget;
  outDir?: string;
  fresh?: boolean;
  events?: Partial<RunEvents>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runQueued(exp: Experiment, opts: QueuedOptions): Promise<RunSummary> {
  const ev = opts.events ?? {};
  try {
    return await coordinate(exp, opts, ev);
  } finally {
    ev.close?.();
  }
}

async function coordinate(exp: Experiment, opts: QueuedOptions, ev: Partial<RunEvents>): Promise<RunSummary> {
  const { target } = opts;
  // Refuse plugin files no worker could run before anything is moved or queued.
  for (const run of exp.runs) jobPluginRef(run, dirname(exp.file), `${exp.file}: classifiers (${run.label}).plugin`);
  const watch = await connectRedis(target, 'coordinator');
  let gone = false;
  watch.gone.catch(() => {
    gone = true;
  });
  // Every Redis command waits for a reconnect; racing it with the watch turns Redis going away into a stop.
  const redis = <T>(p: Promise<T>): Promise<T> => Promise.race([p, watch.gone]);
  const queue = new Queue(target.name, { connection: bullConnection(target) });
  const events = new QueueEvents(target.name, { connection: bullConnection(target) });
  const flows = new FlowProducer({ connection: bullConnection(target) });
  flows.on('error', () => {});
  queue.on('error', () => {});
  events.on('error', () => {});
  let written = 0;
  let resultsFile = '';
  let opened: OpenExperiment | undefined;
  try {
    await redis(Promise.all([queue.waitUntilReady(), events.waitUntilReady()]));
    const state = (opened = await openExperiment(exp, opts, ev));
    resultsFile = state.resultsFile;
    const sweepFile = join(state.outDir, SWEEP_FILE);
    let sweep = state.resumed && existsSync(sweepFile) ? (await readFile(sweepFile, 'utf8')).trim() : '';
    if (!sweep) {
      if (existsSync(sweepFile)) await redis(dropWaiting(queue, exp.name, (await readFile(sweepFile, 'utf8')).trim(), ev));
      sweep = randomBytes(4).toString('hex');
      await writeFile(sweepFile, `${sweep}\n`);
    }

    const pending = new Map<string, { run: RunSpec; started: boolean; flow: boolean }>();
    const jobsFile = join(state.outDir, 'jobs.jsonl');
    /** This run's ok selection rows on disk: a flow's parent carries them, and scores only the other candidates. */
    const haveOf = (run: RunSpec): SelectionRow[] => state.selectionRows.filter((r) => r.runId === state.ids[run.index] && r.status === 'ok');
    const enqueue = async (run: RunSpec, jid: string) => {
      const id = state.ids[run.index]!;
      const data = runJob(exp, run, { baseDir: state.baseDir, id, datasetHash: state.dataset.contentHash, fingerprint: state.splitOf(run.split).fingerprint, code: state.codeOf(run), versions: state.versionsOf(run), engine: state.env.engine });
      const opts = {
        jobId: jid,
        // Retries are for a worker's own trouble (an error outside the run); a run's failure is a row, and a refusal is final.
        attempts: 3,
        backoff: { type: 'exponential' as const, delay: 5000 },
        removeOnComplete: { age: 7 * 24 * 3600 },
        removeOnFail: { age: 7 * 24 * 3600 },
      };
      if (run.candidates.length === 1) {
        await redis(queue.add(JOB_NAME, data, opts));
        return;
      }
      // A flow: the parent waits for a child job per candidate still to score. One already in Redis (a restarted coordinator) is only collected.
      if ((await redis(queue.getJobState(jid))) !== 'unknown') return;
      const have = haveOf(run);
      await redis(
        flows.add({
          name: JOB_NAME,
          queueName: target.name,
          data: { ...data, have },
          opts,
          children: firstTasks(run, have, { dataset: state.dataset, selection: exp.config.selection }).map((t) => ({ name: CANDIDATE_JOB_NAME, queueName: target.name, data: candidateJobData(run, id, t), opts: { ...CANDIDATE_OPTS, jobId: candidateJobId(jid, t) } })),
        }),
      );
    };
    /** A selection row is written once: not again when an ok row of its id is there, nor the same answer twice. */
    const addSelection = async (s: SelectionRow) => {
      if (state.selectionRows.some((r) => r.id === s.id && (r.status === 'ok' || r.startedAt === s.startedAt))) return false;
      await state.addSelectionRow(s);
      return true;
    };
    /** The finished children of a flow's parent, recorded as they come (the report re-renders). */
    const collectChildren = async (jid: string) => {
      const parent = await redis(queue.getJob(jid));
      if (!parent) return;
      let added = 0;
      for (const value of Object.values(await redis(parent.getChildrenValues()))) {
        const parsed = candidateResultSchema.safeParse(value);
        if (parsed.success && (await addSelection(parsed.data.row))) added++;
      }
      if (added) await state.render();
    };
    /** jobs.jsonl: when each job of a run was queued, started and finished, where, and how often it was taken up again. */
    const recordJobs = async (run: RunSpec, flow: boolean, job: Job | undefined, status: JobRow['status']) => {
      if (!job?.id) return;
      const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : undefined);
      const base = { runId: state.ids[run.index]!, experiment: exp.name, classifier: run.label };
      const rowOf = (j: Job, kind: JobRow['kind'], st: JobRow['status']): JobRow => {
        const t = parseCandidateJobId(j.id!);
        return {
          jobId: j.id!,
          ...base,
          kind,
          ...(kind === 'candidate' && t ? { rung: t.rung, candidate: t.candidate } : {}),
          ...(j.processedBy ? { worker: j.processedBy } : {}),
          queuedAt: iso(j.timestamp) ?? new Date().toISOString(),
          ...(iso(j.processedOn) ? { startedAt: iso(j.processedOn) } : {}),
          ...(iso(j.finishedOn) ? { finishedAt: iso(j.finishedOn) } : {}),
          attemptsStarted: j.attemptsStarted ?? 0,
          stalls: j.stalledCounter ?? 0,
          status: st,
          ...(kind === 'parent' && segmentsSchema.safeParse((j.data as { segments?: unknown })?.segments).data?.length ? { segments: segmentsSchema.parse((j.data as { segments: unknown }).segments) } : {}),
        };
      };
      const kids: JobRow[] = [];
      if (flow) {
        const deps = await redis(job.getDependencies());
        for (const [key, failed] of [...Object.keys(deps.processed ?? {}).map((k) => [k, false] as const), ...Object.keys(deps.ignored ?? {}).map((k) => [k, true] as const)]) {
          const child = await redis(queue.getJob(key.slice(key.lastIndexOf(':') + 1)));
          if (child) kids.push(rowOf(child, 'candidate', failed ? 'failed' : 'completed'));
        }
        kids.sort((a, b) => (a.rung ?? 0) - (b.rung ?? 0) || (a.candidate ?? 0) - (b.candidate ?? 0));
      }
      for (const r of [rowOf(job, flow ? 'parent' : 'run', status), ...kids]) await appendJobRow(jobsFile, r);
    };
    for (const run of state.todo) {
      const attempt = state.existing.filter((r) => r.id === state.ids[run.index]).length;
      const jid = jobId(exp.name, state.ids[run.index]!, sweep, attempt);
      await enqueue(run, jid);
      pending.set(jid, { run, started: false, flow: run.candidates.length > 1 });
    }
    if (pending.size) ev.note?.(`queued ${pending.size} run(s) on ${target.shown} (queue "${target.name}"); start workers with: digitbench worker --queue <url>${target.name === 'digitbench' ? '' : ` --queue-name ${target.name}`}`);

    let started = 0;
    let failed = 0;
    let wake: () => void = () => {};
    const nudge = () => wake();
    events.on('progress', ({ jobId: eventId, data }) => {
      // A candidate job's progress is its run's.
      const jid = pending.has(eventId) ? eventId : (parseCandidateJobId(eventId)?.parentId ?? eventId);
      const p = pending.get(jid);
      if (!p || typeof data !== 'object' || data === null) return;
      const prog = data as unknown as JobProgress;
      if (!p.started || prog.phase === 'start') {
        if (!p.started) ev.start?.(p.run, started++, state.todo.length, prog.worker);
        p.started = true;
        if (prog.phase === 'start') return;
      }
      ev.progress?.(p.run, { type: 'progress', phase: prog.phase, ...(prog.total !== undefined ? { total: prog.total } : {}), ...(prog.unit ? { unit: prog.unit } : {}), ...(prog.info ? { info: prog.info } : {}) });
    });
    events.on('completed', nudge);
    events.on('failed', nudge);

    const record = async (run: RunSpec, row: ResultRow) => {
      await appendRow(state.resultsFile, row);
      written++;
      if (row.status !== 'ok') failed++;
      ev.done?.(run, row);
      await state.render();
    };

    while (pending.size) {
      await Promise.race([new Promise<void>((r) => (wake = r)), sleep(2000), watch.gone]);
      for (const [jid, p] of [...pending]) {
        const jobState = await redis(queue.getJobState(jid));
        if (p.flow && jobState !== 'unknown') await collectChildren(jid);
        if (jobState === 'completed') {
          const job = await redis(queue.getJob(jid));
          const parsed = jobResultSchema.safeParse(job?.returnvalue);
          pending.delete(jid);
          if (!parsed.success) {
            await record(p.run, notRunRow(state, exp.name, exp.config, p.run, 'failed', `the worker's answer was not a digitbench result (${parsed.error.issues[0]?.message}); give coordinator and workers the same checkout`));
            continue;
          }
          const { row, selectionRows, bundleKey: key, refitBundleKey: refitKey, compactBundleKeys: compactKeys = {} } = parsed.data;
          for (const s of selectionRows) await addSelection(s);
          let final: ResultRow = row;
          if (row.status === 'ok' && row.bundle) {
            const bytes = key ? await redis(watch.client.getBuffer(key)) : null;
            if (bytes) {
              // Where this run's bundles go here, whatever paths the worker's row gives.
              const name = bundleName(p.run.label, state.ids[p.run.index]!);
              final = { ...row, bundle: { ...row.bundle, file: name.split(sep).join('/') } };
              await writeFileAtomically(join(state.outDir, name), bytes);
              const refitBytes = row.refit && refitKey ? await redis(watch.client.getBuffer(refitKey)) : null;
              if (row.refit && refitBytes) {
                const refitName = refitBundleName(p.run.label, state.ids[p.run.index]!);
                final = { ...final, refit: { ...row.refit, file: refitName.split(sep).join('/') } };
                await writeFileAtomically(join(state.outDir, refitName), refitBytes);
              } else if (row.refit) {
                const { refit: _lost, ...rest } = final as typeof row;
                final = rest;
              }
              // The compact bundles, each where it goes here; one whose bytes did not arrive keeps its figures with an error instead of a file.
              if (row.compact) {
                const compact = [];
                for (const c of row.compact) {
                  const ckey = compactKeys[c.precision];
                  const cbytes = c.file && ckey ? await redis(watch.client.getBuffer(ckey)) : null;
                  if (!c.file) compact.push(c);
                  else if (cbytes) {
                    const cname = compactBundleName(p.run.label, state.ids[p.run.index]!, c.precision);
                    await writeFileAtomically(join(state.outDir, cname), cbytes);
                    compact.push({ ...c, file: cname.split(sep).join('/') });
                  } else {
                    const { file: _lost, ...rest } = c;
                    compact.push({ ...rest, error: `the ${c.precision} bundle made by worker ${parsed.data.worker} did not arrive` });
                  }
                }
                final = { ...final, compact } as typeof row;
              }
            } else {
              const { bundle: _lost, deployment: _figures, compact: _compact, ...rest } = row;
              final = { ...rest, noBundle: `the bundle made by worker ${parsed.data.worker} did not arrive (its Redis key had expired or was deleted); run again with --fresh to make it` };
            }
          }
          await record(p.run, final);
          if (job) await recordJobs(p.run, p.flow, job, 'completed');
          // Tidying: a job or key left behind expires with its age limit.
          const tidy = (e: unknown) => {
            if (gone) throw e;
          };
          if (key) await redis(watch.client.del(key)).catch(tidy);
          if (refitKey) await redis(watch.client.del(refitKey)).catch(tidy);
          for (const ckey of Object.values(compactKeys)) await redis(watch.client.del(ckey)).catch(tidy);
          if (job) await redis(job.remove()).catch(tidy);
        } else if (jobState === 'failed') {
          const job = await redis(queue.getJob(jid));
          pending.delete(jid);
          const reason = job?.failedReason ?? 'no reason recorded';
          const by = job?.processedBy ? ` (last worker: ${job.processedBy})` : '';
          const why = /(stalled|started) more than allowable limit/i.test(reason)
            ? `its worker died ${job?.stalledCounter ?? 'several'} times while running it (the queue's stalled-job limit)${by}; a run that brings down every machine it lands on needs a smaller split or a higher memoryLimitMb`
            : /^refused by worker/.test(reason)
              ? reason
              : `the queue gave up after ${job?.attemptsMade ?? '?'} attempt(s): ${reason}${by}`;
          await record(p.run, notRunRow(state, exp.name, exp.config, p.run, 'failed', why, job?.processedBy));
          await recordJobs(p.run, p.flow, job, 'failed');
        } else if (jobState === 'unknown') {
          // The job is gone from Redis (flushed, or a Redis without persistence restarted): queue it again.
          ev.note?.(`job ${jid} (${p.run.label}) is no longer in Redis; queued again`);
          await enqueue(p.run, jid);
        }
      }
    }
    const summary = await state.finish(failed);
    if (!existsSync(join(state.outDir, '.resume'))) await rm(sweepFile, { force: true });
    return { ...summary, failed };
  } catch (e) {
    if (gone) {
      throw new Error(
        `${(e as Error).message}; stopped. ${written ? `The ${written} row(s) collected in this session are` : 'Every row written so far is'} in ${resultsFile || 'the results file'}, intact; start Redis and run the same command again to resume (finished runs are not run again).`,
      );
    }
    throw e;
  } finally {
    opened?.close();
    await closeAll([events, flows, queue, watch]);
  }
}

/** On a fresh start, the previous sweep's jobs that no worker took yet are dropped (they would be measured for nothing). */
async function dropWaiting(queue: Queue, experiment: string, sweep: string, ev: Partial<RunEvents>): Promise<void> {
  if (!sweep) return;
  const jobs = await queue.getJobs(['waiting', 'delayed', 'prioritized', 'waiting-children']);
  let n = 0;
  for (const j of jobs) {
    if (j?.id?.startsWith(`${experiment}.`) && j.id.includes(`.${sweep}.`)) {
      await j.remove().catch(() => {});
      n++;
    }
  }
  if (n) ev.note?.(`--fresh: dropped ${n} job(s) of the previous sweep that no worker had taken`);
}
