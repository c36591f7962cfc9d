/**
 * Robustness measured end to end (issue 24) in a small real experiment: 1,500 train / 500 validation /
 * 300 test MNIST rows, k-NN and naive Bayes, three corruptions and 200 noise images.
 * - The corrupted images are made once (one note, one cache file), in worker threads, and the file holds
 *   exactly corruptImages' bytes for the split's test images; asking again reuses the file untouched.
 * - Each row's robustness figures equal an independent computation here: loadModel on its bundle,
 *   classify() on the clean test images, corruptImages of them with the experiment's seed, Fashion-MNIST's
 *   test images and the noise images: accuracy and "unsure" counts per set, the mean, mCE and the worst.
 * - `digitbench evaluate <bundle> --corruptions …` on the bundle's own test rows gives the same figures,
 *   and an unknown corruption name is one line listing the valid ones, exit code 1.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CORRUPTION_NAMES, corruptImages, createMatrix, type CorruptionName } from '@digitbench/runtime/internal';
import { listDatasets, loadDataset } from '../src/data/datasets.ts';
import { makeSplit, testPart } from '../src/data/split.ts';
import { createRng } from '../src/engine/rng.ts';
import { ensureCorrupted } from '../src/harness/corrupted.ts';
import { loadExperiment } from '../src/harness/experiment.ts';
import { runExperiment } from '../src/harness/run.ts';
import { loadModel } from '../src/index.ts';
import { readRows, type OkRow } from '../src/results/row.ts';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'bin/digitbench.js');
mkdirSync(join(ROOT, '.tmp'), { recursive: true });
const dir = mkdtempSync(join(ROOT, '.tmp', 'robustness-'));
const cache = join(dir, 'cache');
const savedCache = process.env.DIGITBENCH_CACHE_DIR;
afterAll(() => {
  if (savedCache === undefined) delete process.env.DIGITBENCH_CACHE_DIR;
  else process.env.DIGITBENCH_CACHE_DIR = savedCache;
});

const SPLIT = { train: 1500, validation: 500, test: 300, seed: 1 };
const SEED = 3;
const NAMES: CorruptionName[] = ['shot_noise', 'rotate', 'canny_edges'];
const NOISE = 200;

function cli(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((ok) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, DIGITBENCH_CACHE_DIR: cache } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (status) => ok({ status, stdout, stderr }));
  });
}

/** Correct and answered (not unsure) images of a bundle, counted here. */
async function count(model: Awaited<ReturnType<typeof loadModel>>, pixels: Float32Array, rows: number, truth?: Int32Array) {
  const { labels, unsure } = await model.classify(createMatrix(rows, pixels.length / rows, pixels));
  let correct = 0, answered = 0, sureCorrect = 0;
  for (let i = 0; i < rows; i++) {
    const right = truth !== undefined && labels[i] === truth[i];
    correct += right ? 1 : 0;
    if (!unsure[i]) {
      answered++;
      sureCorrect += right ? 1 : 0;
    }
  }
  return { correct, answered, sureCorrect };
}

