/**
 * A run with several candidates as a BullMQ flow: a parent `run` job whose children are `candidate`
 * jobs, one per candidate × rung, each scored by whichever worker takes it. The parent occupies no
 * worker while its children run: it is in "waiting-children" until they are done, then a worker takes
 * it and runs its step machine (parentStep): the rows it has (`have`, the coordinator's ok rows, plus
 * its children's answers) → nextStep → either more children (a later rung), added with deterministic
 * ids, and back to waiting; or the choice, which the worker then tests (testChosen) as a local run does.
 */
import { UnrecoverableError, WaitingChildrenError, type Job, type JobsOptions, type Queue } from 'bullmq';
import { selectionId, selectionRowOf, type RunContext } from '../harness/execute.ts';
import type { RunSpec } from '../harness/experiment.ts';
import { nextStep, searchPlan, taskKey, type SearchStep, type SearchTask } from '../harness/search/plan.ts';
import type { SelectionRow } from '../results/row.ts';
import { CANDIDATE_JOB_NAME, candidateJobId, candidateResultSchema, parseCandidateJobId, type CandidateJob } from './job.ts';

/** How many times a candidate job is taken up again after its worker died (BullMQ's maxStalledCount). */
export const MAX_STALLED = 2;

/**
 * A candidate job's options: retries only for a worker's own errors (a candidate that fails is a failed
 * row, returned as a completed value); a child that fails anyway is kept among the parent's ignored
 * failures (with its reason) instead of failing the run.
 */
export const CANDIDATE_OPTS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 2000 },
  ignoreDependencyOnFailure: true,
  removeOnComplete: { age: 7 * 24 * 3600 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

export function candidateJobData(run: RunSpec, runId: string, task: SearchTask): CandidateJob {
  return { format: 'digitbench-candidate-job', version: 1, candidate: task.candidate, rung: task.rung, ...(task.resource ? { resource: task.resource } : {}), selectionId: selectionId(run, runId, task) };
}

/** The children a flow's parent starts with: the first step's tasks for the rows it already has. */
export function firstTasks(run: RunSpec, have: readonly SelectionRow[], context: Parameters<typeof searchPlan>[1]): SearchTask[] {
  const step = nextStep(searchPlan(run, context), have);
  return step.kind === 'score' ? step.tasks : [];
}

type ParentContext = Pick<RunContext, 'settings' | 'dataset' | 'split' | 'env' | 'code' | 'id' | 'experiment'>;

/**
 * The rows a parent has: `have`, then its children's answers (validated: a worker's answer is untrusted
 * data), then its children that failed (a candidate whose workers kept dying becomes a failed row; one a
 * worker refused fails the run with that reason, since a choice made without it could differ from a
 * local run's). Returns all rows, and the children's rows alone (for the coordinator to record).
 */
export async function parentRows(job: Job, ctx: ParentContext, run: RunSpec, have: readonly SelectionRow[]): Promise<{ rows: SelectionRow[]; fresh: SelectionRow[] }> {
  const fresh: SelectionRow[] = [];
  for (const [key, value] of Object.entries(await job.getChildrenValues())) {
    const parsed = candidateResultSchema.safeParse(value);
    if (!parsed.success) throw new UnrecoverableError(`the answer of candidate job ${key} was not a digitbench selection row (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}); give coordinator and workers the same checkout`);
    if (parsed.data.row.runId !== ctx.id) throw new UnrecoverableError(`candidate job ${key} answered for run ${parsed.data.row.runId}, not ${ctx.id}`);
    fresh.push(parsed.data.row);
  }
  for (const [key, reason] of Object.entries(await job.getIgnoredChildrenFailures())) {
    const t = parseCandidateJobId(key.slice(key.lastIndexOf(':') + 1));
    if (/^refused by worker/.test(reason)) throw new UnrecoverableError(reason);
    if (!t || t.candidate >= run.candidates.length) throw new UnrecoverableError(`a child job ${key} of this run is not one of its candidates`);
    const why = /(stalled|started) more than allowable limit/i.test(reason)
      ? `its worker died ${MAX_STALLED + 1} times while scoring it (the queue's stalled-job limit)`
      : `the queue gave up on it: ${reason}`;
    // When the failure was recorded is not kept by BullMQ here; the row's startedAt is when the parent read it.
    // No worker scored it: the row names none (the machine is the one that recorded it).
    fresh.push(selectionRowOf({ ...ctx, env: { ...ctx.env, worker: undefined } }, run, { candidate: t.candidate, rung: t.rung }, new Date().toISOString(), { status: 'failed', reason: why }));
  }
  fresh.sort((a, b) => (a.rung ?? 0) - (b.rung ?? 0) || a.candidate - b.candidate);
  return { rows: [...have, ...fresh], fresh };
}

/**
 * The parent's step machine, run each time a worker takes it: collect, plan, and either add the next
 * tasks as children and wait for them (throws WaitingChildrenError; BullMQ takes the parent back once
 * they are done), or return the choice and the children's rows.
 */
export async function parentStep(
  job: Job,
  token: string,
  queue: Queue,
  ctx: ParentContext,
  run: RunSpec,
  have: readonly SelectionRow[],
): Promise<{ chosen: Extract<SearchStep, { kind: 'chosen' | 'none' }>; fresh: SelectionRow[] }> {
  const plan = searchPlan(run, { dataset: ctx.dataset, selection: ctx.settings.selection });
  let asked = '';
  for (;;) {
    const { rows, fresh } = await parentRows(job, ctx, run, have);
    const step = nextStep(plan, rows);
    if (step.kind !== 'score') return { chosen: step, fresh };
    const key = step.tasks.map(taskKey).join(',');
    // Asked for the same tasks twice and got nothing: their ids are taken by jobs that are not this parent's children.
    if (key === asked) throw new UnrecoverableError(`the candidate jobs ${step.tasks.map((t) => candidateJobId(job.id!, t)).join(', ')} could not be added as this run's children`);
    asked = key;
    // Deterministic ids: a parent killed after adding them adds the same ones again, which BullMQ ignores.
    await queue.addBulk(
      step.tasks.map((t) => ({
        name: CANDIDATE_JOB_NAME,
        data: candidateJobData(run, ctx.id, t),
        opts: { ...CANDIDATE_OPTS, jobId: candidateJobId(job.id!, t), parent: { id: job.id!, queue: job.queueQualifiedName } },
      })),
    );
    if (await job.moveToWaitingChildren(token)) throw new WaitingChildrenError();
  }
}
