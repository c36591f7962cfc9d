/**
 * The MNIST-C corrupted test images of an experiment (key `robustness`, issue 24): made once per dataset,
 * split, corruption list and seed, in two worker threads (corrupt-worker.ts, half of the images each: the
 * per-image streams of corruptImages make the halves the same bytes as one pass), and cached as one file
 * under data/cache/corrupted/ that every bundle of the experiment reads (the deploy child measures them).
 *
 * The file holds the corrupted raw pixels (uint8), corruption after corruption in the order asked for,
 * each `rows` images of h×w; nothing else. Its name hashes everything the bytes depend on: the dataset
 * content hash, the split fingerprint, the corruption names, the seed, the image shape and the corruption
 * code (packages/runtime/src/corruptions and its imports). Written to a temporary file, then renamed.
 * Also the counting both the deploy child and `digitbench evaluate --corruptions` do (classifyAll,
 * sureCount, corruptionSummary; the deploy child's pass on two threads is robustness-pass.ts).
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CORRUPTION_NAMES, corruptImages, createMatrix, sliceRows, type CorruptionName, type DigitModel, type Matrix } from '@digitbench/runtime/internal';
import { codeHash } from '../engine/code-hash.ts';
import { hashJson } from '../engine/hash.ts';
import { callWorker, defaultThreads, startTsWorker } from '../engine/threads.ts';
import { cacheRoot } from '../features/cache.ts';
import type { Robustness } from '../results/row.ts';
import { PROJECT_ROOT } from './env.ts';

/** The corruption code (the runtime's corruptions/index.ts and everything it imports), hashed. */
export function corruptionCodeHash(): string {
  return codeHash([resolve(PROJECT_ROOT, 'packages/runtime/src/corruptions/index.ts')], PROJECT_ROOT);
}

/** "all" or a list → the names in MNIST-C's order ("all") or as listed; an unknown name is an error listing the valid ones. */
export function corruptionList(spec: 'all' | readonly string[], what = 'corruptions'): CorruptionName[] {
  if (spec === 'all') return [...CORRUPTION_NAMES];
  const unknown = spec.filter((n) => !(CORRUPTION_NAMES as readonly string[]).includes(n));
  if (unknown.length) throw new Error(`${what}: unknown corruption${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `"${n}"`).join(', ')}; use "all" or names from ${CORRUPTION_NAMES.join(', ')}.`);
  return [...new Set(spec)] as CorruptionName[];
}

/** What the deploy child needs to read the file. */
export interface CorruptedSet {
  file: string;
  corruptions: CorruptionName[];
  rows: number;
  imageShape: [number, number];
  seed: number;
}

export function corruptedFile(p: { datasetHash: string; fingerprint: string; corruptions: readonly string[]; seed: number; imageShape: readonly [number, number] }): string {
  const key = hashJson({ dataset: p.datasetHash, split: p.fingerprint, corruptions: p.corruptions, seed: p.seed, imageShape: p.imageShape, code: corruptionCodeHash() }).slice(0, 24);
  return join(cacheRoot(), 'corrupted', `${key}.u8`);
}

/**
 * The corrupted images, corruption after corruption (names.length × rows × h·w bytes), made in up to
 * `threads` worker threads, each taking a contiguous range of the images with every corruption.
 */
export async function corruptAll(pixels: Uint8Array | Float32Array, rows: number, h: number, w: number, names: readonly CorruptionName[], seed: number, threads = defaultThreads(2)): Promise<Uint8Array> {
  const n = h * w;
  if (pixels.length !== rows * n) throw new Error(`corruptAll: ${pixels.length} pixels are not ${rows} images of ${h}×${w}.`);
  const out = new Uint8Array(new SharedArrayBuffer(names.length * rows * n));
  const parts = Math.max(1, Math.min(threads, rows));
  // A few images are not worth a thread's start (tsx and the corruption modules load in each).
  if (parts === 1 || rows < 64) {
    for (const [c, name] of names.entries()) out.set(corruptImages(name, pixels, rows, h, w, seed), c * rows * n);
    return out;
  }
  const source = new Uint8Array(new SharedArrayBuffer(rows * n));
  source.set(pixels);
  const bounds = Array.from({ length: parts + 1 }, (_, i) => Math.round((i * rows) / parts));
  const workers = bounds.slice(1).map(() => startTsWorker(new URL('./corrupt-worker.ts', import.meta.url), {}));
  try {
    await Promise.all(workers.map((wk, i) => callWorker<{ done: true }>(wk, { names, source, out, rows, h, w, seed, first: bounds[i]!, end: bounds[i + 1]! }, 'corrupting the test images')));
  } finally {
    await Promise.all(workers.map((wk) => wk.terminate()));
  }
  return out;
}

/**
 * The cached file of these corrupted images, made first when it is not there (`made`: this call made it).
 * A file of the wrong size is made again.
 */
