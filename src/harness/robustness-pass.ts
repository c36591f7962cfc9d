/**
 * The deploy child's robustness pass on two threads (issue 25: mnist-full's wall time): the bundle's model
 * classify()s every set of images (clean, each corruption, Fashion-MNIST, noise) in batches of
 * CLASSIFY_BATCH, and a helper worker thread (robustness-worker.ts) that loads the same bundle file the same
 * way (the run's plugin, loadBundleBytes) takes batches too. The batches are the sequential pass's (each set
 * cut at the same multiples of the batch size, the same pixels as float32), and each one's figures are
 * counts (correct, answered, correct among answered) that add up, so the sums are the same whichever
 * thread took which batch: the same figures as classifyAll over each set, bit for bit.
 *
 * The batches are handed out by one shared counter (Atomics.add), so neither thread waits on a message
 * for its next one. Before each take the helper raises a shared "taking" flag; once this thread has run
 * out of batches it waits for the helper only while that flag is up (it is then finishing a batch), and
 * ends it otherwise (a helper still loading the bundle then takes nothing). Any batch that was not
 * finished (the helper failed or was ended mid-batch) is classified here afterwards, so a helper that
 * cannot load or fails costs time, never figures.
 */
import type { Worker } from 'node:worker_threads';
import { createMatrix, type DigitModel, type Matrix } from '@digitbench/runtime/internal';
import { defaultThreads, isShared, startTsWorker } from '../engine/threads.ts';
import { CLASSIFY_BATCH, sureCount, type SureCount } from './corrupted.ts';

/** One set of raw images (0..255 values), `cols` pixels each, with the true labels where there are some. */
export interface ImageSet {
  pixels: Uint8Array | Float32Array;
  rows: number;
  cols: number;
  truth?: Int32Array;
}

/** How the helper thread loads the bundle: as the deploy child does (the run's plugin, from its experiment folder). */
export interface HelperLoad {
  bundleFile: string;
  pluginRef: string;
  baseDir: string;
}

/** What both threads share: the sets, the batches and their counts. */
export interface PassJob {
  sets: ImageSet[];
  /** Batch t is images [tasks[3t+1], tasks[3t+2]) of set tasks[3t]. */
  tasks: Int32Array;
  /** [0]: the next batch to take. */
  next: Int32Array;
  /** Per batch: correct, answered, correct among answered, and who counted it (1: this thread, 2: the helper; 0: not yet). */
  counts: Int32Array;
  /** [0]: 1 while the helper is taking or classifying a batch. */
  helperBusy: Int32Array;
  /** Batch 0 is this thread's and batch 1 the helper's before either takes from `next` (which starts at 2). */
  reserved: boolean;
}

const FIELDS = 4;

function sharedInt32(n: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(n * 4));
}

/** A typed array in shared memory (the same one when it already is). */
function shared<T extends Uint8Array | Float32Array | Int32Array>(a: T): T {
  if (isShared(a)) return a;
  const out = new (a.constructor as new (b: SharedArrayBuffer) => T)(new SharedArrayBuffer(a.byteLength));
  out.set(a as never);
  return out;
}

/** The job of classifying `sets` in batches of `batch` images, in shared memory when `share`. */
export function passJob(sets: ImageSet[], batch = CLASSIFY_BATCH, share = false, reserved = false): PassJob {
  const list: number[] = [];
  sets.forEach((s, i) => {
    for (let start = 0; start < s.rows; start += batch) list.push(i, start, Math.min(s.rows, start + batch));
  });
  const tasks = share ? shared(Int32Array.from(list)) : Int32Array.from(list);
  const count = tasks.length / 3;
  return {
    sets: share ? sets.map((s) => ({ ...s, pixels: shared(s.pixels), ...(s.truth ? { truth: shared(s.truth) } : {}) })) : sets,
    tasks,
    next: sharedInt32(1).fill(reserved ? 2 : 0),
    counts: sharedInt32(count * FIELDS),
    helperBusy: sharedInt32(1),
    reserved,
  };
}

/** Classifies batch t and stores its counts (the counting of classifyAll, corrupted.ts). */
export async function countBatch(model: DigitModel, job: PassJob, t: number, helper = false): Promise<void> {
  const set = job.sets[job.tasks[3 * t]!]!;
  const start = job.tasks[3 * t + 1]!;
  const end = job.tasks[3 * t + 2]!;
  const part = set.pixels.subarray(start * set.cols, end * set.cols);
  const images: Matrix = createMatrix(end - start, set.cols, part instanceof Float32Array ? part.slice() : Float32Array.from(part));
  const { labels, unsure } = await model.classify(images);
  let correct = 0, answered = 0, sureCorrect = 0;
  for (let i = 0; i < labels.length; i++) {
    const right = set.truth !== undefined && labels[i] === set.truth[start + i];
    if (right) correct++;
    if (!unsure[i]) {
      answered++;
      if (right) sureCorrect++;
    }
  }
  const o = t * FIELDS;
  job.counts[o] = correct;
  job.counts[o + 1] = answered;
  job.counts[o + 2] = sureCorrect;
  Atomics.store(job.counts, o + 3, helper ? 2 : 1);
}

