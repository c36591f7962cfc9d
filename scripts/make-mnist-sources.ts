/**
 * MNIST written as the user-data sources digitbench reads, for the experiments that show them giving the
 * idx files' results (experiments/quick-csv.json, quick-images.json) and for `evaluate` on photos:
 *
 *   npm run make:mnist-sources -- [--photos n]
 *   (that is: node --import ./bin/register.js scripts/make-mnist-sources.ts [--photos n])
 *
 * writes, under data/generated/ (git-ignored):
 * - mnist-csv/train.csv.gz and test.csv.gz: Kaggle's layout (label,pixel0,…,pixel783), every row of
 *   each official part, raw 0–255 integers;
 * - mnist-png/train/<digit>/<index>.png and test/…: every digit as a lossless 28×28 grey PNG (bright ink
 *   on black), named by its index so the folder keeps MNIST's row order;
 * - photo-digits/<digit>/<index>.png|jpg: the first n (default 500) MNIST test digits as photo-like
 *   pictures (enlarged 3–8×, dark ink on light paper, off-centre, grey/RGB/RGBA PNG and JPEG).
 * A part that is already there is kept (delete it to make it again).
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadDataset } from '../src/data/datasets.ts';
import { writeMnistCsv } from '../test/helpers/csv.ts';
import { writeMnistPngFolder } from '../test/helpers/image-folder.ts';

const ROOT = resolve(import.meta.dirname, '..');
const OUT = join(ROOT, 'data', 'generated');
const { values } = parseArgs({ options: { photos: { type: 'string', default: '500' } } });

async function step(dir: string, what: string, make: (tmp: string) => Promise<void>): Promise<void> {
  if (existsSync(dir)) {
    console.log(`${dir}: there already (delete it to make it again)`);
    return;
  }
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const t = performance.now();
  await make(tmp);
  const { renameSync } = await import('node:fs');
  renameSync(tmp, dir);
  console.log(`${dir}: ${what} (${((performance.now() - t) / 1000).toFixed(1)} s)`);
}

const mnist = await loadDataset('mnist');
mkdirSync(OUT, { recursive: true });
await step(join(OUT, 'mnist-csv'), 'MNIST as train.csv.gz and test.csv.gz', async (tmp) => {
  mkdirSync(tmp);
  await writeMnistCsv(join(tmp, 'train.csv.gz'), mnist.train, { gzip: true });
  await writeMnistCsv(join(tmp, 'test.csv.gz'), mnist.test, { gzip: true });
});
await step(join(OUT, 'mnist-png'), '70,000 lossless PNGs in train/ and test/', async (tmp) => {
  await writeMnistPngFolder(tmp, { train: mnist.train.labels.length, test: mnist.test.labels.length }, { layout: 'train-test' });
});
const photos = Number(values.photos);
await step(join(OUT, 'photo-digits'), `${photos} photo-like MNIST test digits`, async (tmp) => {
  await writeMnistPngFolder(tmp, photos, { layout: 'flat', from: 'test', photoLike: true });
});
