/**
 * The user's own digits, end to end (issue 22): the same MNIST rows as idx files, as CSV files and as a
 * folder of lossless PNGs give every classifier the same accuracy; a folder of photo-like digits with no
 * test part gets a carved holdout; a CSV with writer ids keeps every writer on one side; class names are
 * carried into the report and the bundles.
 */
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel, readBundleFile } from '../src/bundle/file.ts';
import { decodeBundle } from '@digitbench/runtime/internal';
import { loadDataset } from '../src/data/datasets.ts';
import { makeSplit } from '../src/data/split.ts';
import { sliceRows } from '@digitbench/runtime/internal';
import { parseExperiment } from '../src/harness/experiment.ts';
import { runExperiment } from '../src/harness/run.ts';
import type { OkRow, ResultRow } from '../src/results/row.ts';
import { writeMnistCsv } from './helpers/csv.ts';
import { writeMnistPngFolder } from './helpers/image-folder.ts';
import { writeTinyMnist } from './helpers/tiny-dataset.ts';

const ROOT = resolve(__dirname, '..');
let dir: string;

beforeAll(() => {
  mkdirSync(join(ROOT, '.tmp'), { recursive: true });
  dir = mkdtempSync(join(ROOT, '.tmp', 'user-data-'));
});

async function run(name: string, dataset: unknown, body: Record<string, unknown>): Promise<{ rows: ResultRow[]; out: string }> {
  const exp = await parseExperiment({ dataset, latencySamples: 5, deploy: { passes: 2, calls: 20, batch: 100 }, ...body }, join(dir, `${name}.json`));
  const out = join(dir, `out-${name}`);
  return { rows: (await runExperiment(exp, { outDir: out })).rows, out };
}

describe('the same rows from idx files, CSV files and a PNG folder', () => {
  it('give every classifier the same accuracy', async () => {
    const [train, test] = [600, 150];
    const idx = await writeTinyMnist(join(dir, 'idx'), train, test);
    const mnist = await loadDataset('mnist');
    const part = (p: typeof mnist.train, n: number) => ({ images: sliceRows(p.images, 0, n), labels: p.labels.slice(0, n) });
    await writeMnistCsv(join(dir, 'train.csv'), part(mnist.train, train), { header: false, labelColumn: 'last' });
    await writeMnistCsv(join(dir, 'test.csv.gz'), part(mnist.test, test), { header: false, labelColumn: 'last', gzip: true });
    const png = await writeMnistPngFolder(join(dir, 'png'), { train, test }, { layout: 'train-test' });
    const body = {
      split: { train: 400, test: 100, seed: 3 },
      features: [{ step: 'scale' }, { step: 'pca', components: 20 }],
      classifiers: [
        { plugin: 'knn', params: { k: 3 } },
        { plugin: 'svm', params: { C: 10 } },
        { plugin: 'naive-bayes' },
        { plugin: 'decision-tree', features: [{ step: 'scale' }] },
        { plugin: 'random-forest', params: { nEstimators: 10 }, features: [{ step: 'scale' }] },
        { plugin: 'cnn', params: { architecture: 'lenet', epochs: 1 } },
      ],
    };
    const sources: [string, unknown][] = [
      ['idx', idx],
      ['csv', { csv: join(dir, 'train.csv'), test: join(dir, 'test.csv.gz'), labelColumn: 'last' }],
      ['png', { images: png.dir, normalize: 'resize' }],
    ];
    const accuracies: Record<string, Record<string, number>> = {};
    const testLabels: Record<string, string> = {};
    for (const [name, source] of sources) {
      const { rows } = await run(name, source, body);
      expect(rows.map((r) => r.status), name).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
      accuracies[name] = Object.fromEntries((rows as OkRow[]).map((r) => [r.classifier, r.metrics.accuracy]));
      testLabels[name] = (rows[0] as OkRow).testLabelsHash;
    }
    // The same test rows (the same true labels in the same order), and the same accuracy for every classifier.
    expect(testLabels.csv).toBe(testLabels.idx);
    expect(testLabels.png).toBe(testLabels.idx);
    expect(accuracies.csv).toEqual(accuracies.idx);
    expect(accuracies.png).toEqual(accuracies.idx);
    expect(accuracies.idx!.knn).toBeGreaterThan(0.8);
  }, 300_000);
});

