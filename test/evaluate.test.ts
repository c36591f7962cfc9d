/**
 * `digitbench evaluate`: a real experiment (naive-bayes, k-NN and a decision tree on 1,000 MNIST training
 * rows) evaluated on 300 MNIST test digits given as an idx pair, a CSV and a class-folder tree of photo-like
 * PNG and JPEG images; its accuracies equal a direct count of `predict`'s labels on the same files. Bad
 * input is one line with exit code 1, and nothing is written.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../src/data/datasets.ts';
import { parseExperiment } from '../src/harness/experiment.ts';
import { runExperiment } from '../src/harness/run.ts';
import type { EvaluationDoc } from '../src/harness/evaluate.ts';
import { writeMnistPngFolder } from './helpers/image-folder.ts';
import { idxFile } from './helpers/photos.ts';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'bin/digitbench.js');
const base = join(ROOT, '.tmp');
mkdirSync(base, { recursive: true });
const dir = mkdtempSync(join(base, 'evaluate-'));
const report = join(dir, 'report');
const N = 300;
/** MNIST test rows 0… (the experiment's 200 test rows are drawn from the same part; overlap does not matter: none is trained on). */
const FIRST = 0;
let pixels: Uint8Array;
let labels: Uint8Array;
const idxImages = join(dir, 'idx', 'digits-images-idx3-ubyte');

/** The CLI in its own process (spawned asynchronously, so the test worker stays responsive meanwhile). */
function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', fail);
    child.on('close', (status) => done({ status, stdout, stderr }));
  });
}

async function evaluate(args: string[]): Promise<EvaluationDoc> {
  const r = await cli(['evaluate', ...args, '--json']);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as EvaluationDoc;
}

/** `predict --json` labels of the inputs with one model of the report. */
async function predicted(model: string, inputs: string[]): Promise<{ input: string; label: number }[]> {
  const r = await cli(['predict', report, ...inputs, '--model', model, '--json']);
  expect(r.status, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { results: { input: string; label: number }[] }).results;
}

function idxLabels(l: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(2049, 0);
  head.writeUInt32BE(l.length, 4);
  return Buffer.concat([head, l]);
}

beforeAll(async () => {
  const exp = await parseExperiment(
    {
      split: { train: 1000, test: 200, seed: 3 },
      features: [{ step: 'scale' }, { step: 'pca', components: 30 }],
      classifiers: [{ plugin: 'naive-bayes' }, { plugin: 'knn' }, { plugin: 'decision-tree', features: [{ step: 'scale' }] }],
      latencySamples: 10,
      deploy: { passes: 2, calls: 20, batch: 200 },
    },
    join(dir, 'evaluate.json'),
  );
  const summary = await runExperiment(exp, { outDir: report });
  expect(summary.rows.map((r) => r.status)).toEqual(['ok', 'ok', 'ok']);
  const ds = await loadDataset('mnist');
  pixels = Uint8Array.from(ds.test.images.data.subarray(FIRST * 784, (FIRST + N) * 784));
  labels = Uint8Array.from(ds.test.labels.subarray(FIRST, FIRST + N));
  mkdirSync(join(dir, 'idx'));
  writeFileSync(idxImages, idxFile(pixels, N, 28, 28));
  writeFileSync(join(dir, 'idx', 'digits-labels-idx1-ubyte'), idxLabels(labels));
  // The same rows as photo-like PNG and JPEG files (enlarged, dark on light, off-centre) and as lossless 28×28 PNGs.
  await writeMnistPngFolder(join(dir, 'photos'), N, { layout: 'flat', from: 'test', photoLike: true });
  await writeMnistPngFolder(join(dir, 'lossless'), N, { layout: 'flat', from: 'test' });
  const lines = ['label,' + Array.from({ length: 784 }, (_, i) => `pixel${i}`).join(',')];
  for (let i = 0; i < N; i++) lines.push(`${labels[i]},${Array.from(pixels.subarray(i * 784, (i + 1) * 784)).join(',')}`);
  writeFileSync(join(dir, 'digits.csv'), `${lines.join('\n')}\n`);
}, 300_000);

