/** A small real dataset on disk: the first rows of MNIST written as the four idx files (fast to load in tests). */
import { loadDataset } from '../../src/data/datasets.ts';
import { sliceRows } from '@digitbench/runtime/internal';
import { writeIdxDataset } from './resize.ts';

/** Writes MNIST's first `train` training and `test` test rows as an idx folder `dir`; returns `dir`. */
export async function writeTinyMnist(dir: string, train = 1000, test = 300): Promise<string> {
  const ds = await loadDataset('mnist');
  const first = (p: typeof ds.train, n: number) => ({ x: sliceRows(p.images, 0, n), y: p.labels.subarray(0, n) });
  return writeIdxDataset(dir, [28, 28], first(ds.train, train), first(ds.test, test));
}
