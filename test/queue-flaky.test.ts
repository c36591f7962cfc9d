/**
 * Faults at scale: a 50-candidate k-NN grid through the queue, each candidate a job of its own, taken by
 * three workers (test/fixtures/flaky-worker.ts) that kill themselves (SIGKILL) on about 10% of the
 * candidate attempts they start, by a seeded hash of the candidate and its attempt, and are respawned by
 * a supervisor here. Every candidate must appear exactly once in the selection rows, all ok, the sweep
 * must finish, and the choice and the result row must equal a local run's. The kills are known before the
 * sweep (the fates), so the test checks that exactly those happened.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadExperiment } from '../src/harness/experiment.ts';
import { runExperiment } from '../src/harness/run.ts';
import { bullConnection, parseQueueUrl } from '../src/queue/connection.ts';
import { runQueued } from '../src/queue/coordinator.ts';
import { readRows } from '../src/results/row.ts';
import { fate, killsOf } from './fixtures/flaky-worker.ts';
import { redisAvailable, sharedRedis, type RedisInstance } from './helpers/redis.ts';
import { comparable } from './helpers/queue-procs.ts';
import { writeTinyMnist } from './helpers/tiny-dataset.ts';

const ROOT = resolve(import.meta.dirname, '..');
const REGISTER = join(ROOT, 'bin/register.js');
const FIXTURE = join(ROOT, 'test/fixtures/flaky-worker.ts');
/** 3 s locks: a killed worker's candidate goes back to the queue within about 6 s (2 s gave false stalls at a load average of 15). */
const FAST = { DIGITBENCH_QUEUE_LOCK_MS: '3000', DIGITBENCH_QUEUE_GONE_MS: '5000' };
/** Its fates over the 50 candidates: 4 kills, one candidate killed twice (within maxStalledCount 2). */
const SEED = 'flaky-19';
const K = Array.from({ length: 25 }, (_, i) => i + 1);
const CANDIDATES = K.length * 2;
/** The candidates' places in their run, as the fixture reads them from the job ids. */
const TASKS = Array.from({ length: CANDIDATES }, (_, c) => `r0.c${c}`);


