/**
 * Splits: the official train/test parts by default; seeded, stratified subsets for smaller runs;
 * an optional validation part carved from the official training set, disjoint from train.
 * A dataset with no separate test part (one pool of labelled rows: a CSV, an image folder without
 * train/ and test/) gets its test part carved from the pool first, by `test` (a fraction or a count)
 * and the seed; train and validation then come from what is left. When the dataset has group ids (a
 * CSV's groupColumn, e.g. writers), the holdout, the validation part and selection folds take whole
 * groups, so no group is on two sides. A split's fingerprint hashes the dataset content and the chosen
 * indices (and whether the test rows were carved).
 */
import { z } from 'zod';
import { sha256 } from '../engine/hash.ts';
import { createRng } from '../engine/rng.ts';
import { takeLabels, takeRows, type Matrix } from '@digitbench/runtime/internal';
import type { Dataset } from './datasets.ts';

export const splitSpecSchema = z
  .object({
    /** Training rows (default: all of the official training set not used for validation). */
    train: z.number().int().positive().optional(),
    /**
     * Test rows: a count, or a fraction below 1 of the test set (default: all of it). A dataset without a
     * separate test part needs it: that many rows are carved from the pool, before any other part.
     */
    test: z
      .number()
      .positive()
      .refine((v) => v < 1 || Number.isInteger(v), 'give a fraction below 1 (e.g. 0.2) or a whole number of rows')
      .optional(),
    /** Validation rows, carved from the official training set (default: none). */
    validation: z.number().int().nonnegative().default(0),
    seed: z.number().int().default(0),
  })
  .strict();

export type SplitSpec = z.input<typeof splitSpecSchema>;

/** How candidate settings are scored without the test rows: stratified k-fold CV, or one validation part, both drawn from the training rows. */
/**
 * `subset`: selection works inside a stratified subset of this many of the training rows (folds or the
 * validation part are carved from it), so a grid on full MNIST can be chosen on fewer rows; the chosen
 * setting is still refitted on all of them.
 */
const subset = z.number().int().positive().optional();
export const selectionSchema = z.discriminatedUnion('method', [
  z.object({ method: z.literal('cv'), folds: z.number().int().min(2).max(20).default(5), seed: z.number().int().default(0), subset }).strict(),
  z.object({ method: z.literal('validation'), rows: z.number().int().positive(), seed: z.number().int().default(0), subset }).strict(),
]);

export type SelectionSpec = z.output<typeof selectionSchema>;

export interface Split {
  /** Indices into dataset.train. */
  train: Int32Array;
  /** Indices into dataset.train, disjoint from `train`. */
  validation: Int32Array;
  /** Indices into dataset.test, or (`carved`) into dataset.train, disjoint from train and validation. */
  test: Int32Array;
  /** The test rows were carved from the pool (dataset.train): the dataset has no separate test part. */
  carved?: boolean;
  /** The parts hold whole groups (the dataset has group ids). */
  grouped?: boolean;
  seed: number;
  fingerprint: string;
}

export interface SplitData {
  train: { x: Matrix; y: Int32Array };
  validation?: { x: Matrix; y: Int32Array };
  test: { x: Matrix; y: Int32Array };
}

/** Per-class counts summing to n, proportional to the class counts (largest remainder). */
export function proportionalCounts(classCounts: number[], n: number): number[] {
  const total = classCounts.reduce((a, b) => a + b, 0);
  const exact = classCounts.map((c) => (c * n) / total);
  const counts = exact.map(Math.floor);
  let left = n - counts.reduce((a, b) => a + b, 0);
  const order = exact.map((e, i) => [e - Math.floor(e), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let k = 0; left > 0; k++, left--) counts[order[k % order.length]![1]]! += 1;
  return counts;
}

function byClass(labels: Int32Array, classes: number): number[][] {
  const out: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < labels.length; i++) out[labels[i]!]!.push(i);
  return out;
}

/**
 * Seeded stratified draw of disjoint parts (in order) from one labelled set. The first part's
 * per-class sizes are proportional to the class sizes; each later part is proportional to what
 * the earlier parts left, so parts that together take everything stay exact.
 */
function stratifiedParts(labels: Int32Array, classes: number, sizes: number[], seed: string): Int32Array[] {
  const groups = byClass(labels, classes).map((g, c) => createRng(`${seed}:${c}`).shuffle(g));
  const taken = groups.map(() => 0);
  return sizes.map((n) => {
    const counts = proportionalCounts(groups.map((g, c) => g.length - taken[c]!), n);
    const part: number[] = [];
    groups.forEach((g, c) => {
      part.push(...g.slice(taken[c]!, taken[c]! + counts[c]!));
      taken[c]! += counts[c]!;
    });
    return Int32Array.from(part).sort();
  });
}

