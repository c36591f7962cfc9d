import { describe, expect, it } from 'vitest';
import { loadDataset, type Dataset } from '../src/data/datasets.ts';
import { applySplit, makeSplit, proportionalCounts, selectionFolds, splitSpecSchema, testPart } from '../src/data/split.ts';
import { createMatrix, sliceRows } from '@digitbench/runtime/internal';

function counts(labels: Int32Array, idx: Int32Array): number[] {
  const c = new Array(10).fill(0);
  for (const i of idx) c[labels[i]!]++;
  return c;
}

describe('splits', () => {
  it('defaults to the official 60,000 / 10,000 split, in order', async () => {
    const ds = await loadDataset('mnist');
    const s = makeSplit(ds);
    expect(s.train.length).toBe(60000);
    expect(s.test.length).toBe(10000);
    expect(s.validation.length).toBe(0);
    expect(s.train[59999]).toBe(59999);
    // The whole official part is handed over without a copy.
    expect(applySplit(ds, s).train.x).toBe(ds.train.images);
  });

  it('same seed → same indices and fingerprint; different seed → different', async () => {
    const ds = await loadDataset('mnist');
    const a = makeSplit(ds, { train: 2000, test: 500, seed: 7 });
    const b = makeSplit(ds, { train: 2000, test: 500, seed: 7 });
    const c = makeSplit(ds, { train: 2000, test: 500, seed: 8 });
    expect(b.train).toEqual(a.train);
    expect(b.test).toEqual(a.test);
    expect(b.fingerprint).toBe(a.fingerprint);
    expect(c.train).not.toEqual(a.train);
    expect(c.fingerprint).not.toBe(a.fingerprint);
    expect(makeSplit(ds, { train: 2001, test: 500, seed: 7 }).fingerprint).not.toBe(a.fingerprint);
  });

  it('stratifies: per-class sizes are proportional to the full set', async () => {
    const ds = await loadDataset('mnist');
    const s = makeSplit(ds, { train: 6000, test: 1000, validation: 600, seed: 3 });
    const full = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
    expect(counts(ds.train.labels, s.train)).toEqual(proportionalCounts(full, 6000));
    counts(ds.train.labels, s.validation).forEach((got, c) => expect(Math.abs(got - (full[c]! * 600) / 60000)).toBeLessThan(1.5));
    expect(counts(ds.test.labels, s.test)).toEqual(proportionalCounts([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009], 1000));
    for (const [got, want] of counts(ds.train.labels, s.train).map((g, i) => [g, (full[i]! * 6000) / 60000])) {
      expect(Math.abs(got! - want!)).toBeLessThan(1);
    }
    // Validation is carved from train and disjoint from it.
    const trainSet = new Set(s.train);
    expect(Array.from(s.validation).some((i) => trainSet.has(i))).toBe(false);
  });

  it('proportionalCounts sums exactly to n', () => {
    expect(proportionalCounts([1, 1, 1], 2)).toEqual([1, 1, 0]);
    expect(proportionalCounts([5, 3, 2], 7).reduce((a, b) => a + b)).toBe(7);
  });

  it('carves validation from the full training set when train is not given', async () => {
    const ds = await loadDataset('mnist');
    const s = makeSplit(ds, { validation: 5000, seed: 1 });
    expect(s.train.length).toBe(55000);
    expect(s.validation.length).toBe(5000);
  });

  it('rejects impossible sizes with a clear error', async () => {
    const ds = await loadDataset('mnist');
    expect(() => makeSplit(ds, { train: 59000, validation: 2000 })).toThrow(
      'Split asks for 59000 training + 2000 validation rows but mnist has 60000 training images; lower split.train or split.validation.',
    );
    expect(() => makeSplit(ds, { test: 20000 })).toThrow('Split asks for 20000 test rows but mnist has 10000 test images; lower split.test.');
  });
});

