/**
 * Worker threads running TypeScript modules, and typed arrays they can share without copies.
 * A worker imports bin/register.js (tsx's ESM API and the source condition) and then its module (a .ts
 * worker started with `--import tsx` fails both under tsx and under vitest).
 *
 * Node only: the browser build (src/serve/build.ts) uses threads.browser.ts in its place.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

import { REGISTER_SOURCES } from './register.ts';

const live = new Set<Worker>();

/**
 * Starts a worker thread on a TypeScript module (a file URL). `track: false` leaves it out of
 * liveWorkers(): for the process-wide engine pool (pool.ts), which outlives every model.
 */
export function startTsWorker(entry: URL, workerData: unknown, { track = true }: { track?: boolean } = {}): Worker {
  const boot = `import(${JSON.stringify(REGISTER_SOURCES)}).then(() => import(${JSON.stringify(entry.href)}));`;
  const w = new Worker(boot, { eval: true, workerData });
  if (track) {
    live.add(w);
    w.once('exit', () => live.delete(w));
  }
  return w;
}

/** Worker threads started by startTsWorker that have not exited yet (tests check that models free theirs). */
export function liveWorkers(): number {
  return live.size;
}

/** Logical cores of this machine. */
export function cores(): number {
  return availableParallelism();
}

/** Worker threads worth starting for parallel numeric work on this machine (at most `max`). */
export function defaultThreads(max = 2): number {
  return Math.max(1, Math.min(max, availableParallelism()));
}

export { allocFloat32, callWorker, isShared, serialised, SHARE_FROM_ELEMENTS } from './threads-common.ts';