type Sel = { id: string; runId: string; candidate: number; status: string; env?: { worker?: string }; folds?: { accuracy: number }[]; [k: string]: unknown };
const selectionOf = (dir: string): Sel[] =>
  readFileSync(join(dir, 'selection.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((s) => JSON.parse(s) as Sel);
/** What a local run and the queue must agree on: no times, no place. */
const same = ({ startedAt: _s, elapsedSeconds: _e, env: _v, folds, ...r }: Sel) => ({ ...r, accuracy: (folds ?? []).map((f) => f.accuracy) });

/** Three flaky workers, each respawned when it dies until stop(). */
function supervise(url: string, queue: string, n: number) {
  const pids: number[] = [];
  const exits: { pid: number; code: number | null; signal: NodeJS.Signals | null; output: string }[] = [];
  const live = new Set<ChildProcess>();
  let stopping = false;
  const start = () => {
    const proc = spawn(process.execPath, ['--import', REGISTER, FIXTURE, queue], {
      cwd: ROOT,
      env: { ...process.env, ...FAST, DIGITBENCH_REDIS_URL: url, FLAKY_SEED: SEED },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    pids.push(proc.pid!);
    live.add(proc);
    proc.on('exit', (code, signal) => {
      live.delete(proc);
      exits.push({ pid: proc.pid!, code, signal, output });
      if (!stopping) start();
    });
  };
  for (let i = 0; i < n; i++) start();
  return {
    pids,
    exits,
    stop: async () => {
      stopping = true;
      await Promise.all([...live].map((p) => new Promise((res) => (p.once('exit', res), p.kill('SIGKILL')))));
    },
  };
}

describe.skipIf(!redisAvailable)('a flaky worker pool', () => {
  let redis: RedisInstance;
  beforeAll(async () => {
    redis = await sharedRedis();
  });
  afterAll(() => redis?.kill());

  it('the fates of the seed: at least 3 kills, none of a candidate more than twice (maxStalledCount 2)', () => {
    const kills = TASKS.map((t) => killsOf(SEED, t));
    expect(kills).toHaveLength(CANDIDATES);
    expect(kills.reduce((a, b) => a + b, 0)).toBe(4);
    expect(Math.max(...kills)).toBe(2);
    // About a tenth of the first attempts die.
    expect(Array.from({ length: 1000 }, (_, i) => fate(SEED, `r0.c${i}`, 1)).filter(Boolean).length).toBeGreaterThan(70);
  });

  it('50 k-NN candidates through 3 workers that SIGKILL themselves on ~10% of candidates: each scored once, all ok, the local run\'s choice and row', async () => {
    const base = join(ROOT, '.tmp');
    mkdirSync(base, { recursive: true });
    const dir = mkdtempSync(join(base, 'flaky-'));
    const file = join(dir, 'exp.json');
    writeFileSync(
      file,
      JSON.stringify({
        // MNIST's first rows as a small idx dataset: each candidate's scoring process loads it, 100 times in all.
        dataset: await writeTinyMnist(join(dir, 'tiny'), 500, 100),
        split: { train: 300, test: 100, seed: 7 },
        features: [{ step: 'scale' }],
        latencySamples: 10,
        deploy: { passes: 2, calls: 20, batch: 100 },
        selection: { method: 'validation', rows: 100 },
        classifiers: [{ plugin: 'knn', grid: { k: K, weights: ['uniform', 'distance'] } }],
      }),
    );
    const exp = await loadExperiment(file);
    expect(exp.runs[0]!.candidates).toHaveLength(CANDIDATES);
    const name = `flaky-${process.pid}`;
    const pool = supervise(redis.url, name, 3);
    const out = join(dir, 'queued');
    try {
      // The local run goes alongside the sweep: on 2 cores the wall time is about the two's CPU time, not their sum.
      const [local, summary] = await Promise.all([runExperiment(exp, { outDir: join(dir, 'local') }), runQueued(exp, { target: parseQueueUrl(redis.url, name), outDir: out })]);
      expect(local.failed).toBe(0);
      expect(summary.failed).toBe(0);
      const rows = await readRows(join(out, 'results.jsonl'));
      expect(rows).toHaveLength(1);
      expect(comparable(rows[0]!)).toEqual(comparable(local.rows[0]!));

      // Every candidate exactly once, all ok, each with the worker that scored it.
      const sel = selectionOf(out).filter((r) => r.runId === rows[0]!.id);
      expect(sel).toHaveLength(CANDIDATES);
      expect(new Set(sel.map((r) => r.id)).size).toBe(CANDIDATES);
      expect(sel.map((r) => r.candidate).sort((a, b) => a - b)).toEqual(Array.from({ length: CANDIDATES }, (_, i) => i));
      expect(sel.every((r) => r.status === 'ok')).toBe(true);
      const names = new Set(pool.pids.map((p) => `${hostname()}#${p}`));
      for (const r of sel) expect(names.has(r.env?.worker ?? '')).toBe(true);
      const byId = (a: Sel, b: Sel) => a.id.localeCompare(b.id);
      expect(sel.map(same).sort(byId as never)).toEqual(selectionOf(join(dir, 'local')).map(same).sort(byId as never));

      // Exactly the fated kills happened: each a SIGKILL, nothing else ended a worker.
      await pool.stop();
      // The coordinator's job records (jobs.jsonl): how often each candidate was started and stalled.
      const jobs = readFileSync(join(out, 'jobs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string; candidate?: number; attemptsStarted: number; stalls: number; status: string });
      const cand = jobs.filter((j) => j.kind === 'candidate');
      expect(cand.map((j) => j.candidate).sort((a, b) => a! - b!)).toEqual(Array.from({ length: CANDIDATES }, (_, i) => i));
      expect(cand.every((j) => j.status === 'completed')).toBe(true);
      // Each fated kill took its candidate's attempt: started once more than it was killed, and stalled as often.
      for (const j of cand) {
        const k = killsOf(SEED, `r0.c${j.candidate}`);
        expect(j.attemptsStarted).toBeGreaterThanOrEqual(k + 1);
        expect(j.stalls).toBeGreaterThanOrEqual(k);
      }
      // The workers died exactly on the fated attempts among those started: SIGKILLed by their own hook. (On a very
      // loaded machine a lock can expire under a live worker, a false stall: its candidate is started once more,
      // and that attempt's fate counts too.)
      const fated = cand.reduce((n, j) => n + Array.from({ length: j.attemptsStarted }, (_, a) => fate(SEED, `r0.c${j.candidate}`, a + 1)).filter(Boolean).length, 0);
      const died = pool.exits.filter((e) => e.signal === 'SIGKILL' && /flaky: killing myself/.test(e.output));
      expect(died).toHaveLength(fated);
      expect(fated).toBeGreaterThanOrEqual(TASKS.map((t) => killsOf(SEED, t)).reduce((a, b) => a + b, 0));
      expect(pool.exits.filter((e) => !(e.signal === 'SIGKILL')).map((e) => e.output)).toEqual([]);
      // No job failed in the queue.
      const queue = new Queue(name, { connection: bullConnection(parseQueueUrl(redis.url, name)) });
      try {
        expect(await queue.getJobCounts('failed')).toEqual({ failed: 0 });
      } finally {
        await queue.obliterate({ force: true }).catch(() => {});
        await queue.close();
      }
    } finally {
      await pool.stop();
    }
  }, 420_000);
});