function allIndices(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

/** A count from `test`: a whole number as it is, a fraction of `of` rounded (at least 1). */
function countOf(v: number, of: number): number {
  return Number.isInteger(v) ? v : Math.max(1, Math.round(v * of));
}

/**
 * Whole groups, drawn in a seeded order until they hold at least `n` rows, from the rows `pool` (indices
 * into dataset.train); returns the drawn rows, sorted. Sizes are met approximately (a group is not cut).
 */
function groupedPart(groups: Int32Array, pool: Int32Array, n: number, seed: string): Int32Array {
  const byGroup = new Map<number, number[]>();
  for (const r of pool) {
    const g = groups[r]!;
    let list = byGroup.get(g);
    if (!list) byGroup.set(g, (list = []));
    list.push(r);
  }
  const ids = createRng(seed).shuffle(Int32Array.from([...byGroup.keys()].sort((a, b) => a - b)));
  const out: number[] = [];
  for (const g of ids) {
    if (out.length >= n) break;
    out.push(...byGroup.get(g)!);
  }
  return Int32Array.from(out).sort();
}

/** The rows of `all` not in `part` (both sorted ascending). */
function without(all: Int32Array, part: Int32Array): Int32Array {
  const drop = new Set(part);
  return all.filter((r) => !drop.has(r));
}

/** A stratified draw of `sizes` rows from the rows `pool` (indices into `labels`), as indices into `labels`. */
function stratifiedFrom(labels: Int32Array, pool: Int32Array, classes: number, sizes: number[], seed: string): Int32Array[] {
  return stratifiedParts(takeLabels(labels, pool), classes, sizes, seed).map((pos) => Int32Array.from(pos, (p) => pool[p]!).sort());
}

export function makeSplit(dataset: Dataset, spec: SplitSpec = {}): Split {
  const s = splitSpecSchema.parse(spec);
  const k = dataset.classes.length;
  const labels = dataset.train.labels;
  const groups = dataset.groups;
  const carved = dataset.test.labels.length === 0;
  let pool = allIndices(labels.length);
  let test: Int32Array;
  if (carved) {
    if (s.test === undefined) {
      throw new Error(`${dataset.name} has no separate test part; give split.test, a fraction (e.g. 0.2) or a number of rows, to carve one from its ${labels.length} rows.`);
    }
    const nTest = countOf(s.test, labels.length);
    if (nTest >= labels.length) throw new Error(`Split asks for ${nTest} test rows but ${dataset.name} has ${labels.length} rows in all; lower split.test.`);
    test = groups ? groupedPart(groups, pool, nTest, `${s.seed}:holdout`) : stratifiedFrom(labels, pool, k, [nTest], `${s.seed}:holdout`)[0]!;
    pool = without(pool, test);
  } else {
    const nTestAll = dataset.test.labels.length;
    const nTest = s.test === undefined ? nTestAll : countOf(s.test, nTestAll);
    if (nTest > nTestAll) throw new Error(`Split asks for ${nTest} test rows but ${dataset.name} has ${nTestAll} test images; lower split.test.`);
    test = nTest === nTestAll ? allIndices(nTestAll) : stratifiedParts(dataset.test.labels, k, [nTest], `${s.seed}:test`)[0]!;
  }
  const nVal = s.validation;
  const nTrain = s.train ?? pool.length - nVal;
  const has = carved ? `${dataset.name} has ${pool.length} rows left after the ${test.length} carved test rows` : `${dataset.name} has ${pool.length} training images`;
  if (nTrain + nVal > pool.length) {
    throw new Error(`Split asks for ${nTrain} training + ${nVal} validation rows but ${has}; lower split.train or split.validation.`);
  }
  if (nTrain < 1) throw new Error(`Split leaves no training rows; lower split.validation.`);
  let train: Int32Array;
  let validation: Int32Array = new Int32Array(0);
  if (groups && nVal > 0) {
    validation = groupedPart(groups, pool, nVal, `${s.seed}:validation`);
    const rest = without(pool, validation);
    if (rest.length === 0) throw new Error(`Split leaves no training rows once whole groups are set aside for validation; lower split.validation.`);
    if (s.train !== undefined && s.train > rest.length) {
      throw new Error(`Split asks for ${s.train} training rows but ${rest.length} are left once whole groups are set aside for validation (${validation.length} rows); lower split.train or split.validation.`);
    }
    train = nTrain >= rest.length ? rest : stratifiedFrom(labels, rest, k, [nTrain], `${s.seed}:train`)[0]!;
  } else if (nTrain + nVal === pool.length && nVal === 0) train = pool;
  else if (!carved) [train, validation] = stratifiedParts(labels, k, [nTrain, nVal], `${s.seed}:train`) as [Int32Array, Int32Array];
  else [train, validation] = stratifiedFrom(labels, pool, k, [nTrain, nVal], `${s.seed}:train`) as [Int32Array, Int32Array];
  // (The official-test case hashes exactly what it always did, so existing fingerprints stay valid.)
  const fingerprint = (carved ? sha256(dataset.contentHash, train, validation, test, 'carved') : sha256(dataset.contentHash, train, validation, test)).slice(0, 16);
  return { train, validation, test, ...(carved ? { carved } : {}), ...(groups ? { grouped: true } : {}), seed: s.seed, fingerprint };
}

/** The split's test rows (from the test part, or carved from the pool), raw pixels and labels. */
export function testPart(dataset: Dataset, split: Split): { x: Matrix; y: Int32Array } {
  const src = split.carved ? dataset.train : dataset.test;
  const idx = split.test;
  return idx.length === src.labels.length && isIdentity(idx) ? { x: src.images, y: src.labels } : { x: takeRows(src.images, idx), y: takeLabels(src.labels, idx) };
}

function isIdentity(idx: Int32Array): boolean {
  for (let i = 0; i < idx.length; i++) if (idx[i] !== i) return false;
  return true;
}

/** Copies the split's rows out of the dataset (raw pixels). */
export function applySplit(dataset: Dataset, split: Split): SplitData {
  // The whole official part is used as it is (no copy): 60k×784 floats are 188 MB.
  const part = (src: Dataset['train'], idx: Int32Array) =>
    idx.length === src.labels.length && isIdentity(idx)
      ? { x: src.images, y: src.labels }
      : { x: takeRows(src.images, idx), y: takeLabels(src.labels, idx) };
  return {
    train: part(dataset.train, split.train),
    ...(split.validation.length ? { validation: part(dataset.train, split.validation) } : {}),
    test: testPart(dataset, split),
  };
}

/** One fold of a selection: a split whose train and validation parts are both drawn from the outer split's training rows, and which has no test rows. */
export type Fold = Split;

/**
 * The folds a selection scores candidates on, all inside `split.train` (the outer split's validation
 * and test rows are never touched): stratified k-fold (each class's rows shuffled with the seed and dealt
 * round-robin, so fold sizes differ by at most one per class), or one stratified validation part.
 */
export function selectionFolds(dataset: Dataset, outer: Split, spec: SelectionSpec): Fold[] {
  const k = dataset.classes.length;
  let split = outer;
  if (spec.subset !== undefined && spec.subset < outer.train.length) {
    const [pos] = stratifiedParts(takeLabels(dataset.train.labels, outer.train), k, [spec.subset], `${spec.seed}:${outer.fingerprint}:selection-subset`);
    split = { ...outer, train: Int32Array.from(pos!, (p) => outer.train[p]!).sort() };
  }
  const labels = takeLabels(dataset.train.labels, split.train);
  const make = (valPos: number[]): Fold => {
    const inVal = new Uint8Array(split.train.length);
    for (const p of valPos) inVal[p] = 1;
    const train: number[] = [];
    const validation: number[] = [];
    split.train.forEach((row, p) => (inVal[p] ? validation : train).push(row));
    const t = Int32Array.from(train).sort();
    const v = Int32Array.from(validation).sort();
    const test = new Int32Array(0);
    return { train: t, validation: v, test, seed: split.seed, fingerprint: sha256(dataset.contentHash, t, v, test).slice(0, 16) };
  };
  if (dataset.groups) return groupFolds(dataset.groups, split, spec, make);
  if (spec.method === 'validation') {
    if (spec.rows >= split.train.length) {
      throw new Error(
        split === outer
          ? `selection.rows (${spec.rows}) must be fewer than the ${split.train.length} training rows it is carved from; lower selection.rows.`
          : `selection.rows (${spec.rows}) must be fewer than the ${split.train.length} rows of selection.subset it is carved from; lower selection.rows or raise selection.subset.`,
      );
    }
    const [val] = stratifiedParts(labels, k, [spec.rows], `${spec.seed}:${split.fingerprint}:selection`);
    return [make(Array.from(val!))];
  }
  if (spec.folds > split.train.length) throw new Error(`selection.folds (${spec.folds}) is more than the ${split.train.length} training rows; lower selection.folds.`);
  const folds: number[][] = Array.from({ length: spec.folds }, () => []);
  let next = 0;
  byClass(labels, k).forEach((group, c) => {
    // Dealing continues across classes, so the folds' total sizes also differ by at most one.
    for (const p of createRng(`${spec.seed}:${split.fingerprint}:cv:${c}`).shuffle(group)) folds[next++ % spec.folds]!.push(p);
  });
  return folds.map(make);
}

/**
 * Selection folds of a dataset with group ids: whole groups go to a fold (GroupKFold: groups in a seeded
 * order, each to the fold with the fewest rows so far), or whole groups make the validation part.
 */
function groupFolds(groups: Int32Array, split: Split, spec: SelectionSpec, make: (valPos: number[]) => Fold): Fold[] {
  const byGroup = new Map<number, number[]>();
  split.train.forEach((row, p) => {
    const g = groups[row]!;
    let list = byGroup.get(g);
    if (!list) byGroup.set(g, (list = []));
    list.push(p);
  });
  const order = createRng(`${spec.seed}:${split.fingerprint}:groups`).shuffle(Int32Array.from([...byGroup.keys()].sort((a, b) => a - b)));
  if (spec.method === 'validation') {
    const val: number[] = [];
    for (const g of order) {
      if (val.length >= spec.rows) break;
      val.push(...byGroup.get(g)!);
    }
    if (val.length >= split.train.length) throw new Error(`selection.rows (${spec.rows}) takes every group of the ${split.train.length} training rows; lower selection.rows.`);
    return [make(val)];
  }
  if (spec.folds > byGroup.size) throw new Error(`selection.folds (${spec.folds}) is more than the ${byGroup.size} groups of the training rows; lower selection.folds.`);
  const folds: number[][] = Array.from({ length: spec.folds }, () => []);
  for (const g of order) {
    let smallest = 0;
    for (let f = 1; f < folds.length; f++) if (folds[f]!.length < folds[smallest]!.length) smallest = f;
    folds[smallest]!.push(...byGroup.get(g)!);
  }
  return folds.map(make);
}

/**
 * A part's positions in a seeded order whose every prefix is stratified: each class's positions are
 * shuffled, the j-th of a class with n rows gets the key (j + ½)/n, and the keys are sorted (ties by class).
 * A prefix of m rows then holds each class's share of m within one row, and a longer prefix holds a shorter
 * one (nested).
 */
function stratifiedOrder(labels: Int32Array, classes: number, seed: string): number[] {
  const keyed: [number, number, number][] = [];
  byClass(labels, classes).forEach((group, c) => {
    createRng(`${seed}:${c}`).shuffle(group);
    group.forEach((p, j) => keyed.push([(j + 0.5) / group.length, c, p]));
  });
  keyed.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return keyed.map((k) => k[2]);
}

/**
 * Successive halving's rows resource: the fold with its training AND validation parts each cut to
 * ⌊resources/samples · |part|⌋ rows, as scikit-learn's _SubsampleMetaSplitter(subsample_test=True) cuts
 * them. Unlike its plain `resample`, each cut is stratified (every class keeps its share, within one row)
 * and nested (a rung's rows hold the previous rung's), seeded by `${seed}:${fold.fingerprint}:rung-rows`;
 * group ids are not kept whole here (the fold's parts already are). `samples` = the rows the folds divide.
 * The cut fold gets its own fingerprint, so its features are cached apart from the whole fold's.
 */
export function subsampleFold(dataset: Dataset, fold: Fold, resources: number, samples: number, seed: number): Fold {
  if (resources >= samples) return fold;
  const k = dataset.classes.length;
  const cut = (part: Int32Array, name: string): Int32Array => {
    const size = Math.floor((resources / samples) * part.length);
    if (size < 1) throw new Error(`search.minResources: ${resources} of ${samples} rows leaves the ${name} part of a fold empty; raise minResources.`);
    const order = stratifiedOrder(takeLabels(dataset.train.labels, part), k, `${seed}:${fold.fingerprint}:rung-rows:${name}`);
    return Int32Array.from(order.slice(0, size), (p) => part[p]!).sort();
  };
  const train = cut(fold.train, 'training');
  const validation = cut(fold.validation, 'validation');
  return { ...fold, train, validation, fingerprint: sha256(dataset.contentHash, train, validation, fold.test).slice(0, 16) };
}