describe('evaluate', () => {
  it('on an idx pair: every bundle of the report, its accuracy a direct count of predict on the same file, beside its test accuracy; writes evaluation.md and .json', async () => {
    const out = join(dir, 'eval-idx');
    const doc = await evaluate([report, idxImages, '--out', out]);
    expect(doc.data).toMatchObject({ name: 'digits', rows: N, parts: 'one pool', imageShapes: [[28, 28]] });
    expect(doc.models.map((m) => m.label).sort()).toEqual(['decision-tree', 'knn', 'naive-bayes']);
    const rows = readFileSync(join(report, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { classifier: string; metrics: { accuracy: number } });
    for (const m of doc.models) {
      const got = await predicted(m.label, [idxImages]);
      expect(got).toHaveLength(N);
      const correct = got.filter((p, i) => p.label === labels[i]).length;
      expect(m.correct, m.label).toBe(correct);
      expect(m.accuracy).toBe(correct / N);
      expect(m.interval.low).toBeLessThan(m.accuracy);
      expect(m.interval.high).toBeGreaterThan(m.accuracy);
      expect(m.testAccuracy).toBe(rows.find((r) => r.classifier === m.label)!.metrics.accuracy);
      expect(m.reportAccuracy).toBe(m.testAccuracy);
      expect(m.testRows).toBe(200);
      expect(m.classes.map((c) => c.support)).toEqual(Array.from({ length: 10 }, (_, k) => labels.filter((l) => l === k).length));
      expect(m.confusion.counts.flat().reduce((a, b) => a + b, 0)).toBe(N);
    }
    // McNemar: the others against the most accurate on these images; the pick made again on them.
    const best = [...doc.models].sort((a, b) => b.accuracy - a.accuracy)[0]!;
    expect(doc.significance!.best).toBe(best.label);
    expect(doc.significance!.comparisons.map((c) => c.label).sort()).toEqual(doc.models.filter((m) => m !== best).map((m) => m.label).sort());
    expect(doc.pick!.onYourImages).toBe(best.label);
    const md = readFileSync(join(out, 'evaluation.md'), 'utf8');
    expect(md).toContain(`**On your images the pick is ${best.label}**`);
    expect(md).toContain(`| **knn** | ${(doc.models.find((m) => m.label === 'knn')!.accuracy * 100).toFixed(2)}% (`);
    expect(JSON.parse(readFileSync(join(out, 'evaluation.json'), 'utf8'))).toEqual(doc);
    for (const m of doc.models) {
      expect(existsSync(join(out, `confusion-${m.label}.svg`))).toBe(true);
      expect(existsSync(join(out, `misclassified-${m.label}.png`))).toBe(m.misclassified > 0);
    }
    // The summary table names each model with both figures.
    const text = await cli(['evaluate', join(report, 'models', readdirSync(join(report, 'models')).find((f) => f.startsWith('knn-'))!), idxImages]);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^knn +${(doc.models.find((m) => m.label === 'knn')!.accuracy * 100).toFixed(2)}% `, 'm'));
    expect(text.stderr).toBe('nothing written: add --out <dir> for evaluation.md, evaluation.json, the confusion charts and the misclassified images.\n');
    // A report folder's evaluation goes to <folder>/evaluate-<data name>/ by default; a second one replaces it.
    for (let k = 0; k < 2; k++) {
      const d = await cli(['evaluate', report, idxImages]);
      expect(d.status, d.stderr).toBe(0);
      expect(d.stderr).toBe(`wrote ${join(report, 'evaluate-digits', 'evaluation.md')} and evaluation.json\n`);
    }
    expect(readdirSync(join(report, 'evaluate-digits')).sort()).toEqual(readdirSync(out).sort());
  }, 120_000);

  it('on a class-folder tree of photo-like PNG and JPEG digits: accuracy equals a direct count of predict on the same files', async () => {
    const photos = join(dir, 'photos');
    const doc = await evaluate([report, photos, '--out', join(dir, 'eval-photos')]);
    expect(doc.data).toMatchObject({ name: 'photos', rows: N, description: 'an image folder', parts: 'one pool' });
    const folders = Array.from({ length: 10 }, (_, k) => join(photos, String(k)));
    const figures: string[] = [];
    for (const m of doc.models) {
      const got = await predicted(m.label, folders);
      expect(got).toHaveLength(N);
      const correct = got.filter((p) => String(p.label) === resolve(p.input, '..').split('/').pop()).length;
      expect(m.correct, m.label).toBe(correct);
      expect(m.accuracy).toBe(correct / N);
      figures.push(`${m.label}: ${(m.accuracy * 100).toFixed(2)}% on the photos, ${(m.testAccuracy * 100).toFixed(2)}% on its test rows`);
    }
    console.log(figures.join('\n'));
  }, 120_000);

  it('an idx pair, a CSV and lossless PNGs read with normalize "resize" give the same predictions on the same rows', async () => {
    const idx = await evaluate([report, idxImages, '--out', join(dir, 'same-idx')]);
    const csv = await evaluate([report, join(dir, 'digits.csv'), '--out', join(dir, 'same-csv')]);
    const png = await evaluate([report, JSON.stringify({ images: join(dir, 'lossless'), normalize: 'resize' }), '--out', join(dir, 'same-png')]);
    expect(csv.data).toMatchObject({ name: 'digits', rows: N, description: 'a CSV file' });
    const key = (d: EvaluationDoc) => d.models.map((m) => [m.label, m.correct, m.confusion.counts]);
    expect(key(csv)).toEqual(key(idx));
    expect(key(png)).toEqual(key(idx));
  }, 120_000);

  it('refuses a class the models do not know, naming it and their classes', async () => {
    const tree = join(dir, 'with-letters');
    cpSync(join(dir, 'photos', '3'), join(tree, '3'), { recursive: true });
    cpSync(join(dir, 'photos', '7'), join(tree, 'letter-a'), { recursive: true });
    const knn = join(report, 'models', readdirSync(join(report, 'models')).find((f) => f.startsWith('knn-'))!);
    const r = await cli(['evaluate', knn, tree, '--out', join(dir, 'never-letters')]);
    expect(r.stderr).toBe(`digitbench: ${tree}: class "letter-a" is not among the classes of knn (0, 1, 2, 3, 4, 5, 6, 7, 8, 9); remove its images, or evaluate a model trained on it.\n`);
    expect(r.status).toBe(1);
    expect(existsSync(join(dir, 'never-letters'))).toBe(false);
  }, 60_000);

  it('refuses bad input in one line with exit code 1, before writing anything', async () => {
    const out = join(dir, 'never');
    const refuse = async (args: string[], message: string) => {
      const r = await cli(['evaluate', ...args, '--out', out]);
      expect(r.stderr).toBe(`digitbench: ${message}\n`);
      expect(r.status).toBe(1);
      expect(existsSync(out)).toBe(false);
    };
    const give = 'give a class-folder tree, a CSV file (.csv or .csv.gz), an idx images file (its labels file beside it) or a folder with the four idx files, or a JSON source object ({"images": …}, {"csv": …}, {"idx": …})';
    await refuse([report, join(dir, 'no-such')], `${join(dir, 'no-such')}: no such file or folder; ${give}.`);
    await refuse([report, join(dir, 'idx', 'digits-labels-idx1-ubyte')], `${join(dir, 'idx', 'digits-labels-idx1-ubyte')}: that is an idx labels file; give the images file (digits-images-idx3-ubyte), with this file beside it.`);
    await refuse([report, '{"images": 3}'], `labelled data: images: Invalid input: expected string, received number; ${give}.`);
    // A 16×16 idx pair for 28×28 models.
    mkdirSync(join(dir, 'small'));
    const small = join(dir, 'small', 'small-images-idx3-ubyte');
    writeFileSync(small, idxFile(new Uint8Array(4 * 256).fill(9), 4, 16, 16));
    writeFileSync(join(dir, 'small', 'small-labels-idx1-ubyte'), idxLabels(Uint8Array.from([0, 1, 2, 3])));
    const r = await cli(['evaluate', report, small, '--out', out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^digitbench: ${small}: its images are 16×16 but \\S+ \\(\\S+\\.bundle\\) takes 28×28; give images of that shape \\(a class-folder tree of PNG or JPEG images is brought to each model's shape\\)\\.\\n$`));
    expect(existsSync(out)).toBe(false);
    // Not a report folder; a report folder whose bundles are gone.
    await refuse([join(dir, 'idx'), idxImages], `${join(dir, 'idx')} is a folder without results.jsonl; give a report folder (e.g. runs/quick) or a .bundle file.`);
    const bare = join(dir, 'bare');
    mkdirSync(bare);
    cpSync(join(report, 'results.jsonl'), join(bare, 'results.jsonl'));
    const r2 = await cli(['evaluate', bare, idxImages, '--out', out]);
    expect(r2.status).toBe(1);
    expect(r2.stderr).toMatch(new RegExp(`^digitbench: ${bare}: its bundles are not here \\(.*\\): bundles are written by runs on this machine and never committed; run \`npm run experiment -- <config>\` and give its folder\\.\\n$`));
    // An --out that holds other files is refused and left as it was.
    const busy = join(dir, 'busy');
    mkdirSync(busy);
    writeFileSync(join(busy, 'notes.txt'), 'mine');
    const r3 = await cli(['evaluate', report, idxImages, '--out', busy]);
    expect(r3.stderr).toBe(`digitbench: --out ${busy} holds other files (notes.txt); give a new or empty folder, or one an earlier evaluate wrote.\n`);
    expect(r3.status).toBe(1);
    expect(readdirSync(busy)).toEqual(['notes.txt']);
  }, 120_000);
});

describe('data that names no classes', () => {
  it('is matched by label index: a model trained with class names evaluates on its own idx test files', async () => {
    const { writeTinyMnist } = await import('./helpers/tiny-dataset.ts');
    const words = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
    const data = await writeTinyMnist(join(dir, 'named'), 500, 200);
    const exp = await parseExperiment(
      { dataset: { idx: data, classes: words }, split: { train: 500, test: 200, seed: 1 }, classifiers: [{ plugin: 'naive-bayes' }], latencySamples: 5, deploy: { passes: 2, calls: 20, batch: 100 } },
      join(dir, 'named.json'),
    );
    const out = join(dir, 'named-report');
    const [row] = (await runExperiment(exp, { outDir: out })).rows;
    expect(row!.status).toBe('ok');
    // The official test part whole (200 rows), so the evaluation on the t10k pair is the run's own test.
    const doc = await evaluate([out, join(data, 't10k-images-idx3-ubyte'), '--out', join(dir, 'named-eval')]);
    expect(doc.models.map((m) => [m.label, m.accuracy])).toEqual([['naive-bayes', row!.status === 'ok' ? row!.metrics.accuracy : -1]]);
  }, 120_000);
});