describe('a folder of photo-like digits with no test part', () => {
  it('gets a stratified holdout carved by the seed; the report says so; class names reach the bundles', async () => {
    const words = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
    const photos = await writeMnistPngFolder(join(dir, 'photos'), 400, { layout: 'flat', from: 'test', photoLike: true, classNames: words });
    const source = { images: photos.dir, classes: words };
    const { rows, out } = await run('photos', source, { split: { test: 0.25, seed: 1 }, classifiers: [{ plugin: 'knn', params: { k: 3 } }, { plugin: 'naive-bayes' }] });
    const [knn, nb] = rows as OkRow[];
    expect([knn!.status, nb!.status]).toEqual(['ok', 'ok']);
    expect(knn!.split).toMatchObject({ train: 300, validation: 0, test: 100, seed: 1, carved: true });
    // Trained on 300 photos of MNIST test digits, tested on 100 others.
    expect(knn!.metrics.accuracy).toBeGreaterThan(0.7);
    const ds = await loadDataset({ images: photos.dir, imageShape: [28, 28], normalize: 'mnist', classes: words });
    expect(ds.test.labels.length).toBe(0);
    expect(makeSplit(ds, { test: 100, seed: 1 }).fingerprint).toBe(knn!.split.fingerprint);
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).toContain("100 test rows; split seed 1; fingerprint `" + knn!.split.fingerprint + "`; the test rows carved from the dataset's one pool of labelled rows by the split seed, stratified by class");
    const { header } = await decodeBundle(await readBundleFile(join(out, knn!.bundle!.file)), knn!.bundle!.file);
    expect(header.dataset.classNames).toEqual(words);
    // A picture an app decoded itself meets the pixel limit too, before any pixel is normalized.
    const model = await loadModel(join(out, knn!.bundle!.file));
    await expect(model.predict({ width: 6000, height: 5000, channels: 1, data: new Uint8Array(6000 * 5000) })).rejects.toThrow(
      "predict: image 0 is 6000×5000 pixels (30 MP), over the 25 MP limit for a digit; crop or scale it down first (or raise loadModel's maxPixels).",
    );
    model.dispose();
  }, 120_000);
});

describe('a CSV with writer ids', () => {
  it('keeps every writer on one side of the split and of every selection fold', async () => {
    const mnist = await loadDataset('mnist');
    const n = 600;
    const writers = Array.from({ length: n }, (_, i) => `w${(i * 13) % 40}`);
    await writeMnistCsv(join(dir, 'writers.csv'), { images: sliceRows(mnist.train.images, 0, n), labels: mnist.train.labels.slice(0, n) }, { groups: writers });
    const source = { csv: join(dir, 'writers.csv'), groupColumn: 'group' };
    const { rows } = await run('writers', source, {
      split: { test: 0.2, validation: 60, seed: 2 },
      classifiers: [{ plugin: 'knn', grid: { k: [1, 3] } }],
      selection: { method: 'cv', folds: 3, seed: 0 },
    });
    const row = rows[0] as OkRow;
    expect(row.status).toBe('ok');
    expect(row.split).toMatchObject({ carved: true, grouped: true });
    const ds = await loadDataset(source as never);
    const split = makeSplit(ds, { test: 0.2, validation: 60, seed: 2 });
    expect(split.fingerprint).toBe(row.split.fingerprint);
    const groupsOf = (idx: Int32Array) => new Set(Array.from(idx, (i) => writers[i]));
    const [tr, va, te] = [groupsOf(split.train), groupsOf(split.validation), groupsOf(split.test)];
    for (const w of te) expect(tr.has(w) || va.has(w), w).toBe(false);
    for (const w of va) expect(tr.has(w), w).toBe(false);
  }, 120_000);
});