describe('a holdout carved from one pool', () => {
  /** MNIST's first 3,000 training rows as one pool (no test part), optionally with 60 "writers". */
  async function pool(withGroups = false): Promise<Dataset> {
    const ds = await loadDataset('mnist');
    const n = 3000;
    return {
      ...ds,
      name: 'pool',
      train: { images: sliceRows(ds.train.images, 0, n), labels: ds.train.labels.slice(0, n) },
      test: { images: createMatrix(0, 784, new Float32Array(0)), labels: new Int32Array(0) },
      ...(withGroups ? { groups: Int32Array.from({ length: n }, (_, i) => (i * 7919) % 60) } : {}),
      contentHash: `pool${withGroups ? '+groups' : ''}`,
    };
  }

  it('carves a stratified test part first (a fraction or the same count), disjoint, seeded; testPart gives its rows', async () => {
    const ds = await pool();
    const s = makeSplit(ds, { test: 0.2, validation: 300, seed: 3 });
    expect(s.carved).toBe(true);
    expect(s.test.length).toBe(600);
    expect(s.validation.length).toBe(300);
    expect(s.train.length).toBe(2100);
    const all = new Set([...s.train, ...s.validation, ...s.test]);
    expect(all.size).toBe(3000);
    // Stratified: each class's share of the test part is within one row of its share of the pool.
    const poolCounts = counts(ds.train.labels, Int32Array.from({ length: 3000 }, (_, i) => i));
    counts(ds.train.labels, s.test).forEach((c, k) => expect(Math.abs(c - poolCounts[k]! * 0.2)).toBeLessThanOrEqual(1));
    // A count equal to the fraction's rows carves the very same rows (rows record counts; they rebuild the split).
    const again = makeSplit(ds, { test: 600, validation: 300, seed: 3 });
    expect(again.test).toEqual(s.test);
    expect(again.fingerprint).toBe(s.fingerprint);
    expect(makeSplit(ds, { test: 0.2, validation: 300, seed: 4 }).fingerprint).not.toBe(s.fingerprint);
    const part = testPart(ds, s);
    expect(Array.from(part.y)).toEqual(Array.from(s.test, (i) => ds.train.labels[i]));
    expect(Array.from(part.x.data.subarray(0, 784))).toEqual(Array.from(ds.train.images.data.subarray(s.test[0]! * 784, s.test[0]! * 784 + 784)));
  });

  it('asks for split.test when the dataset has no test part; refuses a holdout of everything', async () => {
    const ds = await pool();
    expect(() => makeSplit(ds, {})).toThrow('pool has no separate test part; give split.test, a fraction (e.g. 0.2) or a number of rows, to carve one from its 3000 rows.');
    expect(() => makeSplit(ds, { test: 3000 })).toThrow('Split asks for 3000 test rows but pool has 3000 rows in all; lower split.test.');
    expect(() => makeSplit(ds, { test: 0.5, train: 2000 })).toThrow(
      'Split asks for 2000 training + 0 validation rows but pool has 1500 rows left after the 1500 carved test rows; lower split.train or split.validation.',
    );
    expect(() => splitSpecSchema.parse({ test: 1.5 })).toThrow('give a fraction below 1 (e.g. 0.2) or a whole number of rows');
  });

  it('with group ids, no group is on two sides: test, validation, train, and every selection fold', async () => {
    const ds = await pool(true);
    const s = makeSplit(ds, { test: 0.2, validation: 300, seed: 1 });
    expect(s.grouped).toBe(true);
    const groupsOf = (idx: Int32Array) => new Set(Array.from(idx, (i) => ds.groups![i]!));
    const [tr, va, te] = [groupsOf(s.train), groupsOf(s.validation), groupsOf(s.test)];
    for (const g of te) expect(tr.has(g) || va.has(g)).toBe(false);
    for (const g of va) expect(tr.has(g)).toBe(false);
    // Whole groups: the sizes are met approximately (50 rows a group), never by cutting one.
    expect(s.test.length).toBeGreaterThanOrEqual(600);
    expect(s.test.length).toBeLessThan(650);
    const folds = selectionFolds(ds, s, { method: 'cv', folds: 4, seed: 0 });
    expect(folds).toHaveLength(4);
    const seen = new Map<number, number>();
    folds.forEach((f, i) => {
      for (const g of groupsOf(f.validation)) {
        expect(seen.has(g)).toBe(false);
        seen.set(g, i);
      }
      for (const g of groupsOf(f.train)) expect(groupsOf(f.validation).has(g)).toBe(false);
    });
    expect(seen.size).toBe(tr.size);
  });
});
