/**
 * Worker threads running TypeScript modules, and typed arrays they can share without copies.
 * A worker registers tsx's ESM API and then imports its module (a .ts worker started with
 * `--import tsx` fails both under tsx and under vitest).
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

const require = createRequire(import.meta.url);
const tsxApi = new URL('dist/esm/api/index.mjs', pathToFileURL(require.resolve('tsx/package.json'))).href;

/** Starts a worker thread on a TypeScript module (a file URL). */
export function startTsWorker(entry: URL, workerData: unknown): Worker {
  const boot = `import(${JSON.stringify(tsxApi)}).then((api) => { api.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(boot, { eval: true, workerData });
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