/** Takes batches from the shared counter until there are none left; how many it classified. */
export async function takeBatches(model: DigitModel, job: PassJob, helper = false): Promise<number> {
  const count = job.tasks.length / 3;
  let done = 0;
  const first = helper ? 1 : 0;
  if (job.reserved && first < count) {
    if (helper) Atomics.store(job.helperBusy, 0, 1);
    await countBatch(model, job, first, helper);
    done++;
  }
  for (;;) {
    if (helper) Atomics.store(job.helperBusy, 0, 1);
    const t = Atomics.add(job.next, 0, 1);
    if (t >= count) break;
    await countBatch(model, job, t, helper);
    done++;
    if (helper) Atomics.store(job.helperBusy, 0, 0);
  }
  if (helper) Atomics.store(job.helperBusy, 0, 0);
  return done;
}

export interface PassOutcome {
  /** Each set's figures, in the order given. */
  counts: SureCount[];
  /** Batches in all, and how many the helper thread classified. */
  batches: number;
  helperBatches: number;
  /** Why the helper took no part or stopped, when it failed. */
  helperError?: string;
}

/**
 * Every set's figures, with `threads` − 1 (at most one) helper thread loading the bundle from `helper`;
 * with one thread, or without `helper`, all in this thread (the sequential pass). `waitForHelper` (tests): take no
 * batch here before the helper has loaded the bundle (or failed), and give the first batch to this thread
 * and the second to the helper before the rest are taken, so that both take part even in a short pass.
 */
export async function classifySets(model: DigitModel, sets: ImageSet[], options: { helper?: HelperLoad; threads?: number; batch?: number; waitForHelper?: boolean } = {}): Promise<PassOutcome> {
  const threads = options.threads ?? defaultThreads(2);
  const batch = options.batch ?? CLASSIFY_BATCH;
  const batches = sets.reduce((s, x) => s + Math.ceil(x.rows / batch), 0);
  const parallel = options.helper !== undefined && threads > 1 && batches > 1;
  const job = passJob(sets, batch, parallel, parallel && options.waitForHelper === true);
  let helperError: string | undefined;
  let worker: Worker | undefined;
  let finished: Promise<void> | undefined;
  let ready: Promise<void> | undefined;
  if (parallel) {
    worker = startTsWorker(new URL('./robustness-worker.ts', import.meta.url), { load: options.helper, job });
    const w = worker;
    let loaded = () => {};
    ready = new Promise<void>((resolve) => (loaded = resolve));
    finished = new Promise<void>((resolve) => {
      const end = () => {
        loaded();
        resolve();
      };
      w.on('message', (m: { ready?: true; done?: number; error?: string }) => {
        if (m.ready) return loaded();
        if (m.error !== undefined) helperError = m.error;
        end();
      });
      w.once('error', (e) => {
        helperError = e.message;
        end();
      });
      w.once('exit', end);
    });
  }
  try {
    if (options.waitForHelper) await ready;
    await takeBatches(model, job);
    // Out of batches: wait for a helper that is finishing one (a helper not taking one now will get none).
    if (worker && Atomics.load(job.helperBusy, 0) === 1) await finished;
  } finally {
    await worker?.terminate();
  }
  // A batch the helper left unfinished (it failed or was ended mid-batch) is classified here.
  const count = job.tasks.length / 3;
  for (let t = 0; t < count; t++) if (Atomics.load(job.counts, t * FIELDS + 3) === 0) await countBatch(model, job, t);
  let helperBatches = 0;
  for (let t = 0; t < count; t++) if (job.counts[t * FIELDS + 3] === 2) helperBatches++;
  const sums = sets.map(() => [0, 0, 0]);
  for (let t = 0; t < count; t++) {
    const s = sums[job.tasks[3 * t]!]!;
    for (let f = 0; f < 3; f++) s[f]! += job.counts[t * FIELDS + f]!;
  }
  return {
    counts: sets.map((set, i) => sureCount(sums[i]![0]!, sums[i]![1]!, sums[i]![2]!, set.rows)),
    batches: count,
    helperBatches,
    ...(helperError !== undefined ? { helperError } : {}),
  };
}
