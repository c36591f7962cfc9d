/**
 * Wall time of an experiment run here, and through the queue with 1, 2 and 3 local workers, and the
 * critical path of its jobs (`npm run bench:queue -- [experiment] [--redis redis://127.0.0.1:6379]
 * [--repeats 3] [--workers 1,2,3]`; the default experiment, queue-bench, has mnist-best's selection shape).
 *
 * Each timed run is a fresh start (--fresh) with an empty feature cache, so every setup pays the same
 * work (a PCA fit included), as a new machine would. Workers are started and ready before the clock
 * starts; the clock stops when the coordinator (or the local run) exits. The setups are interleaved per
 * repetition, so a noisy minute on a shared machine hits all of them; medians are printed, with
 * min–max and the ratio to the local run.
 *
 * **Critical path**, from the coordinator's jobs.jsonl: for each run, the parent job's own phases (its
 * segments), plus for each rung the longest candidate job, plus the parent's per-activation overhead
 * (proving the run, uploading bundles: the last activation's span less its segments, times the number of
 * activations); a run without candidates is its one job. The experiment's is the longest run's, plus the
 * coordinator's own time (wall time outside the span of jobs: reading data, writing the report). It is
 * taken from the 1-worker runs, where jobs run one at a time: with 2 or 3 workers on this machine's 2
 * cores each job is slowed by the others, so their durations overstate the path. It bounds the wall time
 * on enough machines like this one, each with its feature cache warm for its candidates' feature set
 * (a cold host adds one feature fit, which the longest candidate of a rung often already holds).
 *
 * **Same answers:** every setup's result rows (classifier, feature set, chosen settings, validation and
 * test accuracy, corrupted accuracy) and selection rows (each candidate's fold accuracies) are compared;
 * the bench fails if any differ.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { median } from '../src/bench/stats.ts';
import type { JobRow } from '../src/results/row.ts';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'bin/digitbench.js');

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    redis: { type: 'string', default: process.env.DIGITBENCH_REDIS_URL ?? 'redis://127.0.0.1:6379' },
    repeats: { type: 'string', default: '3' },
    workers: { type: 'string', default: '1,2,3' },
  },
});
const experiment = positionals[0] ?? 'queue-bench';
const repeats = Number(values.repeats);
if (!Number.isInteger(repeats) || repeats < 1) throw new Error('--repeats: use a positive whole number.');
const workerCounts = values.workers!.split(',').map(Number);
if (!workerCounts.every((n) => Number.isInteger(n) && n >= 1)) throw new Error('--workers: use a comma-separated list of positive whole numbers, e.g. 1,2,3.');

function run(args: string[], env: NodeJS.ProcessEnv): { done: Promise<number | null>; kill: () => void; output: () => string } {
  const p = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { done: new Promise((r) => p.on('close', r)), kill: () => p.kill('SIGKILL'), output: () => out };
}

const lines = <T>(file: string): T[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);

interface Row {
  classifier: string;
  status: string;
  featureSet?: string;
  params?: Record<string, unknown>;
  metrics?: { accuracy: number };
  selection?: { validationAccuracy?: number };
  robustness?: { meanAccuracy?: number };
}
interface SelRow {
  classifier: string;
  candidate: number;
  rung?: number;
  featureSet?: string;
  params: Record<string, unknown>;
  status: string;
  folds?: { accuracy: number }[];
  env?: { worker?: string };
}

/** What two runs of the same code on the same data must agree on: the choices and every accuracy. */
function answers(out: string): { results: string; selection: string; summary: string } {
  const rows = lines<Row>(join(out, 'results.jsonl'));
  const sel = lines<SelRow>(join(out, 'selection.jsonl'));
  const results = rows
    .map((r) => JSON.stringify([r.classifier, r.status, r.featureSet, r.params, r.selection?.validationAccuracy, r.metrics?.accuracy, r.robustness?.meanAccuracy]))
    .sort()
    .join('\n');
  const selection = sel
    .map((s) => JSON.stringify([s.classifier, s.rung ?? 0, s.candidate, s.featureSet, s.params, s.status, s.folds?.map((f) => f.accuracy)]))
    .sort()
    .join('\n');
  const summary = rows
    .map((r) => `${r.classifier} ${r.status === 'ok' ? `${r.featureSet ?? ''}${r.featureSet ? ' ' : ''}${(r.metrics!.accuracy * 100).toFixed(2)}%` : r.status}`)
    .sort()
    .join(', ');
  return { results, selection, summary };
}

