/**
 * Wall time of an experiment run here, and through the queue with 1 and with 2 local workers
 * (`npm run bench:queue -- [experiment] --redis redis://127.0.0.1:6379 [--repeats 3]`).
 *
 * Each timed run is a fresh start (--fresh) with an empty feature cache, so every setup pays the same
 * work (a PCA fit included), as a new machine would. Workers are started and ready before the clock
 * starts; the clock stops when the coordinator (or the local run) exits. The setups are interleaved per
 * repetition, so a noisy minute on a shared machine hits all of them; medians are printed, with
 * min–max, the ratio to the local run, and whether every setup gave the same accuracies.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'bin/digitbench.js');

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { redis: { type: 'string', default: process.env.DIGITBENCH_REDIS_URL ?? 'redis://127.0.0.1:6379' }, repeats: { type: 'string', default: '3' } },
});
const experiment = positionals[0] ?? 'quick';
const repeats = Number(values.repeats);
if (!Number.isInteger(repeats) || repeats < 1) throw new Error('--repeats: use a positive whole number.');

function run(args: string[], env: NodeJS.ProcessEnv): { done: Promise<number | null>; kill: () => void; output: () => string } {
  const p = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { done: new Promise((r) => p.on('close', r)), kill: () => p.kill('SIGKILL'), output: () => out };
}

async function timed(setup: string, workers: number, rep: number): Promise<{ seconds: number; accuracies: string }> {
  const cache = mkdtempSync(join(tmpdir(), 'digitbench-cache-'));
  const env = { ...process.env, DIGITBENCH_CACHE_DIR: cache };
  const out = join(ROOT, 'runs', 'queue-bench', `${setup}-${rep}`);
  const queueName = `bench-${process.pid}-${setup}-${rep}`;
  const started = [];
  for (let i = 0; i < workers; i++) {
    const w = run(['worker', '--queue', values.redis!, '--queue-name', queueName], env);
    while (!w.output().includes('waiting for jobs')) {
      if (w.output().includes('digitbench:')) throw new Error(w.output());
      await new Promise((r) => setTimeout(r, 100));
    }
    started.push(w);
  }
  const t0 = performance.now();
  const c = run(['experiment', experiment, '--fresh', '--out', out, ...(workers ? ['--queue', values.redis!, '--queue-name', queueName] : [])], env);
  const code = await c.done;
  const seconds = (performance.now() - t0) / 1000;
  for (const w of started) w.kill();
  rmSync(cache, { recursive: true, force: true });
  if (code !== 0) throw new Error(`${setup}: the experiment exited with ${code}:\n${c.output().slice(-2000)}`);
  const rows = readFileSync(join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { classifier: string; status: string; metrics?: { accuracy: number } });
  const accuracies = rows
    .map((r) => `${r.classifier} ${r.status === 'ok' ? (r.metrics!.accuracy * 100).toFixed(2) : r.status}`)
    .sort()
    .join(', ');
  return { seconds, accuracies };
}

const setups = [
  { name: 'local', workers: 0 },
  { name: 'queue-1-worker', workers: 1 },
  { name: 'queue-2-workers', workers: 2 },
];
const times = new Map<string, number[]>(setups.map((s) => [s.name, []]));
const accuracies = new Set<string>();
for (let rep = 0; rep < repeats; rep++) {
  for (const s of setups) {
    const r = await timed(s.name, s.workers, rep);
    times.get(s.name)!.push(r.seconds);
    accuracies.add(r.accuracies);
    process.stderr.write(`${s.name} #${rep + 1}: ${r.seconds.toFixed(1)} s\n`);
  }
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const local = median(times.get('local')!);
console.log(`experiment ${experiment}, ${repeats} repetition(s) per setup, interleaved; fresh feature cache per run; this machine's cores shared by every worker\n`);
console.log('| setup | wall s, median | min – max | vs local |');
console.log('| :--- | ---: | ---: | ---: |');
for (const s of setups) {
  const t = times.get(s.name)!;
  console.log(`| ${s.name} | ${median(t).toFixed(1)} | ${Math.min(...t).toFixed(1)} – ${Math.max(...t).toFixed(1)} | ${(median(t) / local).toFixed(2)}× |`);
}
console.log(`\naccuracies ${accuracies.size === 1 ? 'identical in every run' : 'DIFFER between runs'}: ${[...accuracies].join(' / ')}`);
