/**
 * A selection grid as a BullMQ flow: the run is a parent job, each candidate a child job that any worker
 * takes (real `digitbench worker` processes on Debian's redis-server). The choice, the selection rows and
 * the result row must equal a local run's; a worker killed mid-candidate has that candidate finished
 * once by another; a coordinator killed mid-flow (and the queue lost with it) resumes per candidate.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FlowProducer, Queue, UnrecoverableError, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadExperiment, type Experiment } from '../src/harness/experiment.ts';
import { runExperiment } from '../src/harness/run.ts';
import { bullConnection, parseQueueUrl } from '../src/queue/connection.ts';
import { runQueued } from '../src/queue/coordinator.ts';
import { jobRowSchema, readRows, type ResultRow } from '../src/results/row.ts';
import { CANDIDATE_JOB_NAME, candidateJobId, runJob } from '../src/queue/job.ts';
import { CANDIDATE_OPTS } from '../src/queue/flow.ts';
import { startWorker } from '../src/queue/worker.ts';
import { engineChoice } from '../src/engine/ort.ts';
import { redisAvailable, sharedRedis, type RedisInstance } from './helpers/redis.ts';
import { comparable, spawnCli, stop, until, worker as startWorkerProc, type Spawned } from './helpers/queue-procs.ts';

const ROOT = resolve(__dirname, '..');
/**
 * Short locks, so that a killed worker's candidate is taken up again within seconds; not test/queue.test.ts's
 * 2 s: a worker's first candidate proves its run (dataset load and hash, code hash) on the event loop, which
 * on a loaded 2-core machine can hold the lock's renewal past 2 s (a false stall: the job is taken up again,
 * and only one answer is recorded, but the counts below would not be the candidates').
 */
const FAST = { DIGITBENCH_QUEUE_LOCK_MS: '4000', DIGITBENCH_QUEUE_GONE_MS: '2000' };

/** k 1, 3, 5, 7 × three metrics: 12 candidates, scored on 2 folds of 300 training rows. */
const GRID = {
  split: { train: 300, test: 100, seed: 5 },
  features: [{ step: 'scale' }],
  selection: { method: 'cv', folds: 2 },
  latencySamples: 5,
  deploy: { passes: 2, calls: 20, batch: 100 },
  classifiers: [{ plugin: 'knn', grid: { k: [1, 3, 5, 7], metric: ['l2', 'l3', 'cosine'] } }],
};
const N = 12;

/** A worker process with this file's lock settings. */
const worker = (url: string, queue: string) => startWorkerProc(url, queue, FAST);

const jsonl = (file: string): Record<string, unknown>[] => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((s) => JSON.parse(s)) : []);
/** Selection rows without times and where they were scored; fold figures reduced to their accuracies. */
const selectionOf = (dir: string) =>
  jsonl(join(dir, 'selection.jsonl'))
    .map(({ startedAt: _s, env: _e, elapsedSeconds: _t, folds, ...r }) => ({ ...r, candidate: r.candidate as number, rung: r.rung as number | undefined, accuracy: (folds as { accuracy: number }[]).map((f) => f.accuracy) }))
    .sort((a, b) => a.candidate - b.candidate);