export async function ensureCorrupted(p: { datasetHash: string; fingerprint: string; pixels: Uint8Array | Float32Array; rows: number; imageShape: [number, number]; corruptions: CorruptionName[]; seed: number }): Promise<CorruptedSet & { made: boolean; seconds: number }> {
  const [h, w] = p.imageShape;
  const file = corruptedFile(p);
  const set: CorruptedSet = { file, corruptions: p.corruptions, rows: p.rows, imageShape: p.imageShape, seed: p.seed };
  const bytes = p.corruptions.length * p.rows * h * w;
  if (existsSync(file) && statSync(file).size === bytes) return { ...set, made: false, seconds: 0 };
  const t0 = performance.now();
  const out = await corruptAll(p.pixels, p.rows, h, w, p.corruptions, p.seed);
  await mkdir(join(cacheRoot(), 'corrupted'), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    await writeFile(tmp, out);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return { ...set, made: true, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Reads a corrupted set's file; one corruption's images are `images.subarray(c·rows·h·w, (c+1)·rows·h·w)`.
 * `shared`: into shared memory (read there directly, no second copy), for worker threads to read in place.
 */
export async function readCorrupted(set: CorruptedSet, { shared = false }: { shared?: boolean } = {}): Promise<Uint8Array> {
  const want = set.corruptions.length * set.rows * set.imageShape[0] * set.imageShape[1];
  const wrongSize = (bytes: number) => new Error(`${set.file}: ${bytes} bytes, not the ${want} of ${set.corruptions.length} corruptions × ${set.rows} images of ${set.imageShape.join('×')}; delete it to have it made again.`);
  if (!shared) {
    const buf = await readFile(set.file);
    if (buf.byteLength !== want) throw wrongSize(buf.byteLength);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  const fh = await open(set.file, 'r');
  try {
    const size = (await fh.stat()).size;
    if (size !== want) throw wrongSize(size);
    const out = new Uint8Array(new SharedArrayBuffer(size));
    for (let at = 0; at < size; ) {
      const { bytesRead } = await fh.read(out, at, size - at, at);
      if (bytesRead === 0) throw wrongSize(at);
      at += bytesRead;
    }
    return out;
  } finally {
    await fh.close();
  }
}

/** Images per classify() call when measuring a bundle on a set of images. */
export const CLASSIFY_BATCH = 1000;

/** A bundle's figures on one set of images (row field robustness), with the count of answered images that are right. */
export type SureCount = Robustness['clean'] & { sureCorrect: number };

/**
 * Labels and "unsure" answers of a bundle on raw images, in batches of CLASSIFY_BATCH: correct images (none
 * without `truth`), answered (not unsure) images and the correct ones among them.
 */
export async function classifyAll(model: DigitModel, images: Matrix, truth?: Int32Array): Promise<SureCount> {
  let correct = 0, answered = 0, sureCorrect = 0;
  for (let s = 0; s < images.rows; s += CLASSIFY_BATCH) {
    const { labels, unsure } = await model.classify(sliceRows(images, s, Math.min(images.rows, s + CLASSIFY_BATCH)));
    for (let i = 0; i < labels.length; i++) {
      const right = truth !== undefined && labels[i] === truth[s + i];
      if (right) correct++;
      if (!unsure[i]) {
        answered++;
        if (right) sureCorrect++;
      }
    }
  }
  return sureCount(correct, answered, sureCorrect, images.rows);
}

/** A set's figures from its counts: correct, answered (not unsure) and correct among answered, of `total` images. */
export function sureCount(correct: number, answered: number, sureCorrect: number, total: number): SureCount {
  return { correct, total, accuracy: total ? correct / total : 0, answered, coverage: total ? answered / total : 0, sureAccuracy: answered ? sureCorrect / answered : null, sureCorrect };
}

/** Raw uint8 pixels as the float32 matrix a model takes. */
export function matrixOf(pixels: Uint8Array, rows: number): Matrix {
  return createMatrix(rows, rows ? pixels.length / rows : 0, Float32Array.from(pixels));
}

/**
 * mCE's denominator when the clean error is 0 (every clean test image right): half an error on the clean
 * images, a tiny floor that keeps the ratios finite (they are then large by construction).
 */
export function cleanErrorFloor(total: number): number {
  return 0.5 / Math.max(total, 1);
}

/**
 * The corruption figures of row field robustness from the clean and per-corruption counts: mean accuracy,
 * mCE = mean over corruptions of (1 − accuracy) / (1 − clean accuracy) (MNIST-C's relative error, with
 * cleanErrorFloor when the clean error is 0), the worst (lowest accuracy; the first of equals), and every
 * corrupted image pooled.
 */
export function corruptionSummary(clean: SureCount, corrupted: readonly (SureCount & { name: string })[]): Omit<Robustness, 'ood' | 'seconds'> {
  const strip = ({ sureCorrect: _, ...f }: SureCount) => f;
  const cleanError = Math.max(1 - clean.accuracy, cleanErrorFloor(clean.total));
  const worst = corrupted.reduce((a, b) => (b.accuracy < a.accuracy ? b : a), corrupted[0]!);
  const answered = corrupted.reduce((s, c) => s + c.answered, 0);
  const total = corrupted.reduce((s, c) => s + c.total, 0);
  const sureCorrect = corrupted.reduce((s, c) => s + c.sureCorrect, 0);
  return {
    clean: strip(clean),
    corruptions: corrupted.map((c) => ({ ...strip(c), name: c.name })),
    meanAccuracy: corrupted.reduce((s, c) => s + c.accuracy, 0) / corrupted.length,
    mce: corrupted.reduce((s, c) => s + (1 - c.accuracy) / cleanError, 0) / corrupted.length,
    worst: worst.name,
    corrupted: { answered, total, coverage: total ? answered / total : 0, sureAccuracy: answered ? sureCorrect / answered : null },
  };
}
