/**
 * `digitbench evaluate`: a real experiment (naive-bayes, k-NN and a decision tree on 1,000 MNIST training
 * rows) evaluated on 300 MNIST test digits given as an idx pair, a CSV and a class-folder tree of photo-like
 * PNG and JPEG images; its accuracies equal a direct count of `predict`'s labels on the same files. Bad
 * input is one line with exit code 1, and nothing is written.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../src/data/datasets.ts';
import { parseExperiment } from '../src/harness/experiment.ts';
import { runExperiment } from '../src/harness/run.ts';
import type { EvaluationDoc } from '../src/harness/evaluate.ts';
import { idxFile } from './helpers/photos.ts';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'bin/digitbench.js');
const base = join(ROOT, '.tmp');
mkdirSync(base, { recursive: true });
const dir = mkdtempSync(join(base, 'evaluate-'));
const report = join(dir, 'report');
const N = 300;
/** MNIST test rows 9000… (the experiment's 200 test rows are drawn from the same part; overlap does not matter: none is trained on). */
const FIRST = 9000;
let pixels: Uint8Array;
let labels: Uint8Array;
const idxImages = join(dir, 'idx', 'digits-images-idx3-ubyte');

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function evaluate(args: string[]): EvaluationDoc {
  const r = cli(['evaluate', ...args, '--json']);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as EvaluationDoc;
}

/** `predict --json` labels of the inputs with one model of the report. */
function predicted(model: string, inputs: string[]): { input: string; label: number }[] {
  const r = cli(['predict', report, ...inputs, '--model', model, '--json']);
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
}, 300_000);

describe('evaluate', () => {
  it('on an idx pair: every bundle of the report, its accuracy a direct count of predict on the same file, beside its test accuracy; writes evaluation.md and .json', () => {
    const out = join(dir, 'eval-idx');
    const doc = evaluate([report, idxImages, '--out', out]);
    expect(doc.data).toMatchObject({ name: 'digits', rows: N, parts: 'one pool', imageShapes: [[28, 28]] });
    expect(doc.models.map((m) => m.label).sort()).toEqual(['decision-tree', 'knn', 'naive-bayes']);
    const rows = readFileSync(join(report, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { classifier: string; metrics: { accuracy: number } });
    for (const m of doc.models) {
      const got = predicted(m.label, [idxImages]);
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
    const text = cli(['evaluate', join(report, 'models', readdirSync(join(report, 'models')).find((f) => f.startsWith('knn-'))!), idxImages]);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^knn +${(doc.models.find((m) => m.label === 'knn')!.accuracy * 100).toFixed(2)}% `, 'm'));
    expect(text.stderr).toBe('nothing written: add --out <dir> for evaluation.md, evaluation.json, the confusion charts and the misclassified images.\n');
  }, 120_000);

  it('refuses bad input in one line with exit code 1, before writing anything', () => {
    const out = join(dir, 'never');
    const refuse = (args: string[], message: string) => {
      const r = cli(['evaluate', ...args, '--out', out]);
      expect(r.stderr).toBe(`digitbench: ${message}\n`);
      expect(r.status).toBe(1);
      expect(existsSync(out)).toBe(false);
    };
    const give = 'give a class-folder tree, a CSV file (.csv or .csv.gz), an idx images file (its labels file beside it) or a folder with the four idx files, or a JSON source object ({"images": …}, {"csv": …}, {"idx": …})';
    refuse([report, join(dir, 'no-such')], `${join(dir, 'no-such')}: no such file or folder; ${give}.`);
    refuse([report, join(dir, 'idx', 'digits-labels-idx1-ubyte')], `${join(dir, 'idx', 'digits-labels-idx1-ubyte')}: that is an idx labels file; give the images file (digits-images-idx3-ubyte), with this file beside it.`);
    refuse([report, '{"images": 3}'], `labelled data: images: Invalid input: expected string, received number; ${give}.`);
    // A 16×16 idx pair for 28×28 models.
    mkdirSync(join(dir, 'small'));
    const small = join(dir, 'small', 'small-images-idx3-ubyte');
    writeFileSync(small, idxFile(new Uint8Array(4 * 256).fill(9), 4, 16, 16));
    writeFileSync(join(dir, 'small', 'small-labels-idx1-ubyte'), idxLabels(Uint8Array.from([0, 1, 2, 3])));
    const r = cli(['evaluate', report, small, '--out', out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^digitbench: ${small}: its images are 16×16 but \\S+ \\(\\S+\\.bundle\\) takes 28×28; give images of that shape \\(a class-folder tree of PNG or JPEG images is brought to each model's shape\\)\\.\\n$`));
    expect(existsSync(out)).toBe(false);
    // Not a report folder; a report folder whose bundles are gone.
    refuse([join(dir, 'idx'), idxImages], `${join(dir, 'idx')} is a folder without results.jsonl; give a report folder (e.g. runs/quick) or a .bundle file.`);
    const bare = join(dir, 'bare');
    mkdirSync(bare);
    cpSync(join(report, 'results.jsonl'), join(bare, 'results.jsonl'));
    const r2 = cli(['evaluate', bare, idxImages, '--out', out]);
    expect(r2.status).toBe(1);
    expect(r2.stderr).toMatch(new RegExp(`^digitbench: ${bare}: its bundles are not here \\(.*\\): bundles are written by runs on this machine and never committed; run \`npm run experiment -- <config>\` and give its folder\\.\\n$`));
    // An --out that holds other files is refused and left as it was.
    const busy = join(dir, 'busy');
    mkdirSync(busy);
    writeFileSync(join(busy, 'notes.txt'), 'mine');
    const r3 = cli(['evaluate', report, idxImages, '--out', busy]);
    expect(r3.stderr).toBe(`digitbench: --out ${busy} holds other files (notes.txt); give a new or empty folder, or one an earlier evaluate wrote.\n`);
    expect(r3.status).toBe(1);
    expect(readdirSync(busy)).toEqual(['notes.txt']);
  }, 120_000);
});