function groupBy<T, K>(xs: T[], key: (x: T) => K): Map<K, T[]> {
  const m = new Map<K, T[]>();
  for (const x of xs) {
    const k = key(x);
    const list = m.get(k);
    if (list) list.push(x);
    else m.set(k, [x]);
  }
  return m;
}

const ms = (iso: string | undefined) => (iso ? Date.parse(iso) : NaN);
const span = (j: JobRow) => (ms(j.finishedAt) - ms(j.startedAt)) / 1000;

interface PathFigures {
  critical: number;
  longestRun: string;
  coordinator: number;
  jobSeconds: number;
  /** The first candidate job's duration (a cold worker: it proves the run and fits its feature set) against the median candidate's. */
  coldFirst: number;
  medianCandidate: number;
}

/** The critical path and the summed job time of one queue run, from its jobs.jsonl (see the header). */
function pathOf(out: string, wall: number): PathFigures {
  const jobs = lines<JobRow>(join(out, 'jobs.jsonl')).filter((j) => j.status === 'completed' && j.startedAt && j.finishedAt);
  const byRun = groupBy(jobs, (j) => j.runId);
  let critical = 0;
  let longestRun = '';
  let jobSeconds = 0;
  for (const [, js] of byRun) {
    const parent = js.find((j) => j.kind === 'parent');
    const plain = js.find((j) => j.kind === 'run');
    let chain: number;
    if (plain) {
      chain = span(plain);
      jobSeconds += chain;
    } else {
      const segs = parent!.segments ?? [];
      const own = segs.reduce((s, x) => s + x.seconds, 0);
      // Each activation of the parent ends in a 'plan' segment when it waits, or a 'plan' and a 'test' when it finishes.
      const activations = segs.filter((s) => s.phase === 'plan').length;
      const lastOwn = (segs.at(-1)?.seconds ?? 0) + (segs.at(-2)?.phase === 'plan' ? segs.at(-2)!.seconds : 0);
      // Without segments (a parent from an older checkout), its last activation's whole span stands for it.
      const overhead = Math.max(0, span(parent!) - lastOwn);
      const kids = js.filter((j) => j.kind === 'candidate');
      const rungs = groupBy(kids, (j) => j.rung ?? 0);
      chain = own + Math.max(1, activations) * overhead + [...rungs.values()].reduce((s, r) => s + Math.max(...r.map(span)), 0);
      jobSeconds += own + Math.max(1, activations) * overhead + kids.reduce((s, j) => s + span(j), 0);
    }
    if (chain > critical) {
      critical = chain;
      longestRun = js[0]!.classifier;
    }
  }
  const first = Math.min(...jobs.map((j) => ms(j.queuedAt)));
  const last = Math.max(...jobs.map((j) => ms(j.finishedAt)));
  const candidates = jobs.filter((j) => j.kind === 'candidate').sort((a, b) => ms(a.startedAt) - ms(b.startedAt));
  return {
    critical,
    longestRun,
    coordinator: Math.max(0, wall - (last - first) / 1000),
    jobSeconds,
    coldFirst: candidates.length ? span(candidates[0]!) : NaN,
    medianCandidate: candidates.length ? median(candidates.map(span)) : NaN,
  };
}

