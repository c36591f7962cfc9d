/**
 * The platform-neutral half of threads.ts: typed arrays worker threads can share without copies, and
 * one-request-at-a-time messaging. Also used by the browser build (threads.browser.ts).
 */
import type { TransferListItem, Worker } from 'node:worker_threads';

export { allocFloat32, isShared, SHARE_FROM_ELEMENTS } from '@digitbench/runtime/internal';


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
