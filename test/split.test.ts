import { describe, expect, it } from 'vitest';
import { loadDataset } from '../src/data/datasets.ts';
import { applySplit, makeSplit, proportionalCounts } from '../src/data/split.ts';

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
