/**
 * One process-wide pool of worker threads for numeric work, started on first use and kept: a call
 * pays no thread start-up or tensor-engine load after the first. Each worker runs an exported async
 * function of a project module, named by the caller ({module, fn}), on arguments it receives by
 * message: typed arrays on SharedArrayBuffers arrive without a copy, so workers read the caller's
 * matrices in place and may write results into shared output arrays.
 *
 * The workers are unreferenced while idle, so they never keep a process alive, and are not counted
 * by liveWorkers() (models do not own them). closeEnginePool() ends them.
 */
import type { Worker } from 'node:worker_threads';
import { callWorker, defaultThreads, serialised, startTsWorker } from './threads.ts';

interface PoolWorker {
  worker: Worker;
  busy: number;
  call: (message: unknown) => Promise<{ result: unknown }>;
}

let workers: PoolWorker[] = [];

function start(): PoolWorker {
  const worker = startTsWorker(new URL('./pool-worker.ts', import.meta.url), {}, { track: false });
  worker.unref();
  const pw: PoolWorker = { worker, busy: 0, call: serialised((m: unknown) => callWorker<{ result: unknown }>(worker, m, 'engine pool')) };
  worker.once('exit', () => {
    workers = workers.filter((w) => w !== pw);
  });
  return pw;
}

/** Ensures `n` workers exist (started in the background: call early to hide their start-up). */
export function warmEnginePool(n = defaultThreads()): void {
  while (workers.length < n) workers.push(start());
}

/**
 * Runs `fn` of `module` (a file URL of a project module) in pool worker `slot` (0 ≤ slot < threads)
 * with `args`, and returns its result.
 */
export async function runInPool<T>(slot: number, module: URL, fn: string, args: unknown): Promise<T> {
  warmEnginePool(slot + 1);
  const pw = workers[slot]!;
  // Referenced while a call is in flight, so the process waits for its answer.
  if (pw.busy++ === 0) pw.worker.ref();
  try {
    return (await pw.call({ module: module.href, fn, args })).result as T;
  } finally {
    if (--pw.busy === 0) pw.worker.unref();
  }
}

export function enginePoolSize(): number {
  return workers.length;
}

export async function closeEnginePool(): Promise<void> {
  const all = workers;
  workers = [];
  await Promise.all(all.map((w) => w.worker.terminate()));
}
