/**
 * Worker threads running TypeScript modules, and typed arrays they can share without copies.
 * A worker registers tsx's ESM API and then imports its module (a .ts worker started with
 * `--import tsx` fails both under tsx and under vitest).
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker, type TransferListItem } from 'node:worker_threads';

const require = createRequire(import.meta.url);
const tsxApi = new URL('dist/esm/api/index.mjs', pathToFileURL(require.resolve('tsx/package.json'))).href;

const live = new Set<Worker>();

/**
 * Starts a worker thread on a TypeScript module (a file URL). `track: false` leaves it out of
 * liveWorkers(): for the process-wide engine pool (pool.ts), which outlives every model.
 */
export function startTsWorker(entry: URL, workerData: unknown, { track = true }: { track?: boolean } = {}): Worker {
  const boot = `import(${JSON.stringify(tsxApi)}).then((api) => { api.register(); return import(${JSON.stringify(entry.href)}); });`;
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

/** Worker threads worth starting for parallel numeric work on this machine (at most `max`). */
export function defaultThreads(max = 2): number {
  return Math.max(1, Math.min(max, availableParallelism()));
}

/** Large arrays are allocated on a SharedArrayBuffer so worker threads can read them without a copy. */
export const SHARE_FROM_ELEMENTS = 1 << 20;

export function allocFloat32(n: number): Float32Array {
  return n >= SHARE_FROM_ELEMENTS ? new Float32Array(new SharedArrayBuffer(n * 4)) : new Float32Array(n);
}

export function isShared(a: ArrayBufferView): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && a.buffer instanceof SharedArrayBuffer;
}

/**
 * Sends one request to a worker that answers each message with one reply ({error} on failure) and
 * waits for that reply. Rejects if the worker fails or exits first. One request at a time per worker:
 * callers serialise (see `serialised`).
 */
export function callWorker<T>(w: Worker, message: unknown, who: string, transfer: TransferListItem[] = []): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const done = () => {
      w.off('message', onMessage);
      w.off('error', onError);
      w.off('exit', onExit);
    };
    const onMessage = (m: T & { error?: string }) => {
      done();
      if (m && typeof m === 'object' && 'error' in m && m.error !== undefined) reject(new Error(`${who}: a worker thread failed: ${m.error}`));
      else resolve(m);
    };
    const onError = (e: Error) => {
      done();
      reject(new Error(`${who}: a worker thread failed to run (${e.message}).`));
    };
    const onExit = (code: number) => {
      done();
      reject(new Error(`${who}: a worker thread exited (code ${code}) before answering.`));
    };
    w.on('message', onMessage);
    w.once('error', onError);
    w.once('exit', onExit);
    w.postMessage(message, transfer);
  });
}

/** Wraps an async function so that calls run one after another (a worker answers one request at a time). */
export function serialised<A extends unknown[], R>(f: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  let tail: Promise<unknown> = Promise.resolve();
  return (...args: A) => {
    const next = tail.then(() => f(...args));
    tail = next.catch(() => {});
    return next;
  };
}
