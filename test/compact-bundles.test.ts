/**
 * bundle.precision: a run writes compact bundles beside its float32 bundle, measures each (size, accuracy,
 * agreement with the float32 labels, deployment figures in a fresh process), the report shows them, and
 * the deployment pick can choose one.
 */
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel, readBundleFile } from '../src/bundle/file.ts';
import { decodeBundle } from '@digitbench/runtime/internal';
import { loadDataset } from '../src/data/datasets.ts';
import { makeSplit, testPart } from '../src/data/split.ts';
import { loadExperiment } from '../src/harness/experiment.ts';
import { runExperiment } from '../src/harness/run.ts';
import { deploymentChoice } from '../src/report/analysis.ts';
import type { OkRow } from '../src/results/row.ts';
import { writeTinyMnist } from './helpers/tiny-dataset.ts';

const ROOT = resolve(__dirname, '..');

describe('bundle.precision', () => {
  it('writes and measures float16 and int8 bundles beside each float32 bundle; the report and the pick use them', async () => {
    mkdirSync(join(ROOT, '.tmp'), { recursive: true });
    const dir = mkdtempSync(join(ROOT, '.tmp', 'compact-'));
    const data = await writeTinyMnist(join(dir, 'tiny'), 800, 200);
    const file = join(dir, 'exp.json');
    const split = { train: 500, test: 150, validation: 0, seed: 2 };
    writeFileSync(
      file,
      JSON.stringify({
        dataset: data,
        split,
        features: [{ step: 'scale' }, { step: 'pca', components: 20 }],
        classifiers: [{ plugin: 'knn', params: { k: 3 } }, { plugin: 'naive-bayes' }, { plugin: 'decision-tree', features: [{ step: 'scale' }] }],
        bundle: { precision: ['float32', 'float16', 'int8'] },
        latencySamples: 5,
        deploy: { passes: 2, calls: 20, batch: 100 },
      }),
    );
    const out = join(dir, 'out');
    const summary = await runExperiment(await loadExperiment(file), { outDir: out });
    const rows = summary.rows as OkRow[];
    expect(rows.map((r) => r.status)).toEqual(['ok', 'ok', 'ok']);
    const [knn, nb, tree] = rows as [OkRow, OkRow, OkRow];
    const ds = await loadDataset(data);
    const test = testPart(ds, makeSplit(ds, split));
    for (const row of [knn, tree]) {
      expect(row.compact!.map((c) => c.precision)).toEqual(['float16', 'int8']);
      for (const c of row.compact!) {
        expect(c.error).toBeUndefined();
        expect(c.file).toMatch(new RegExp(`^models/[a-z-]+-${row.id.slice(0, 8)}\\.${c.precision === 'float16' ? 'f16' : 'int8'}\\.bundle$`));
        expect(c.bytes).toBe(statSync(join(out, c.file!)).size);
        expect(c.bytes!).toBeLessThan(row.bundle!.bytes);
        // Its own figures: what the bundle predicts from raw pixels in this process too.
        const model = await loadModel(join(out, c.file!));
        const labels = await model.predictLabels(test.x);
        model.dispose();
        const float32 = await loadModel(join(out, row.bundle!.file));
        const reference = await float32.predictLabels(test.x);
        float32.dispose();
        expect(c.metrics!.correct).toBe(labels.reduce((a, l, i) => a + (l === test.y[i] ? 1 : 0), 0));
        expect(c.agreement).toEqual({ same: labels.reduce((a, l, i) => a + (l === reference[i] ? 1 : 0), 0), total: 150 });
        expect(c.agreement!.same / 150).toBeGreaterThanOrEqual(0.97);
        // Measured in a fresh process: the bundle reproduces its own labels on every test row.
        expect(c.deployment!.agreement).toEqual({ same: 150, total: 150 });
        const { header } = await decodeBundle(await readBundleFile(join(out, c.file!)), c.file!);
        expect(header.run.id).toBe(row.id);
        expect(header.run.testAccuracy).toBe(c.metrics!.accuracy);
      }
    }
    // k-NN rows: ½ and about ¼ of the model bytes.
    expect(knn.compact![0]!.modelBytes! / knn.modelBytes!).toBeCloseTo(0.5, 1);
    expect(knn.compact![1]!.modelBytes! / knn.modelBytes!).toBeLessThan(0.3);
    // A plugin without compact formats: the run stands, and each compact bundle says why it is missing.
    expect(nb.bundle).toBeDefined();
    expect(nb.compact).toEqual([
      { precision: 'float16', error: 'the plugin "naive-bayes" has no float16 format' },
      { precision: 'int8', error: 'the plugin "naive-bayes" has no int8 format' },
    ]);
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).toContain('### Compact bundles');
    expect(report).toContain(`| **knn** | float32 | \`${knn.bundle!.file}\` |`);
    expect(report).toContain(`|  | int8 | \`${knn.compact![1]!.file}\` |`);
    expect(report).toContain('|  | float16 | the plugin "naive-bayes" has no float16 format |');
    // The pick: a size limit the float32 k-NN bundle misses and its int8 bundle meets picks the int8 bundle
    // (when no other bundle under the limit is more accurate).
    const limit = (knn.compact![1]!.bytes! + knn.bundle!.bytes) / 2;
    const choice = deploymentChoice(rows, { deploy: { maxModelBytes: limit } });
    const fits = [
      ...rows.filter((r) => r.bundle!.bytes <= limit).map((r) => ({ label: r.classifier, accuracy: r.metrics.accuracy })),
      ...rows.flatMap((r) => (r.compact ?? []).filter((c) => c.bytes! <= limit).map((c) => ({ label: `${r.classifier} (${c.precision})`, accuracy: c.metrics!.accuracy }))),
    ].sort((a, b) => b.accuracy - a.accuracy);
    expect(choice.pick!.label).toBe(fits[0]!.label);
    expect(fits.map((f) => f.label)).toContain('knn (int8)');
    if (choice.pick!.label === 'knn (int8)') expect(choice.pick!.file).toBe(knn.compact![1]!.file);
    // predict --model names a compact bundle by its label.
    const { resolveBundle } = await import('../src/harness/predict.ts');
    expect((await resolveBundle(out, 'knn (int8)')).file).toBe(join(out, knn.compact![1]!.file!));
    await expect(resolveBundle(out, 'knn (bf16)')).rejects.toThrow(`has no bundle for "knn (bf16)"; use one of knn, naive-bayes, decision-tree, `);
  }, 180_000);
});
