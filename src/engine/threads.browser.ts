/**
 * threads.ts for the browser build (src/serve/build.ts substitutes it): the same exports, with no
 * worker threads. Numeric work in a page runs on the calling thread (tfjs-wasm may still use its own
 * threads when the page is cross-origin isolated); starting a worker is an error that says so.
 */
import type { Worker } from 'node:worker_threads';

export function startTsWorker(entry: URL, _workerData?: unknown, _options?: { track?: boolean }): Worker {
  throw new Error(`worker threads are not available in the browser build (asked for ${entry.pathname.split('/').pop()}); use threads: 1.`);
}

export function liveWorkers(): number {
  return 0;
}

export function cores(): number {
  return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
}

/** One: the page's own thread (see the top of this file). */
export function defaultThreads(_max = 2): number {
  return 1;
}

export { allocFloat32, callWorker, isShared, serialised, SHARE_FROM_ELEMENTS } from './threads-common.ts';