/** The candidates (indexes) a worker took, from its log. */
const takenBy = (w: Spawned) => new Set([...w.output().matchAll(/candidate (\d+)\/12 \(job /g)].map((m) => Number(m[1]) - 1));
const count = (text: string, re: RegExp) => (text.match(new RegExp(re.source, 'g')) ?? []).length;

let queues = 0;
const queueName = () => `flow-${process.pid}-${++queues}`;

describe.skipIf(!redisAvailable)('a selection grid as a flow of candidate jobs', () => {
  let redis: RedisInstance;
  let dir: string;
  let file: string;
  let exp: Experiment;
  let local: ResultRow[];
  beforeAll(async () => {
    redis = await sharedRedis();
    mkdirSync(join(ROOT, '.tmp'), { recursive: true });
    dir = mkdtempSync(join(ROOT, '.tmp', 'queue-flow-'));
    file = join(dir, 'exp.json');
    writeFileSync(file, JSON.stringify(GRID, null, 2));
    exp = await loadExperiment(file);
    await runExperiment(exp, { outDir: join(dir, 'local') });
    local = await readRows(join(dir, 'local', 'results.jsonl'));
  }, 120_000);
  afterAll(() => redis?.kill());

  const sameAsLocal = async (out: string) => {
    const rows = await readRows(join(out, 'results.jsonl'));
    expect(rows).toHaveLength(1);
    expect(rows[0]!.status).toBe('ok');
    // The choice, the test figures and the row's selection summary are the local run's.
    expect(comparable(rows[0]!)).toEqual(comparable(local[0]!));
    const sel = selectionOf(out);
    expect(sel).toHaveLength(N);
    expect(sel).toEqual(selectionOf(join(dir, 'local')));
  };

  it('two workers split a 12-candidate k-NN grid: the rows name both, and choice, selection rows and result row equal the local run\'s; jobs.jsonl records every job', async () => {
    const name = queueName();
    const out = join(dir, 'two');
    const [a, b] = await Promise.all([worker(redis.url, name), worker(redis.url, name)]);
    try {
      const done = await runQueued(exp, { target: parseQueueUrl(redis.url, name), outDir: out });
      expect(done.failed).toBe(0);
      await sameAsLocal(out);
      const sel = jsonl(join(out, 'selection.jsonl')) as { candidate: number; env: { worker: string; host: string } }[];
      expect(new Set(sel.map((r) => r.env.worker))).toEqual(new Set([a.name, b.name]));
      // Each candidate's row names a worker that took it.
      for (const r of sel) expect(takenBy(r.env.worker === a.name ? a : b).has(r.candidate)).toBe(true);
      expect(new Set([...takenBy(a), ...takenBy(b)]).size).toBe(N);
      const jobs = jsonl(join(out, 'jobs.jsonl')).map((j) => jobRowSchema.parse(j));
      expect(jobs.map((j) => j.kind)).toEqual(['parent', ...Array(N).fill('candidate')]);
      // The parent ran once its candidates were done: it planned (the choice), then refitted and tested.
      expect(jobs[0]!.segments?.map((x) => x.phase)).toEqual(['plan', 'test']);
      expect(jobs.slice(1).map((j) => j.candidate)).toEqual([...Array(N).keys()]);
      expect(jobs.every((j) => j.status === 'completed' && j.attemptsStarted >= 1 && j.worker !== undefined && j.startedAt && j.finishedAt)).toBe(true);
      // The report's environment counts each worker's runs and candidates.
      const perWorker = (w: string) => `${w} (${jsonl(join(out, 'results.jsonl')).filter((r) => (r.env as { worker: string }).worker === w).length} / ${sel.filter((r) => r.env.worker === w).length})`;
      const cellOf = /\| queue workers \(runs \/ candidates\) \| (.*) \|/.exec(readFileSync(join(out, 'report.md'), 'utf8'))?.[1];
      expect(cellOf?.split(', ').sort()).toEqual([a.name, b.name].map(perWorker).sort());
      // The job that answered is the one whose worker the row names.
      for (const j of jobs.slice(1)) expect(j.worker).toBe(sel.find((r) => r.candidate === j.candidate)!.env.worker);
    } finally {
      stop(a, b);
    }
  }, 180_000);

  it('a worker SIGKILLed mid-candidate: that candidate is finished once, by the other worker, and the sweep ends as a local run does', async () => {
    const name = queueName();
    const out = join(dir, 'killed');
    const [a, b] = await Promise.all([worker(redis.url, name), worker(redis.url, name)]);
    try {
      const queued = runQueued(exp, { target: parseQueueUrl(redis.url, name), outDir: out });
      const took = /candidate (\d+)\/12 \(job /;
      await until('worker a to take a candidate', () => took.test(a.output()));
      a.proc.kill('SIGKILL');
      await a.exited;
      // The last candidate it took (it was scoring it, or had just taken it, when it died).
      const all = [...a.output().matchAll(new RegExp(took.source, 'g'))];
      const lost = Number(all.at(-1)![1]) - 1;
      const scoredByA = count(a.output(), new RegExp(` candidate ${lost + 1} scored`));
      const done = await queued;
      expect(done.failed).toBe(0);
      await sameAsLocal(out);
      const sel = jsonl(join(out, 'selection.jsonl')) as { id: string; candidate: number; env: { worker: string } }[];
      expect(new Set(sel.map((r) => r.id)).size).toBe(N);
      const row = sel.filter((r) => r.candidate === lost);
      expect(row).toHaveLength(1);
      // Killed before it answered: the other worker took the candidate up again (after the lock expired) and its row names that worker.
      expect(scoredByA).toBe(0);
      expect(row[0]!.env.worker).toBe(b.name);
      const job = jsonl(join(out, 'jobs.jsonl')).map((j) => jobRowSchema.parse(j)).find((j) => j.candidate === lost)!;
      expect(job).toMatchObject({ worker: b.name, status: 'completed' });
      expect(job.stalls).toBeGreaterThanOrEqual(1);
      expect(job.attemptsStarted).toBeGreaterThanOrEqual(2);
    } finally {
      stop(a, b);
    }
  }, 180_000);

  it('a coordinator killed mid-flow, with the queue lost too: the same command scores only the candidates missing from selection.jsonl', async () => {
    const name = queueName();
    const out = join(dir, 'resumed');
    const args = ['experiment', file, '--queue', redis.url, '--queue-name', name, '--out', out];
    const w1 = await worker(redis.url, name);
    let w2: Awaited<ReturnType<typeof worker>> | undefined;
    try {
      const first = spawnCli(args, FAST);
      await until('three selection rows', () => jsonl(join(out, 'selection.jsonl')).length >= 3);
      first.proc.kill('SIGKILL');
      w1.proc.kill('SIGKILL');
      await Promise.all([first.exited, w1.exited]);
      // Redis loses the flow (as a Redis without persistence that restarted would).
      const q = new Queue(name, { connection: bullConnection(parseQueueUrl(redis.url, name)) });
      await q.obliterate({ force: true });
      await q.close();
      const before = jsonl(join(out, 'selection.jsonl')) as { candidate: number }[];
      const have = before.length;
      expect(have).toBeGreaterThanOrEqual(3);
      expect(have).toBeLessThan(N);
      w2 = await worker(redis.url, name);
      const second = spawnCli(args, FAST);
      expect(await second.exited).toBe(0);
      // Only the missing candidates were scored again, each once; every candidate has exactly one row.
      expect([...takenBy(w2)].sort((x, y) => x - y)).toEqual([...Array(N).keys()].filter((c) => !before.some((r) => r.candidate === c)));
      await sameAsLocal(out);
      expect(new Set(jsonl(join(out, 'selection.jsonl')).map((r) => r.id)).size).toBe(N);
    } finally {
      stop(w1, w2);
    }
  }, 240_000);

  it('successive halving through the queue: the parent adds each later rung as children and waits; every rung\'s rows and the choice equal a local run\'s', async () => {
    const hdir = mkdtempSync(join(ROOT, '.tmp', 'queue-flow-halving-'));
    const hfile = join(hdir, 'exp.json');
    writeFileSync(hfile, JSON.stringify({ ...GRID, classifiers: [{ ...GRID.classifiers[0], search: { strategy: 'halving', factor: 3 } }] }, null, 2));
    const hexp = await loadExperiment(hfile);
    await runExperiment(hexp, { outDir: join(hdir, 'local') });
    const name = queueName();
    const [a, b] = await Promise.all([worker(redis.url, name), worker(redis.url, name)]);
    try {
      const done = await runQueued(hexp, { target: parseQueueUrl(redis.url, name), outDir: join(hdir, 'queued') });
      expect(done.failed).toBe(0);
      const [q, l] = await Promise.all([readRows(join(hdir, 'queued', 'results.jsonl')), readRows(join(hdir, 'local', 'results.jsonl'))]);
      expect(comparable(q[0]!)).toEqual(comparable(l[0]!));
      const byTask = (d: string) => selectionOf(join(hdir, d)).sort((x, y) => (x.rung ?? 0) - (y.rung ?? 0) || x.candidate - y.candidate);
      const rows = byTask('queued');
      expect(rows).toEqual(byTask('local'));
      // Later rungs happened, each asked for by the parent after the one before.
      const rungs = [...new Set(rows.map((r) => r.rung ?? 0))];
      expect(rungs.length).toBeGreaterThan(1);
      const jobs = jsonl(join(hdir, 'queued', 'jobs.jsonl')).map((j) => jobRowSchema.parse(j));
      expect(jobs.filter((j) => j.kind === 'candidate')).toHaveLength(rows.length);
      // One planning activation per rung (each but the last adds the next rung and waits), then refit and test.
      expect(jobs.find((j) => j.kind === 'parent')!.segments?.map((x) => x.phase)).toEqual([...rungs.map(() => 'plan'), 'test']);
      for (const r of rungs.slice(1)) {
        const started = Math.min(...jobs.filter((j) => j.rung === r).map((j) => Date.parse(j.queuedAt)));
        const before = Math.max(...jobs.filter((j) => j.rung === r - 1).map((j) => Date.parse(j.finishedAt!)));
        expect(started).toBeGreaterThanOrEqual(before);
      }
    } finally {
      stop(a, b);
    }
  }, 240_000);

  it('a worker refuses candidate jobs it must not run, once and without retries: bad data, no parent, a parent naming a plugin outside the checkout', async () => {
    const name = queueName();
    const target = parseQueueUrl(redis.url, name);
    const w = await startWorker({ target, concurrency: 1, log: () => {} });
    const queue = new Queue(name, { connection: bullConnection(target) });
    const flows = new FlowProducer({ connection: bullConnection(target) });
    try {
      const good = { format: 'digitbench-candidate-job', version: 1, candidate: 0, rung: 0, selectionId: '0123456789abcdef' };
      const parent = runJob(exp, exp.runs[0]!, { baseDir: dir, id: '0123456789abcdef', datasetHash: 'x', fingerprint: 'y', code: 'z', versions: {}, engine: engineChoice().engine });
      await queue.add(CANDIDATE_JOB_NAME, { ...good, candidate: -1 }, { jobId: 'bad', attempts: 3 });
      await queue.add(CANDIDATE_JOB_NAME, good, { jobId: 'orphan', attempts: 3 });
      await flows.add({
        name: 'run',
        queueName: name,
        data: { ...parent, run: { ...parent.run, pluginRef: '/etc/evil.ts' }, have: [] },
        opts: { jobId: 'evil' },
        children: [{ name: CANDIDATE_JOB_NAME, queueName: name, data: good, opts: { ...CANDIDATE_OPTS, jobId: candidateJobId('evil', { candidate: 0, rung: 0 }) } }],
      });
      const refused = (why: string) => `refused by worker ${w.name}: ${why}`;
      const outside = refused(`the job names the plugin "/etc/evil.ts", which is neither a built-in nor a file inside this worker's checkout (${ROOT}); workers run only those`);
      const cases: [string, string][] = [
        ['bad', refused('not a digitbench candidate job of this version (candidate: Too small: expected number to be >=0); give coordinator and workers the same checkout')],
        ['orphan', refused('a candidate job without its parent run job')],
        ['evil.r0.c0', outside],
        // The parent goes on after its child failed (ignoreDependencyOnFailure), and is refused the same way.
        ['evil', outside],
      ];
      for (const [id, reason] of cases) {
        let state = '';
        for (let i = 0; i < 300 && state !== 'failed'; i++) {
          state = await queue.getJobState(id);
          if (state !== 'failed') await sleep(100);
        }
        const job = (await queue.getJob(id))!;
        expect([id, state]).toEqual([id, 'failed']);
        expect(job.attemptsMade).toBe(1);
        expect(job.failedReason).toBe(reason);
      }
    } finally {
      await w.close();
      await queue.obliterate({ force: true }).catch(() => {});
      await Promise.all([queue.close(), flows.close()]);
    }
  }, 120_000);

  it('a candidate its workers died on three times (the stalled-job limit) is a failed selection row that names no worker, and the run chooses among the others', async () => {
    const sdir = mkdtempSync(join(ROOT, '.tmp', 'queue-flow-stalled-'));
    const sfile = join(sdir, 'exp.json');
    writeFileSync(sfile, JSON.stringify({ ...GRID, classifiers: [{ ...GRID.classifiers[0], grid: { k: [1, 3], metric: ['l2'] } }] }, null, 2));
    const sexp = await loadExperiment(sfile);
    const name = queueName();
    const target = parseQueueUrl(redis.url, name);
    const queue = new Queue(name, { connection: bullConnection(target) });
    // A stand-in for the dead workers: it takes the first candidate job and fails it, finally, with the reason BullMQ gives a job stalled too often.
    const dead = new Worker(name, undefined, { connection: bullConnection(target), autorun: false });
    let w: Awaited<ReturnType<typeof worker>> | undefined;
    try {
      const queued = runQueued(sexp, { target, outDir: join(sdir, 'queued') });
      let lost = -1;
      for (let i = 0; i < 300 && lost < 0; i++) {
        const job = await dead.getNextJob('dead-token');
        if (job) {
          lost = Number(/\.c(\d+)$/.exec(job.id!)![1]);
          await job.moveToFailed(new UnrecoverableError('job stalled more than allowable limit'), 'dead-token', false);
        } else await sleep(100);
      }
      expect(lost).toBeGreaterThanOrEqual(0);
      w = await worker(redis.url, name);
      const done = await queued;
      expect(done.failed).toBe(0);
      const sel = jsonl(join(sdir, 'queued', 'selection.jsonl')) as { candidate: number; status: string; reason?: string; env: { worker?: string } }[];
      expect(sel).toHaveLength(2);
      const failed = sel.find((r) => r.candidate === lost)!;
      expect(failed).toMatchObject({ status: 'failed', reason: 'its worker died 3 times while scoring it (the queue\'s stalled-job limit)' });
      expect(failed.env.worker).toBeUndefined();
      expect(sel.find((r) => r.candidate !== lost)).toMatchObject({ status: 'ok', env: { worker: w.name } });
      const [row] = await readRows(join(sdir, 'queued', 'results.jsonl'));
      expect(row).toMatchObject({ status: 'ok', params: { k: lost === 0 ? 3 : 1 } });
    } finally {
      stop(w);
      await dead.close();
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
    }
  }, 120_000);
});