async function timed(setup: string, workers: number, rep: number): Promise<{ seconds: number; out: string }> {
  const cache = mkdtempSync(join(tmpdir(), 'digitbench-cache-'));
  const env = { ...process.env, DIGITBENCH_CACHE_DIR: cache };
  const out = join(ROOT, 'runs', 'queue-bench', `${experiment.replace(/[^A-Za-z0-9_-]+/g, '-')}-${setup}-${rep}`);
  const queueName = `bench-${process.pid}-${setup}-${rep}`;
  const started = [];
  try {
    for (let i = 0; i < workers; i++) {
      const w = run(['worker', '--queue', values.redis!, '--queue-name', queueName], env);
      started.push(w);
      while (!w.output().includes('waiting for jobs')) {
        if (w.output().includes('digitbench:')) throw new Error(w.output());
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const t0 = performance.now();
    const c = run(['experiment', experiment, '--fresh', '--out', out, ...(workers ? ['--queue', values.redis!, '--queue-name', queueName] : [])], env);
    const code = await c.done;
    const seconds = (performance.now() - t0) / 1000;
    if (code !== 0) throw new Error(`${setup}: the experiment exited with ${code}:\n${c.output().slice(-2000)}`);
    return { seconds, out };
  } finally {
    for (const w of started) w.kill();
    rmSync(cache, { recursive: true, force: true });
  }
}

const setups = [{ name: 'local', workers: 0 }, ...workerCounts.map((n) => ({ name: `queue, ${n} worker${n > 1 ? 's' : ''}`, workers: n }))];
const times = new Map<string, number[]>(setups.map((s) => [s.name, []]));
const paths = new Map<string, PathFigures[]>(setups.map((s) => [s.name, []]));
let reference: { results: string; selection: string; summary: string; from: string } | undefined;
const differing: string[] = [];
const workersSeen = new Map<string, number[]>(setups.map((s) => [s.name, []]));
for (let rep = 0; rep < repeats; rep++) {
  for (const s of setups) {
    const r = await timed(s.name.replace(/[^a-z0-9]+/g, '-'), s.workers, rep);
    times.get(s.name)!.push(r.seconds);
    const a = answers(r.out);
    if (!reference) reference = { ...a, from: `${s.name} #${rep + 1}` };
    else if (a.results !== reference.results || a.selection !== reference.selection) differing.push(`${s.name} #${rep + 1} (${r.out})`);
    if (s.workers) {
      paths.get(s.name)!.push(pathOf(r.out, r.seconds));
      const names = new Set(lines<SelRow>(join(r.out, 'selection.jsonl')).map((x) => x.env?.worker).filter(Boolean));
      workersSeen.get(s.name)!.push(names.size);
    }
    process.stderr.write(`${s.name} #${rep + 1}: ${r.seconds.toFixed(1)} s\n`);
  }
}

const local = median(times.get('local')!);
const f1 = (x: number) => x.toFixed(1);
console.log(`experiment ${experiment}: ${repeats} repetition(s) per setup, interleaved; a fresh feature cache per run; every worker on this machine's ${(await import('node:os')).availableParallelism()} cores\n`);
console.log('| setup | wall s, median | min – max | vs local | job-s (Σ of job durations) | job-s / wall | workers that scored candidates |');
console.log('| :--- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const s of setups) {
  const t = times.get(s.name)!;
  const p = paths.get(s.name)!;
  const js = p.length ? median(p.map((x) => x.jobSeconds)) : NaN;
  console.log(
    `| ${s.name} | ${f1(median(t))} | ${f1(Math.min(...t))} – ${f1(Math.max(...t))} | ${(median(t) / local).toFixed(2)}× | ${p.length ? f1(js) : '—'} | ${p.length ? (js / median(t)).toFixed(2) : '—'} | ${s.workers ? workersSeen.get(s.name)!.join(', ') : '—'} |`,
  );
}
const one = paths.get(setups.find((s) => s.workers === 1)?.name ?? '') ?? [];
if (one.length) {
  const crit = median(one.map((p) => p.critical));
  const coord = median(one.map((p) => p.coordinator));
  console.log(
    `\ncritical path (from the 1-worker runs, median): longest chain of jobs ${f1(crit)} s (${[...new Set(one.map((p) => p.longestRun))].join(' / ')}), plus the coordinator's own ${f1(coord)} s = **${f1(crit + coord)} s**, ${((crit + coord) / local).toFixed(2)}× the local run: the bound on the wall time on enough machines like this one`,
  );
  console.log(
    `a cold worker's first candidate took ${f1(median(one.map((p) => p.coldFirst)))} s (proving the run, fitting its feature set) against ${median(one.map((p) => p.medianCandidate)).toFixed(2)} s for the median candidate: what a host new to the run adds to its first job`,
  );
}
console.log(`\nchoices and accuracies: ${differing.length ? `DIFFER from ${reference!.from} in ${differing.join('; ')}` : `identical in every run (result rows and every candidate's fold accuracies)`}: ${reference!.summary}`);
if (differing.length) process.exitCode = 1;
