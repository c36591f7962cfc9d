/**
 * From a run to a prediction, for every built-in: the experiment writes bundles; each bundle, loaded in a
 * fresh process, reproduces the run's predictions; `digitbench predict` on photos made from the same MNIST
 * test digits is as accurate as the model on the digits themselves; bad inputs get their one-line errors;
 * apps get the same answers through `import { loadModel } from 'digitbench'`.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../src/data/datasets.ts';
import { makeSplit } from '../src/data/split.ts';
import { takeLabels, takeRows } from '@digitbench/runtime/internal';
import { parseExperiment } from '../src/harness/experiment.ts';
import { decodeLabels, type OkRow } from '../src/results/row.ts';
import { runExperiment } from '../src/harness/run.ts';
import { idxFile, render } from './helpers/photos.ts';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'bin/digitbench.js');
const base = join(ROOT, '.tmp');
mkdirSync(base, { recursive: true });
const dir = mkdtempSync(join(base, 'predict-'));
const out = join(dir, 'report');
const split = { train: 1500, test: 300, seed: 4 };

let rows: OkRow[];
const byName = (name: string) => rows.find((r) => r.classifier === name)!;
let testImages: Float32Array;
let testLabels: Int32Array;

interface Json {
  bundle: string;
  classifier: string;
  trust: unknown;
  results: { input: string; label?: number; error?: string; confidence?: number; unsure?: boolean; top?: { label: number; score: number }[] }[];
}

function predict(args: string[]): { status: number | null; stdout: string; stderr: string; json?: Json } {
  const r = spawnSync(process.execPath, [BIN, 'predict', ...args], { encoding: 'utf8', cwd: ROOT });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ...(args.includes('--json') && r.stdout ? { json: JSON.parse(r.stdout) as Json } : {}) };
}

beforeAll(async () => {
  const exp = await parseExperiment(
    {
      split,
      features: [{ step: 'scale' }, { step: 'pca', components: 30 }],
      classifiers: [
        { plugin: 'knn' },
        { plugin: 'svm' },
        { plugin: 'naive-bayes' },
        { plugin: 'decision-tree', features: [{ step: 'scale' }] },
        { plugin: 'random-forest', params: { nEstimators: 30 }, features: [{ step: 'scale' }] },
        { plugin: 'cnn', params: { epochs: 3, batchSize: 64 } },
      ],
      latencySamples: 10,
      deploy: { maxLatencyMs: 50, passes: 2, calls: 50, batch: 300 },
    },
    join(dir, 'predict.json'),
  );
  const summary = await runExperiment(exp, { outDir: out });
  rows = summary.rows as OkRow[];
  const ds = await loadDataset('mnist');
  const s = makeSplit(ds, split);
  testImages = takeRows(ds.test.images, s.test).data;
  testLabels = takeLabels(ds.test.labels, s.test);
}, 600_000);

describe('bundles of every built-in', () => {
  it('finish with a bundle whose fresh-process predictions equal the run\'s, through the CLI on an idx file too', () => {
    expect(rows.map((r) => [r.classifier, r.status])).toEqual(
      ['knn', 'svm', 'naive-bayes', 'decision-tree', 'random-forest', 'cnn'].map((c) => [c, 'ok']),
    );
    const idx = join(dir, 'test-images-idx3-ubyte');
    writeFileSync(idx, idxFile(Uint8Array.from(testImages), testImages.length / 784, 28, 28));
    for (const r of rows) {
      // Measured by the harness in its own process…
      expect(r.deployment!.agreement, r.classifier).toEqual({ same: 300, total: 300 });
      // …and again through `digitbench predict` (another fresh process), on the raw test digits.
      const p = predict([join(out, r.bundle!.file), idx, '--json']);
      expect(p.status, p.stderr).toBe(0);
      expect(p.json!.results.map((x) => x.label), r.classifier).toEqual(Array.from(decodeLabels(r.predictions)));
      expect(p.json!.results[0]!.input).toBe(`${idx}#0`);
      // No validation part: no trust, so every answer has a raw confidence (0..1) and none is unsure.
      expect(p.json!.trust, r.classifier).toBeNull();
      for (const x of p.json!.results) expect([x.unsure, x.confidence! >= 0 && x.confidence! <= 1], r.classifier).toEqual([false, true]);
    }
  });

  it('predict reads photos of the test digits (enlarged, dark on white, off-centre, PNG and JPEG) within 1 point of the digits themselves', async () => {
    const photos = join(dir, 'photos');
    mkdirSync(photos);
    for (let i = 0; i < testLabels.length; i++) {
      const digit = testImages.subarray(i * 784, (i + 1) * 784);
      const format = i % 3 === 0 ? 'jpeg' : i % 3 === 1 ? 'grey-png' : 'rgb-png';
      const bytes = await render(digit, { scale: 4 + (i % 4), kernel: 'nearest', pad: { left: 10 + ((i * 37) % 90), right: 30 + ((i * 53) % 70), top: 5 + ((i * 29) % 60), bottom: 40 + ((i * 17) % 50) }, format });
      writeFileSync(join(photos, `${String(i).padStart(3, '0')}.${format === 'jpeg' ? 'jpg' : 'png'}`), bytes);
    }
    const figures: string[] = [];
    for (const name of ['svm', 'knn', 'cnn', 'random-forest']) {
      const p = predict([out, photos, '--model', name, '--json']);
      expect(p.status, p.stderr).toBe(0);
      const labels = p.json!.results.map((x) => x.label!);
      const onPhotos = labels.filter((l, i) => l === testLabels[i]).length / labels.length;
      const onDigits = byName(name).metrics.accuracy;
      figures.push(`${name}: digits ${(onDigits * 100).toFixed(2)}%, photos ${(onPhotos * 100).toFixed(2)}%`);
      expect(Math.abs(onPhotos - onDigits), figures.join('; ')).toBeLessThanOrEqual(0.01);
    }
    console.log(figures.join('\n'));
  });

  it('names each bad input in one line, still predicts the others, and exits non-zero', () => {
    const mixed = join(dir, 'mixed');
    mkdirSync(mixed);
    writeFileSync(join(mixed, 'empty.png'), '');
    writeFileSync(join(mixed, 'notes.png'), 'this is text, not an image');
    const seven = join(ROOT, 'examples/digits/seven-test0.png');
    const p = predict([out, '--model', 'svm', join(mixed, 'empty.png'), seven, join(mixed, 'notes.png'), join(mixed, 'missing.jpg')]);
    expect(p.status).toBe(1);
    // The split has no validation part, so the bundle has no threshold: raw confidences, never unsure, and a last line says so.
    expect(p.stdout).toMatch(
      /^\S+seven-test0\.png {2}7 \(confidence [\d.]+\) {2}scores: 7 [\d.]+, \d [\d.]+, \d [\d.]+\nthis bundle has no calibration or threshold \(fitted without a validation part\): confidences are raw scores and no answer is unsure\n$/,
    );
    const give = 'give a PNG or JPEG image, a folder of them, or an idx images file.';
    expect(p.stderr.split('\n').slice(1)).toEqual([
      `${join(mixed, 'empty.png')}: the file is empty; ${give}`,
      `${join(mixed, 'notes.png')}: not a PNG or JPEG image; ${give}`,
      `${join(mixed, 'missing.jpg')}: no such file or folder.`,
      'digitbench: 3 input(s) could not be read (see above); the others were predicted.',
      '',
    ]);
    expect(p.stderr.split('\n')[0]).toMatch(/^model: .*svm-[0-9a-f]{8}\.bundle: svm on scale → pca\(30\), \d+\.\d\d% on 300 mnist test rows; scores: one-vs-rest decision values/);
  });

  it('a report folder means its deployment pick; a wrong --model names the choices', () => {
    // The fastest finished here well under the config's 50 ms limit, so the pick is the most accurate.
    const best = [...rows].sort((a, b) => b.metrics.accuracy - a.metrics.accuracy)[0]!;
    const p = predict([out, join(ROOT, 'examples/digits')]);
    expect(p.status, p.stderr).toBe(0);
    expect(p.stderr).toContain(`model: ${join(out, best.bundle!.file)} (the report's pick, ${best.classifier}): `);
    expect(p.stdout).toBe(predict([out, join(ROOT, 'examples/digits'), '--model', best.classifier]).stdout);
    expect(p.stdout.trim().split('\n')).toHaveLength(6 + 1);
    const bad = predict([out, 'x.png', '--model', 'perceptron']);
    expect(bad.stderr).toBe(`digitbench: ${out} has no bundle for "perceptron"; use one of ${rows.map((r) => r.classifier).sort((a, b) => byName(b).metrics.accuracy - byName(a).metrics.accuracy || 0).join(', ')}.\n`);
  });

  it('the library refuses 0..1 pixels and wrong shapes, and reads a browser-style RGBA image', async () => {
    const { loadModel } = await import('../src/bundle/file.ts');
    const { decodeImage } = await import('../src/input/decode.ts');
    const { readFileSync } = await import('node:fs');
    const sharp = (await import('sharp')).default;
    const model = await loadModel(join(out, byName('svm').bundle!.file));
    try {
      await expect(model.predict(new Float32Array(784).fill(0.5))).rejects.toThrow(
        'predict: image 0 has pixel values only in 0..1; give raw pixels 0..255 (MNIST format: light ink on black), e.g. multiply by 255.',
      );
      await expect(model.predict([new Float32Array(100)])).rejects.toThrow('predict: image 0 has 100 pixels; give 28×28 = 784 raw pixels (0..255) or a decoded picture.');
      const png = readFileSync(join(ROOT, 'examples/digits/seven-test0.png'));
      const { data, info } = await sharp(png).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      // What a canvas's getImageData gives: width, height and RGBA bytes, no channel count.
      const imageData = { width: info.width, height: info.height, data: new Uint8ClampedArray(data) };
      const [fromCanvas] = await model.predict(imageData);
      const [fromFile] = await model.predict(await decodeImage(png, 'seven-test0.png'));
      expect(fromCanvas).toEqual(fromFile);
      expect(fromCanvas!.label).toBe(7);
    } finally {
      model.dispose();
    }
  });

  it("apps get the CLI's answers through import { loadModel } from 'digitbench'", () => {
    const bundle = join(out, byName('cnn').bundle!.file);
    const script = `
      import { loadModel, readInputs } from 'digitbench';
      const model = await loadModel(${JSON.stringify(bundle)});
      const inputs = await readInputs([${JSON.stringify(join(ROOT, 'examples/digits'))}]);
      const predictions = await model.predict(inputs.map((i) => i.pixels));
      console.log(JSON.stringify(predictions.map((p) => p.label)));
      model.dispose();`;
    const app = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    expect(app.stderr).toBe('');
    const cli = predict([bundle, join(ROOT, 'examples/digits'), '--json']);
    expect(JSON.parse(app.stdout)).toEqual(cli.json!.results.map((r) => r.label));
  });
});