describe('robustness in a real experiment', () => {
  let rows: OkRow[] = [];
  const out = join(dir, 'out');

  it('makes the corrupted images once and measures every bundle on them, as an independent computation gives', async () => {
    process.env.DIGITBENCH_CACHE_DIR = cache;
    const file = join(dir, 'exp.json');
    writeFileSync(
      file,
      JSON.stringify({
        split: SPLIT,
        seed: SEED,
        latencySamples: 0,
        reject: { targetAccuracy: 0.95 },
        deploy: { passes: 2, calls: 20, batch: 100 },
        robustness: { corruptions: NAMES, noiseImages: NOISE },
        classifiers: [
          { plugin: 'knn', params: { k: 5 }, features: [{ step: 'scale' }, { step: 'pca', components: 30 }] },
          { plugin: 'naive-bayes', features: [{ step: 'scale' }] },
        ],
      }),
    );
    const notes: string[] = [];
    const summary = await runExperiment(await loadExperiment(file), { outDir: out, events: { note: (m) => notes.push(m) } });
    expect(summary.failed).toBe(0);
    rows = (await readRows(join(out, 'results.jsonl'))) as OkRow[];
    expect(rows).toHaveLength(2);

    // One set of corrupted images for both bundles: one note, one file of the three corruptions' bytes.
    expect(notes.filter((n) => n.startsWith('corrupted the 300 test images with 3 corruption(s)'))).toHaveLength(1);
    const files = readdirSync(join(cache, 'corrupted'));
    expect(files).toHaveLength(1);
    const cached = readFileSync(join(cache, 'corrupted', files[0]!));
    const ds = await loadDataset('mnist');
    const sp = makeSplit(ds, SPLIT);
    const test = testPart(ds, sp);
    const raw = Uint8Array.from(test.x.data);
    const corrupted = NAMES.map((n) => corruptImages(n, raw, 300, 28, 28, SEED));
    expect(cached.byteLength).toBe(3 * 300 * 784);
    for (const [c, bytes] of corrupted.entries()) expect(Buffer.compare(cached.subarray(c * 300 * 784, (c + 1) * 300 * 784), Buffer.from(bytes))).toBe(0);
    // Asked again (another run, another process would be the same): the file is read, not made again.
    const before = statSync(join(cache, 'corrupted', files[0]!)).mtimeMs;
    const again = await ensureCorrupted({ datasetHash: ds.contentHash, fingerprint: sp.fingerprint, pixels: test.x.data, rows: 300, imageShape: [28, 28], corruptions: NAMES, seed: SEED });
    expect(again.made).toBe(false);
    expect(again.file).toBe(join(cache, 'corrupted', files[0]!));
    expect(statSync(again.file).mtimeMs).toBe(before);

    const fashionThere = listDatasets().find((d) => d.name === 'fashion-mnist')!.available;
    const fashion = fashionThere ? (await loadDataset('fashion-mnist')).test.images : undefined;
    const rng = createRng(`${SEED}:noise`);
    const noise = Float32Array.from({ length: NOISE * 784 }, () => rng.int(256));
    let someAnswered = false;
    for (const row of rows) {
      const r = row.robustness!;
      expect(row.robustnessError).toBeUndefined();
      expect(row.deployment).toBeDefined();
      const model = await loadModel(join(out, row.bundle!.file));
      try {
        const clean = await count(model, test.x.data, 300, test.y);
        expect(clean.correct).toBe(row.metrics.correct);
        expect(r.clean).toEqual({ correct: clean.correct, total: 300, accuracy: clean.correct / 300, answered: clean.answered, coverage: clean.answered / 300, sureAccuracy: clean.answered ? clean.sureCorrect / clean.answered : null });
        const per = [];
        for (const [c, name] of NAMES.entries()) per.push({ name, ...(await count(model, Float32Array.from(corrupted[c]!), 300, test.y)) });
        expect(r.corruptions.map((c) => c.name)).toEqual(NAMES);
        for (const [c, p] of per.entries()) {
          expect(r.corruptions[c]).toEqual({ name: p.name, correct: p.correct, total: 300, accuracy: p.correct / 300, answered: p.answered, coverage: p.answered / 300, sureAccuracy: p.answered ? p.sureCorrect / p.answered : null });
        }
        const accs = per.map((p) => p.correct / 300);
        expect(r.meanAccuracy).toBeCloseTo(accs.reduce((a, b) => a + b, 0) / 3, 12);
        const cleanError = 1 - clean.correct / 300;
        expect(cleanError).toBeGreaterThan(0);
        expect(r.mce).toBeCloseTo(accs.reduce((s, a) => s + (1 - a) / cleanError, 0) / 3, 12);
        expect(r.worst).toBe(NAMES[accs.indexOf(Math.min(...accs))]);
        const answered = per.reduce((s, p) => s + p.answered, 0);
        expect(r.corrupted).toEqual({ answered, total: 900, coverage: answered / 900, sureAccuracy: answered ? per.reduce((s, p) => s + p.sureCorrect, 0) / answered : null });
        const noiseAnswered = (await count(model, noise, NOISE)).answered;
        expect(r.ood.noise).toEqual({ refused: NOISE - noiseAnswered, total: NOISE });
        if (fashion) {
          const f = await count(model, fashion.data, fashion.rows);
          expect(r.ood.fashion).toEqual({ refused: fashion.rows - f.answered, total: fashion.rows });
        } else expect(r.ood.fashion).toEqual({ skipped: 'Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)' });
        expect(r.seconds).toBeGreaterThan(0);
        if (clean.answered > 0) someAnswered = true;
      } finally {
        model.dispose();
      }
    }
    // The k-NN reaches 95% on its validation rows at some threshold, so "unsure" is really exercised.
    expect(someAnswered).toBe(true);
  });

  it('evaluate --corruptions gives the same figures on the bundle\'s own test rows, and refuses an unknown name in one line', async () => {
    const knn = rows.find((r) => r.classifier === 'knn')!;
    const bundle = join(out, knn.bundle!.file);
    const r = await cli(['evaluate', bundle, '--corruptions', NAMES.join(','), '--seed', String(SEED), '--json']);
    expect(r.stderr).not.toMatch(/digitbench:/);
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout) as { data: { rows: number }; corruptions: { seed: number; names: string[]; models: ({ label: string; trust: boolean } & Record<string, unknown>)[] } };
    expect(doc.data.rows).toBe(300);
    expect(doc.corruptions.names).toEqual(NAMES);
    const { ood: _, seconds: __, ...figures } = knn.robustness!;
    expect(doc.corruptions.models).toEqual([{ label: 'knn', trust: true, ...figures }]);

    const text = await cli(['evaluate', bundle, '--corruptions', 'rotate', '--seed', String(SEED)]);
    expect(text.status).toBe(0);
    expect(text.stdout).toContain(`mean corrupted accuracy ${(figures.corruptions[1]!.accuracy * 100).toFixed(2)}%`);

    const bad = await cli(['evaluate', bundle, '--corruptions', 'rotate,blurry']);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toBe(`digitbench: --corruptions: unknown corruption "blurry"; use "all" or names from ${CORRUPTION_NAMES.join(', ')}.\n`);
  });
});
